"""The ``cdp`` command line (the ``cli`` extra: typer and rich) and the demo behind
``cdp demo``.

Nothing heavy is imported here: ``main`` imports typer and rich when called, and
:func:`run_demo` and :class:`Demo` (which need the ``sync`` extra, not the ``cli`` one)
on first use, so notebooks and scripts can run the demo's sync without typer or rich.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cdp_sdk.cli._demo import Demo, run_demo

__all__ = ["Demo", "main", "run_demo"]


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``cdp`` with ``argv`` (default: the process arguments); the exit status."""
    from cdp_sdk.cli._app import main as run

    return run(argv)


def __getattr__(name: str) -> Any:
    if name in ("Demo", "run_demo"):
        from cdp_sdk.cli import _demo

        return getattr(_demo, name)
    raise AttributeError(f"module 'cdp_sdk.cli' has no attribute {name!r}")

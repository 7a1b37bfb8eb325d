"""``cdp`` and ``python -m cdp_sdk``: the command line, in :mod:`cdp_sdk.cli`.

The command line needs the ``cli`` extra (typer and rich); without it, ``cdp`` says how to
install it in one line and exits with status 1.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Sequence

CLI_EXTRA = "pip install 'cdp-iot-sdk[cli]'"


def _missing() -> list[str]:
    return [name for name in ("typer", "rich") if importlib.util.find_spec(name) is None]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``cdp`` command line; returns the exit status."""
    missing = _missing()
    if missing:
        print(
            f"error: the cdp command needs {' and '.join(missing)}: {CLI_EXTRA}",
            file=sys.stderr,
        )
        return 1
    from cdp_sdk.cli import main as run

    return run(argv)


if __name__ == "__main__":
    raise SystemExit(main())

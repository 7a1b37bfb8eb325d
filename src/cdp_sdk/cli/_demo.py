"""The main job behind ``cdp demo``, usable from Python and notebooks too.

Every built-in connector's emulator runs in-process over its own synthetic fleet; a
workspace file (``cdp.toml``) names one account per platform, and the accounts are
reached through the emulators (``Workspace.load(path, transports=...)``), never the
network. Everything is synced into a SQLite file beside the workspace file::

    from cdp_sdk.cli import run_demo

    database = run_demo("cdp-demo")          # cdp-demo/cdp.toml and cdp-demo/cdp.db
    Store(database).to_pandas("usage")

Fleets are a pure function of their seed and the day, so a rerun on the same day finds the
same platforms and syncs incrementally into the same file.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Self

from cdp_sdk._version import __version__
from cdp_sdk.cli._platforms import PLATFORMS
from cdp_sdk.cli._sync import SyncPlan, plan_sync, run_sync
from cdp_sdk.errors import CdpError, ConfigurationError
from cdp_sdk.sandbox import Emulator, Fleet
from cdp_sdk.sync import Store, SyncEvent, SyncOptions, SyncReport
from cdp_sdk.workspace import BaseWorkspace, Workspace

__all__ = [
    "DATABASE_FILE",
    "DEFAULT_DIRECTORY",
    "DEMO_OPTIONS",
    "WORKSPACE_FILE",
    "Demo",
    "run_demo",
]

DEFAULT_DIRECTORY = Path("cdp-demo")
WORKSPACE_FILE = "cdp.toml"
DATABASE_FILE = "cdp.db"
MARKER = "# Written by `cdp demo`"
DEMO_HOST = "https://{name}.demo.cdp-sdk.invalid"
"""The demo accounts' base URLs: ``.invalid`` never resolves; only the emulators answer."""

DEMO_OPTIONS = SyncOptions(
    history=timedelta(days=62), window=timedelta(days=62), invoice_refresh=timedelta(days=31)
)
"""Two months of history (the last 30 days and the invoices of three months), read in one
window: platforms that report usage SIM by SIM cost one request per SIM and window."""

_HEADER = f"""\
{MARKER} (cdp-sdk {{version}}): one account per built-in connector.
# Their base URLs never resolve: `cdp demo` answers each account from an emulator running
# in-process over a synthetic fleet, and syncs them into {DATABASE_FILE} beside this file.
# The credentials are the emulators' built-in test values, not secrets. Read the store
# with `cdp sims --db {{database}}` or cdp_sdk.sync.Store("{{database}}").
"""


class Demo:
    """The demo's platforms, workspace and store, while the ``with`` block runs.

    Args:
        directory: where ``cdp.toml`` and ``cdp.db`` go (created if missing). A directory
            holding a workspace file or store that the demo did not write is refused.
        size: SIMs per platform (default: each platform's demo size, 3,500 SIMs in all).
        today: the fleets' today (default: the current UTC date).
        options: how far back and in which windows to sync.
    """

    def __init__(
        self,
        directory: str | os.PathLike[str] = DEFAULT_DIRECTORY,
        *,
        size: int | None = None,
        today: date | None = None,
        options: SyncOptions = DEMO_OPTIONS,
    ) -> None:
        if size is not None and size < 1:
            raise ValueError("the demo needs at least one SIM per platform")
        self.directory = Path(directory)
        self.workspace_file = self.directory / WORKSPACE_FILE
        self.database = self.directory / DATABASE_FILE
        self.today = today if today is not None else datetime.now(UTC).date()
        self.options = options
        self.fleets: dict[str, Fleet] = {
            platform.connector: platform.fleet(size, today=self.today) for platform in PLATFORMS
        }
        self.emulators: dict[str, Emulator] = {}
        self._workspace: Workspace | None = None
        self._store: Store | None = None
        self._plan: SyncPlan | None = None
        self.first_run = True
        """Whether the store held no cursor before this demo (a full sync)."""

    @property
    def sims(self) -> int:
        """SIMs in all the fleets."""
        return sum(fleet.size for fleet in self.fleets.values())

    @property
    def workspace(self) -> Workspace:
        """The demo's workspace (inside the ``with`` block)."""
        if self._workspace is None:
            raise RuntimeError("use the demo as a context manager")
        return self._workspace

    @property
    def store(self) -> Store:
        """The demo's store (inside the ``with`` block)."""
        if self._store is None:
            raise RuntimeError("use the demo as a context manager")
        return self._store

    @property
    def plan(self) -> SyncPlan:
        """The store runs the sync makes (inside the ``with`` block)."""
        if self._plan is None:
            raise RuntimeError("use the demo as a context manager")
        return self._plan

    def workspace_text(self) -> str:
        """The workspace file the demo writes."""
        accounts = {
            platform.connector: {
                "connector": platform.connector,
                **platform.settings(DEMO_HOST.format(name=platform.connector)),
                **platform.client_settings,
            }
            for platform in PLATFORMS
        }
        body = BaseWorkspace(accounts, database=DATABASE_FILE).to_toml()
        header = _HEADER.format(version=__version__, database=self.database.as_posix())
        return f"{header}\n{body}"

    def write_workspace(self) -> None:
        """Write ``cdp.toml`` (readable by its owner only), refusing to replace a file or
        to fill a store that the demo did not write."""
        if self.directory.exists() and not self.directory.is_dir():
            raise ConfigurationError(f"{self.directory} exists and is not a directory")
        if self.workspace_file.exists():
            with self.workspace_file.open(encoding="utf-8") as stream:
                written_by_demo = stream.readline().startswith(MARKER)
        else:
            written_by_demo = not self.database.exists()
        if not written_by_demo:
            raise ConfigurationError(
                f"{self.directory} holds a workspace or store that cdp demo did not write; "
                "choose another directory with --dir"
            )
        self.directory.mkdir(parents=True, exist_ok=True)
        self.workspace_file.touch(mode=0o600)
        self.workspace_file.chmod(0o600)
        self.workspace_file.write_text(self.workspace_text(), encoding="utf-8")

    def __enter__(self) -> Self:
        self.write_workspace()
        self.emulators = {
            platform.connector: platform.start(self.fleets[platform.connector], unlimited=True)
            for platform in PLATFORMS
        }
        transports = {name: emulator.transport() for name, emulator in self.emulators.items()}
        workspace = Workspace.load(self.workspace_file, transports=transports)
        try:
            self._store = Store(self.database)
            self.first_run = not self._store.cursors()
            self._plan = plan_sync(workspace, options=self.options)
        except BaseException:
            workspace.close()
            if self._store is not None:
                self._store.close()
            raise
        self._workspace = workspace
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        workspace, self._workspace = self._workspace, None
        store, self._store = self._store, None
        try:
            if workspace is not None:
                workspace.close()
        finally:
            if store is not None:
                store.close()

    def sync(self, progress: Callable[[SyncEvent], None] | None = None) -> list[SyncReport]:
        """Sync every account into the store (incrementally after the first run)."""
        return run_sync(self.store, self.workspace, self.plan, progress=progress)


def run_demo(
    directory: str | os.PathLike[str] = DEFAULT_DIRECTORY, *, size: int | None = None
) -> Path:
    """Run the demo's sync without output; the path of the store it filled.

    Raises:
        CdpError: an account or entity failed to sync.
    """
    with Demo(directory, size=size) as demo:
        reports = demo.sync()
    errors = [result for report in reports for result in report.errors]
    if errors:
        first = errors[0]
        raise CdpError(
            f"the demo sync failed for {len(errors)} entit{'y' if len(errors) == 1 else 'ies'}"
            f" (first: {first.account} {first.entity.value}: {first.error})"
        )
    return demo.database

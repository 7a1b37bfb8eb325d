"""Change sets: the wanted state of each SIM, from a CSV file, from subscriptions or code."""

from __future__ import annotations

import csv
import os
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from pydantic import ValidationError

from cdp_sdk.changes._errors import ChangeSetError
from cdp_sdk.changes._model import Change, Plan
from cdp_sdk.models import SimStatus, Subscription

if TYPE_CHECKING:
    from cdp_sdk.sync import Store
    from cdp_sdk.workspace import AsyncWorkspace, BaseWorkspace, Workspace

__all__ = ["DEFAULT_MAX_CHANGES", "NO_VALUE", "REMOVE", "ChangeSet"]

DEFAULT_MAX_CHANGES = 1000
"""A plan changing more SIMs than this is refused unless ``max_changes`` is raised."""

REMOVE = "<remove>"
"""In a ``tag:<key>`` cell of a change file: remove the tag."""
NO_VALUE = "<no value>"
"""In a ``tag:<key>`` cell of a change file: set the tag as a key without a value."""

_TAG_PREFIX = "tag:"
_STATUSES = ", ".join(s.value for s in SimStatus if s is not SimStatus.UNKNOWN)


class ChangeSet:
    """The wanted state of a set of SIMs: a status, tags to set, tags to remove.

    Build one from a CSV file (:meth:`from_csv`), from subscriptions or the rows of a
    DataFrame (:meth:`for_subscriptions`), or in code::

        changes = ChangeSet()
        changes.add("8988303000000000017", status="suspended", tags={"reason": "silent"})

    then :meth:`plan` it: nothing is changed before the plan is applied.
    """

    def __init__(self, changes: Iterable[Change] = (), *, source: str = "<changes>") -> None:
        self.source = source
        self._changes: list[Change] = []
        self._lines: dict[str, int] = {}
        problems: list[tuple[int, str]] = []
        for position, change in enumerate(changes, start=1):
            try:
                self._append(change, position)
            except ChangeSetError as exc:
                problems.extend(exc.problems)
        if problems:
            raise ChangeSetError(source, problems)

    def __len__(self) -> int:
        return len(self._changes)

    def __iter__(self) -> Iterator[Change]:
        return iter(self._changes)

    def __repr__(self) -> str:
        return f"<ChangeSet {self.source}: {len(self._changes)} SIMs>"

    @property
    def changes(self) -> tuple[Change, ...]:
        """The wanted states, in input order."""
        return tuple(self._changes)

    def add(
        self,
        iccid: str,
        *,
        status: SimStatus | str | None = None,
        tags: Mapping[str, str | None] | None = None,
        remove: Iterable[str] = (),
        account: str | None = None,
    ) -> Change:
        """Add one SIM's wanted state; :class:`ChangeSetError` when it is not valid or the
        SIM is already in the set."""
        position = len(self._changes) + 1
        try:
            change = Change(
                iccid=iccid,
                status=status.lower() if isinstance(status, str) else status,
                tags=dict(tags or {}),
                remove=tuple([remove] if isinstance(remove, str) else remove),
                account=account,
                line=position,
            )
        except ValidationError as exc:
            raise ChangeSetError(self.source, [(position, _reason(exc))]) from None
        self._append(change, position)
        return change

    def _append(self, change: Change, position: int) -> None:
        line = change.line if change.line is not None else position
        first = self._lines.get(change.iccid)
        if first is not None:
            problem = f"the ICCID repeats (first on line {first})"
            raise ChangeSetError(self.source, [(line, problem)])
        if change.line is None:
            change = change.model_copy(update={"line": position})
        self._lines[change.iccid] = line
        self._changes.append(change)

    # -- builders --------------------------------------------------------------------------

    @classmethod
    def from_csv(cls, source: str | os.PathLike[str] | IO[str]) -> ChangeSet:
        """The changes in a CSV file with a header.

        Columns: ``iccid`` (with or without its check digit), then ``status`` (a
        normalized status: ``active``, ``suspended``, ...) and/or one ``tag:<key>`` column
        per tag, and optionally ``account`` (pins the SIM to a workspace account). An
        empty cell leaves that status or tag as it is; in a tag column, ``<remove>``
        removes the tag and ``<no value>`` sets the key without a value; any other text
        is the tag's value. Blank lines are skipped; spaces around cells are trimmed.

        Raises:
            ChangeSetError: listing every bad line (nothing is read).
        """
        if isinstance(source, str | os.PathLike):
            name = os.fspath(source)
            try:
                with Path(source).open(encoding="utf-8-sig", newline="") as stream:
                    return cls._read(stream, name)
            except (OSError, UnicodeDecodeError) as exc:
                raise ChangeSetError(name, [(0, f"cannot read the file ({exc})")]) from None
        return cls._read(source, getattr(source, "name", "<stream>"))

    @classmethod
    def _read(cls, stream: IO[str], name: str) -> ChangeSet:
        reader = csv.reader(stream)
        try:
            header = next(reader, None)
        except csv.Error as exc:
            line = max(reader.line_num, 1)
            raise ChangeSetError(name, [(line, f"not valid CSV ({exc})")]) from None
        if header is None:
            raise ChangeSetError(name, [(1, "the file is empty; a header is needed")])
        columns, problem = _columns(header)
        if problem is not None:
            raise ChangeSetError(name, [(reader.line_num, problem)])
        problems: list[tuple[int, str]] = []
        changes = cls(source=name)
        while True:
            try:
                fields = next(reader)
            except StopIteration:
                break
            except csv.Error as exc:
                problems.append((reader.line_num, f"not valid CSV ({exc})"))
                break
            line = reader.line_num
            if not any(field.strip() for field in fields):
                continue
            if len(fields) != len(columns):
                problems.append((line, f"expected {len(columns)} fields, found {len(fields)}"))
                continue
            try:
                changes._append(_change(columns, fields, line), line)
            except ValidationError as exc:
                problems.append((line, _reason(exc)))
            except ChangeSetError as exc:
                problems.extend(exc.problems)
        if problems:
            raise ChangeSetError(name, problems)
        return changes

    @classmethod
    def for_subscriptions(
        cls,
        sims: Iterable[Subscription | Mapping[str, Any]] | Any,
        *,
        status: SimStatus | str | None = None,
        tags: Mapping[str, str | None] | None = None,
        remove: Iterable[str] = (),
        use_account: bool = True,
    ) -> ChangeSet:
        """The same change for every SIM of ``sims``.

        ``sims`` is any iterable of :class:`~cdp_sdk.Subscription` or of mappings with an
        ``iccid`` (and ``account``), or a pandas DataFrame with those columns, such as a
        filter of ``store.to_pandas("subscriptions")``. With ``use_account`` each SIM is
        pinned to its ``account``: the workspace account name, as the store and
        :class:`~cdp_sdk.Workspace` listings give it (a SIM read through a plain
        connector carries its platform's account instead: pass ``use_account=False``).
        """
        records = _records(sims)
        changes = cls(source="<subscriptions>")
        problems: list[tuple[int, str]] = []
        for position, record in enumerate(records, start=1):
            iccid: Any
            account: Any
            if isinstance(record, Subscription):
                iccid, account = record.iccid, record.account
            elif isinstance(record, Mapping):
                iccid, account = record.get("iccid"), record.get("account")
            else:
                problems.append((position, "expected a Subscription or a mapping with an iccid"))
                continue
            try:
                changes.add(
                    str(iccid) if iccid is not None else "",
                    status=status,
                    tags=tags,
                    remove=remove,
                    account=str(account) if use_account and _present(account) else None,
                )
            except ChangeSetError as exc:
                problems.extend((position, reason) for _, reason in exc.problems)
        if problems:
            raise ChangeSetError(changes.source, problems)
        return changes

    # -- planning ----------------------------------------------------------------------------

    def plan(
        self,
        workspace: Workspace | BaseWorkspace | None = None,
        *,
        store: Store | None = None,
        accounts: Iterable[str] | None = None,
        max_changes: int = DEFAULT_MAX_CHANGES,
        confirm_irreversible: bool = False,
    ) -> Plan:
        """What applying these changes would do (see :meth:`plan_async`); calls nothing
        that changes a SIM."""
        from cdp_sdk._bridge import LoopThread
        from cdp_sdk.workspace import Workspace

        if isinstance(workspace, Workspace):
            return workspace.run(
                lambda async_workspace: self.plan_async(
                    async_workspace,
                    store=store,
                    accounts=accounts,
                    max_changes=max_changes,
                    confirm_irreversible=confirm_irreversible,
                )
            )
        if store is None:
            raise TypeError("a live plan needs a Workspace (or give a store to plan from)")
        loop = LoopThread("cdp-sdk-plan")
        try:
            return loop.run(
                self.plan_async(
                    workspace,
                    store=store,
                    accounts=accounts,
                    max_changes=max_changes,
                    confirm_irreversible=confirm_irreversible,
                )
            )
        finally:
            loop.close()

    async def plan_async(
        self,
        workspace: AsyncWorkspace | BaseWorkspace | None = None,
        *,
        store: Store | None = None,
        accounts: Iterable[str] | None = None,
        max_changes: int = DEFAULT_MAX_CHANGES,
        confirm_irreversible: bool = False,
    ) -> Plan:
        """Resolve each SIM to its account and decide what to do with it.

        With ``store``, SIMs are found and their state read in the store (the plan shows
        how old each state is; the workspace, when given, must hold their accounts);
        otherwise each SIM is looked up live in the workspace's accounts. A SIM found in
        no account, or in two, is an error line, not a guess. Each found SIM is checked
        before any call: the platform's activation-mode table must allow the move, the
        connector must be able to write the tags (:meth:`BaseConnector.tag_problems`),
        and a retirement needs ``confirm_irreversible``.

        Args:
            workspace: the accounts (an :class:`~cdp_sdk.AsyncWorkspace` for live
                look-ups; any workspace with a store).
            store: plan from the store instead of live reads.
            accounts: only these accounts (default: all).
            max_changes: refuse a plan that changes more SIMs than this.
            confirm_irreversible: plan retirements (otherwise they are refused).

        Raises:
            TooManyChangesError: more SIMs would change than ``max_changes``.
        """
        from cdp_sdk.changes._planner import StateSource, build_plan, live_source
        from cdp_sdk.workspace import AsyncWorkspace

        if max_changes < 0:
            raise ValueError("max_changes must not be negative")
        source: StateSource
        if store is not None:
            from cdp_sdk.sync._changes import StoreSource

            source = StoreSource(store, workspace, accounts)
        elif isinstance(workspace, AsyncWorkspace):
            source = live_source(workspace, accounts)
        else:
            raise TypeError("a live plan needs an AsyncWorkspace (or give a store to plan from)")
        return await build_plan(
            self,
            source,
            max_changes=max_changes,
            confirm_irreversible=confirm_irreversible,
        )


def _columns(header: list[str]) -> tuple[list[tuple[str, str | None]], str | None]:
    """The header as ``(kind, tag key)`` pairs, or why it cannot be read."""
    columns: list[tuple[str, str | None]] = []
    seen: set[tuple[str, str | None]] = set()
    for raw in header:
        name = raw.strip()
        lowered = name.lower()
        if lowered in ("iccid", "status", "account"):
            column: tuple[str, str | None] = (lowered, None)
        elif lowered.startswith(_TAG_PREFIX) and name[len(_TAG_PREFIX) :].strip():
            column = ("tag", name[len(_TAG_PREFIX) :].strip())
        else:
            return [], (
                f"unknown column {name!r}: the columns are iccid, status, account and tag:<key>"
            )
        if column in seen:
            return [], f"the column {name!r} repeats"
        seen.add(column)
        columns.append(column)
    kinds = {kind for kind, _ in columns}
    if "iccid" not in kinds:
        return [], "the header must name an iccid column"
    if not kinds & {"status", "tag"}:
        return [], "the header must name a status column or tag:<key> columns"
    return columns, None


def _change(columns: list[tuple[str, str | None]], fields: list[str], line: int) -> Change:
    values: dict[str, Any] = {"tags": {}, "remove": [], "line": line}
    for (kind, key), raw in zip(columns, fields, strict=True):
        cell = raw.strip()
        if kind == "tag":
            assert key is not None
            if cell == REMOVE:
                values["remove"].append(key)
            elif cell == NO_VALUE:
                values["tags"][key] = None
            elif cell:
                values["tags"][key] = cell
        elif kind == "status":
            if cell:
                values["status"] = cell.lower()
        elif cell:
            values[kind] = cell
    values["remove"] = tuple(values["remove"])
    values.setdefault("iccid", "")
    return Change.model_validate(values)


def _reason(error: ValidationError) -> str:
    """The first problem of a validation error, in words (never the rejected value)."""
    first = error.errors(include_input=False, include_url=False)[0]
    field = first["loc"][0] if first["loc"] else None
    if field == "status":
        return f"unknown status; valid: {_STATUSES}"
    message = str(first["msg"]).removeprefix("Value error, ")
    return f"{field}: {message}" if field in ("iccid", "tags", "remove", "account") else message


def _records(sims: Any) -> Iterable[Any]:
    """The items of ``sims``: a DataFrame's rows as mappings, else the iterable itself."""
    columns = getattr(sims, "columns", None)
    if columns is not None and hasattr(sims, "to_dict"):
        if "iccid" not in list(columns):
            raise ChangeSetError("<subscriptions>", [(0, "the frame has no iccid column")])
        records: list[Any] = sims.to_dict("records")
        return records
    if isinstance(sims, str | bytes | Mapping) or not isinstance(sims, Iterable):
        raise TypeError("expected subscriptions (an iterable) or a DataFrame")
    items: Iterable[Any] = sims
    return items


def _present(value: Any) -> bool:
    """Whether a cell holds a value (``None`` and pandas' missing values do not)."""
    return value is not None and value == value and str(value) != ""

"""Local tags: a CSV import into the store, and a push to the platforms.

Local tags live in the ``tags`` table with ``source = 'local'``, beside the platform's
tags (``source = 'platform'``), one row per account holding the SIM. A push compares the
two: local tags the platform lacks or holds with another value are set; local tags that
were pushed once and have since been dropped by a ``replace`` import (kept as
``removed`` rows until then) are removed.
"""

from __future__ import annotations

import asyncio
import csv
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Any

from sqlalchemy import Connection, delete, insert, select, update

from cdp_sdk._registry import load_connector
from cdp_sdk.errors import CdpError
from cdp_sdk.models import Capability, Subscription, normalize_iccid
from cdp_sdk.sync._db import chunks, upsert
from cdp_sdk.sync._models import StoredTag, TagChange, TagImport, TagPlan, TagPushReport
from cdp_sdk.sync._runner import AccountState, RunContext, describe_error, utcnow
from cdp_sdk.sync._storable import refused_characters
from cdp_sdk.sync.schema import api_calls, subscriptions, tags

if TYPE_CHECKING:
    from cdp_sdk.sync._store import Store
    from cdp_sdk.workspace import AsyncWorkspace, BaseWorkspace

__all__ = [
    "TagImportError",
    "TagRow",
    "decode_tag_file",
    "plan",
    "push",
    "read_tag_csv",
    "store_local_tags",
    "stored_tags",
]

COLUMNS = ("iccid", "key", "value")
_SHOWN_PROBLEMS = 20
_UNDECODABLE = "not valid UTF-8 (on this line or a later one)"
"""A text stream decodes ahead of the lines it hands out: the bad bytes may lie further on."""


class TagImportError(CdpError):
    """A tag file has bad rows; nothing was imported.

    ``problems`` holds every ``(line, reason)``; the message shows the first ones.
    Identifiers are never repeated: a line number says where.
    """

    def __init__(self, source: str, problems: Sequence[tuple[int, str]]) -> None:
        self.source = source
        self.problems = list(problems)
        shown = "; ".join(f"line {line}: {reason}" for line, reason in problems[:_SHOWN_PROBLEMS])
        more = len(problems) - _SHOWN_PROBLEMS
        super().__init__(
            f"{source}: {len(problems)} bad row(s), nothing imported: {shown}"
            + (f"; and {more} more" if more > 0 else "")
        )


@dataclass(frozen=True)
class TagRow:
    """One valid row of a tag file."""

    line: int
    iccid: str
    key: str
    value: str | None


def read_tag_csv(stream: IO[str], *, name: str) -> list[TagRow]:
    """The rows of a tag CSV (header ``iccid,key,value`` in any order), all checked.

    Blank lines are skipped; surrounding spaces are trimmed; an empty value is a label
    without a value. A key or value holding what the database refuses (a NUL character,
    a lone UTF-16 surrogate) is a bad row: user input is refused, not cleaned.

    Raises:
        TagImportError: listing every bad row by line number (up to a line that is not
            CSV or not UTF-8, where reading stops).
    """
    reader = csv.reader(stream)
    try:
        header = next(reader, None)
    except csv.Error as exc:
        raise TagImportError(name, [(max(reader.line_num, 1), f"not valid CSV ({exc})")]) from None
    except UnicodeDecodeError:
        raise TagImportError(name, [(max(reader.line_num, 1), _UNDECODABLE)]) from None
    if header is None:
        raise TagImportError(name, [(1, "the file is empty; a header iccid,key,value is needed")])
    columns = [column.strip().lower() for column in header]
    if sorted(columns) != sorted(COLUMNS):
        raise TagImportError(
            name,
            [(reader.line_num, "the header must name the columns iccid, key and value")],
        )
    position = {column: columns.index(column) for column in COLUMNS}
    problems: list[tuple[int, str]] = []
    rows: list[TagRow] = []
    first_line: dict[tuple[str, str], int] = {}
    while True:
        try:
            fields = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            problems.append((reader.line_num, f"not valid CSV ({exc})"))
            break
        except UnicodeDecodeError:
            problems.append((reader.line_num + 1, _UNDECODABLE))
            break
        line = reader.line_num
        if not any(field.strip() for field in fields):
            continue
        if len(fields) != len(COLUMNS):
            problems.append((line, f"expected {len(COLUMNS)} fields, found {len(fields)}"))
            continue
        raw_iccid, key, value = (fields[position[column]].strip() for column in COLUMNS)
        try:
            iccid = normalize_iccid(raw_iccid)
        except (TypeError, ValueError):
            problems.append((line, "not a valid ICCID"))
            continue
        if not key:
            problems.append((line, "the key is empty"))
            continue
        refused = [
            f"the {field} holds {problem}, which the store cannot hold"
            for field, problem in (
                ("key", refused_characters(key)),
                ("value", refused_characters(value)),
            )
            if problem is not None
        ]
        if refused:
            problems.extend((line, reason) for reason in refused)
            continue
        if (iccid, key) in first_line:
            problems.append(
                (line, f"tag {key!r} repeats for this SIM (first on line {first_line[iccid, key]})")
            )
            continue
        first_line[iccid, key] = line
        rows.append(TagRow(line, iccid, key, value or None))
    if problems:
        raise TagImportError(name, problems)
    return rows


def decode_tag_file(content: bytes, *, name: str) -> str:
    """The text of a tag file (UTF-8, with or without a byte order mark).

    Raises:
        TagImportError: the bytes are not UTF-8 (naming the line).
    """
    try:
        return content.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = content[: exc.start].count(b"\n") + 1
    raise TagImportError(name, [(line, "not valid UTF-8")])


def store_local_tags(
    connection: Connection, rows: Sequence[TagRow], replace: bool, *, name: str
) -> TagImport:
    """Write checked ``rows`` of the file ``name`` as local tags (in the caller's
    transaction)."""
    holders: dict[str, set[str]] = defaultdict(set)
    for part in chunks(sorted({row.iccid for row in rows})):
        query = select(subscriptions.c.account, subscriptions.c.iccid).where(
            subscriptions.c.iccid.in_(part)
        )
        for account, iccid in connection.execute(query):
            holders[iccid].add(account)
    unknown = [
        (row.line, "no SIM with this ICCID in the store (sync its account first)")
        for row in rows
        if row.iccid not in holders
    ]
    if unknown:
        raise TagImportError(name, unknown)

    existing = {
        (r.account, r.iccid, r.key): r
        for r in connection.execute(select(tags).where(tags.c.source == "local"))
    }
    wanted = {
        (account, row.iccid, row.key): row.value
        for row in rows
        for account in sorted(holders[row.iccid])
    }
    now = utcnow()
    added = updated = unchanged = removed = 0
    writes: list[dict[str, Any]] = []
    for (account, iccid, key), value in wanted.items():
        old = existing.get((account, iccid, key))
        if old is None or old.removed:
            added += 1
        elif old.value != value:
            updated += 1
        else:
            unchanged += 1
            continue
        writes.append(
            {
                "account": account,
                "iccid": iccid,
                "source": "local",
                "key": key,
                "value": value,
                "removed": False,
                "synced_at": now,
            }
        )
    upsert(connection, tags, writes)
    if replace:
        for (account, iccid, key), old in existing.items():
            if (account, iccid, key) in wanted or old.removed:
                continue
            removed += 1
            where = (
                (tags.c.account == account)
                & (tags.c.iccid == iccid)
                & (tags.c.source == "local")
                & (tags.c.key == key)
            )
            if old.pushed_at is not None:  # on the platform: remove it there at the next push
                connection.execute(update(tags).where(where).values(removed=True, synced_at=now))
            else:
                connection.execute(delete(tags).where(where))
    return TagImport(
        rows=len(rows), added=added, updated=updated, unchanged=unchanged, removed=removed
    )


def stored_tags(connection: Connection, account: str | None, iccid: str | None) -> list[StoredTag]:
    """Platform and local tags side by side (local tags awaiting removal left out)."""
    query = (
        select(tags.c.account, tags.c.iccid, tags.c.key, tags.c.value, tags.c.source)
        .where(tags.c.removed.is_(False))
        .order_by(tags.c.account, tags.c.iccid, tags.c.key, tags.c.source)
    )
    if account is not None:
        query = query.where(tags.c.account == account)
    if iccid is not None:
        query = query.where(tags.c.iccid == normalize_iccid(iccid))
    return [StoredTag(*row) for row in connection.execute(query)]


def plan(
    connection: Connection, workspace: BaseWorkspace, accounts: Iterable[str] | None
) -> TagPlan:
    """The changes a push would make (a read; nothing is called). Changes the account's
    connector would refuse (:meth:`~cdp_sdk.BaseConnector.tag_problems`, given the SIM as
    the store last saw it) are set apart in ``refused``."""
    query = select(tags).where(tags.c.source == "local")
    if accounts is not None:
        query = query.where(tags.c.account.in_(workspace.select(accounts)))
    local: dict[str, dict[str, list[Any]]] = defaultdict(lambda: defaultdict(list))
    for row in connection.execute(query):
        local[row.account][row.iccid].append(row)

    changes: list[TagChange] = []
    refused: list[tuple[TagChange, str]] = []
    skipped: dict[str, str] = {}
    for account in sorted(local):
        reason = _cannot_push(workspace, account)
        if reason is not None:
            skipped[account] = reason
            continue
        connector = load_connector(workspace.account(account).connector)
        sims = _stored_sims(connection, account, sorted(local[account]))
        platform = _platform_tags(connection, account, sorted(local[account]))
        for iccid in sorted(local[account]):
            on_platform = platform.get(iccid, {})
            wanted = {r.key: r.value for r in local[account][iccid] if not r.removed}
            to_set = {
                key: value
                for key, value in sorted(wanted.items())
                if key not in on_platform or on_platform[key] != value
            }
            to_remove = tuple(
                sorted(r.key for r in local[account][iccid] if r.removed and r.key in on_platform)
            )
            if not (to_set or to_remove):
                continue
            change = TagChange(account, iccid, to_set, to_remove)
            problems = connector.tag_problems(to_set, to_remove, sim=sims.get(iccid))
            if problems:
                refused.append((change, "; ".join(problems)))
            else:
                changes.append(change)
    return TagPlan(tuple(changes), skipped, tuple(refused))


def _stored_sims(
    connection: Connection, account: str, iccids: Sequence[str]
) -> dict[str, Subscription]:
    """The SIMs as the store last saw them (tags left out), for the connector's checks."""
    from cdp_sdk.sync._changes import stored_subscription

    found: dict[str, Subscription] = {}
    for part in chunks(iccids):
        query = select(subscriptions).where(
            subscriptions.c.account == account, subscriptions.c.iccid.in_(part)
        )
        for row in connection.execute(query):
            found[row.iccid] = stored_subscription(row, [])
    return found


def _cannot_push(workspace: BaseWorkspace, account: str) -> str | None:
    if account not in workspace.accounts:
        return "not an account of the workspace"
    try:
        capabilities = workspace.capabilities(account)
    except CdpError as exc:
        return describe_error(exc)
    if Capability.UPDATE_TAGS not in capabilities:
        connector = workspace.accounts[account].connector
        return f"connector {connector!r} does not declare update_tags"
    return None


def _platform_tags(
    connection: Connection, account: str, iccids: Sequence[str]
) -> dict[str, dict[str, str | None]]:
    found: dict[str, dict[str, str | None]] = defaultdict(dict)
    for part in chunks(iccids):
        query = select(tags.c.iccid, tags.c.key, tags.c.value).where(
            tags.c.account == account, tags.c.source == "platform", tags.c.iccid.in_(part)
        )
        for iccid, key, value in connection.execute(query):
            found[iccid][key] = value
    return found


async def push(store: Store, workspace: AsyncWorkspace, plan: TagPlan) -> TagPushReport:
    """Apply ``plan``: one ``update_tags`` call per SIM, accounts concurrently."""
    by_account: dict[str, list[TagChange]] = defaultdict(list)
    for change in plan.changes:
        by_account[change.account].append(change)
    run = RunContext(store, workspace, sorted(by_account), kind="tag_push")
    await run.open()
    pushed: list[TagChange] = []
    failed: list[tuple[TagChange, str]] = []

    async def push_account(account: str, changes: list[TagChange]) -> None:
        state = run.states[account]
        state.topic = "tags"
        try:
            connector = workspace.connector(account)
        except Exception as exc:
            failed.extend((change, describe_error(exc)) for change in changes)
            return
        for change in changes:
            try:
                await connector.update_tags(change.iccid, change.set, remove=change.remove)
            except Exception as exc:
                failed.append((change, describe_error(exc)))
                await _save(run, state, None)
            else:
                pushed.append(change)
                await _save(run, state, change)

    remove = workspace.add_call_listener(run.on_call)
    try:
        await asyncio.gather(*(push_account(a, c) for a, c in by_account.items()))
    finally:
        remove()
    status = "ok" if not failed else "failed" if not pushed else "partial"
    report = await run.finish(status=status, records=len(pushed), errors=len(failed))
    return TagPushReport(
        plan=plan,
        pushed=tuple(pushed),
        failed=tuple(failed),
        run_id=report.run_id,
    )


async def _save(run: RunContext, state: AccountState, change: TagChange | None) -> None:
    """Journal the calls so far and, for a pushed change, mirror it in the store."""
    journal, state.journal = state.journal, []
    now = utcnow()

    def save(connection: Connection) -> None:
        if journal:
            connection.execute(insert(api_calls), journal)
        if change is not None:
            _apply(connection, change, run.run_id, now)

    await run.write(save)


def _apply(connection: Connection, change: TagChange, run_id: int, now: Any) -> None:
    sim = (tags.c.account == change.account) & (tags.c.iccid == change.iccid)
    upsert(
        connection,
        tags,
        [
            {
                "account": change.account,
                "iccid": change.iccid,
                "source": "platform",
                "key": key,
                "value": value,
                "removed": False,
                "run_id": run_id,
                "synced_at": now,
            }
            for key, value in change.set.items()
        ],
    )
    if change.set:
        connection.execute(
            update(tags)
            .where(sim, tags.c.source == "local", tags.c.key.in_(list(change.set)))
            .values(pushed_at=now)
        )
    if change.remove:
        connection.execute(
            delete(tags).where(sim, tags.c.source == "platform", tags.c.key.in_(change.remove))
        )
    connection.execute(delete(tags).where(sim, tags.c.source == "local", tags.c.removed.is_(True)))

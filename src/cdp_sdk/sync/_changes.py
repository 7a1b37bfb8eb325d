"""The store's side of bulk changes (:mod:`cdp_sdk.changes`): planning from the mirrored
state, and the journal of applies.

Each apply is a run (``sync_runs``, kind ``changes``) whose HTTP calls go to ``api_calls``
as usual; every intent and outcome is a ``change_journal`` row, committed (with the calls
journaled since the last one) before the apply goes on. The plan itself is recorded in
``change_plans`` with its digest, so a different plan under the same id is refused.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError
from sqlalchemy import Connection, insert, select

from cdp_sdk._connector import BaseConnector
from cdp_sdk._registry import load_connector
from cdp_sdk.changes._errors import PlanFileError
from cdp_sdk.changes._journal import ChangeJournal, JournalEntry, entries_of
from cdp_sdk.changes._model import ApplyReport, Change, Outcome, Plan
from cdp_sdk.changes._planner import Found, Lookup, StateSource, iccid_forms
from cdp_sdk.errors import CdpError
from cdp_sdk.models import ActivationMode, Subscription, Tag
from cdp_sdk.sync._db import chunks
from cdp_sdk.sync._runner import RunContext
from cdp_sdk.sync.schema import (
    activation_modes,
    change_journal,
    change_plans,
    subscriptions,
    tags,
)

if TYPE_CHECKING:
    from cdp_sdk.sync._store import Store
    from cdp_sdk.workspace import AsyncWorkspace, BaseWorkspace

__all__ = ["StoreJournal", "StoreSource", "journal_rows", "stored_subscription"]

TOPIC = "changes"
"""What the calls of an apply are filed under in ``api_calls.entity``."""


class StoreJournal(ChangeJournal):
    """The journal of applies in a store (``change_plans``, ``change_journal``)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._run: RunContext | None = None
        self._remove_listener: Any = None

    async def open(self, plan: Plan, workspace: AsyncWorkspace) -> int | None:
        await asyncio.to_thread(self.store.transaction, lambda c: _record_plan(c, plan))
        accounts = sorted({change.account for change in plan.changes if change.account})
        run = RunContext(self.store, workspace, accounts, kind=TOPIC)
        for state in run.states.values():
            state.topic = TOPIC
        await run.open()
        self._run = run
        self._remove_listener = workspace.add_call_listener(run.on_call)
        return run.run_id

    async def history(self, plan: Plan) -> list[JournalEntry]:
        def read(connection: Connection) -> list[JournalEntry]:
            query = (
                select(change_journal)
                .where(change_journal.c.plan_id == plan.id)
                .order_by(change_journal.c.id)
            )
            return entries_of([dict(row._mapping) for row in connection.execute(query)])

        run = self._run
        assert run is not None
        return await run.read(read)

    async def record(self, entry: JournalEntry) -> None:
        run = self._run
        assert run is not None
        state = run.states.get(entry.account)
        calls = state.journal if state is not None else []
        if state is not None:
            state.journal = []
        row = _row(entry)

        def write(connection: Connection) -> None:
            if calls:
                from cdp_sdk.sync.schema import api_calls

                connection.execute(insert(api_calls), calls)
            connection.execute(insert(change_journal).values(**row))

        try:
            await run.write(write)
        except BaseException:
            if state is not None:
                state.journal = calls + state.journal
            raise

    async def close(self, report: ApplyReport | None) -> None:
        run = self._run
        if run is None:
            return
        if self._remove_listener is not None:
            self._remove_listener()
            self._remove_listener = None
        calls = [row for state in run.states.values() for row in state.journal]
        for state in run.states.values():
            state.journal = []
        if calls:
            from cdp_sdk.sync.schema import api_calls

            await run.write(lambda connection: connection.execute(insert(api_calls), calls))
        if report is None:
            await run.finish(status="failed", records=0, errors=0)
            return
        counts = report.counts
        done = counts[Outcome.DONE]
        bad = counts[Outcome.REFUSED] + counts[Outcome.FAILED]
        settled = done + counts[Outcome.SKIPPED]
        status = "ok" if report.ok else "partial" if settled else "failed"
        await run.finish(status=status, records=done, errors=bad)


def _record_plan(connection: Connection, plan: Plan) -> None:
    known = connection.execute(
        select(change_plans.c.digest).where(change_plans.c.id == plan.id)
    ).scalar()
    if known is None:
        connection.execute(
            insert(change_plans).values(
                id=plan.id,
                digest=plan.digest,
                created_at=plan.created_at,
                source=plan.source,
                changes=len(plan.to_apply),
                first_applied_at=datetime.now(UTC),
            )
        )
    elif known != plan.digest:
        raise PlanFileError(
            f"the store holds a different plan with the id {plan.id!r}: the plan file was "
            "changed after it was first applied; make a new plan"
        )


def _row(entry: JournalEntry) -> dict[str, Any]:
    return {
        "plan_id": entry.plan_id,
        "run_id": entry.run_id,
        "account": entry.account,
        "iccid": entry.iccid,
        "step": entry.step,
        "event": entry.event,
        "outcome": entry.outcome.value if entry.outcome is not None else None,
        "code": entry.code,
        "request_id": entry.request_id,
        "detail": entry.detail,
        "request": dict(entry.request) if entry.request is not None else None,
        "at": entry.at,
    }


def journal_rows(store: Store, plan_id: str) -> list[JournalEntry]:
    """The journal of a plan in ``store``, oldest first."""

    def read(connection: Connection) -> list[JournalEntry]:
        query = (
            select(change_journal)
            .where(change_journal.c.plan_id == plan_id)
            .order_by(change_journal.c.id)
        )
        return entries_of([dict(row._mapping) for row in connection.execute(query)])

    return store.read(read)


# -- planning from the store ----------------------------------------------------------------


class StoreSource(StateSource):
    """SIMs found, and their state read, in the store; the state is as old as the SIM's
    last sync (``synced_at``)."""

    source = "store"

    def __init__(
        self,
        store: Store,
        workspace: BaseWorkspace | AsyncWorkspace | None,
        accounts: Iterable[str] | None,
    ) -> None:
        self.store = store
        self.workspace = workspace
        if accounts is None:
            self.accounts: list[str] | None = None
        elif workspace is not None:
            self.accounts = workspace.select(accounts)
        else:
            self.accounts = sorted(set([accounts] if isinstance(accounts, str) else accounts))
        self._modes: dict[str, list[ActivationMode] | None] = {}

    async def lookup(self, changes: Sequence[Change]) -> list[Lookup]:
        return await asyncio.to_thread(self.store.read, lambda c: self._lookup(c, changes))

    def _lookup(self, connection: Connection, changes: Sequence[Change]) -> list[Lookup]:
        forms = sorted({form for change in changes for form in iccid_forms(change.iccid)})
        rows: list[Any] = []
        for part in chunks(forms):
            query = select(subscriptions).where(subscriptions.c.iccid.in_(part))
            if self.accounts is not None:
                query = query.where(subscriptions.c.account.in_(self.accounts))
            rows.extend(connection.execute(query))
        platform_tags: dict[tuple[str, str], list[Tag]] = defaultdict(list)
        for part in chunks(sorted({row.iccid for row in rows})):
            query = (
                select(tags.c.account, tags.c.iccid, tags.c.key, tags.c.value)
                .where(tags.c.source == "platform", tags.c.iccid.in_(part))
                .order_by(tags.c.key)
            )
            for account, iccid, key, value in connection.execute(query):
                platform_tags[account, iccid].append(Tag(key=key, value=value))
        by_form: dict[str, list[Found | tuple[str, str]]] = defaultdict(list)
        for row in rows:
            try:
                sim = stored_subscription(row, platform_tags[row.account, row.iccid])
            except ValidationError:
                by_form[row.iccid].append((row.account, "its record in the store cannot be read"))
                continue
            observed = row.synced_at or datetime.now(UTC)
            by_form[row.iccid].append(Found(row.account, row.connector, sim, observed))
        results = []
        for change in changes:
            lookup = Lookup()
            for form in iccid_forms(change.iccid):
                for item in by_form.get(form, ()):
                    account = item.account if isinstance(item, Found) else item[0]
                    if change.account not in (None, account):
                        continue
                    if isinstance(item, Found):
                        lookup.found.append(item)
                    else:
                        lookup.errors[account] = item[1]
            results.append(lookup)
        return results

    async def modes(self, account: str) -> list[ActivationMode] | None:
        if account not in self._modes:
            stored = await asyncio.to_thread(self.store.read, lambda c: _stored_modes(c, account))
            self._modes[account] = stored or await self._live_modes(account)
        return self._modes[account]

    async def _live_modes(self, account: str) -> list[ActivationMode] | None:
        from cdp_sdk.workspace import AsyncWorkspace

        workspace = self.workspace
        if not isinstance(workspace, AsyncWorkspace) or account not in workspace.accounts:
            return None
        try:
            return await workspace.connector(account).activation_modes()
        except CdpError:
            return None

    def connector_class(self, found: Found) -> type[BaseConnector]:
        workspace = self.workspace
        if workspace is not None and found.account in workspace.accounts:
            return load_connector(workspace.account(found.account).connector)
        return super().connector_class(found)

    def account_problem(self, account: str) -> str | None:
        workspace = self.workspace
        if workspace is not None and account not in workspace.accounts:
            return f"the store's account {account!r} is not an account of the workspace"
        return None

    def not_found(self, change: Change) -> str:
        where = f"account {change.account!r} of the store" if change.account else "the store"
        return f"not in {where}: sync its account first, or plan live"


def stored_subscription(row: Any, sim_tags: list[Tag]) -> Subscription:
    """A subscription row of the store (and its tags) as the model."""
    return Subscription(
        connector=row.connector,
        account=row.account,
        id=row.id,
        iccid=row.iccid,
        imsi=row.imsi,
        msisdn=row.msisdn,
        imei=row.imei,
        eid=row.eid,
        status=row.status,
        status_raw=row.status_raw,
        tariff=row.tariff,
        created_at=row.created_at,
        activated_at=row.activated_at,
        updated_at=row.updated_at,
        ip_address=row.ip_address,
        tags=tuple(sim_tags),
        extra=row.extra or {},
    )


def _stored_modes(connection: Connection, account: str) -> list[ActivationMode]:
    query = (
        select(activation_modes)
        .where(activation_modes.c.account == account)
        .order_by(activation_modes.c.name)
    )
    return [
        ActivationMode(
            connector=row.connector,
            name=row.name,
            status=row.status,
            description=row.description,
            billable=row.billable,
            auto_activates=row.auto_activates,
            settable=row.settable,
            next=tuple(row.next or ()),
            extra=row.extra or {},
        )
        for row in connection.execute(query)
    ]

"""Planning: find each SIM's account, read its state, decide its calls and refusals.

Where states come from is a :class:`StateSource`: the platforms, live
(:class:`LiveSource`), or the sync store (``cdp_sdk.sync``'s ``StoreSource``).
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, ClassVar, Literal

from cdp_sdk._connector import BaseConnector
from cdp_sdk._redact import redact_text
from cdp_sdk._registry import load_connector
from cdp_sdk.changes._errors import TooManyChangesError
from cdp_sdk.changes._model import Change, Decision, Plan, PlannedChange, Reason, SimState
from cdp_sdk.changes._rules import decide
from cdp_sdk.errors import CdpError, NotFoundError
from cdp_sdk.models import (
    ActivationMode,
    Capability,
    Subscription,
    luhn_check_digit,
    luhn_valid,
)

if TYPE_CHECKING:
    from cdp_sdk.changes._changeset import ChangeSet
    from cdp_sdk.workspace import AsyncWorkspace

__all__ = [
    "DEFAULT_CONCURRENCY",
    "Found",
    "LiveSource",
    "Lookup",
    "StateSource",
    "build_plan",
    "describe_error",
    "iccid_forms",
    "live_source",
]

DEFAULT_CONCURRENCY = 4
"""SIMs handled at once per account when its connector sets no ``max_concurrency``."""


def describe_error(error: BaseException) -> str:
    """``"ErrorClass: message"``, redacted."""
    message = getattr(error, "message", None) or str(error)
    return redact_text(f"{type(error).__name__}: {message}")


def iccid_forms(iccid: str) -> tuple[str, ...]:
    """The ICCIDs a user's ``iccid`` can stand for, likeliest first: as given when its last
    digit is its Luhn check digit, else with the check digit appended (and the other one
    next)."""
    with_digit = iccid + str(luhn_check_digit(iccid))
    if len(with_digit) > 22:
        return (iccid,)
    return (iccid, with_digit) if luhn_valid(iccid) else (with_digit, iccid)


@dataclass(frozen=True)
class Found:
    """A SIM found in one account, with when its state was seen."""

    account: str
    connector: str
    sim: Subscription
    observed_at: datetime


@dataclass
class Lookup:
    """Where one change's SIM was found, and the accounts that could not be searched."""

    found: list[Found] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)


class StateSource:
    """Where a plan finds SIMs and reads their state.

    :meth:`lookup` finds the SIM of each change in every account it may be in (a pinned
    change only in its account); :meth:`modes` gives an account's activation modes
    (``None``: unknown); :meth:`connector_class` the connector that reaches a found SIM;
    :meth:`account_problem` why an account cannot take changes (``None``: it can).
    """

    source: ClassVar[Literal["live", "store"]]

    async def lookup(self, changes: Sequence[Change]) -> list[Lookup]:
        raise NotImplementedError

    async def modes(self, account: str) -> list[ActivationMode] | None:
        raise NotImplementedError

    def connector_class(self, found: Found) -> type[BaseConnector]:
        return load_connector(found.connector)

    def account_problem(self, account: str) -> str | None:
        return None

    def not_found(self, change: Change) -> str:
        raise NotImplementedError


class LiveSource(StateSource):
    """SIMs looked up on the platforms, ``subscription(iccid)`` in every account."""

    source = "live"

    def __init__(self, workspace: AsyncWorkspace, accounts: Iterable[str] | None) -> None:
        self.workspace = workspace
        self.accounts = workspace.select(accounts)
        self._modes: dict[str, list[ActivationMode] | None] = {}
        self._unsearched: dict[str, str] = {}

    async def lookup(self, changes: Sequence[Change]) -> list[Lookup]:
        results = [Lookup() for _ in changes]
        for phase in (0, 1):  # every account with the likeliest form first
            todo = [
                index
                for index, change in enumerate(changes)
                if len(iccid_forms(change.iccid)) > phase
                and (phase == 0 or not (results[index].found or results[index].errors))
            ]
            if todo:
                await asyncio.gather(
                    *(self._search(name, changes, todo, phase, results) for name in self.accounts)
                )
        return results

    async def _search(
        self,
        account: str,
        changes: Sequence[Change],
        todo: list[int],
        phase: int,
        results: list[Lookup],
    ) -> None:
        mine = [i for i in todo if changes[i].account in (None, account)]
        if not mine:
            return
        try:
            connector = self.workspace.connector(account)
        except CdpError as exc:
            for index in mine:
                results[index].errors[account] = describe_error(exc)
            return
        if Capability.SUBSCRIPTIONS not in connector.capabilities:
            self._unsearched[account] = f"{connector.name} cannot look SIMs up"
            return
        slots = asyncio.Semaphore(connector.settings.max_concurrency or DEFAULT_CONCURRENCY)

        async def one(index: int) -> None:
            form = iccid_forms(changes[index].iccid)[phase]
            async with slots:
                try:
                    sim = await connector.subscription(form)
                except NotFoundError:
                    return
                except CdpError as exc:
                    results[index].errors[account] = describe_error(exc)
                    return
            results[index].found.append(Found(account, connector.name, sim, _utcnow()))

        await asyncio.gather(*(one(index) for index in mine))

    async def modes(self, account: str) -> list[ActivationMode] | None:
        if account not in self._modes:
            try:
                found = await self.workspace.connector(account).activation_modes()
            except CdpError:
                found = None
            self._modes[account] = found
        return self._modes[account]

    def connector_class(self, found: Found) -> type[BaseConnector]:
        return load_connector(self.workspace.account(found.account).connector)

    def not_found(self, change: Change) -> str:
        if change.account is not None and change.account not in self.accounts:
            valid = ", ".join(self.accounts) or "none"
            return f"pinned to {change.account!r}, which is not an account here ({valid})"
        searched = [change.account] if change.account else self.accounts
        message = f"in none of the accounts searched ({', '.join(searched) or 'none'})"
        if self._unsearched:
            skipped = ", ".join(f"{a}: {why}" for a, why in sorted(self._unsearched.items()))
            message += f"; not searched: {skipped}"
        return message


def live_source(workspace: AsyncWorkspace, accounts: Iterable[str] | None) -> LiveSource:
    """The live source over the workspace's ``accounts`` (default: all)."""
    return LiveSource(workspace, accounts)


async def build_plan(
    changes: ChangeSet,
    source: StateSource,
    *,
    max_changes: int,
    confirm_irreversible: bool,
) -> Plan:
    """The plan of ``changes``, with states from ``source``.

    Raises:
        TooManyChangesError: more SIMs would change than ``max_changes``.
    """
    created_at = _utcnow()
    wanted = changes.changes
    lookups = await source.lookup(wanted)
    claimed: dict[tuple[str, str], int | None] = {}
    planned = [
        await _plan_one(change, lookup, source, claimed, confirm_irreversible)
        for change, lookup in zip(wanted, lookups, strict=True)
    ]
    plan = Plan(
        id=secrets.token_hex(8),
        created_at=created_at,
        source=source.source,
        max_changes=max_changes,
        confirm_irreversible=confirm_irreversible,
        changes=tuple(planned),
    )
    if len(plan.to_apply) > max_changes:
        raise TooManyChangesError(len(plan.to_apply), max_changes)
    return plan


async def _plan_one(
    change: Change,
    lookup: Lookup,
    source: StateSource,
    claimed: dict[tuple[str, str], int | None],
    confirm_irreversible: bool,
) -> PlannedChange:
    def error(code: str, message: str, found: Found | None = None) -> PlannedChange:
        return PlannedChange(
            change=change,
            decision=Decision.ERROR,
            iccid=found.sim.iccid if found else None,
            account=found.account if found else change.account,
            connector=found.connector if found else None,
            reasons=(Reason(code=code, message=message),),
        )

    distinct = {(f.account, f.sim.iccid): f for f in lookup.found}
    accounts = sorted({account for account, _ in distinct})
    failures = "; ".join(f"{a}: {why}" for a, why in sorted(lookup.errors.items()))
    if not distinct:
        if lookup.errors:
            return error("lookup_failed", f"could not be looked up ({failures})")
        return error("not_found", source.not_found(change))
    if len(accounts) > 1:
        return error(
            "in_two_accounts",
            f"found in {' and '.join(accounts)}: pin one account (the account column)",
        )
    if lookup.errors:
        return error(
            "lookup_failed", f"found in {accounts[0]}, but other accounts failed ({failures})"
        )
    if len(distinct) > 1:
        return error(
            "ambiguous", f"two SIMs of {accounts[0]} match it, with and without a check digit"
        )
    found = next(iter(distinct.values()))
    key = (found.account, found.sim.iccid)
    if key in claimed:
        line = claimed[key]
        return error("duplicate", f"the same SIM as line {line}", found)
    claimed[key] = change.line
    if (problem := source.account_problem(found.account)) is not None:
        return error("unknown_account", problem, found)
    try:
        connector = source.connector_class(found)
    except CdpError as exc:
        return error("connector", describe_error(exc), found)
    modes = await source.modes(found.account)
    decided = decide(change, found.sim, connector, modes, confirm_irreversible=confirm_irreversible)
    return PlannedChange(
        change=change,
        decision=decided.decision,
        iccid=found.sim.iccid,
        account=found.account,
        connector=connector.name,
        current=SimState.of(found.sim, observed_at=found.observed_at, source=source.source),
        calls=decided.calls,
        reasons=decided.reasons,
        notes=decided.notes,
    )


def _utcnow() -> datetime:
    return datetime.now(UTC)

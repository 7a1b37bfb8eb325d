"""Celery beat entries from the workspace file, each at its own phase of its interval."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from celery.schedules import schedstate, schedule

from cdp_sdk.sync.celery._config import CelerySettings

__all__ = ["SYNC_ACCOUNT", "beat_schedule", "phased"]

SYNC_ACCOUNT = "cdp_sdk.sync.sync_account"
"""The name of the task that syncs one account."""

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class phased(schedule):  # type: ignore[misc]  # lower case, like Celery's schedules
    """Every ``run_every``, in slots at ``offset`` past each multiple of ``run_every``
    since 1970-01-01 UTC.

    Celery's plain interval is due ``run_every`` after the last run, so entries created
    together (all of them, when beat starts) come due in the same second. Here each entry
    keeps its own slot within the interval: entries with spread offsets spread their
    runs, and keep their slots across restarts of beat. A slot missed while beat was down
    is run once when it comes back.
    """

    def __init__(
        self,
        run_every: timedelta,
        offset: timedelta = timedelta(0),
        nowfun: Callable[[], datetime] | None = None,
        app: Any = None,
    ) -> None:
        super().__init__(run_every, relative=False, nowfun=nowfun, app=app)
        self.offset: timedelta = offset % self.run_every

    def slot(self, moment: datetime) -> datetime:
        """The latest slot at or before ``moment``."""
        moment = moment.astimezone(UTC)
        since = moment - _EPOCH - self.offset
        result: datetime = moment - since % self.run_every
        return result

    def remaining_estimate(self, last_run_at: datetime) -> timedelta:
        last = self.maybe_make_aware(last_run_at)
        now = self.maybe_make_aware(self.now())
        remaining: timedelta = self.slot(last) + self.run_every - now
        return remaining

    def is_due(self, last_run_at: datetime) -> tuple[bool, float]:
        """Due when the latest slot is later than the last run; the next check is at the
        next slot."""
        now = self.maybe_make_aware(self.now())
        current = self.slot(now)
        due = self.maybe_make_aware(last_run_at) < current
        following = (current + self.run_every - now).total_seconds()
        state: tuple[bool, float] = schedstate(is_due=due, next=following)
        return state

    def __reduce__(self) -> tuple[type, tuple[Any, ...]]:
        return self.__class__, (self.run_every, self.offset, self.nowfun)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, phased):
            return (self.run_every, self.offset) == (other.run_every, other.offset)
        return NotImplemented

    def __hash__(self) -> int:
        return hash((self.run_every, self.offset))

    def __repr__(self) -> str:
        return f"<phased: every {self.run_every} at +{self.offset}>"


def beat_schedule(settings: CelerySettings) -> dict[str, dict[str, Any]]:
    """Celery's ``beat_schedule`` for the workspace's ``[celery.schedule]``: one entry per
    account and interval, each sending the account's name (and entities) only.

    A message not taken by a worker within its interval expires: the next run is due by
    then, so a backlog cannot build up while the workers are down.
    """
    entries: dict[str, dict[str, Any]] = {}
    for entry in settings.schedule:
        kwargs = {} if entry.entities is None else {"entities": [e.value for e in entry.entities]}
        entries[entry.name] = {
            "task": SYNC_ACCOUNT,
            "schedule": phased(entry.every, entry.offset),
            "args": (entry.account,),
            "kwargs": kwargs,
            "options": {"expires": entry.every.total_seconds()},
        }
    return entries

"""How long an account's sync still needs: the requests it has left, over their rate.

A sync is bounded by the platform's rate limit, so its time left is the requests it still
has to make divided by the rate they go at. :class:`Workload` counts them from what the
run knows, entity by entity:

- **SIM by SIM** (usage or audit events of a platform that gives them per SIM only, or
  ``SyncOptions.usage_per_sim``): the SIMs times the time windows not yet read, times the
  requests one SIM and window took so far in this run (before the first, one: the least
  it can take).
- **Subscriptions**: an incremental listing asks for the changes only and is not counted;
  a full listing counts the SIMs the store held before the run that are not listed yet,
  times the requests each listed SIM took so far (a platform that reads every SIM's
  details costs about one request per SIM; a paged listing a small fraction). Before its
  first page, and in a first sync, where no one knows how many SIMs there are, the
  estimate is unknown.
- **Anything else** (an account-wide listing): one request per window not yet read, the
  least it needs.

The rate is the connector's rate limit, or the rate the account achieved so far in the
run when that is lower (latency, one request at a time); without a limit, the rate
achieved. Once the account has made :data:`MEASURED` requests, the achieved rate counts.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from cdp_sdk.sync._models import Entity

__all__ = ["MEASURED", "Step", "Workload"]

MEASURED = 10
"""Requests an account makes before the rate it achieves is used."""


@dataclass(frozen=True)
class Step:
    """One entity an account's sync reads: in how many time windows, and whether SIM by
    SIM; ``incremental``: a subscription listing of the changes only."""

    entity: Entity
    windows: int = 1
    per_sim: bool = False
    incremental: bool = False


class Workload:
    """What one account's sync has left to read, in requests, and when it should be done.

    Args:
        steps: the entities to read, in order.
        sims: the account's SIMs in the store before the run (0: none, a first sync).
        rate_limit: the connector's requests per second (``None``: no limit).
        clock: seconds, monotonic (for tests).
    """

    def __init__(
        self,
        steps: Sequence[Step],
        *,
        sims: int,
        rate_limit: float | None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._steps = {step.entity: step for step in steps}
        self._left = [step.entity for step in steps]
        self.sims = sims
        """SIMs of the account: those in the store before the run, then those listed."""
        self.rate_limit = rate_limit
        self._clock = clock
        self._started = clock()
        self.requests = 0
        """Requests the account made so far in the run."""
        self._current: Entity | None = None
        self._done = 0
        """SIM windows begun in the current step (SIM by SIM)."""
        self._windows_done = 0
        """Windows begun in the current step (account-wide)."""

    # -- what the run tells -----------------------------------------------------------------

    def begin(self, entity: Entity) -> None:
        """The run starts reading ``entity``."""
        self._current = entity
        self._done = self._windows_done = 0

    def window(self) -> None:
        """The current step starts one of its windows (account-wide)."""
        self._windows_done += 1

    def sim(self) -> None:
        """The current step starts one SIM of one window (SIM by SIM)."""
        self._done += 1

    def per_sim(self, entity: Entity) -> None:
        """``entity`` turned out to be read SIM by SIM (no account totals on the platform)."""
        step = self._steps.get(entity)
        if step is not None and not step.per_sim:
            self._steps[entity] = Step(entity, step.windows, per_sim=True)

    def finish(self, entity: Entity, *, sims: int | None = None) -> None:
        """The run is done with ``entity``; ``sims``: the SIMs the store now holds."""
        if entity in self._left:
            self._left.remove(entity)
        if sims is not None:
            self.sims = sims
        if self._current is entity:
            self._current = None

    def reads_sim_by_sim(self) -> bool:
        """Whether an entity still to read goes SIM by SIM (its count of SIMs matters)."""
        return any(self._steps[entity].per_sim for entity in self._left)

    # -- the estimate -------------------------------------------------------------------------

    def requests_left(self, *, requests: int, records: int) -> int | None:
        """The requests the account still needs (``None``: not known yet).

        Args:
            requests: requests of the current entity so far.
            records: records of the current entity committed so far.
        """
        left = 0.0
        for entity in self._left:
            step = self._steps[entity]
            current = entity is self._current
            if step.entity is Entity.SUBSCRIPTIONS and not step.per_sim:
                if step.incremental:
                    continue
                if not current or records == 0 or self.sims == 0:
                    return None  # how many SIMs, or what each costs, is not known yet
                left += max(0, self.sims - records) * requests / records
            elif step.per_sim:
                total = self.sims * step.windows
                if current and self._done:
                    left += max(0, total - self._done) * requests / self._done
                else:
                    left += total  # one request per SIM and window, the least
            else:
                left += max(0, step.windows - (self._windows_done if current else 0))
        return round(left)

    def rate(self) -> float | None:
        """Requests per second: the rate limit, or the rate achieved when lower."""
        elapsed = self._clock() - self._started
        achieved = self.requests / elapsed if self.requests >= MEASURED and elapsed > 0 else None
        if self.rate_limit is None:
            return achieved
        return self.rate_limit if achieved is None else min(self.rate_limit, achieved)

    def eta(self, *, requests: int, records: int) -> tuple[int | None, float | None]:
        """The requests left and the seconds they take (each ``None`` when not known)."""
        left = self.requests_left(requests=requests, records=records)
        rate = self.rate()
        if left is None or rate is None:
            return left, None
        return left, left / rate

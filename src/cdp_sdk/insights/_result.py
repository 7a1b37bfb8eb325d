"""What every insight returns: typed rows, the data it could not assess, its definition."""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Generic, TypeVar

if TYPE_CHECKING:
    import pandas

__all__ = ["Gap", "Insight"]

R = TypeVar("R")


@dataclass(frozen=True)
class Gap:
    """Data an insight could not assess, and why: it is never silently counted as zero.

    Attributes:
        account: the workspace account.
        connector: its connector.
        reason: what is missing, in a sentence.
        sims: how many SIMs the gap leaves out, where that is known.
    """

    account: str
    connector: str
    reason: str
    sims: int | None = None


@dataclass(frozen=True)
class Insight(Generic[R]):
    """The answer of one insight function.

    Attributes:
        name: the function that computed it, e.g. ``idle_billable``.
        title: a short human title.
        definition: exactly what the rows are (the function's definition, as text).
        rows: the answer, as typed rows (frozen dataclasses of ``row_type``).
        row_type: the dataclass of the rows (it gives the DataFrame's columns).
        gaps: accounts or SIMs left out for missing data, each with its reason.
        now: the instant the insight took as now.
        parameters: the parameters it ran with.
    """

    name: str
    title: str
    definition: str
    rows: tuple[R, ...]
    row_type: type[R]
    now: datetime
    gaps: tuple[Gap, ...] = ()
    parameters: Mapping[str, Any] = field(default_factory=dict)

    def __iter__(self) -> Iterator[R]:
        return iter(self.rows)

    def __len__(self) -> int:
        return len(self.rows)

    def columns(self) -> list[str]:
        """The rows' field names, in order (the DataFrame's columns)."""
        return [f.name for f in dataclasses.fields(self.row_type)]  # type: ignore[arg-type]

    def to_pandas(self) -> pandas.DataFrame:
        """The rows as a ``pandas.DataFrame``, one column per field (money stays
        ``Decimal``, instants are UTC timestamps, days are ``date`` objects)."""
        import pandas

        rows = [dataclasses.astuple(row) for row in self.rows]  # type: ignore[call-overload]
        frame = pandas.DataFrame.from_records(rows, columns=self.columns())
        for name, hint in typing.get_type_hints(self.row_type).items():
            kinds = set(typing.get_args(hint)) - {type(None)} or {hint}
            if kinds == {int}:
                frame[name] = frame[name].astype("Int64")
            elif kinds == {float}:
                frame[name] = frame[name].astype("float64")
            elif kinds == {datetime}:
                frame[name] = pandas.to_datetime(frame[name], utc=True)
        return frame

    def gaps_to_pandas(self) -> pandas.DataFrame:
        """The gaps as a ``pandas.DataFrame`` (account, connector, reason, sims)."""
        import pandas

        names = [f.name for f in dataclasses.fields(Gap)]
        return pandas.DataFrame.from_records(
            [dataclasses.astuple(gap) for gap in self.gaps], columns=names
        )

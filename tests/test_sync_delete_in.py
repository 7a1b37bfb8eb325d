"""The store's ``delete_in``: on SQLite one prepared ``DELETE`` run once per value, elsewhere
``IN`` lists; both delete exactly the rows whose column is one of the values and whose
other named columns match, each value converted by its column type."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from sqlalchemy import insert, select

from cdp_sdk.sync import Store, schema
from cdp_sdk.sync._db import delete_in

PARIS = timezone(timedelta(hours=2))
PUSHED = datetime(2024, 6, 15, 12, 0, tzinfo=UTC)


def iccid(number: int) -> str:
    return f"8988310000{number:09d}"


def tag(account: str, number: int, source: str, **columns: object) -> dict[str, object]:
    return {
        "account": account,
        "iccid": iccid(number),
        "source": source,
        "key": "site",
        "value": "west",
        **columns,
    }


def remaining(store: Store) -> set[tuple[str, str, str]]:
    query = select(schema.tags.c.account, schema.tags.c.iccid, schema.tags.c.source)
    with store.engine.connect() as connection:
        return {(row.account, row.iccid, row.source) for row in connection.execute(query)}


def test_only_the_listed_values_with_the_named_columns_are_deleted(any_store: Store) -> None:
    numbers = range(1, 1203)  # more than two IN lists of 500
    rows = [
        *(tag("eu", n, "platform") for n in numbers),
        *(tag("eu", n, "local") for n in numbers),
        *(tag("us", n, "platform") for n in numbers),
    ]
    with any_store.engine.begin() as connection:
        connection.execute(insert(schema.tags), rows)
    listed = [iccid(n) for n in numbers if n % 3]  # not every SIM of the account
    with any_store.engine.begin() as connection:
        delete_in(connection, schema.tags, "iccid", listed, account="eu", source="platform")
    gone = {("eu", number, "platform") for number in listed}
    everything = {(row["account"], row["iccid"], row["source"]) for row in rows}
    assert remaining(any_store) == everything - gone
    assert len(gone) == 802


def test_every_value_is_converted_by_its_column_type(any_store: Store) -> None:
    # An instant is stored in UTC; the same instant given in another zone still matches,
    # as the column named in the conditions and as the column of the values.
    rows = [
        tag("eu", 1, "local", pushed_at=PUSHED),
        tag("eu", 2, "local", pushed_at=PUSHED + timedelta(microseconds=1)),
        tag("eu", 3, "local", pushed_at=PUSHED),
    ]
    with any_store.engine.begin() as connection:
        connection.execute(insert(schema.tags), rows)
        delete_in(
            connection,
            schema.tags,
            "pushed_at",
            [PUSHED.astimezone(PARIS)],
            account="eu",
            iccid=iccid(1),
        )
    assert remaining(any_store) == {("eu", iccid(2), "local"), ("eu", iccid(3), "local")}
    with any_store.engine.begin() as connection:
        delete_in(
            connection,
            schema.tags,
            "iccid",
            [iccid(2), iccid(3)],
            pushed_at=PUSHED.astimezone(PARIS),
        )
    assert remaining(any_store) == {("eu", iccid(2), "local")}


def test_no_values_delete_nothing(any_store: Store) -> None:
    with any_store.engine.begin() as connection:
        connection.execute(insert(schema.tags), [tag("eu", 1, "platform")])
        delete_in(connection, schema.tags, "iccid", [], account="eu")
    assert remaining(any_store) == {("eu", iccid(1), "platform")}

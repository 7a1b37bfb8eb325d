"""Data the store cannot hold never blocks a sync: it is cleaned, or quarantined.

A vendor answer is doctored on its way to the connector (NUL characters, lone UTF-16
surrogates, surrogates encoded in the bytes, a number past the database's range), and the
same sync runs into SQLite and into a throw-away PostgreSQL server (``tests/pg.py``).
"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DataError, IntegrityError, OperationalError, StatementError

from cdp_sdk import SimStatus
from cdp_sdk.connectors.sandbox import SandboxEmulator
from cdp_sdk.models import ActivationMode, AuditEvent, AuditKind, Subscription, Tag
from cdp_sdk.sandbox import Fleet
from cdp_sdk.sync import (
    Entity,
    Store,
    StoreError,
    SyncOptions,
    SyncReport,
    TagImportError,
    schema,
)
from cdp_sdk.sync._db import json_text
from cdp_sdk.sync._storable import (
    Unstorable,
    clean_page,
    clean_record,
    clean_text,
    natural_key,
    record_json,
    refused_by_database,
)
from cdp_sdk.workspace import Account, Workspace
from emulated import emulated
from pg import create_database
from test_sync import NOW, TODAY

Doctor = Callable[[httpx.Request, Any], Any]
OPTIONS = SyncOptions(history=timedelta(days=400), window=timedelta(days=400))
"""One window reaching back to the fleets' audit events: each page is read once."""


class Doctored(httpx.AsyncBaseTransport):
    """Answers from ``inner``, with each JSON body passed through ``doctor`` and written
    back with ``json.dumps`` (so a NUL becomes ``\\u0000``, a lone surrogate ``\\ud800``);
    a doctor returning ``bytes`` sends those bytes as the body."""

    def __init__(self, inner: httpx.AsyncBaseTransport, doctor: Doctor) -> None:
        self.inner = inner
        self.doctor: Doctor | None = doctor

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        await response.aread()
        if self.doctor is None or not response.content:
            return response
        body = self.doctor(request, json.loads(response.content))
        content = body if isinstance(body, bytes) else json.dumps(body).encode("ascii")
        headers = [(k, v) for k, v in response.headers.items() if k.lower() != "content-length"]
        return httpx.Response(response.status_code, headers=headers, content=content)


EVENTS = ("h-5-1", "h-18-1")
"""The audit events doctored (ids both fleets have)."""

CESU = "CESU-MARK"
"""Replaced in the body bytes by a surrogate encoded in UTF-8 (``ED A0 80``): invalid
UTF-8 that Python's JSON reader decodes to a lone surrogate."""


def doctor(request: httpx.Request, body: Any) -> Any:
    path = request.url.path
    if path == "/v1/sims":
        sims = body["data"]
        if body["page"] == 1 and len(sims) >= 4:
            sims[0]["tags"]["note"] = "left\x00right"  # free text: cleaned
            sims[1]["tags"]["note"] = "caf\ud800e"  # a lone surrogate: cleaned
            sims[2]["tags"]["bad\x00key"] = "x"  # a tag key: the SIM is quarantined
            sims[3]["tags"]["note"] = CESU
    elif path == "/v1/plans":
        body["data"][0]["name"] += "\x00"
    elif path == "/v1/usage":
        for day in body["data"]:
            if day["date"] == "2024-05-01":
                day["data_up_bytes"] = 2**70  # past BIGINT: refused by the database
    elif path == "/v1/events":
        for event in body["data"]:
            if event["id"] == EVENTS[0]:
                event["by"] = "ops\x00team"
            elif event["id"] == EVENTS[1]:
                event["id"] += "\x00"  # the event's key: quarantined
    elif path == "/v1/invoices":
        invoice = [invoice for invoice in body["data"] if invoice["lines"]][-1]
        invoice["lines"][0]["text"] += "\x00"
    if CESU in json.dumps(body):
        return json.dumps(body).encode().replace(CESU.encode(), b"\xed\xa0\x80")
    return body


def doctored_workspace(*, fixed: bool = False) -> tuple[Workspace, list[Doctored]]:
    transports = []
    accounts = {}
    for name, seed in (("eu", 11), ("us", 12)):
        emulator = SandboxEmulator(Fleet(20, seed=seed, today=TODAY), requests_per_second=10**6)
        emulator.max_page_size = 8
        transport = Doctored(emulator.transport(), doctor)
        if fixed:
            transport.doctor = None
        transports.append(transport)
        accounts[name] = Account("sandbox", {"rate_limit": None}, transport)
    return Workspace(accounts), transports


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path, postgres_url: str) -> Iterator[Store]:
    if request.param == "sqlite":
        target = str(tmp_path / "cdp.db")
    else:
        target = create_database(postgres_url, f"unstorable_{request.node.name}")
    with Store(target) as opened:
        yield opened


def counts(report: SyncReport, account: str) -> dict[str, tuple[int, int]]:
    return {
        r.entity.value: (r.cleaned, r.quarantined) for r in report.results if r.account == account
    }


def test_a_sync_cleans_or_quarantines_what_the_database_refuses_and_goes_on(
    store: Store,
) -> None:
    workspace, _ = doctored_workspace()
    with workspace:
        report = store.sync(workspace, now=NOW, options=OPTIONS)

    assert report.ok, [r.error for r in report.errors]
    assert counts(report, "eu") == {
        "subscriptions": (1, 1),
        "activation_modes": (0, 0),
        "tariffs": (1, 0),
        "usage": (0, 1),
        "invoices": (1, 0),
        "audit_events": (1, 1),
    }
    assert report.quarantined == 6  # both accounts
    (kept,) = store.runs(ids=[report.run_id])  # the run as the store keeps it
    assert counts(kept, "eu") == counts(report, "eu")

    notes = {
        r["iccid"]: r["value"]
        for r in store.rows("tags", account="eu")
        if r["key"] == "note" and r["source"] == "platform"
    }
    # NUL: removed by the store; a lone surrogate and invalid UTF-8: U+FFFD when read.
    assert sorted(notes.values()) == ["caf\ufffde", "leftright", "\ufffd\ufffd\ufffd"]
    [tariff] = [r for r in store.rows("tariffs", account="eu") if "\x00" not in r["name"]][:1]
    assert not any("\x00" in r["name"] for r in store.rows("tariffs"))
    assert tariff["name"]
    assert any(r["actor"] == "opsteam" for r in store.rows("audit_events", account="eu"))
    assert all("\x00" not in r["description"] for r in store.rows("invoice_lines"))

    held = {(r["account"], r["entity"]): r for r in store.rows("quarantine")}
    assert set(held) == {
        (account, entity)
        for account in ("eu", "us")
        for entity in ("subscriptions", "usage", "audit_events")
    }
    sim = held["eu", "subscriptions"]
    assert sim["reason"] == "Tag.key holds a NUL character"
    assert sim["connector"] == "sandbox"
    record = json.loads(sim["record"])
    assert {"key": "bad\x00key", "value": "x"} in record["tags"]
    assert "\\u0000" in sim["record"]  # stored escaped: any database holds it
    quarantined_iccid = record["iccid"]
    assert quarantined_iccid not in {r["iccid"] for r in store.rows("subscriptions")}
    assert held["eu", "usage"]["reason"] in {  # the database's own words
        "the database refused it: OverflowError: Python int too large to convert to SQLite INTEGER",
        "the database refused it: NumericValueOutOfRange: bigint out of range",
    }
    assert json.loads(held["eu", "usage"]["record"])["quantity"] == 2**70
    assert held["eu", "audit_events"]["reason"] == "AuditEvent.id holds a NUL character"
    # Everything else of the pages was written.
    assert len(store.rows("subscriptions", account="eu")) == 19
    assert len(store.rows("usage", account="eu")) > 100


def test_quarantine_is_idempotent_and_a_repaired_record_leaves_it(store: Store) -> None:
    def read_everything_again() -> None:  # as a first sync would
        store.transaction(lambda connection: connection.execute(schema.cursors.delete()))

    workspace, transports = doctored_workspace()
    with workspace:
        store.sync(workspace, now=NOW, options=OPTIONS)
        first = {(r["account"], r["record_key"]): r for r in store.rows("quarantine")}
        read_everything_again()
        again = store.sync(workspace, now=NOW, options=OPTIONS)
        assert again.ok
        assert again.quarantined == len(first) == 6
        second = {(r["account"], r["record_key"]): r for r in store.rows("quarantine")}
        assert second.keys() == first.keys()
        for key, row in second.items():
            assert row["first_seen_at"] == first[key]["first_seen_at"]
            assert row["run_id"] == again.run_id  # seen again by this run

        for transport in transports:  # the vendor repairs its data
            transport.doctor = None
        read_everything_again()
        repaired = store.sync(workspace, now=NOW, options=OPTIONS)

    assert repaired.ok
    assert repaired.quarantined == 0
    assert store.rows("quarantine") == []
    assert len(store.rows("subscriptions", account="eu")) == 20


def test_sqlite_and_postgresql_hold_the_same_cleaned_rows(
    tmp_path: Path, postgres_url: str
) -> None:
    target = create_database(postgres_url, "unstorable_same")
    with Store(tmp_path / "cdp.db") as sqlite, Store(target) as postgres:
        for store in (sqlite, postgres):
            workspace, _ = doctored_workspace()
            with workspace:
                assert store.sync(workspace, now=NOW, options=OPTIONS).ok
        for table in (*schema.ENTITY_TABLES, schema.cursors):
            ignore = {"run_id", "synced_at", "updated_at", "first_seen_at", "reason"}
            if table is schema.subscriptions:
                ignore.discard("updated_at")  # the SIM's, not bookkeeping
            assert _rows(sqlite, table, ignore) == _rows(postgres, table, ignore), table.name


def _rows(store: Store, table: Any, ignore: set[str]) -> list[dict[str, Any]]:
    return sorted(
        ({k: v for k, v in row.items() if k not in ignore} for row in store.rows(table)),
        key=repr,
    )


def test_a_failure_of_the_database_itself_is_not_quarantined(tmp_path: Path) -> None:
    """A database that refuses every write (here a trigger) fails the entity, with a
    one-line reason and no values: quarantining every record would hide the failure."""
    workspace, _ = doctored_workspace(fixed=True)
    with Store(tmp_path / "cdp.db") as store, workspace:
        with store.engine.begin() as connection:
            connection.execute(
                text(
                    "CREATE TRIGGER refuse BEFORE INSERT ON tariffs "
                    "BEGIN SELECT RAISE(ABORT, 'tariffs are refused here'); END"
                )
            )
        report = store.sync(workspace, now=NOW, options=OPTIONS, entities=["tariffs"])
        assert [r.status for r in report.results] == ["error", "error"]
        assert report.results[0].error == "IntegrityError: tariffs are refused here"
        assert store.rows("quarantine") == []


# -- what the database refuses, as pure functions ----------------------------------------------


def sim(**changes: Any) -> Subscription:
    values: dict[str, Any] = {
        "connector": "sandbox",
        "id": "sim-1",
        "iccid": "89883100000000000017",
        "status": SimStatus.ACTIVE,
        "status_raw": "live",
    }
    return Subscription(**{**values, **changes})


@pytest.mark.parametrize(
    ("raw", "stored"),
    [
        ("plain text", "plain text"),
        ("left\x00right\x00", "leftright"),
        ("caf\ud800e", "caf\ufffde"),
        ("lone low \udc80", "lone low \ufffd"),
        ("a pair \ud83d\ude00 joined", "a pair \U0001f600 joined"),
        ("accents é and 😀 untouched", "accents é and 😀 untouched"),
    ],
)
def test_clean_text(raw: str, stored: str) -> None:
    assert clean_text(raw) == stored
    stored.encode("utf-8")  # what both databases take


def test_clean_record_cleans_free_text_everywhere_and_says_so() -> None:
    record = sim(
        status_raw="li\x00ve",
        tags=(Tag(key="site", value="par\x00is"),),
        extra={"no\x00te": ["a\ud800", {"deep": "x\x00"}], "n": 1.5, "flag": True},
    )

    cleaned, changed = clean_record(record)

    assert changed
    assert cleaned.status_raw == "live"
    assert cleaned.tags == (Tag(key="site", value="paris"),)
    assert cleaned.extra == {"note": ["a\ufffd", {"deep": "x"}], "n": 1.5, "flag": True}
    assert cleaned.iccid == record.iccid


def test_text_beyond_ascii_is_never_refused() -> None:
    """Accents and emoji are text every database holds: a record cleaned for a NUL
    elsewhere keeps them, in its keys too."""
    record = sim(id="sím-1", status_raw="li\x00ve", tags=(Tag(key="région", value="ca\x00fé 😀"),))

    cleaned, changed = clean_record(record)

    assert changed
    assert (cleaned.id, cleaned.status_raw) == ("sím-1", "live")
    assert cleaned.tags == (Tag(key="région", value="café 😀"),)


@pytest.mark.parametrize(
    ("error", "refused"),
    [
        (DataError("INSERT", {}, Exception("numeric field overflow")), True),
        (StatementError("finite Decimal amounts", "INSERT", {}, ValueError("NaN")), True),
        (OverflowError("Python int too large to convert to SQLite INTEGER"), True),
        (UnicodeEncodeError("utf-8", "\ud800", 0, 1, "surrogates not allowed"), True),
        (OperationalError("INSERT", {}, Exception("database is locked")), False),
        (IntegrityError("INSERT", {}, Exception("NOT NULL constraint failed")), False),
        (OSError("disk full"), False),
    ],
    ids=["data", "conversion", "overflow", "encoding", "locked", "constraint", "disk"],
)
def test_a_value_refused_is_told_from_a_failing_database(error: Exception, refused: bool) -> None:
    """A value refused quarantines the record; the database failing stops the sync."""
    assert refused_by_database(error) is refused


def test_clean_record_leaves_a_clean_record_as_it_is() -> None:
    record = sim(tags=(Tag(key="k", value="v"),), extra={"a": [1, "b"]})
    assert clean_record(record) == (record, False)


@pytest.mark.parametrize(
    ("record", "reason"),
    [
        (sim(id="sim\x00-1"), "Subscription.id holds a NUL character"),
        (sim(tags=(Tag(key="k\x00"),)), "Tag.key holds a NUL character"),
        (
            sim(msisdn=None, eid=None, imsi=None).model_copy(update={"imei": "35\ud800"}),
            "Subscription.imei holds an invalid character",
        ),
        (
            ActivationMode(
                connector="x",
                name="LIVE\x00",
                status=SimStatus.ACTIVE,
                auto_activates=False,
                settable=True,
            ),
            "ActivationMode.name holds a NUL character",
        ),
        (
            AuditEvent(
                connector="x",
                id="e\x00",
                occurred_at=datetime(2024, 6, 1, tzinfo=UTC),
                kind=AuditKind.OTHER,
            ),
            "AuditEvent.id holds a NUL character",
        ),
    ],
)
def test_a_key_that_would_need_cleaning_is_unstorable(record: Any, reason: str) -> None:
    with pytest.raises(Unstorable) as raised:
        clean_record(record)
    assert raised.value.reason.startswith(reason)


def test_a_clean_page_is_kept_whole_and_unchanged() -> None:
    page = [sim(id=f"sim-{n}", extra={"n": n, "text": "caf\u00e9"}) for n in range(3)]

    kept, held, cleaned = clean_page(page)

    assert held == []
    assert cleaned == 0
    assert all(after is before for after, before in zip(kept, page, strict=True))
    assert clean_page([]) == ([], [], 0)


@pytest.mark.parametrize(
    "dirty",
    [
        {"status_raw": "li\x00ve"},  # a NUL: escaped in the page's JSON
        {"extra": {"note": "a\ud800"}},  # a lone surrogate: the page's JSON fails
    ],
)
def test_a_page_with_one_dirty_record_cleans_that_record_only(dirty: dict[str, Any]) -> None:
    page = [sim(id="sim-1"), sim(id="sim-2", **dirty), sim(id="sim-3")]

    kept, held, cleaned = clean_page(page)

    assert held == []
    assert cleaned == 1
    assert kept[0] is page[0]
    assert kept[2] is page[2]
    assert kept[1] == clean_record(page[1])[0] != page[1]


def test_a_page_holds_back_the_records_whose_keys_would_need_cleaning() -> None:
    page = [sim(id="sim\x00-1"), sim(id="sim-2", status_raw="li\x00ve")]

    kept, held, cleaned = clean_page(page)

    assert held == [(page[0], "Subscription.id holds a NUL character")]
    assert [record.status_raw for record in kept] == ["live"]
    assert cleaned == 1


def test_a_page_of_several_models_is_looked_at_record_by_record() -> None:
    mode = ActivationMode(
        connector="x", name="LIVE\x00", status=SimStatus.ACTIVE, auto_activates=False, settable=True
    )
    page: list[Any] = [sim(status_raw="li\x00ve"), mode, sim(id="sim-2")]

    kept, held, cleaned = clean_page(page)

    assert held == [(mode, "ActivationMode.name holds a NUL character")]
    assert [record.status_raw for record in kept] == ["live", "live"]
    assert cleaned == 1


def test_a_quarantined_record_is_kept_as_ascii_json_text() -> None:
    kept = record_json(sim(id="sim\x00-1", status_raw="caf\u00e9 \x01"))
    assert kept.isascii()
    assert json.loads(kept)["id"] == "sim\x00-1"
    assert list(json.loads(kept)) == sorted(json.loads(kept))  # one text per record


@pytest.mark.parametrize(
    ("dirty", "repaired", "other"),
    [
        (
            ActivationMode(connector="x", name="on\x00", status=SimStatus.ACTIVE),
            ActivationMode(connector="x", name="on", status=SimStatus.ACTIVE),
            ActivationMode(connector="x", name="off", status=SimStatus.SUSPENDED),
        ),
        (sim(id="sim-1\x00"), sim(id="sim-1"), sim(id="sim-2")),
    ],
    ids=["activation mode", "subscription"],
)
def test_a_record_keeps_its_quarantine_key_once_repaired(
    dirty: Any, repaired: Any, other: Any
) -> None:
    """The key is taken from the cleaned natural key: the repaired record replaces the
    quarantined one, and another record has a key of its own."""
    assert natural_key(dirty) == natural_key(repaired) != natural_key(other)


def test_json_values_nan_and_infinity_are_stored_as_their_names(store: Store) -> None:
    assert json.loads(json_text({"a": [float("nan"), float("inf"), -float("inf"), 1.5]})) == {
        "a": ["NaN", "Infinity", "-Infinity", 1.5]
    }
    row = {"account": "a", "name": "n", "value": "v"}
    with store.engine.begin() as connection:  # the store's own JSON encoder, on both dialects
        connection.execute(
            schema.activation_modes.insert(),
            {
                **{k: v for k, v in row.items() if k != "value"},
                "connector": "x",
                "status": "active",
                "auto_activates": False,
                "settable": True,
                "next": [],
                "extra": {"ratio": float("nan")},
            },
        )
    [stored] = store.rows("activation_modes")
    assert stored["extra"] == {"ratio": "NaN"}


@pytest.mark.parametrize(
    ("content", "value"),
    [
        (b'{"a": "caf\xc3\xa9"}', "caf\u00e9"),
        (b'{"a": "caf\xe9"}', "caf\ufffd"),  # Latin-1, not UTF-8
        (b'{"a": "x\xed\xa0\x80y"}', "x\ufffd\ufffd\ufffdy"),  # a surrogate, encoded
        (b'{"a": "x\\ud800y"}', "x\ufffdy"),  # an escape with no partner
        (b'{"a": "\\ud83d\\ude00"}', "\U0001f600"),  # a pair: one character
        (b'\xef\xbb\xbf{"a": "bom"}', "bom"),
        (b'{"a": "nul \\u0000"}', "nul \x00"),  # valid text: the store removes it
    ],
)
def test_vendor_json_is_read_as_text_every_database_holds(content: bytes, value: str) -> None:
    from cdp_sdk.http._text import load_json

    assert load_json(content) == {"a": value}
    assert load_json(b'["k\\udc80", {"k\\ud800": 1}]') == ["k\ufffd", {"k\ufffd": 1}]


# -- local tags from CSV --------------------------------------------------------------------------


def test_a_tag_file_with_characters_the_store_refuses_is_refused_by_line(store: Store) -> None:
    workspace, _ = doctored_workspace(fixed=True)
    with workspace:
        store.sync(workspace, now=NOW, options=OPTIONS, entities=["subscriptions"])
    iccid = store.rows("subscriptions", account="eu")[0]["iccid"]
    csv = f"iccid,key,value\n{iccid},site,paris\n{iccid},note,a\x00b\n{iccid},k\ud800,x\n"

    with pytest.raises(TagImportError) as raised:
        store.import_tags(io.StringIO(csv))

    assert raised.value.problems == [
        (3, "the value holds a NUL character, which the store cannot hold"),
        (
            4,
            "the key holds an invalid character (a lone UTF-16 surrogate), "
            "which the store cannot hold",
        ),
    ]
    assert iccid not in str(raised.value)
    assert [t for t in store.tags() if t.source == "local"] == []  # nothing imported


def test_a_tag_file_that_is_not_utf8_is_refused_with_its_line(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "tags.csv"
    path.write_bytes(b"iccid,key,value\n89883100000000000017,site,caf\xe9\n")

    with pytest.raises(TagImportError, match=r"line 2: not valid UTF-8"):
        store.import_tags(path)


def test_a_database_error_during_tag_import_is_a_store_error_without_values(
    tmp_path: Path,
) -> None:
    workspace, _ = doctored_workspace(fixed=True)
    with Store(tmp_path / "cdp.db") as store, workspace:
        store.sync(workspace, now=NOW, options=OPTIONS, entities=["subscriptions"])
        iccid = store.rows("subscriptions", account="eu")[0]["iccid"]
        with store.engine.begin() as connection:
            connection.execute(
                text(
                    "CREATE TRIGGER refuse BEFORE INSERT ON tags "
                    "BEGIN SELECT RAISE(ABORT, 'no local tags'); END"
                )
            )
        with pytest.raises(StoreError) as raised:
            store.import_tags(io.StringIO(f"iccid,key,value\n{iccid},site,paris\n"))

    assert str(raised.value) == (
        "the tags could not be written, nothing was imported: IntegrityError: no local tags"
    )
    assert raised.value.__context__ is None
    assert raised.value.__cause__ is None


def _second_bad_key(request: httpx.Request, body: Any) -> Any:
    """The usual doctoring, and a second SIM of the first page with a key to refuse."""
    if request.url.path == "/v1/sims" and body["page"] == 1 and len(body["data"]) >= 5:
        body["data"][4]["tags"]["bad\x00key"] = "y"
    return doctor(request, body)


def _clean_events(request: httpx.Request, body: Any) -> Any:
    """The usual doctoring, less the audit event whose key the store refuses."""
    if request.url.path == "/v1/events":
        return body
    return doctor(request, body)


def test_a_repaired_record_takes_only_its_own_row_out_of_the_quarantine(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Two accounts hold the same refused audit event (ids both fleets have) and two
    refused SIMs each, each page's held records said in one warning. When ``eu``'s
    platform repairs the event and one of the SIMs, those two rows leave the quarantine;
    ``eu``'s other SIM and everything of ``us`` stay."""
    workspace, transports = doctored_workspace()
    for transport in transports:
        transport.doctor = _second_bad_key
    with workspace, Store(tmp_path / "cdp.db") as store:
        with caplog.at_level(logging.WARNING, logger="cdp_sdk"):
            assert store.sync(workspace, now=NOW, options=OPTIONS).ok
        assert (
            "eu: subscriptions: 2 record(s) quarantined (Tag.key holds a NUL character); "
            "the sync goes on without them"
        ) in caplog.messages
        first = {(r["account"], r["entity"], r["record_key"]) for r in store.rows("quarantine")}
        held = sorted((account, entity) for account, entity, _ in first)
        assert held.count(("eu", "subscriptions")) == held.count(("us", "subscriptions")) == 2
        shared = {key for _, entity, key in first if entity == "audit_events"}
        assert len(shared) == 1  # one event, held for both accounts

        transports[0].doctor = _clean_events  # eu: the event and the second SIM repaired
        store.transaction(lambda connection: connection.execute(schema.cursors.delete()))
        assert store.sync(workspace, now=NOW, options=OPTIONS).ok
        second = {(r["account"], r["entity"], r["record_key"]) for r in store.rows("quarantine")}

    left = first - second
    assert second < first
    assert sorted((account, entity) for account, entity, _ in left) == [
        ("eu", "audit_events"),
        ("eu", "subscriptions"),
    ]
    assert ("us", "audit_events", *shared) in second


def _refuse_every_page(request: httpx.Request, body: Any) -> Any:
    """A record the database refuses on every page of usage and of audit events, the
    last pages (those that carry the cursors) included."""
    path = request.url.path
    if path == "/v1/usage" and body["data"]:
        body["data"][-1]["data_up_bytes"] = 2**70  # past BIGINT: refused by the database
    elif path == "/v1/events" and body["data"]:
        body["data"][-1]["id"] += "\x00"  # the event's key: quarantined
    return body


def test_records_the_store_refuses_do_not_move_where_the_next_sync_starts(
    tmp_path: Path,
) -> None:
    """Pages holding refused or quarantined records, the last ones included, carry the
    same cursors as when the platform's data is clean: the next sync starts where it
    would have."""
    positions = {}
    for fixed in (False, True):
        workspace, transports = doctored_workspace(fixed=fixed)
        for transport in transports:
            transport.doctor = None if fixed else _refuse_every_page
        with workspace, Store(tmp_path / f"fixed-{fixed}.db") as store:
            report = store.sync(workspace, now=NOW, options=OPTIONS)
            assert report.ok
            if not fixed:
                refused = {(r.entity, r.quarantined > 0) for r in report.results}
                assert (Entity.USAGE, True) in refused
                assert (Entity.AUDIT_EVENTS, True) in refused
            positions[fixed] = {(c.account, c.entity): c.position for c in store.cursors()}
    assert positions[False] == positions[True]
    assert positions[False][("eu", Entity.USAGE)] is not None
    assert positions[False][("eu", Entity.AUDIT_EVENTS)] is not None


def test_a_page_with_records_held_by_key_and_refused_by_the_database_quarantines_both(
    tmp_path: Path,
) -> None:
    """One Control Center usage answer with two zone rows: one whose zone name holds a
    NUL (its records' keys cannot be stored as they are: held back), one whose data count
    is past 64 bits (refused by the database). Every one of those records is quarantined,
    with its own reason, and the rest of the page is stored."""
    account, emulator = emulated("jasper", 3, seed=7)
    doctored: list[str] = []

    def two_bad_zones(request: httpx.Request, body: Any) -> Any:
        past_cycle = request.url.params.get("cycleStartDate")  # a closed cycle: stored
        if request.url.path.endswith("/usageInZone") and past_cycle and not doctored:
            doctored.append(body["iccid"])
            ((plan, rows),) = body["deviceCycleUsageInZones"].items()
            home = {**rows[0], "zone": "Home\x00"}
            roaming = {**rows[0], "zone": "Roaming", "dataUsage": 2**70}
            body["deviceCycleUsageInZones"] = {plan: [home, roaming]}
        return body

    transport = Doctored(emulator.transport(), two_bad_zones)
    workspace = Workspace({"eu": Account(account.connector, account.settings, transport)})
    options = SyncOptions(history=timedelta(days=20))
    with workspace, Store(tmp_path / "cdp.db") as store:
        report = store.sync(
            workspace, entities=["subscriptions", "usage"], now=NOW, options=options
        )
        assert report.ok, report.errors
        held = [r for r in store.rows("quarantine") if r["entity"] == "usage"]
        stored = {(r["zone"], r["bearer"]) for r in store.rows("usage") if r["iccid"] in doctored}
    reasons = sorted(r["reason"] for r in held)
    assert report.result("eu", "usage").quarantined == len(held)
    assert any("NUL" in reason for reason in reasons)
    assert sum("the database refused it" in reason for reason in reasons) == 1
    assert ("Roaming", "sms") in stored  # the rest of the page
    assert ("Roaming", "data") not in stored

"""Pure mapping tests: documented, drifted and malformed Onomondo payloads."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from cdp_sdk import (
    Direction,
    Granularity,
    SimStatus,
    Tag,
    UnexpectedResponseError,
)
from cdp_sdk.http import VendorError
from pydantic import SecretStr, ValidationError

from cdp_sdk_onomondo import OnomondoConnector, OnomondoSettings
from cdp_sdk_onomondo import mapping as m

ICCID = "89457387300000024185"
NOW = datetime(2024, 6, 1, tzinfo=UTC)


def sim(**fields: Any) -> dict[str, Any]:
    """A minimal SIM object: only the fields the mapping needs, plus ``fields``."""
    return {"id": "000002418", "iccid": ICCID, "activated": True, **fields}


# -- status -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "status", "raw"),
    [
        ({"activated": True}, SimStatus.ACTIVE, "activated"),
        ({"activated": True, "last_came_online_at": None}, SimStatus.ACTIVE, "activated"),
        (
            {"activated": False, "last_came_online_at": "2021-11-01T12:13:39.627Z"},
            SimStatus.SUSPENDED,
            "deactivated",
        ),
        ({"activated": False, "online": True}, SimStatus.SUSPENDED, "deactivated"),
        (
            {"activated": False, "online_at": None, "last_came_online_at": None},
            SimStatus.INVENTORY,
            "deactivated-never-online",
        ),
        ({"activated": False}, SimStatus.INVENTORY, "deactivated-never-online"),
        ({"activated": None}, SimStatus.UNKNOWN, "activated=null"),
        ({"activated": "yes"}, SimStatus.UNKNOWN, 'activated="yes"'),
        ({"activated": 1}, SimStatus.UNKNOWN, "activated=1"),
    ],
)
def test_status_from_activated_and_online_history(
    fields: dict[str, Any], status: SimStatus, raw: str
) -> None:
    mapped = m.to_subscription(sim(**fields))
    assert (mapped.status, mapped.status_raw) == (status, raw)


def test_missing_activated_is_unknown() -> None:
    record = sim()
    del record["activated"]
    assert m.to_subscription(record).status is SimStatus.UNKNOWN


def test_activation_modes_are_consistent() -> None:
    names = [mode.name for mode in m.ACTIVATION_MODES]
    assert sorted(names) == sorted(m.STATUS)
    for mode in m.ACTIVATION_MODES:
        assert set(mode.next) <= set(names)
        assert mode.status is m.STATUS[mode.name]
        assert mode.settable == (mode.status in m.ACTIVATED_FOR)


# -- fields, drift, tags ------------------------------------------------------------------


def test_minimal_record_maps_with_defaults() -> None:
    mapped = m.to_subscription(sim())
    assert (mapped.id, mapped.iccid, mapped.connector) == ("000002418", ICCID, "onomondo")
    assert mapped.ip_address is None
    assert mapped.tags == ()
    assert mapped.extra == {}
    assert mapped.imsi is None
    assert mapped.created_at is None


def test_unknown_fields_are_ignored_and_known_ones_kept_in_extra() -> None:
    mapped = m.to_subscription(
        sim(
            brand_new_field={"nested": [1, 2]},
            network_whitelist="Americas",
            device_info={"model": "BG95"},
            ipv4=" 100.66.131.197 ",
            imei_lock="352656100000000",
        )
    )
    assert "brand_new_field" not in mapped.extra
    assert mapped.extra["network_whitelist"] == "Americas"
    assert mapped.extra["device_info"] == {"model": "BG95"}
    assert mapped.extra["imei_lock"] == "352656100000000"
    assert mapped.imei is None, "imei_lock is a restriction, not the device seen"
    assert mapped.ip_address == "100.66.131.197"


def test_an_empty_ipv4_is_no_address() -> None:
    assert m.to_subscription(sim(ipv4="")).ip_address is None


def test_tags_from_names_and_the_label() -> None:
    record = sim(
        label="  truck-17 ",
        tags=[
            {"id": "a5023f47-1db8-425e-b664-dc0b8921f644", "name": "Supplier", "color": "#5ba571"},
            {"id": "4c21c1ce-0e3d-445f-8b3a-9d918a9acd89"},  # no name
            {"name": "   "},
            {"name": None},
            {"name": "Supplier"},  # duplicate
            "Steens Products",  # a bare string (the third-party spec's shape)
            42,
        ],
    )
    assert m.to_tags(record) == (
        Tag(key="Supplier"),
        Tag(key="Steens Products"),
        Tag(key="label", value="truck-17"),
    )
    assert m.to_subscription(record).extra["tags"] == record["tags"]


@pytest.mark.parametrize("tags", [None, "north,south", {"name": "north"}])
def test_tags_that_are_not_a_list_are_ignored(tags: Any) -> None:
    assert m.to_tags(sim(tags=tags, label="")) == ()


# -- malformed records --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("record", "exception"),
    [
        ({"id": "000002418", "activated": True}, KeyError),  # no iccid
        ({"iccid": ICCID, "activated": True}, KeyError),  # no id
        (sim(id=None), TypeError),
        (sim(id=True), TypeError),
        (sim(iccid=None), ValidationError),
        (sim(iccid="8945-7387"), ValidationError),
        (sim(ipv4="not-an-ip"), ValidationError),
    ],
)
def test_malformed_records_raise(record: dict[str, Any], exception: type[Exception]) -> None:
    with pytest.raises(exception):
        m.to_subscription(record)


def _connector(**settings: Any) -> OnomondoConnector:
    return OnomondoConnector(OnomondoSettings(api_key=SecretStr("k" * 12), **settings))


def test_map_records_names_the_endpoint_and_field() -> None:
    connector = _connector()
    records = [sim(), {"id": "000000002", "activated": True}]
    with pytest.raises(UnexpectedResponseError, match=r"GET /sims: .*missing field 'iccid'"):
        list(connector.map_records(records, m.to_subscription, endpoint="GET /sims"))


def test_map_records_skips_with_strict_off() -> None:
    connector = _connector(strict=False)
    records = [sim(), {"id": "000000002"}, sim(id="000000003")]
    mapped = list(connector.map_records(records, m.to_subscription, endpoint="GET /sims"))
    assert [s.id for s in mapped] == ["000002418", "000000003"]
    assert connector.skipped_records == 1


# -- usage --------------------------------------------------------------------------------


def test_usage_upload_and_download_per_direction() -> None:
    rows = m.to_usage(
        {"time": "2024-05-02T08:17:00.000Z", "upload": 10, "download": 20, "country_code": "dk"},
        iccid=ICCID,
        now=NOW,
    )
    assert [(r.direction, r.quantity) for r in rows] == [(Direction.MO, 10), (Direction.MT, 20)]
    first = rows[0]
    assert first.start == datetime(2024, 5, 2, 8, tzinfo=UTC)
    assert first.end == datetime(2024, 5, 2, 9, tzinfo=UTC)
    assert first.granularity is Granularity.HOUR
    assert first.final
    assert first.extra == {"country_code": "dk"}


@pytest.mark.parametrize(
    "moment",
    [
        "2024-05-02T08:00:00Z",
        "2024-05-02T10:00:00+02:00",
        "2024-05-02T08:00:00",
        1714636800,
        1714636800000,
    ],
)
def test_usage_time_formats(moment: Any) -> None:
    (row,) = m.to_usage({"timestamp": moment, "bytes": 5}, iccid=ICCID, now=NOW)
    assert row.start == datetime(2024, 5, 2, 8, tzinfo=UTC)
    assert row.direction is None
    assert row.quantity == 5


def test_usage_of_the_current_hour_is_not_final() -> None:
    (row,) = m.to_usage({"time": "2024-05-31T23:30:00Z", "bytes": 1}, iccid=ICCID, now=NOW)
    assert row.final
    (row,) = m.to_usage({"time": "2024-06-01T00:10:00Z", "bytes": 1}, iccid=ICCID, now=NOW)
    assert not row.final


def test_usage_one_direction_only() -> None:
    rows = m.to_usage(
        {"time": "2024-05-02T08:00:00Z", "upload": None, "download": 3}, iccid=ICCID, now=NOW
    )
    assert [(r.direction, r.quantity) for r in rows] == [(Direction.MT, 3)]


@pytest.mark.parametrize(
    ("record", "exception"),
    [
        ({"bytes": 1}, KeyError),  # no time
        ({"time": "2024-05-02T08:00:00Z"}, KeyError),  # no volume
        ({"time": "yesterday", "bytes": 1}, ValueError),
        ({"time": "2024-05-02T08:00:00Z", "bytes": -1}, ValidationError),
        ({"time": "2024-05-02T08:00:00Z", "bytes": 1.5}, ValidationError),
    ],
)
def test_malformed_usage_raises(record: dict[str, Any], exception: type[Exception]) -> None:
    with pytest.raises(exception):
        m.to_usage(record, iccid=ICCID, now=NOW)


@pytest.mark.parametrize(
    ("body", "items"),
    [
        (None, []),
        ([{"a": 1}], [{"a": 1}]),
        ({"usage": [{"a": 1}], "total": 1}, [{"a": 1}]),
        ({"usage": [], "total": 0}, []),
        ({"data": []}, {"data": []}),  # unknown envelope: handed on for the client to refuse
    ],
)
def test_usage_items(body: Any, items: Any) -> None:
    assert m.usage_items(body) == items


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        (datetime(2024, 5, 2, tzinfo=UTC), datetime(2024, 5, 3, tzinfo=UTC), "time:2024-05-02"),
        (
            datetime(2024, 5, 2, 6, tzinfo=UTC),
            datetime(2024, 5, 2, 9, tzinfo=UTC),
            "time:2024-05-02",
        ),
        (datetime(2024, 5, 1, tzinfo=UTC), datetime(2024, 6, 1, tzinfo=UTC), "time:2024-05"),
        (datetime(2024, 5, 30, tzinfo=UTC), datetime(2024, 6, 2, tzinfo=UTC), "time:2024"),
        (datetime(2023, 12, 30, tzinfo=UTC), datetime(2024, 1, 2, tzinfo=UTC), None),
        (None, datetime(2024, 1, 2, tzinfo=UTC), None),
        (datetime(2024, 1, 2, tzinfo=UTC), None, None),
    ],
)
def test_time_filter(start: datetime | None, end: datetime | None, expected: str | None) -> None:
    assert m.time_filter(start, end) == expected


def test_in_range_is_half_open() -> None:
    (row,) = m.to_usage({"time": "2024-05-02T08:00:00Z", "bytes": 1}, iccid=ICCID, now=NOW)
    assert m.in_range(row, None, None)
    assert m.in_range(row, datetime(2024, 5, 2, 8, tzinfo=UTC), datetime(2024, 5, 2, 9, tzinfo=UTC))
    assert not m.in_range(row, None, datetime(2024, 5, 2, 8, tzinfo=UTC))
    assert not m.in_range(row, datetime(2024, 5, 2, 8, 30, tzinfo=UTC), None)


# -- error bodies -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"error": "sim_not_found"}, VendorError("sim_not_found", "sim_not_found")),
        ({"error": "sim_not_found", "message": "No SIM"}, VendorError("sim_not_found", "No SIM")),
        ({"error": "Something broke"}, VendorError(None, "Something broke")),
        ({"code": "id_invalid", "message": "Bad"}, VendorError("id_invalid", "Bad")),
        ({"error": {"code": "imsi_invalid", "message": "Bad"}}, VendorError("imsi_invalid", "Bad")),
        ("sim_not_found", VendorError("sim_not_found", None)),
        ("Not Found", VendorError(None, "Not Found")),
        (None, VendorError()),
        ([1, 2], VendorError()),
    ],
)
def test_parse_error(body: Any, expected: VendorError) -> None:
    assert m.parse_error(body) == expected

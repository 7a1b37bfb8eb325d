"""Super SIM mapping: what a malformed record's error says, and the edges of the rules.

A record that does not map reaches the user as ``UnexpectedResponseError`` quoting the
mapping error ("a record could not be mapped (ValueError: missing sid)"): the message must
name the field of the vendor's schema (twilio-oai ``twilio_supersim_v1.yaml``) that is
missing or malformed, as spelled there. The records are those of ``test_supersim_mapping``,
shaped from the OpenAPI examples.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from cdp_sdk import InvalidRequestError, SimStatus
from cdp_sdk.connectors.supersim import mapping
from test_supersim_mapping import NOW, SUPER_SIM, sim, to_usage, update, usage


@pytest.mark.parametrize("sid", [None, "", 123])
def test_a_sim_without_a_text_sid_names_the_field(sid: Any) -> None:
    with pytest.raises(ValueError, match=r"^missing sid$"):
        mapping.to_subscription(sim(sid=sid))


@pytest.mark.parametrize("sid", [None, ""])
def test_a_fleet_without_sid_names_the_field(sid: Any) -> None:
    with pytest.raises(ValueError, match=r"^missing sid$"):
        mapping.to_tariff({"sid": sid, "unique_name": "fleet"})


@pytest.mark.parametrize("field", ["start_time", "end_time"])
def test_a_usage_period_without_a_bound_names_it(field: str) -> None:
    period = {"start_time": "2024-05-01T00:00:00Z", "end_time": "2024-05-02T00:00:00Z"}
    del period[field]
    with pytest.raises(ValueError, match=rf"^missing period\.{field}$"):
        to_usage(usage(period=period))


def test_a_usage_period_that_is_no_object_says_so() -> None:
    with pytest.raises(TypeError, match=r"^period is not an object$"):
        to_usage(usage(period="2024-05"))


@pytest.mark.parametrize(
    ("volume", "error", "message"),
    [
        (True, TypeError, r"^a byte count must be a number$"),
        ([1], TypeError, r"^a byte count must be a number$"),
        (1.5, ValueError, r"^a byte count must be a whole number of bytes, 0 or more$"),
        (-1, ValueError, r"^a byte count must be a whole number of bytes, 0 or more$"),
    ],
)
def test_a_malformed_byte_count_says_why(volume: Any, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        to_usage(usage(data_upload=volume))


def test_a_settings_update_without_status_or_time_names_the_field() -> None:
    with pytest.raises(ValueError, match=r"^missing status$"):
        mapping.to_audit_event(update(status=""))
    no_time = {"date_completed": None, "date_updated": None, "date_created": None}
    with pytest.raises(ValueError, match=r"^missing date_created$"):
        mapping.to_audit_event(update(**no_time))
    with pytest.raises(TypeError, match=r"^packages is not a list$"):
        mapping.to_audit_event(update(packages="base-settings"))


def test_a_status_change_answer_without_status_names_the_sim_resource() -> None:
    with pytest.raises(ValueError, match=r"^the updated Sim has no status$"):
        mapping.to_status_change(SUPER_SIM, SimStatus.ACTIVE, sim(status=""), accepted=False)


def test_a_refused_label_update_names_the_connector_and_every_other_tag() -> None:
    with pytest.raises(InvalidRequestError, match=r"cannot set or remove colour, site\b") as exc:
        mapping.label_update({"site": "north"}, ("colour",))
    assert exc.value.connector == "supersim"
    with pytest.raises(InvalidRequestError, match="needs a text value") as exc:
        mapping.label_update({"label": " "}, ())
    assert exc.value.connector == "supersim"


def test_usage_without_a_total_has_no_total_in_extra() -> None:
    rows = to_usage(usage(data_total=None))
    assert [row.quantity for row in rows] == [10, 20]
    assert all("data_total" not in row.extra for row in rows)


def test_a_billed_unit_without_a_billed_amount_is_no_currency() -> None:
    rows = to_usage(usage(data_total_billed=None, billed_unit="USD"))
    assert all("currency" not in row.extra and "cost" not in row.extra for row in rows)


def test_a_period_that_ends_now_is_final() -> None:
    period = {"start_time": "2024-06-14T00:00:00Z", "end_time": NOW.isoformat()}
    rows = to_usage(usage(period=period))
    assert [row.final for row in rows] == [True, True]
    assert rows[0].end == datetime(2024, 6, 15, tzinfo=UTC)

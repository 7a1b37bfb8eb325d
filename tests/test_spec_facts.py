"""Vendor facts read from the official specs themselves, not from our emulators.

Each test reads the field descriptions, enums, examples and limits of 1NCE's and Soracom's
published OpenAPI specs (``reference/openapi/``) and checks the mapping against them, so a
misreading in the connector cannot be confirmed by an emulator written from the same
misreading.
"""

from __future__ import annotations

import functools
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from cdp_sdk import Bearer, Direction, SimStatus
from cdp_sdk.connectors.onence import connector as onence_connector
from cdp_sdk.connectors.onence import mapping as onence
from cdp_sdk.connectors.soracom import connector as soracom_connector
from cdp_sdk.connectors.soracom import mapping as soracom
from cdp_sdk.models import luhn_valid

NOW = datetime(2024, 6, 15, tzinfo=UTC)


@functools.cache
def load(path: Path) -> dict[str, Any]:
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    with path.open(encoding="utf-8") as file:
        spec: dict[str, Any] = yaml.load(file, Loader=loader)  # a safe loader
    return spec


@pytest.fixture
def sim_management(reference: Path) -> dict[str, Any]:
    return load(reference / "openapi" / "1nce-sim-management-openapi.yml")


@pytest.fixture
def soracom_spec(reference: Path) -> dict[str, Any]:
    return load(reference / "openapi" / "soracom-api.en.yaml")


def example_of(schema: dict[str, Any]) -> dict[str, Any]:
    """An object built from the examples of a schema's properties."""
    return {
        name: prop["example"] for name, prop in schema["properties"].items() if "example" in prop
    }


# -- 1NCE ---------------------------------------------------------------------------------


def test_1nce_sms_directions_follow_the_spec_descriptions(sim_management: dict[str, Any]) -> None:
    schemas = sim_management["components"]["schemas"]
    sms, data = schemas["SmsUsage"], schemas["Data"]
    assert "MO-SMS" in sms["properties"]["volume_rx"]["description"]
    assert "MT-SMS" in sms["properties"]["volume_tx"]["description"]
    assert "send by SIM" in data["properties"]["volume_tx"]["description"]
    day = {
        "date": schemas["Daily"]["properties"]["date"]["example"],
        "data": {**example_of(data), "traffic_type": {"unit": "MB"}},
        "sms": {**example_of(sms), "traffic_type": {"unit": "SMS"}},
    }

    records = {
        (r.bearer, r.direction): r.quantity
        for r in onence.to_usage(day, iccid="8988303000123456789" + "4", now=NOW)
    }

    assert records[Bearer.SMS, Direction.MO] == int(example_of(sms)["volume_rx"])
    assert records[Bearer.SMS, Direction.MT] == int(example_of(sms)["volume_tx"])
    assert records[Bearer.DATA, Direction.MO] == round(float(example_of(data)["volume_tx"]) * 1e6)
    assert records[Bearer.DATA, Direction.MT] == round(float(example_of(data)["volume_rx"]) * 1e6)


def test_1nce_states_follow_the_spec_descriptions(sim_management: dict[str, Any]) -> None:
    schemas = sim_management["components"]["schemas"]
    assert set(schemas["SIM_card"]["properties"]["status"]["enum"]) == set(onence.STATUS)
    described = schemas["Values_for_a_SIM_update"]["properties"]["status"]["description"]
    words = dict(re.findall(r"(enabled|disabled) \((\w+)\)", described))
    assert words == {"enabled": "active", "disabled": "deactivated"}
    assert {
        "Enabled": SimStatus(words["enabled"]),
        "Disabled": SimStatus(words["disabled"]),
    } == onence.STATUS
    assert onence.STATE_FOR == {SimStatus.ACTIVE: "Enabled", SimStatus.DEACTIVATED: "Disabled"}


def test_1nce_full_iccid_from_the_spec_example(sim_management: dict[str, Any]) -> None:
    card = example_of(sim_management["components"]["schemas"]["SIM_card"])
    without_luhn = {key: value for key, value in card.items() if key != "iccid_with_luhn"}

    for record in (card, without_luhn):
        subscription = onence.to_subscription(record)
        assert subscription.id == card["iccid"]
        assert len(subscription.iccid) == len(card["iccid"]) + 1
        assert subscription.iccid.startswith(card["iccid"])
        assert luhn_valid(subscription.iccid)
    # the example's own iccid_with_luhn is a placeholder whose last digit is no check digit
    assert not luhn_valid(card["iccid_with_luhn"])


def test_1nce_page_sizes_are_the_documented_maxima(sim_management: dict[str, Any]) -> None:
    def maximum(path: str) -> int:
        parameters = sim_management["paths"][path]["get"]["parameters"]
        size = next(p for p in parameters if p["name"] == "pageSize")
        return int(size["schema"]["maximum"])

    assert maximum("/v1/sims") == onence_connector.SIM_PAGE_SIZE
    assert maximum("/v1/sims/{iccid}/events") == onence_connector.EVENT_PAGE_SIZE


# -- Soracom ------------------------------------------------------------------------------


def test_soracom_every_sim_state_of_the_spec_is_mapped(soracom_spec: dict[str, Any]) -> None:
    states = soracom_spec["components"]["schemas"]["Sim"]["properties"]["status"]["enum"]
    assert set(states) <= set(soracom.STATUS)
    assert all(soracom.STATUS[state] is not SimStatus.UNKNOWN for state in states)


def test_soracom_actions_reach_the_states_their_descriptions_name(
    soracom_spec: dict[str, Any],
) -> None:
    for action, state in soracom.ACTION_STATE.items():
        described = soracom_spec["paths"][f"/sims/{{sim_id}}/{action}"]["post"]["description"]
        if action != "terminate":
            assert f'to "{state}"' in described, action
    # each requested status lands in a state that maps back to it
    for status, actions in soracom.ACTIONS_FOR.items():
        assert soracom.STATUS[soracom.ACTION_STATE[actions[-1]]] is status


def test_soracom_actions_document_200_and_404_only(soracom_spec: dict[str, Any]) -> None:
    """Why a refusal may come as the SIM answered unchanged: nothing else is documented."""
    for action in ("activate", "deactivate", "suspend", "terminate"):
        responses = soracom_spec["paths"][f"/sims/{{sim_id}}/{action}"]["post"]["responses"]
        assert set(responses) == {"200", "404"}, action
    standby = soracom_spec["paths"]["/sims/{sim_id}/set_to_standby"]["post"]["responses"]
    assert "400" in standby


def test_soracom_page_sizes_are_the_documented_maxima(soracom_spec: dict[str, Any]) -> None:
    def maximum(path: str) -> int | None:
        parameters = soracom_spec["paths"][path]["get"]["parameters"]
        limit = next(p for p in parameters if p["name"] == "limit")
        return limit["schema"].get("maximum")

    assert maximum("/audit_logs/api") == soracom_connector.AUDIT_LOG_PAGE_SIZE
    assert (
        soracom_connector.PAGE_SIZE
        == maximum("/query/sims")
        == maximum("/sims/{sim_id}/statuses/history")
    )
    assert maximum("/sims") is None  # no documented maximum: 100, as the search allows

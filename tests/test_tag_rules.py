"""Tag rules: what each connector's ``update_tags`` can store, checked without a request.

Vendor facts, with their evidence (``../shared/reference``):

- emnify: tags are one free-text string on the endpoint (``"demo"``, ``""``) written as
  ``{"tags": "a,b"}`` (recorded traffic ``get_sim_list.json``; mvno-platforms §1.9):
  labels without values, no comma inside one, and a SIM without an endpoint has none.
- 1NCE: a SIM has one ``label`` string ("Label set by the customer in the 1NCE Portal",
  1nce-sim-management-openapi.yml).
- Cisco Control Center: fixed slots ``accountCustom1..10``, ``operatorCustom1..5``,
  ``customerCustom1..5`` (operator-platforms §1, Get Device Details).
- Soracom: a ``tags`` map written as a list of ``{tagName, tagValue}``
  (soracom-api.en.yaml ``putSimTags``).
- Verizon ThingSpace: exactly five slots ``CustomField1..CustomField5``, values of
  alphanumerics, space and ``/ @ . , : - _ ( ) [ ]`` (operator-platforms §2.9).
"""

from __future__ import annotations

import json
from pathlib import Path

from cdp_sdk import Capability, TagRules
from cdp_sdk.connectors.emnify import EmnifyConnector
from cdp_sdk.connectors.emnify import mapping as emnify_mapping
from cdp_sdk.connectors.jasper import JasperConnector
from cdp_sdk.connectors.onence import OneNceConnector
from cdp_sdk.connectors.sandbox import SandboxConnector
from cdp_sdk.connectors.soracom import SoracomConnector
from cdp_sdk.connectors.thingspace import ThingSpaceConnector
from cdp_sdk.models import luhn_check_digit
from toy_connector import ToyConnector


def test_free_rules_take_any_key_and_value() -> None:
    assert TagRules().problems({"a": "1", "b": None}, ["c"]) == []


def test_fixed_keys() -> None:
    rules = TagRules(keys=frozenset({"label"}))
    assert rules.problems({"label": "x"}) == []
    assert rules.problems({"site": "x"}, ["zone"]) == [
        "'site' is not a tag of this platform (keys: label)",
        "'zone' is not a tag of this platform (keys: label)",
    ]


def test_many_keys_are_named_in_natural_order() -> None:
    rules = TagRules(keys=frozenset(f"slot{n}" for n in range(1, 12)))
    [problem] = rules.problems({"other": "x"})
    assert problem.endswith("(keys: slot1, slot2, slot3, ... (11 in all))")


def test_values_required_or_refused() -> None:
    required = TagRules(values="required")
    assert required.problems({"a": None, "b": "  ", "c": "x"}) == [
        "'a' needs a value: the platform's tags hold text (remove it instead)",
        "'b' needs a value: the platform's tags hold text (remove it instead)",
    ]
    labels = TagRules(values="none")
    assert labels.problems({"a": "x", "b": None}) == [
        "'a' cannot hold a value: the platform keeps labels only"
    ]


def test_forbidden_characters_blank_keys_clashes_and_non_text() -> None:
    rules = TagRules(forbidden=",;")
    assert rules.problems({"a,b;c": None}) == ["'a,b;c' contains ',', ';'"]
    assert rules.problems({" ": "x"}, [""]) == ["tag keys must be non-empty text"] * 2
    assert rules.problems({"a": "1"}, ["a"]) == ["tags both set and removed: a"]
    assert rules.problems({"a": 5}) == ["'a': a tag value must be text"]  # type: ignore[dict-item]


def test_value_length_and_characters() -> None:
    rules = TagRules(max_length=5, allowed=r"[a-z]*", allowed_text="lower-case letters")
    assert rules.problems({"a": "abcde", "b": None}, ["c"]) == []
    assert rules.problems({"a": "abcdef"}) == ["'a': a value holds at most 5 characters"]
    assert rules.problems({"a": "ab-c", "b": "ABC"}) == [
        "'a': the value holds characters the platform refuses (lower-case letters)",
        "'b': the value holds characters the platform refuses (lower-case letters)",
    ]
    # The whole value must match, not a part of it; without words the message is shorter.
    assert TagRules(allowed="x").problems({"a": "xx"}) == [
        "'a': the value holds characters the platform refuses"
    ]


def test_a_connector_without_update_tags_refuses_every_tag() -> None:
    class ReadOnly(ToyConnector):
        name = "read-only"
        capabilities = ToyConnector.capabilities - {Capability.UPDATE_TAGS}

    assert ReadOnly.tag_problems({"a": "1"}) == ["read-only does not support update_tags"]
    assert ToyConnector.tag_problems({"a": "1"}) == []


# -- the connectors, from the vendors' evidence ---------------------------------------------


def test_emnify_tags_are_labels_of_one_text_on_the_endpoint(reference: Path) -> None:
    recorded = json.loads((reference / "recorded" / "emnify" / "get_sim_list.json").read_text())
    texts = [
        sim["endpoint"]["tags"]
        for interaction in recorded["interactions"]
        if isinstance(interaction["response"]["body"], list)
        for sim in interaction["response"]["body"]
        if isinstance(sim, dict) and isinstance(sim.get("endpoint"), dict)
    ]
    assert "demo" in texts  # one label, as one text
    assert all(text is None or isinstance(text, str) for text in texts)
    assert EmnifyConnector.tag_problems({"demo": None}) == []
    assert EmnifyConnector.tag_problems({"customer": "acme", "a,b": None}) == [
        "'a,b' contains ','",
        "'customer' cannot hold a value: the platform keeps labels only",
    ]


def test_emnify_refuses_tags_on_a_sim_without_an_endpoint() -> None:
    payload = "898830300000000001"
    record = {
        "id": 1,
        "iccid": payload,
        "iccid_with_luhn": payload + str(luhn_check_digit(payload)),
        "status": {"id": 0, "description": "Issued"},
    }
    sim = emnify_mapping.to_subscription(record)
    assert "endpoint_id" not in sim.extra
    assert EmnifyConnector.tag_problems({"vip": None}, sim=sim) == [
        "the SIM is not assigned to an endpoint (device), and emnify keeps tags on endpoints"
    ]
    with_endpoint = emnify_mapping.to_subscription({**record, "endpoint": {"id": 7}})
    assert EmnifyConnector.tag_problems({"vip": None}, sim=with_endpoint) == []


def test_1nce_has_one_label_holding_text(reference: Path) -> None:
    spec = (reference / "openapi" / "1nce-sim-management-openapi.yml").read_text()
    assert "Label set by the customer in the 1NCE Portal" in spec
    assert OneNceConnector.tag_problems({"label": "pump-3"}) == []
    assert OneNceConnector.tag_problems({}, ["label"]) == []
    assert OneNceConnector.tag_problems({"label": None, "site": "x"}) == [
        "'site' is not a tag of this platform (keys: label)",
        "'label' needs a value: the platform's tags hold text (remove it instead)",
    ]


def test_control_center_has_twenty_custom_field_slots() -> None:
    assert JasperConnector.tag_rules.keys is not None
    assert len(JasperConnector.tag_rules.keys) == 20
    assert JasperConnector.tag_problems({"accountCustom10": "fleet-A"}, ["customerCustom5"]) == []
    assert JasperConnector.tag_problems({"accountCustom11": "x", "operatorCustom1": ""}) == [
        "'accountCustom11' is not a tag of this platform "
        "(keys: accountCustom1, accountCustom2, accountCustom3, ... (20 in all))",
        "'operatorCustom1' needs a value: the platform's tags hold text (remove it instead)",
    ]


def test_soracom_takes_any_key_and_value(reference: Path) -> None:
    spec = (reference / "openapi" / "soracom-api.en.yaml").read_text()
    request = spec[spec.index("    TagUpdateRequest:") :][:400]
    assert "tagName:" in request
    assert "tagValue:" in request
    assert SoracomConnector.tag_problems({"customer": "acme", "vip": None}, ["old"]) == []


def test_the_sandbox_takes_any_key_and_value() -> None:
    assert SandboxConnector.tag_problems({"customer": "acme", "vip": None}, ["old"]) == []


def test_thingspace_has_five_custom_fields_of_restricted_text(reference: Path) -> None:
    notes = (reference / "operator-platforms.md").read_text()
    section = notes[notes.index("### 2.9 Custom fields") :][:700]
    assert "exactly 5 custom-field slots, `CustomField1..CustomField5`" in section
    assert "alphanumerics, space and `/ @ . , : - _ ( ) [ ]`" in section
    every_allowed = "Aa9 /@.,:-_()[]"
    assert ThingSpaceConnector.tag_problems({"CustomField5": every_allowed}, ["CustomField1"]) == []
    assert ThingSpaceConnector.tag_problems({"CustomField6": "x", "CustomField2": "a;b"}) == [
        "'CustomField6' is not a tag of this platform "
        "(keys: CustomField1, CustomField2, CustomField3, ... (5 in all))",
        "'CustomField2': the value holds characters the platform refuses "
        "(letters, digits, space and / @ . , : - _ ( ) [ ])",
    ]

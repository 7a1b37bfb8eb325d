"""Recording redacted scenario files from a connector's traffic, and replaying them."""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from respx.models import AllMockedAssertionError

import cdp_sdk
from cdp_sdk import Connector, NotFoundError, SimStatus, Subscription
from cdp_sdk._redact import register_secret
from cdp_sdk.models import luhn_valid, normalize_iccid
from cdp_sdk.sandbox import EmulatorRequest, json_response, route
from cdp_sdk.testing import Recorder, Redactor, load_scenario
from conftest import InstallPlugins
from toy_connector import ToyPlatform, make_iccid

IDENTIFIER = re.compile(r"(?<!\d)\d{10,}(?!\d)")
TOY_BASE = "https://toy.example.test"
ALLOWED_HEADER = re.compile(
    r"content-type|link|retry-after|x-total.*|x-current.*|x-count.*|x-soracom-next-key.*"
    r"|x-ratelimit.*"
)

# -- Redactor -----------------------------------------------------------------------------


def test_identifiers_are_replaced_consistently_within_a_file() -> None:
    first, second = make_iccid(1), make_iccid(2)
    redactor = Redactor()
    out = redactor.text(f"/v1/sims/{first}?peer={first}&other={second}")
    fakes = IDENTIFIER.findall(out)
    assert len(fakes) == 3
    assert fakes[0] == fakes[1] != fakes[2]
    assert IDENTIFIER.sub("#", out) == "/v1/sims/#?peer=#&other=#"
    assert first not in out
    assert second not in out
    # the same mapping for JSON values and for later calls
    assert redactor.json({"iccid": first, "list": [second]}) == {
        "iccid": fakes[0],
        "list": [fakes[2]],
    }
    assert redactor.text(first) == fakes[0]


def test_a_fake_iccid_keeps_its_length_prefix_and_luhn_digit() -> None:
    redactor = Redactor()
    for serial in range(1, 40):
        iccid = make_iccid(serial)
        assert luhn_valid(iccid)
        fake = redactor.text(iccid)
        assert fake != iccid
        assert len(fake) == len(iccid)
        assert fake[:2] == "89"
        assert luhn_valid(fake)
        assert normalize_iccid(fake, luhn=True) == fake
    imsi = "901430000000004"
    fake_imsi = redactor.text(imsi)
    assert len(fake_imsi) == 15
    assert fake_imsi[:2] == "90"
    assert fake_imsi != imsi


def test_fakes_depend_on_the_seed_only() -> None:
    iccids = [make_iccid(n) for n in range(1, 6)]
    assert [Redactor(seed=3).text(i) for i in iccids] == [Redactor(seed=3).text(i) for i in iccids]
    assert [Redactor(seed=3).text(i) for i in iccids] != [Redactor(seed=4).text(i) for i in iccids]


def test_different_identifiers_never_share_a_fake() -> None:
    # 12 000 ten-digit ids with a common prefix: plenty for a birthday collision among
    # random eight-digit tails, which would merge two SIMs in a fixture.
    originals = [f"49{n:08d}" for n in range(12_000)]
    redactor = Redactor()
    fakes = [redactor.text(original) for original in originals]
    assert len(set(fakes)) == len(originals)
    assert all(fake != original for fake, original in zip(fakes, originals, strict=True))
    assert all(len(fake) == 10 and fake.startswith("49") for fake in fakes)
    assert [redactor.text(original) for original in originals[:50]] == fakes[:50]


def test_short_numbers_dates_and_addresses_are_untouched() -> None:
    redactor = Redactor()
    text = "page 2 of 123456789 at 2024-05-02T00:00:00+00:00 from 10.0.0.1, rank -5"
    assert redactor.text(text) == text


def test_explicit_and_registered_secrets_are_masked() -> None:
    explicit = f"explicit-{uuid.uuid4().hex}"
    early = f"early-{uuid.uuid4().hex}"
    late = f"late-{uuid.uuid4().hex}"
    register_secret(early)
    redactor = Redactor([explicit])
    register_secret(late)  # e.g. the login token, issued after the recorder is attached
    assert redactor.text(f"a {explicit} b") == "a *** b"
    assert redactor.text(f"Bearer {early}") == "Bearer ***"
    assert redactor.text(f"Bearer {late}") == "Bearer ***"
    assert redactor.json({"note": f"key {explicit}", "list": [late]}) == {
        "note": "key ***",
        "list": ["***"],
    }
    # the longest secret goes first, so no tail of a longer one is left behind
    assert Redactor(["abcdef", "abcdefgh12"]).text("xabcdefgh12x") == "x***x"
    # an empty secret (an unset setting) does not mask everything
    assert Redactor([""]).text("abc 8988303") == "abc 8988303"


@pytest.mark.parametrize(
    "key",
    [
        "auth_token",
        "apiKey",
        "password",
        "access_token",
        "Authorization",
        "client_secret",
        "Cookie",
    ],
)
def test_secret_looking_keys_are_masked_whatever_their_value(key: str) -> None:
    redactor = Redactor()
    for value in ("x", "not-a-secret-at-all", make_iccid(1), ""):
        assert redactor.json({key: value}) == {key: "***"}
    assert redactor.json({"nested": [{key: "v1"}, {key: "v2"}]}) == {
        "nested": [{key: "***"}, {key: "***"}]
    }
    assert redactor.json({key: ["a", "b"]}) == {key: ["***", "***"]}


def test_json_numbers_large_ones_replaced_small_ones_and_booleans_kept() -> None:
    redactor = Redactor()
    body = {
        "id": 1234567890123,
        "count": 42,
        "small": 999_999_999,
        "ratio": 0.5,
        "active": True,
        "deleted": False,
        "nothing": None,
        "name": "visible",
    }
    out = redactor.json(body)
    assert isinstance(out["id"], int)
    assert out["id"] != body["id"]
    assert len(str(out["id"])) == 13
    assert {k: v for k, v in out.items() if k != "id"} == {
        k: v for k, v in body.items() if k != "id"
    }
    assert out["active"] is True
    assert out["deleted"] is False
    # the same identifier as a number and in text gets the same fake
    assert redactor.text("id=1234567890123") == f"id={out['id']}"


# -- Recorder -------------------------------------------------------------------------------


class EchoingToy(ToyPlatform):
    """The toy platform, plus what a real vendor may send: extra headers and echoes of
    the credentials in places no key-based rule would find."""

    @route("POST", "/auth", auth=False)
    def login(self, request: EmulatorRequest) -> httpx.Response:
        answer = super().login(request)
        body = answer.json()
        if answer.status_code == 200:
            body |= {"session": body["token"], "note": f"key {self.api_key} accepted"}
        return json_response(
            body, answer.status_code, headers={"Set-Cookie": f"sid={body.get('token')}"}
        )

    @route("GET", "/v1/sims")
    def list_sims(self, request: EmulatorRequest) -> httpx.Response:
        answer = super().list_sims(request)
        first = self.fleet.sorted_sims()[0]
        answer.headers["X-Total-Count"] = str(len(self.fleet.sims))
        answer.headers["Link"] = f'<{TOY_BASE}/v1/sims?page=2&from={first.iccid}>; rel="next"'
        answer.headers["X-Echo"] = self.api_key
        answer.headers["Server"] = "toy/1.0"
        return answer


MISSING = make_iccid(999)


@pytest.fixture(autouse=True)
def _toy_installed(install_plugins: InstallPlugins) -> None:
    install_plugins({"toy": "toy_connector:ToyConnector"})


def run_calls(toy: Connector, first: str | None = None, missing: str = MISSING) -> list[Any]:
    """A listing, one SIM by ICCID (the first listed unless given), and a 404."""
    sims = list(toy.subscriptions())
    one = toy.subscription(first or sims[0].iccid)
    with pytest.raises(NotFoundError) as caught:
        toy.subscription(missing)
    assert caught.value.status_code == 404
    return [sims, one]


Recorded = tuple[Path, EchoingToy, list[Any]]


@pytest.fixture
def recorded(tmp_path: Path) -> Recorded:
    platform = EchoingToy()
    with cdp_sdk.connect("toy", api_key=platform.api_key, transport=platform.transport()) as toy:
        recorder = Recorder(toy)
        results = run_calls(toy)
    saved = recorder.save(tmp_path / "scenarios" / "toy.json")
    assert saved == tmp_path / "scenarios" / "toy.json"
    return saved, platform, results


def interactions(path: Path) -> list[dict[str, Any]]:
    return list(json.loads(path.read_text())["interactions"])


def test_recording_holds_no_secret_and_no_real_identifier(
    recorded: Recorded,
) -> None:
    path, platform, _ = recorded
    text = path.read_text()
    token = platform.requests[-1].headers["Authorization"].removeprefix("Bearer ")
    assert platform.tokens.valid(token)
    assert platform.api_key not in text
    assert token not in text
    assert "authorization" not in text.lower()
    assert "bearer" not in text.lower()
    for sim in platform.fleet.sims.values():
        assert sim.iccid not in text
        assert sim.imsi not in text
    assert MISSING not in text
    login = interactions(path)[0]
    assert login["request"] == {"method": "POST", "path": "/auth", "params": {}}
    assert login["response"]["json"] == {
        "token": "***",
        "ttl": 3600,
        "session": "***",
        "note": "key *** accepted",
    }


def test_recording_keeps_only_the_allowed_headers(
    recorded: Recorded,
) -> None:
    path, platform, _ = recorded
    recorded_interactions = interactions(path)
    for interaction in recorded_interactions:
        for name in interaction["response"]["headers"]:
            assert ALLOWED_HEADER.fullmatch(name.lower()), name
    page = recorded_interactions[1]["response"]["headers"]
    assert set(page) == {"content-type", "x-total-count", "link"}
    assert page["x-total-count"] == "5"
    real_first = platform.fleet.sorted_sims()[0].iccid
    fake_first = recorded_interactions[1]["response"]["json"]["sims"][0]["iccid"]
    assert page["link"] == f'<{TOY_BASE}/v1/sims?page=2&from={fake_first}>; rel="next"'
    assert fake_first != real_first
    text = path.read_text().lower()
    for dropped in ("set-cookie", "x-request-id", "x-echo", "server", "content-length"):
        assert f'"{dropped}"' not in text


def test_recording_is_a_redacted_copy_of_the_traffic(
    recorded: Recorded,
) -> None:
    path, platform, (sims, _) = recorded
    scenario = json.loads(path.read_text())
    assert scenario["connector"] == "toy"
    assert scenario["base_url"] == TOY_BASE
    calls = [(i["request"]["method"], i["request"]["params"]) for i in scenario["interactions"]]
    assert calls == [
        ("POST", {}),
        ("GET", {"page": "1", "per_page": "2"}),
        ("GET", {"page": "2", "per_page": "2"}),
        ("GET", {"page": "3", "per_page": "2"}),
        ("GET", {}),
        ("GET", {}),
    ]
    listed = [
        record for i in scenario["interactions"][1:4] for record in i["response"]["json"]["sims"]
    ]
    assert len(listed) == len(sims) == 5
    for record, sim in zip(listed, platform.fleet.sorted_sims(), strict=True):
        assert luhn_valid(record["iccid"])
        assert len(record["iccid"]) == len(sim.iccid)
        assert len(record["imsi"]) == len(sim.imsi)
        # what is not an identifier is kept as it was
        assert record["id"] == sim.serial
        assert record["updated"] == sim.updated_at.isoformat()
        assert record["labels"] == sorted(sim.tags)
    found, missing = scenario["interactions"][4], scenario["interactions"][5]
    assert found["request"]["path"] == f"/v1/sims/{listed[0]['iccid']}"
    assert found["response"]["json"] == listed[0]
    assert missing["response"]["status"] == 404
    assert missing["response"]["json"]["code"] == "NOT_FOUND"
    fake_missing = missing["request"]["path"].removeprefix("/v1/sims/")
    assert fake_missing != MISSING
    assert luhn_valid(fake_missing)
    assert fake_missing not in {record["iccid"] for record in listed}


async def test_recorder_on_an_async_connector_masks_secret_query_parameters(
    tmp_path: Path,
) -> None:
    platform = ToyPlatform()
    real = make_iccid(1)
    async with cdp_sdk.connect_async(
        "toy", api_key=platform.api_key, transport=platform.transport()
    ) as toy:
        recorder = Recorder(toy, secrets=["extra-secret-42"])
        sims = [sim async for sim in toy.subscriptions()]
        await toy.plugin.http.request(
            "GET", "/v1/sims", params={"access_token": "abc", "from": real, "q": "extra-secret-42"}
        )
    assert len(sims) == 5
    scenario = json.loads(recorder.save(tmp_path / "async.json").read_text())
    assert len(scenario["interactions"]) == 5
    params = scenario["interactions"][-1]["request"]["params"]
    assert params["access_token"] == "***"
    assert params["q"] == "***"
    assert params["from"] != real
    assert params["from"] == scenario["interactions"][1]["response"]["json"]["sims"][0]["iccid"]


# -- replay ---------------------------------------------------------------------------------


def replayed_connector(path: Path, **settings: Any) -> tuple[Connector, Any]:
    router = load_scenario(path, base_url=settings.get("base_url"))
    toy = cdp_sdk.connect(
        "toy",
        api_key="another-key-entirely",
        transport=httpx.MockTransport(router.async_handler),
        **settings,
    )
    return toy, router


def fakes_in(path: Path) -> tuple[str, str]:
    """The fake ICCIDs of the SIM looked up and of the missing one, as recorded."""
    recorded_interactions = interactions(path)
    found = recorded_interactions[4]["request"]["path"].removeprefix("/v1/sims/")
    missing = recorded_interactions[5]["request"]["path"].removeprefix("/v1/sims/")
    return found, missing


def test_replay_answers_the_same_calls_with_the_fake_identifiers(
    recorded: Recorded,
) -> None:
    path, platform, (sims, one) = recorded
    fake_first, fake_missing = fakes_in(path)
    toy, router = replayed_connector(path)
    with toy:
        replayed, again = run_calls(toy, missing=fake_missing)
    router.assert_all_called()
    assert len(replayed) == len(sims)
    assert replayed[0].iccid == fake_first
    assert again == replayed[0]
    real = set(platform.fleet.sims)
    for before, after in zip(sims, replayed, strict=True):
        assert isinstance(after, Subscription)
        assert after.iccid not in real
        assert normalize_iccid(after.iccid, luhn=True) == after.iccid
        assert after.imsi != before.imsi
        assert (after.id, after.status, after.status_raw, after.tags, after.updated_at) == (
            before.id,
            before.status,
            before.status_raw,
            before.tags,
            before.updated_at,
        )
    assert one.iccid in real


def test_replay_refuses_a_request_not_in_the_scenario(
    recorded: Recorded,
) -> None:
    path, platform, _ = recorded
    toy, router = replayed_connector(path)
    with toy:
        list(toy.subscriptions())
        with pytest.raises(AllMockedAssertionError):
            toy.subscription(platform.fleet.sorted_sims()[0].iccid)  # the real ICCID
        with pytest.raises(AllMockedAssertionError):
            list(toy.subscriptions(modified_since=datetime(2024, 5, 4, tzinfo=UTC)))
        with pytest.raises(AssertionError, match="not called"):
            router.assert_all_called()  # the lookups by fake ICCID were not replayed


def test_replay_under_another_base_url(recorded: Recorded) -> None:
    path, _, _ = recorded
    fake_first, fake_missing = fakes_in(path)
    toy, router = replayed_connector(path, base_url="https://replay.example.test/api")
    with toy:
        run_calls(toy, first=fake_first, missing=fake_missing)
    router.assert_all_called()
    assert {call.request.url.host for call in router.calls} == {"replay.example.test"}
    assert all(call.request.url.path.startswith("/api/") for call in router.calls)


def test_a_request_recorded_twice_is_answered_in_turn(tmp_path: Path) -> None:
    platform = ToyPlatform()
    first = make_iccid(1)
    with cdp_sdk.connect("toy", api_key=platform.api_key, transport=platform.transport()) as toy:
        recorder = Recorder(toy)
        assert toy.subscription(first).status is SimStatus.ACTIVE
        platform.fleet.set_status(
            first, SimStatus.SUSPENDED, at=datetime(2024, 6, 1, tzinfo=UTC), actor="test"
        )
        assert toy.subscription(first).status is SimStatus.SUSPENDED
    path = recorder.save(tmp_path / "twice.json")
    fake = interactions(path)[1]["request"]["path"].removeprefix("/v1/sims/")
    assert interactions(path)[2]["request"]["path"] == f"/v1/sims/{fake}"
    toy, router = replayed_connector(path)
    with toy:
        assert toy.subscription(fake).status is SimStatus.ACTIVE
        assert toy.subscription(fake).status is SimStatus.SUSPENDED
    router.assert_all_called()

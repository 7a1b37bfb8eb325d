"""Recording a connector's traffic as redacted scenario files, and replaying them with respx.

A scenario file is JSON: ``{"connector": ..., "base_url": ..., "interactions": [...]}``,
each interaction a request (method, path, query) and its response (status, headers,
body). Before anything is written, secrets become ``"***"`` and identifiers (runs of ten
or more digits) are replaced by fake ones of the same length, consistently through the
file, ICCIDs keeping a valid Luhn check digit, so the fixture still maps and pages the
same way.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from cdp_sdk._redact import registered_secrets
from cdp_sdk.models import luhn_check_digit, luhn_valid
from cdp_sdk.sandbox import Emulator, Fleet

if TYPE_CHECKING:
    import respx

    from cdp_sdk import AsyncConnector, Connector

__all__ = ["Recorder", "Redactor", "ScenarioEmulator", "load_scenario"]

_IDENTIFIER = re.compile(r"(?<!\d)\d{10,32}(?!\d)")
_SECRET_KEY = re.compile(r"token|secret|password|apikey|api_key|authorization|cookie", re.I)
_KEPT_HEADERS = {"content-type", "link", "retry-after"}
_KEPT_HEADER_PREFIXES = ("x-total", "x-current", "x-count", "x-soracom-next-key", "x-ratelimit")


class Redactor:
    """Replaces secrets and identifiers in recorded traffic, consistently within a file."""

    def __init__(self, secrets: list[str] | None = None, *, seed: int = 0) -> None:
        self._given = {secret for secret in secrets or [] if secret}
        self._fakes: dict[str, str] = {}
        self._used: set[str] = set()
        self._rng = random.Random(seed)

    def _secrets(self) -> list[str]:
        # Read the registry on every call: a login token is registered after the recorder
        # is attached, when the first request logs in.
        known = {secret for secret in registered_secrets() if secret} | self._given
        return sorted(known, key=len, reverse=True)

    def text(self, value: str) -> str:
        """``value`` with secrets masked and identifiers replaced."""
        for secret in self._secrets():
            value = value.replace(secret, "***")
        return _IDENTIFIER.sub(lambda match: self._fake(match.group()), value)

    def json(self, value: Any, key: str = "") -> Any:
        """A JSON value with secret fields masked and identifiers replaced."""
        if isinstance(value, dict):
            return {k: self.json(v, k) for k, v in value.items()}
        if isinstance(value, list):
            return [self.json(item, key) for item in value]
        if isinstance(value, str):
            return "***" if _SECRET_KEY.search(key) else self.text(value)
        if isinstance(value, int) and not isinstance(value, bool) and len(str(value)) >= 10:
            return int(self._fake(str(value)))
        return value

    def _fake(self, original: str) -> str:
        if original not in self._fakes:
            while True:
                digits = "".join(str(self._rng.randrange(10)) for _ in original)
                fake = original[:2] + digits[2:]
                if len(original) >= 18 and luhn_valid(original):
                    fake = fake[:-1] + str(luhn_check_digit(fake[:-1]))
                # One fake per identifier, never a real identifier seen so far.
                if fake not in self._used and fake not in self._fakes and fake != original:
                    break
            self._fakes[original] = fake
            self._used.add(fake)
        return self._fakes[original]


class Recorder:
    """Records every call a connector makes, then writes a redacted scenario file.

    Attach it to a connector built against a real account (or an emulator), run the calls
    you want as fixtures, then :meth:`save`::

        with cdp_sdk.connect("acme", api_key=os.environ["ACME_KEY"]) as acme:
            recorder = Recorder(acme)
            list(acme.subscriptions())
        recorder.save("tests/scenarios/list_sims.json")
    """

    def __init__(self, connector: Connector | AsyncConnector, *, secrets: list[str] | None = None):
        plugin = connector.plugin
        settings = plugin.settings
        values = [getattr(settings, name) for name in settings.secret_fields()]
        found = [value.get_secret_value() for value in values if value is not None]
        self.connector = plugin.name
        self.base_url = plugin.settings.base_url
        self.redactor = Redactor([*found, *(secrets or [])])
        self.interactions: list[dict[str, Any]] = []
        plugin.http.add_response_hook(self._record)

    async def _record(self, response: httpx.Response) -> None:
        await response.aread()
        request = response.request
        path = request.url.path
        prefix = httpx.URL(self.base_url).path.rstrip("/")
        if prefix and path.startswith(prefix):
            path = path[len(prefix) :]
        try:
            body: Any = {"json": response.json()} if response.content else {"json": None}
        except ValueError:
            body = {"text": response.text}
        self.interactions.append(
            {
                "request": {
                    "method": request.method,
                    "path": path,
                    "params": dict(request.url.params),
                },
                "response": {
                    "status": response.status_code,
                    "headers": {
                        name: value
                        for name, value in response.headers.items()
                        if name.lower() in _KEPT_HEADERS
                        or name.lower().startswith(_KEPT_HEADER_PREFIXES)
                    },
                    **body,
                },
            }
        )

    def scenario(self) -> dict[str, Any]:
        """The recorded interactions, redacted."""
        redact = self.redactor
        interactions = []
        for interaction in self.interactions:
            request, response = interaction["request"], interaction["response"]
            redacted_response = {
                "status": response["status"],
                "headers": {k: redact.text(v) for k, v in response["headers"].items()},
            }
            if "json" in response:
                redacted_response["json"] = redact.json(response["json"])
            else:
                redacted_response["text"] = redact.text(response["text"])
            interactions.append(
                {
                    "request": {
                        "method": request["method"],
                        "path": redact.text(request["path"]),
                        "params": {
                            k: "***" if _SECRET_KEY.search(k) else redact.text(v)
                            for k, v in request["params"].items()
                        },
                    },
                    "response": redacted_response,
                }
            )
        return {
            "connector": self.connector,
            "base_url": self.base_url,
            "interactions": interactions,
        }

    def save(self, path: str | Path) -> Path:
        """Write the redacted scenario as JSON; returns the path."""
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(self.scenario(), indent=2, sort_keys=True) + "\n")
        return target


def _read_scenario(
    path: str | Path,
) -> tuple[
    dict[str, Any], dict[tuple[str, str, tuple[tuple[str, str], ...]], list[httpx.Response]]
]:
    scenario = json.loads(Path(path).read_text())
    grouped: dict[tuple[str, str, tuple[tuple[str, str], ...]], list[httpx.Response]] = {}
    for interaction in scenario["interactions"]:
        request, response = interaction["request"], interaction["response"]
        key = (request["method"], request["path"], tuple(sorted(request["params"].items())))
        content = {"json": response["json"]} if "json" in response else {"text": response["text"]}
        answer = httpx.Response(response["status"], headers=response["headers"], **content)
        grouped.setdefault(key, []).append(answer)
    return scenario, grouped


def load_scenario(path: str | Path, *, base_url: str | None = None) -> respx.MockRouter:
    """A respx router that answers the scenario's requests in the recorded order.

    Requests are matched on method, path and query; the same request recorded several
    times is answered in turn, and asking more often than recorded fails with a message
    naming the request. Use it as ``transport=httpx.MockTransport(router.async_handler)``
    or as a context manager; respx raises ``AllMockedAssertionError`` for a request the
    scenario does not hold.
    """
    import respx

    scenario, grouped = _read_scenario(path)
    root = httpx.URL(base_url or scenario["base_url"])
    prefix = root.path.rstrip("/")
    router = respx.MockRouter(assert_all_mocked=True, assert_all_called=True)
    for (method, route_path, params), answers in grouped.items():
        router.route(
            method=method,
            scheme=root.scheme,
            host=root.host,
            path=prefix + route_path,
            params__eq=dict(params),
        ).mock(side_effect=_in_turn(f"{method} {route_path}", answers))
    return router


def _in_turn(
    label: str, answers: list[httpx.Response]
) -> Callable[[httpx.Request], httpx.Response]:
    remaining = list(answers)

    def answer(request: httpx.Request) -> httpx.Response:
        if not remaining:
            raise AssertionError(
                f"{label} was recorded {len(answers)} time(s) and is asked for once more"
            )
        return remaining.pop(0)

    return answer


class ScenarioEmulator(Emulator):
    """An emulator that answers from a recorded scenario file.

    Each request is matched on method, path and query; repeated requests get the
    recorded answers in turn, then the last one again (so a listing can be read twice).
    Faults, the request log and loopback serving work as for any emulator. A request the
    scenario does not hold raises ``LookupError`` naming it.
    """

    name = "scenario"

    def __init__(self, path: str | Path, **options: Any) -> None:
        super().__init__(Fleet(0), **options)
        scenario, self._answers = _read_scenario(path)
        self.connector = scenario["connector"]
        self._prefix = httpx.URL(scenario["base_url"]).path.rstrip("/")
        self._served: dict[tuple[str, str, tuple[tuple[str, str], ...]], int] = {}

    def _dispatch(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if self._prefix and path.startswith(self._prefix):
            path = path[len(self._prefix) :]
        key = (request.method, path, tuple(sorted(request.url.params.items())))
        answers = self._answers.get(key)
        if not answers:
            raise LookupError(f"the scenario holds no answer to {request.method} {path}")
        turn = self._served.get(key, 0)
        self._served[key] = turn + 1
        recorded = answers[min(turn, len(answers) - 1)]
        return httpx.Response(
            recorded.status_code, headers=recorded.headers, content=recorded.content
        )

"""``cdp plugin new NAME``: a connector package to start from, installable on its own.

The package works out of the box: a settings model, a connector listing SIMs with the
offset paginator, a mapping module with the status table, an emulator with one listing
route, the conformance suite and respx tests, a docs page and the entry point. It passes
its own suite once installed (``pip install -e '.[test]' && pytest``); every ``TODO``
marks what to replace with the platform's documented behaviour.
"""

from __future__ import annotations

import keyword
import re
from dataclasses import dataclass
from pathlib import Path
from string import Template

from cdp_sdk._version import __version__

__all__ = ["Scaffold", "scaffold"]

_NAME = re.compile(r"[a-z][a-z0-9]*(?:[-_][a-z0-9]+)*")


@dataclass(frozen=True)
class Scaffold:
    """The names a new connector package is built from."""

    name: str
    """The connector's name (its entry-point name), e.g. ``acme``."""
    title: str

    @classmethod
    def of(cls, name: str, title: str | None = None) -> Scaffold:
        """The names for connector ``name``; ``ValueError`` for a name that cannot be one."""
        if not _NAME.fullmatch(name) or len(name) > 40:
            raise ValueError(
                "a connector name is lowercase letters and digits, words joined by - or _ "
                "(e.g. acme or acme-iot)"
            )
        if keyword.iskeyword(name):
            raise ValueError(f"{name!r} is a Python keyword")
        return cls(name, title or name.replace("-", " ").replace("_", " ").title())

    @property
    def package(self) -> str:
        return f"cdp_sdk_{self.name.replace('-', '_')}"

    @property
    def distribution(self) -> str:
        return f"cdp-sdk-{self.name.replace('_', '-')}"

    @property
    def klass(self) -> str:
        return "".join(part.capitalize() for part in re.split(r"[-_]", self.name))

    def files(self) -> dict[str, str]:
        """Relative path -> text of every file of the package."""
        names = {
            "name": self.name,
            "title": self.title,
            "package": self.package,
            "distribution": self.distribution,
            "klass": self.klass,
            "core": __version__.rsplit(".", 1)[0],
            "key": f"{self.name}-test-key",
            "upper": self.name.upper().replace("-", "_"),
        }
        return {
            Template(path).substitute(names): Template(text).substitute(names)
            for path, text in _FILES.items()
        }


def scaffold(name: str, directory: Path, *, title: str | None = None) -> list[Path]:
    """Write the package of connector ``name`` into ``directory`` (created; it must not
    hold files yet); the paths written.

    Raises:
        ValueError: the name cannot be a connector's, or ``directory`` is not empty.
    """
    plan = Scaffold.of(name, title)
    if directory.exists() and (not directory.is_dir() or any(directory.iterdir())):
        raise ValueError(f"{directory} exists and is not an empty directory")
    written = []
    for relative, text in plan.files().items():
        path = directory / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


_PYPROJECT = """\
[build-system]
requires = ["hatchling>=1.18"]
build-backend = "hatchling.build"

[project]
name = "$distribution"
version = "0.1.0"
description = "$title connector for cdp-sdk."
readme = "README.md"
requires-python = ">=3.11"
classifiers = ["Framework :: AsyncIO", "Typing :: Typed"]
dependencies = ["cdp-iot-sdk>=$core"]

[project.optional-dependencies]
test = ["cdp-iot-sdk[test]>=$core"]

# How cdp-sdk finds the connector: the entry-point name is the connector's name.
[project.entry-points."cdp_sdk.connectors"]
$name = "$package:${klass}Connector"

[tool.hatch.build.targets.wheel]
packages = ["src/$package"]

[tool.pytest.ini_options]
testpaths = ["tests"]
asyncio_mode = "auto"
asyncio_default_fixture_loop_scope = "function"
addopts = "-ra --strict-markers"

[tool.ruff]
line-length = 100
target-version = "py311"

[tool.ruff.lint]
select = ["E", "F", "W", "I", "B", "UP", "SIM", "RUF", "PT", "C4", "ASYNC"]
ignore = ["RUF012"]

[tool.mypy]
python_version = "3.11"
mypy_path = "src"
plugins = ["pydantic.mypy"]
strict = true
"""

_README = """\
# $distribution

The $title connector for [cdp-sdk](https://github.com/cdp-sdk/cdp-sdk): its SIMs as
cdp-sdk's normalized models, found by `cdp_sdk.connect("$name", ...)` once installed.

```sh
python3 -m pip install -e ".[test]"   # the connector, and what its tests need
python3 -m pytest                     # the conformance suite and the respx tests
cdp connectors                        # lists $name
```

Written by `cdp plugin new $name`: every `TODO` marks what to replace with the platform's
documented behaviour, and `docs/$name.md` is the page to fill in with its sources.
"""

_INIT = '''\
"""cdp-sdk connector for $title, found through its ``cdp_sdk.connectors`` entry point.

>>> import cdp_sdk
>>> with cdp_sdk.connect("$name", api_key="...") as platform:  # doctest: +SKIP
...     for sim in platform.subscriptions():
...         print(sim.iccid, sim.status)
"""

from $package.connector import ${klass}Connector, ${klass}Settings
from $package.emulator import ${klass}Emulator

__all__ = ["${klass}Connector", "${klass}Emulator", "${klass}Settings"]
'''

_CONNECTOR = '''\
"""The $title connector: settings, capabilities, and the endpoint behind each method."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from operator import itemgetter

import httpx
from cdp_sdk import (
    ActivationMode,
    BaseConnector,
    Capability,
    ConnectorSettings,
    NotFoundError,
    Subscription,
)
from cdp_sdk.http import ErrorTable, HeaderAuth, OffsetPaginator, body_field
from pydantic import Field, SecretStr

from $package import mapping

SIMS = "/v1/sims"  # TODO: the platform's documented path

PAGES = OffsetPaginator(page_size=100, total=body_field("total"))
"""TODO: the platform's paging: its page-size maximum and its end signal (here a total)."""


class ${klass}Settings(ConnectorSettings):
    """Settings of the $title connector."""

    api_key: SecretStr = Field(description="TODO: the platform's credential.")
    base_url: str = "https://api.$name.invalid"  # TODO: the platform's documented host
    rate_limit: float | None = 5.0  # TODO: the platform's documented rate limit


class ${klass}Connector(BaseConnector):
    """$title: its SIMs (TODO: the other capabilities the platform's API offers)."""

    name = "$name"
    title = "$title"
    capabilities = frozenset({Capability.SUBSCRIPTIONS})
    settings_model = ${klass}Settings
    error_table = ErrorTable()  # TODO: .extend(ErrorRule(...)) with the vendor's codes
    settings: ${klass}Settings

    def authentication(self) -> httpx.Auth:
        return HeaderAuth("Authorization", self.settings.api_key, prefix="Bearer ")

    def subscriptions(self, *, modified_since: datetime | None) -> AsyncIterator[Subscription]:
        return self.listing(
            PAGES, SIMS, mapping.to_subscription, items="sims", key=itemgetter("id")
        )

    async def subscription(self, iccid: str) -> Subscription:
        # TODO: the platform's look-up by ICCID, if it has one; the stub reads the listing.
        async for sim in self.subscriptions(modified_since=None):
            if sim.iccid == iccid:
                return sim
        raise NotFoundError("no SIM with this ICCID", connector=self.name)

    async def activation_modes(self) -> list[ActivationMode]:
        return list(mapping.ACTIVATION_MODES)
'''

_MAPPING = '''\
"""$title's JSON as cdp-sdk models: pure functions and the status table.

Each rule cites its source on the docs page (docs/$name.md). TODO: replace the example
states and fields with the platform's documented ones.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cdp_sdk import SimStatus, Subscription
from cdp_sdk.mapping import Lifecycle, activation_modes, lookup_status, parse_datetime
from cdp_sdk.models import normalize_iccid

NAME = "$name"

# The platform's states -> normalized statuses (SimStatus says what each one means).
STATUS: dict[str, SimStatus] = {
    "stock": SimStatus.INVENTORY,
    "trial": SimStatus.TEST,
    "ready": SimStatus.READY,
    "active": SimStatus.ACTIVE,
    "suspended": SimStatus.SUSPENDED,
    "deactivated": SimStatus.DEACTIVATED,
    "terminated": SimStatus.RETIRED,
}

# name: (description, billable, auto_activates, settable, next states)
_LIFECYCLE: dict[str, Lifecycle] = {
    "stock": ("Delivered, not in service", False, False, False, ("trial", "ready", "active")),
    "trial": ("Free test traffic", False, True, False, ("active",)),
    "ready": ("Activates on first use", False, True, False, ("active",)),
    "active": ("In service and billed", True, False, False, ("suspended", "deactivated")),
    "suspended": ("Blocked for now", True, False, False, ("active", "deactivated")),
    "deactivated": ("Service off, not billed", False, False, False, ("active", "terminated")),
    "terminated": ("End of life", False, False, False, ()),
}

ACTIVATION_MODES = activation_modes(NAME, STATUS, _LIFECYCLE)


def to_subscription(record: Mapping[str, Any]) -> Subscription:
    """One SIM of ``GET /v1/sims``."""
    status, raw = lookup_status(STATUS, record["status"])
    return Subscription(
        connector=NAME,
        id=str(record["id"]),
        iccid=normalize_iccid(record["iccid"]),
        imsi=record.get("imsi"),
        msisdn=record.get("msisdn"),
        status=status,
        status_raw=raw,
        tariff=record.get("plan"),
        created_at=parse_datetime(record.get("created_at")),
        updated_at=parse_datetime(record.get("updated_at")),
    )
'''

_EMULATOR = '''\
"""The $title API, emulated over a synthetic fleet: one listing route to start from.

TODO: every route, field, status and error body as the platform documents them, and no
more (an emulator answers what the live API answers).
"""

from __future__ import annotations

from typing import Any

import httpx
from cdp_sdk import SimStatus
from cdp_sdk.sandbox import Emulator, EmulatorRequest, Fleet, FleetSim, json_response, route

STATE_OF = {
    SimStatus.INVENTORY: "stock",
    SimStatus.TEST: "trial",
    SimStatus.READY: "ready",
    SimStatus.ACTIVE: "active",
    SimStatus.SUSPENDED: "suspended",
    SimStatus.DEACTIVATED: "deactivated",
    SimStatus.RETIRED: "terminated",
}


class ${klass}Emulator(Emulator):
    """$title over a :class:`~cdp_sdk.sandbox.Fleet`: ``GET /v1/sims?offset&limit``."""

    name = "$name"

    def __init__(
        self, fleet: Fleet | None = None, *, api_key: str = "$key", **options: Any
    ) -> None:
        super().__init__(fleet, **options)
        self.api_key = api_key

    def authenticate(self, request: EmulatorRequest) -> httpx.Response | None:
        if request.headers.get("Authorization") == f"Bearer {self.api_key}":
            return None
        return self.error(401, "unauthorized", "Missing or invalid API key")

    @route("GET", "/v1/sims")
    def list_sims(self, request: EmulatorRequest) -> httpx.Response:
        sims = self.fleet.sorted_sims()
        try:
            offset = max(0, int(request.params.get("offset") or 0))
        except ValueError:
            return self.error(400, "invalid_offset", "offset must be a whole number")
        limit = self.page_limit(request.params.get("limit"), default=100, maximum=100)
        page = sims[offset : offset + limit]
        return json_response({"sims": [_sim(sim) for sim in page], "total": len(sims)})


def _sim(sim: FleetSim) -> dict[str, Any]:
    return {
        "id": f"sim-{sim.serial}",
        "iccid": sim.iccid,
        "imsi": sim.imsi,
        "msisdn": sim.msisdn,
        "status": STATE_OF[sim.status],
        "plan": sim.tariff_id,
        "created_at": sim.created_at.isoformat(),
        "updated_at": sim.updated_at.isoformat(),
    }
'''

_TEST_CONFORMANCE = '''\
"""cdp-sdk's conformance suite, run against the $title emulator."""

from __future__ import annotations

from cdp_sdk.testing import ConformanceSuite

from $package import ${klass}Emulator


class Test${klass}Conformance(ConformanceSuite):
    connector = "$name"
    settings = {"api_key": "$key"}
    emulator = ${klass}Emulator
'''

_TEST_RESPX = '''\
"""The connector against payloads shaped as the platform documents them (respx, no
network). TODO: the documented example responses, each with its source."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import cdp_sdk
import httpx
import pytest
import respx
from cdp_sdk import AsyncConnector, AuthenticationError, NotFoundError, SimStatus

BASE = "https://api.$name.invalid"
KEY = "$name-secret-key"


def sim(number: int, status: str = "active") -> dict[str, Any]:
    return {
        "id": f"sim-{number}",
        "iccid": f"898830300000000{number:04d}",
        "imsi": f"90143000000{number:04d}",
        "msisdn": f"88234000{number:04d}",
        "status": status,
        "plan": "iot-s",
        "created_at": "2024-05-01T08:00:00Z",
        "updated_at": "2024-05-02T09:30:00Z",
    }


@pytest.fixture
def api() -> Iterator[respx.MockRouter]:
    with respx.mock(base_url=BASE, assert_all_called=False) as router:
        yield router


@pytest.fixture
async def platform() -> AsyncIterator[AsyncConnector]:
    async with cdp_sdk.connect_async("$name", api_key=KEY, rate_limit=None) as connector:
        yield connector


async def test_the_listing_follows_offsets_to_the_total(
    api: respx.MockRouter, platform: AsyncConnector
) -> None:
    pages = {"0": [sim(1), sim(2, "suspended")], "2": [sim(3, "terminated")]}
    route = api.get("/v1/sims").mock(
        side_effect=lambda request: httpx.Response(
            200, json={"sims": pages[request.url.params["offset"]], "total": 3}
        )
    )

    sims = [s async for s in platform.subscriptions()]

    assert [s.status for s in sims] == [SimStatus.ACTIVE, SimStatus.SUSPENDED, SimStatus.RETIRED]
    assert [s.status_raw for s in sims] == ["active", "suspended", "terminated"]
    assert sims[0].iccid == "8988303000000000001"
    assert route.calls[0].request.headers["Authorization"] == f"Bearer {KEY}"
    assert [call.request.url.params["offset"] for call in route.calls] == ["0", "2"]


async def test_an_unknown_status_is_kept_raw(
    api: respx.MockRouter, platform: AsyncConnector
) -> None:
    api.get("/v1/sims").respond(json={"sims": [sim(1, "frozen")], "total": 1})
    [found] = [s async for s in platform.subscriptions()]
    assert (found.status, found.status_raw) == (SimStatus.UNKNOWN, "frozen")


async def test_errors_are_typed(api: respx.MockRouter, platform: AsyncConnector) -> None:
    api.get("/v1/sims").respond(401, json={"code": "unauthorized", "message": "bad key"})
    with pytest.raises(AuthenticationError) as caught:
        [s async for s in platform.subscriptions()]
    assert caught.value.status_code == 401
    assert KEY not in str(caught.value)


async def test_an_unknown_iccid_is_not_found(
    api: respx.MockRouter, platform: AsyncConnector
) -> None:
    api.get("/v1/sims").respond(json={"sims": [sim(1)], "total": 1})
    with pytest.raises(NotFoundError, match="ICCID …0002"):
        await platform.subscription("8988303000000000002")
'''

_DOCS = """\
# $title (`$name`)

TODO: what the platform is and who runs it, with a link to its API documentation.

```python
import cdp_sdk

with cdp_sdk.connect("$name", api_key="...") as platform:
    for sim in platform.subscriptions():
        print(sim.iccid, sim.status)
```

## Settings

| setting | type | default | meaning | source |
|---|---|---|---|---|
| `api_key` | secret | required | TODO | TODO |
| `base_url` | `str` | `https://api.$name.invalid` | TODO: the documented host | TODO |
| `rate_limit` | `float` | `5.0` | TODO: the documented limit | TODO |

## Capabilities

| capability | how | source |
|---|---|---|
| `subscriptions` | `GET /v1/sims?offset&limit`, until the item count `total` (TODO) | TODO |

`subscriptions(status=...)` is filtered by cdp-sdk (TODO: the platform's own filter, if it
has one: set `filters_status` and pass it on).

## Statuses

| platform state | normalized | why | source |
|---|---|---|---|
| `stock` | `inventory` | TODO | TODO |
| `trial` | `test` | TODO | TODO |
| `ready` | `ready` | TODO | TODO |
| `active` | `active` | TODO | TODO |
| `suspended` | `suspended` | TODO | TODO |
| `deactivated` | `deactivated` | TODO | TODO |
| `terminated` | `retired` | TODO | TODO |
"""

_FILES: dict[str, str] = {
    "pyproject.toml": _PYPROJECT,
    "README.md": _README,
    "src/$package/__init__.py": _INIT,
    "src/$package/py.typed": "",
    "src/$package/connector.py": _CONNECTOR,
    "src/$package/mapping.py": _MAPPING,
    "src/$package/emulator.py": _EMULATOR,
    "tests/test_conformance.py": _TEST_CONFORMANCE,
    "tests/test_respx.py": _TEST_RESPX,
    "docs/$name.md": _DOCS,
}

"""Workspace: TOML loading, env: secrets, the permissions warning, concurrent listings."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import warnings
from collections import Counter, defaultdict
from datetime import date
from pathlib import Path

import httpx
import pytest

import cdp_sdk
from cdp_sdk import (
    ConfigurationError,
    PermissionDeniedError,
    Subscription,
    Tariff,
    UsageRecord,
)
from cdp_sdk.connectors.sandbox import SandboxEmulator
from cdp_sdk.sandbox import Fault, Fleet
from cdp_sdk.workspace import (
    Account,
    AccountRecord,
    AsyncWorkspace,
    InsecureConfigWarning,
    Workspace,
    _stamp_account,
)
from conftest import InstallPlugins
from toy_connector import ToyPlatform

TODAY = date(2024, 6, 15)

CONFIG = """\
database = "sqlite:///mirror.db"

[accounts.eu]
connector = "sandbox"
fleet_size = 12
seed = 3
api_key = "env:CDP_TEST_SANDBOX_KEY"

[accounts."us.east"]
connector = "sandbox"
fleet_size = 5
rate_limit = 10.0
"""


def write(path: Path, text: str, mode: int = 0o600) -> Path:
    path.write_text(text)
    path.chmod(mode)
    return path


def emulator(size: int = 20, *, seed: int = 1, **options: object) -> SandboxEmulator:
    return SandboxEmulator(
        Fleet(size, seed=seed, today=TODAY), requests_per_second=100_000, **options
    )


# -- loading and building -------------------------------------------------------------------


def test_load_reads_accounts_settings_and_database(tmp_path: Path) -> None:
    workspace = Workspace.load(write(tmp_path / "cdp.toml", CONFIG))
    assert workspace.names == ["eu", "us.east"]
    assert workspace.database == "sqlite:///mirror.db"
    eu = workspace.account("eu")
    assert eu.connector == "sandbox"
    assert dict(eu.settings) == {
        "fleet_size": 12,
        "seed": 3,
        "api_key": "env:CDP_TEST_SANDBOX_KEY",
    }
    assert eu.environment_references() == {"api_key": "CDP_TEST_SANDBOX_KEY"}
    # What to_toml writes, load reads back unchanged.
    again = Workspace.from_toml(workspace.to_toml())
    assert again.accounts == workspace.accounts
    assert again.database == workspace.database


def test_env_reference_is_read_when_connecting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CDP_TEST_SANDBOX_KEY", "key-from-the-environment")
    workspace = Workspace.load(write(tmp_path / "cdp.toml", CONFIG))
    with workspace.connect("eu") as connector:
        assert connector.settings.api_key.get_secret_value() == "key-from-the-environment"  # type: ignore[attr-defined]


def test_missing_env_variable_names_account_and_setting_never_a_value(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("CDP_TEST_MISSING", raising=False)
    workspace = Workspace(
        {"eu": Account("sandbox", {"api_key": "env:CDP_TEST_MISSING", "seed": 99887766})}
    )
    with pytest.raises(ConfigurationError) as caught:
        workspace.connect("eu")
    message = str(caught.value)
    assert "account 'eu'" in message
    assert "'api_key'" in message
    assert "CDP_TEST_MISSING" in message
    assert "99887766" not in message
    # The same error surfaces from a listing, before any request.
    with workspace, pytest.raises(ConfigurationError, match="account 'eu'"):
        list(workspace.subscriptions())


def test_invalid_settings_name_the_account() -> None:
    workspace = Workspace({"eu": Account("sandbox", {"fleet_sise": 3})})
    with pytest.raises(ConfigurationError, match=r"account 'eu'.*fleet_sise.*fleet_size"):
        workspace.connect("eu")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("accounts = [", "not valid TOML"),
        ("[accounts.eu]\nfleet_size = 3\n", "'connector'"),
        ('colour = "blue"\n[accounts.eu]\nconnector = "sandbox"\n', "unknown key 'colour'"),
        ('database = "x.db"\n', r"no \[accounts"),
        ('[accounts."bad name"]\nconnector = "sandbox"\n', "invalid account name"),
        ('database = 3\n[accounts.eu]\nconnector = "sandbox"\n', "'database' must be"),
    ],
)
def test_invalid_files_are_refused_clearly(text: str, expected: str) -> None:
    with pytest.raises(ConfigurationError, match=expected):
        Workspace.from_toml(text, source="cdp.toml")


def test_unknown_account_lists_the_valid_ones() -> None:
    workspace = Workspace({"eu": Account("sandbox"), "us": Account("sandbox")})
    with pytest.raises(ConfigurationError, match=r"unknown account 'mars' \(accounts: eu, us\)"):
        workspace.select(["eu", "mars"])


def test_account_repr_shows_setting_names_only() -> None:
    account = Account("sandbox", {"api_key": "plain-secret-value"})
    assert "plain-secret-value" not in repr(account)
    assert "api_key" in repr(account)


# -- the permissions warning -----------------------------------------------------------------

PLAIN_SECRET = '[accounts.eu]\nconnector = "sandbox"\napi_key = "plain-secret-value"\n'


@pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")
def test_readable_file_with_a_plain_secret_warns(tmp_path: Path) -> None:
    path = write(tmp_path / "cdp.toml", PLAIN_SECRET, 0o644)
    with pytest.warns(InsecureConfigWarning, match="'api_key' of account 'eu'") as caught:
        Workspace.load(path)
    assert "plain-secret-value" not in str(caught[0].message)


@pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")
@pytest.mark.parametrize(
    ("text", "mode"),
    [
        (PLAIN_SECRET, 0o600),  # private file
        (PLAIN_SECRET.replace('"plain-secret-value"', '"env:CDP_KEY"'), 0o644),  # reference
        ('[accounts.eu]\nconnector = "sandbox"\nfleet_size = 3\n', 0o644),  # no secret
    ],
)
def test_no_warning_when_nothing_is_exposed(tmp_path: Path, text: str, mode: int) -> None:
    path = write(tmp_path / "cdp.toml", text, mode)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Workspace.load(path)


# -- records carry their account ------------------------------------------------------------


def test_records_carry_their_account() -> None:
    workspace = Workspace(
        {
            "eu": Account("sandbox", {"rate_limit": None}, emulator(7).transport()),
            "us": Account("sandbox", {"rate_limit": None}, emulator(4, seed=2).transport()),
        }
    )
    with workspace:
        sims = list(workspace.subscriptions())
        assert Counter(sim.account for sim in sims) == {"eu": 7, "us": 4}
        assert all(isinstance(sim, Subscription) for sim in sims)
        tariffs = list(workspace.tariffs())
        assert {item.account for item in tariffs} == {"eu", "us"}
        assert all(isinstance(item, AccountRecord) for item in tariffs)
        for account, tariff in tariffs:  # a named tuple: unpacks as a pair
            assert account in ("eu", "us")
            assert isinstance(tariff, Tariff)
        usage = list(workspace.usage(start=date(2024, 6, 1), end=TODAY, accounts=["us"]))
        assert usage
        assert {item.account for item in usage} == {"us"}
        assert all(isinstance(item.record, UsageRecord) for item in usage)
        invoices = list(workspace.invoices(start=date(2024, 5, 1)))
        assert {invoice.account for invoice in invoices} == {"eu", "us"}


def test_a_platform_account_moves_to_extra() -> None:
    sim = Subscription(
        connector="x",
        account="org-17",
        id="1",
        iccid="89883030000000000019",
        status="active",
        status_raw="on",
    )
    stamped = _stamp_account(sim, "eu")
    assert stamped.account == "eu"
    assert stamped.extra == {"platform_account": "org-17"}
    assert _stamp_account(stamped.model_copy(update={"extra": {}}), "eu").extra == {}


def test_accounts_without_the_capability_are_left_out(
    install_plugins: InstallPlugins, toy_platform: ToyPlatform
) -> None:
    install_plugins({"toy": "toy_connector:ToyConnector"})
    workspace = Workspace(
        {
            "toy": Account("toy", {"api_key": ToyPlatform.api_key}, toy_platform.transport()),
            "sandbox": Account("sandbox", {"rate_limit": None}, emulator(3).transport()),
        }
    )
    with workspace:
        assert {item.account for item in workspace.tariffs()} == {"sandbox"}
        assert Counter(s.account for s in workspace.subscriptions()) == {"toy": 5, "sandbox": 3}


def test_an_error_in_one_account_is_raised_with_its_name() -> None:
    broken = emulator(5)
    broken.faults.append(Fault(status=403, path="/v1/sims", times=10))
    workspace = Workspace(
        {
            "good": Account("sandbox", {"rate_limit": None}, emulator(5).transport()),
            "broken": Account("sandbox", {"rate_limit": None}, broken.transport()),
        }
    )
    with workspace, pytest.raises(PermissionDeniedError) as caught:
        list(workspace.subscriptions())
    assert "while listing account 'broken'" in caught.value.__notes__


def test_stopping_early_releases_everything() -> None:
    workspace = Workspace(
        {"eu": Account("sandbox", {"rate_limit": None}, emulator(50).transport())}
    )
    with workspace:
        first = next(workspace.subscriptions())
        assert first.account == "eu"
    # close() stopped the reader task and the loop: nothing is left running or unraised.
    assert workspace._loop is None


async def test_async_workspace_lists_concurrently_too() -> None:
    async with AsyncWorkspace(
        {
            "eu": Account("sandbox", {"rate_limit": None}, emulator(6).transport()),
            "us": Account("sandbox", {"rate_limit": None}, emulator(2, seed=9).transport()),
        }
    ) as workspace:
        sims = [sim async for sim in workspace.subscriptions()]
        modes = [mode async for mode in workspace.activation_modes(accounts=["us"])]
    assert Counter(sim.account for sim in sims) == {"eu": 6, "us": 2}
    assert {mode.account for mode in modes} == {"us"}


# -- concurrency: overlapping accounts, each within its own rate limit -----------------------


class FlightLog:
    """Requests in flight per account, as seen by the transports."""

    def __init__(self) -> None:
        self.in_flight: Counter[str] = Counter()
        self.most_accounts_at_once = 0
        self.most_per_account: Counter[str] = Counter()
        self.starts: defaultdict[str, list[tuple[float, str]]] = defaultdict(list)

    def begin(self, account: str, request: httpx.Request) -> None:
        self.starts[account].append((time.monotonic(), request.url.path))
        self.in_flight[account] += 1
        busy = sum(1 for count in self.in_flight.values() if count)
        self.most_accounts_at_once = max(self.most_accounts_at_once, busy)
        self.most_per_account[account] = max(
            self.most_per_account[account], self.in_flight[account]
        )

    def end(self, account: str) -> None:
        self.in_flight[account] -= 1


class CountingTransport(httpx.AsyncBaseTransport):
    def __init__(self, inner: httpx.AsyncBaseTransport, account: str, log: FlightLog) -> None:
        self.inner, self.account, self.log = inner, account, log

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.log.begin(self.account, request)
        try:
            return await self.inner.handle_async_request(request)
        finally:
            self.log.end(self.account)


def test_accounts_are_read_concurrently_each_within_its_own_rate_limit() -> None:
    log = FlightLog()
    rates = {"unlimited": None, "fifty": 50.0, "twenty-five": 25.0}
    accounts = {}
    for seed, (name, rate) in enumerate(rates.items()):
        vendor = emulator(30, seed=seed, latency=0.01)
        vendor.max_page_size = 5  # 6 pages per account
        accounts[name] = Account(
            "sandbox", {"rate_limit": rate}, CountingTransport(vendor.transport(), name, log)
        )
    with Workspace(accounts) as workspace:
        sims = list(workspace.subscriptions())

    assert Counter(sim.account for sim in sims) == dict.fromkeys(rates, 30)
    # Requests of all three accounts were in flight at the same moment: the wall time is
    # that of the slowest account, not the sum ...
    assert log.most_accounts_at_once == 3
    # ... while each account pages one request at a time,
    assert set(log.most_per_account.values()) == {1}
    # within its own limiter. Every request takes its own slot, the login too: the k-th
    # request after the login starts no earlier than k intervals after it (the limiter
    # checks its bounds on actual start times, so a late request never lets the next one
    # follow sooner). The margin (10% and 5 ms) absorbs the jitter between the limiter
    # letting a request go and the transport seeing it; without a limiter the requests
    # would come every 10 ms (the latency), half the 50/s interval.
    for name, rate in rates.items():
        paths = [path for _, path in log.starts[name]]
        assert paths == ["/v1/auth"] + ["/v1/sims"] * 6
        slots = [at for at, _ in log.starts[name]]
        if rate is not None:
            elapsed = [at - slots[0] for at in slots]
            for k, seconds in enumerate(elapsed):
                assert seconds >= 0.9 * k / rate - 0.005, (name, elapsed)
    # The limiters are per account: the unlimited account was done long before the
    # slowest one (6 calls of 10 ms against 6 calls 40 ms apart).
    assert log.starts["unlimited"][-1][0] < log.starts["twenty-five"][-2][0]


# -- the core import stays light ------------------------------------------------------------


def test_importing_cdp_sdk_loads_no_heavy_module() -> None:
    code = (
        "import json, sys, cdp_sdk\n"
        "heavy = ['sqlalchemy', 'pandas', 'pyarrow', 'cdp_sdk.workspace', 'cdp_sdk.sync',"
        " 'cdp_sdk.frames']\n"
        "before = [m for m in heavy if m in sys.modules]\n"
        "workspace = cdp_sdk.Workspace\n"
        "after = [m for m in heavy if m in sys.modules]\n"
        "print(json.dumps([before, after, workspace.__module__]))\n"
    )
    output = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    before, after, module = json.loads(output)
    assert before == []
    assert after == ["cdp_sdk.workspace"]  # Workspace itself needs no database or frames
    assert module == "cdp_sdk.workspace"
    assert "Workspace" in cdp_sdk.__all__


def test_a_sync_into_sqlite_loads_no_postgresql_dialect(tmp_path: Path) -> None:
    # PostgreSQL's dialect weighs 2 MiB; a store on SQLite has no use for it.
    code = (
        "import sys\n"
        "from cdp_sdk.sync import Store\n"
        "from cdp_sdk.workspace import Account, Workspace\n"
        "account = Account('sandbox', {'fleet_size': 5, 'rate_limit': None})\n"
        f"with Workspace({{'eu': account}}) as ws, Store({str(tmp_path / 's.db')!r}) as store:\n"
        "    report = store.sync(ws)\n"
        "print(report.ok, report.records > 0, 'sqlalchemy.dialects.postgresql' in sys.modules)\n"
    )
    output = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert output.split() == ["True", "True", "False"]

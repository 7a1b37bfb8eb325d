"""``cdp_sdk.sync.celery`` in one process: the ``[celery]`` table, beat schedules, the app's
settings and the task bodies (no broker; ``test_sync_celery_workers`` starts the real parts).
"""

from __future__ import annotations

import contextlib
import json
import pickle
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from cdp_sdk import ConfigurationError
from cdp_sdk.cli import main
from cdp_sdk.sync import Entity, Store
from cdp_sdk.sync._lease import Claimant, acquire, release
from cdp_sdk.workspace import BaseWorkspace, Workspace
from test_cli import cdp

celery = pytest.importorskip("cdp_sdk.sync.celery")

from celery import Celery  # noqa: E402
from celery.exceptions import Retry  # noqa: E402

ACCOUNTS = """
[accounts.eu]
connector = "sandbox"
fleet_size = 12
seed = 1
rate_limit = 1000
today = "{today}"

[accounts.us]
connector = "sandbox"
fleet_size = 5
seed = 2
rate_limit = 1000
today = "{today}"
"""


TODAY = datetime.now(UTC).date()


def write(tmp_path: Path, celery_table: str, *, database: str = "cdp.db") -> Path:
    config = tmp_path / "cdp.toml"
    config.write_text(
        f'database = "{database}"\n' + ACCOUNTS.format(today=TODAY.isoformat()) + celery_table
    )
    config.chmod(0o600)
    return config


MEMORY = '[celery]\nbroker = "memory://"\nresult_backend = "cache+memory://"\n'


@contextlib.contextmanager
def held(store: Store, claimant: Claimant, account: str = "eu") -> Iterator[None]:
    """``account``'s sync lease held by ``claimant`` for a minute; released on the way out."""
    store.transaction(lambda c: acquire(c, claimant, account, timedelta(minutes=1)))
    try:
        yield
    finally:
        store.transaction(lambda c: release(c, claimant, account))


# -- the [celery] table ---------------------------------------------------------------------


def test_settings_with_their_defaults(tmp_path: Path) -> None:
    settings = celery.load_settings(write(tmp_path, '[celery]\nbroker = "redis://h:6379/0"\n'))
    assert settings.config == tmp_path / "cdp.toml"
    assert settings.broker == "redis://h:6379/0"
    assert settings.result_backend == "redis://h:6379/0"  # results beside the messages
    assert settings.database == str(tmp_path / "cdp.db")  # relative to the file
    assert settings.queue == "cdp-sync"
    assert settings.visibility_timeout == timedelta(hours=2)
    assert settings.restore_interval == timedelta(seconds=10)
    assert settings.lease == timedelta(seconds=60)
    assert settings.schedule == ()
    amqp = celery.load_settings(write(tmp_path, '[celery]\nbroker = "amqp://h//"\n'))
    assert amqp.result_backend == "rpc://"


def test_settings_read_env_references_and_hide_them(tmp_path: Path) -> None:
    config = write(
        tmp_path,
        '[celery]\nbroker = "env:BROKER"\nresult_backend = "env:RESULTS"\nqueue = "sync.eu"\n'
        'visibility_timeout = "3h"\nrestore_interval = 30\nlease = "1m30s"\n',
        database="postgresql://cdp@db/cdp",
    )
    environ = {"BROKER": "redis://:hunter2-secret@h/0", "RESULTS": "redis://:hunter2-secret@h/1"}
    settings = celery.load_settings(config, environ=environ)
    assert settings.broker == "redis://:hunter2-secret@h/0"
    assert settings.result_backend == "redis://:hunter2-secret@h/1"
    assert settings.database == "postgresql://cdp@db/cdp"
    assert settings.queue == "sync.eu"
    assert settings.visibility_timeout == timedelta(hours=3)
    assert settings.restore_interval == timedelta(seconds=30)
    assert settings.lease == timedelta(seconds=90)
    assert "hunter2" not in repr(settings)
    override = celery.load_settings(config, environ={**environ, "CDP_DB": "other.db"})
    assert override.database == str(tmp_path / "other.db")
    with pytest.raises(ConfigurationError, match="reads the environment variable 'BROKER'"):
        celery.load_settings(config, environ={"RESULTS": "redis://h/1"})


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ("", "no \\[celery\\] table"),
        ("[celery]\n", "celery.broker is required"),
        ('[celery]\nbroker = "redis://h"\nbrokers = 1\n', "celery: unknown key 'brokers'"),
        ("[celery]\nbroker = 5\n", "celery.broker must be a URL or env:NAME"),
        ('[celery]\nbroker = "localhost"\n', "celery.broker is not a URL"),
        ('[celery]\nbroker = "redis://h"\nqueue = "a b"\n', "celery.queue: 'a b' is not"),
        ('[celery]\nbroker = "redis://h"\nlease = "soon"\n', "celery.lease: 'soon' is not a"),
        ('[celery]\nbroker = "redis://h"\nlease = "500ms"\n', "celery.lease must be at least 1s"),
        ('[celery]\nbroker = "redis://h"\nlease = -1\n', "celery.lease: -1 is not a duration"),
        ('[celery]\nbroker = "redis://h"\nlease = true\n', "celery.lease: True is not a"),
        (
            '[celery]\nbroker = "redis://h"\nlease = "2m"\nvisibility_timeout = "2m"\n',
            "celery.visibility_timeout \\(120s\\) must be longer than celery.lease \\(120s\\)",
        ),
        (
            '[celery]\nbroker = "redis://h"\nrestore_interval = "0.5s"\n',
            "celery.restore_interval must be at least 1s",
        ),
        ('[celery]\nbroker = "redis://h"\nschedule = 3\n', "celery.schedule must be a table"),
        (
            '[celery]\nbroker = "redis://h"\n[celery.schedule]\nevery = "30s"\n',
            "celery.schedule.every: '30s' is shorter than a minute",
        ),
        (
            '[celery]\nbroker = "redis://h"\n[celery.schedule]\nwhen = "1h"\n',
            "celery.schedule: unknown key 'when' \\(valid: every, jitter, entities, accounts\\)",
        ),
        (
            '[celery]\nbroker = "redis://h"\n[celery.schedule.entities]\nsims = "1h"\n',
            "celery.schedule.entities: unknown entity 'sims' \\(entities: subscriptions,",
        ),
        (
            '[celery]\nbroker = "redis://h"\n[celery.schedule.accounts.mars]\nevery = "1h"\n',
            "celery.schedule.accounts: unknown key 'mars' \\(valid: eu, us\\)",
        ),
        (
            '[celery]\nbroker = "redis://h"\n[celery.schedule.accounts.eu]\nevery = "1x"\n',
            "celery.schedule.accounts.eu.every: '1x' is not a duration",
        ),
        (
            '[celery]\nbroker = "redis://h"\n[celery.schedule.accounts.eu]\ncron = "1h"\n',
            "celery.schedule.accounts.eu: unknown key 'cron' \\(valid: every, jitter, entities\\)",
        ),
        (
            '[celery]\nbroker = "redis://h"\n[celery.schedule.accounts.eu.entities]\nusage = 5\n',
            "celery.schedule.accounts.eu.entities.usage: 5 is shorter than a minute",
        ),
        (
            '[celery]\nbroker = "redis://h"\n[celery.schedule]\njitter = "later"\n',
            "celery.schedule.jitter: 'later' is not a duration",
        ),
    ],
)
def test_bad_settings_are_one_typed_error_naming_the_key(
    tmp_path: Path, table: str, message: str
) -> None:
    with pytest.raises(ConfigurationError, match=f"^cdp.toml: {message}"):
        celery.load_settings(write(tmp_path, table), environ={})


def test_the_workspace_leaves_the_celery_table_to_the_celery_module(tmp_path: Path) -> None:
    config = write(tmp_path, MEMORY)
    assert BaseWorkspace.load(config).names == ["eu", "us"]
    with pytest.raises(ConfigurationError, match="'celery' must be a table"):
        BaseWorkspace.from_toml('celery = "redis://h"\n[accounts.eu]\nconnector = "sandbox"\n')


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90s", 90), ("15m", 900), ("1h30m", 5400), ("2d", 172800), ("250ms", 0.25), (45, 45),
     (1.5, 1.5), ("1.5h", 5400), (" 1h 5m ", 3900)],
)  # fmt: skip
def test_durations(text: object, seconds: float) -> None:
    assert celery.parse_duration(text, "x") == timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["", "h", "1", "1y", "m5", "1h-5m", "0s", 0, "400d", "nan"])
def test_bad_durations(text: object) -> None:
    with pytest.raises(ConfigurationError, match=r"^where: .* is not a duration"):
        celery.parse_duration(text, "where")


# -- schedules ------------------------------------------------------------------------------

SCHEDULE = """
[celery]
broker = "memory://"

[celery.schedule]
every = "6h"
jitter = "1h"

[celery.schedule.entities]
usage = "1h"
audit_events = "1h"

[celery.schedule.accounts.us]
every = "12h"
jitter = "0"
entities = { usage = "off", invoices = "1d" }
"""


def test_intervals_per_account_and_entity(tmp_path: Path) -> None:
    entries = {e.name: e for e in celery.load_settings(write(tmp_path, SCHEDULE)).schedule}
    assert list(entries) == [
        "cdp-sync eu usage+audit_events",
        "cdp-sync eu subscriptions+activation_modes+tariffs+invoices",
        "cdp-sync us subscriptions+activation_modes+tariffs+audit_events",
        "cdp-sync us invoices",
    ]
    eu_often = entries["cdp-sync eu usage+audit_events"]
    assert eu_often.account == "eu"
    assert eu_often.entities == (Entity.USAGE, Entity.AUDIT_EVENTS)
    assert eu_often.every == timedelta(hours=1)
    assert timedelta(0) <= eu_often.offset < timedelta(hours=1)
    eu_rest = entries["cdp-sync eu subscriptions+activation_modes+tariffs+invoices"]
    assert eu_rest.every == timedelta(hours=6)
    assert timedelta(0) <= eu_rest.offset < timedelta(hours=1)  # within the jitter
    assert eu_rest.offset != eu_often.offset
    # The account's own every beats the entities of every account; its own entities beat it.
    us_rest = entries["cdp-sync us subscriptions+activation_modes+tariffs+audit_events"]
    assert us_rest.every == timedelta(hours=12)
    assert us_rest.offset == timedelta(0)  # jitter 0: on the hour
    assert entries["cdp-sync us invoices"].every == timedelta(days=1)
    # usage is off for us: in no entry.
    assert all(
        Entity.USAGE not in (e.entities or ()) for e in entries.values() if e.account == "us"
    )


def test_one_interval_for_everything_is_one_entry_per_account(tmp_path: Path) -> None:
    table = '[celery]\nbroker = "memory://"\n[celery.schedule]\nevery = "2h"\n'
    first = celery.load_settings(write(tmp_path, table)).schedule
    assert [(e.name, e.entities, e.every) for e in first] == [
        ("cdp-sync eu", None, timedelta(hours=2)),
        ("cdp-sync us", None, timedelta(hours=2)),
    ]
    # Without a jitter, entries spread over their whole interval; offsets are stable.
    assert all(timedelta(0) <= e.offset < timedelta(hours=2) for e in first)
    assert celery.load_settings(write(tmp_path, table)).schedule == first


def test_an_account_turned_off_keeps_only_its_own_entities(tmp_path: Path) -> None:
    table = (
        '[celery]\nbroker = "memory://"\n[celery.schedule]\nevery = "2h"\n'
        '[celery.schedule.entities]\nusage = "1h"\n'
        '[celery.schedule.accounts.eu]\nevery = "off"\nentities = { tariffs = "1d" }\n'
    )
    entries = celery.load_settings(write(tmp_path, table)).schedule
    assert [(e.name, e.every) for e in entries if e.account == "eu"] == [
        ("cdp-sync eu tariffs", timedelta(days=1))
    ]
    assert [e.name for e in entries if e.account == "us"] == [
        "cdp-sync us usage",
        "cdp-sync us subscriptions+activation_modes+tariffs+invoices+audit_events",
    ]


def test_thousands_of_accounts_spread_over_the_interval(tmp_path: Path) -> None:
    accounts = "".join(f'[accounts.a{n}]\nconnector = "sandbox"\n' for n in range(5000))
    config = tmp_path / "big.toml"
    config.write_text(
        accounts + '[celery]\nbroker = "memory://"\n[celery.schedule]\nevery = "6h"\n'
    )
    entries = celery.load_settings(config).schedule
    assert len(entries) == 5000
    seconds = Counter(int(e.offset.total_seconds()) for e in entries)
    assert max(seconds.values()) <= 8  # never a crowd in one second
    quarters = Counter(int(e.offset / timedelta(hours=1.5)) for e in entries)
    assert sorted(quarters) == [0, 1, 2, 3]
    assert min(quarters.values()) > 1100  # evenly: about 1,250 per quarter of the interval


def test_phased_slots() -> None:
    now = [datetime(2024, 6, 15, 12, 0, 0, tzinfo=UTC)]
    app = Celery("test", set_as_current=False)
    schedule = celery.phased(
        timedelta(hours=1), timedelta(minutes=25), nowfun=lambda: now[0], app=app
    )
    assert schedule.slot(now[0]) == datetime(2024, 6, 15, 11, 25, tzinfo=UTC)
    # Last run before the latest slot: due, and the next check is at the next slot.
    due, following = schedule.is_due(datetime(2024, 6, 15, 11, 20, tzinfo=UTC))
    assert due
    assert following == 25 * 60
    # Ran in that slot: not due until 12:25.
    due, following = schedule.is_due(datetime(2024, 6, 15, 11, 26, tzinfo=UTC))
    assert not due
    assert following == 25 * 60
    assert schedule.remaining_estimate(datetime(2024, 6, 15, 11, 26, tzinfo=UTC)) == timedelta(
        minutes=25
    )
    now[0] = datetime(2024, 6, 15, 12, 25, 0, tzinfo=UTC)
    assert schedule.is_due(datetime(2024, 6, 15, 11, 26, tzinfo=UTC))[0]
    # A naive last run is UTC; offsets wrap around the interval.
    assert not schedule.is_due(datetime(2024, 6, 15, 12, 25))[0]
    assert celery.phased(timedelta(hours=1), timedelta(minutes=85)).offset == timedelta(minutes=25)
    # Beat keeps its schedules in a pickle file (locally, never on the broker).
    stored = celery.phased(timedelta(hours=1), timedelta(minutes=25))
    copy = pickle.loads(pickle.dumps(stored))
    assert copy == stored == schedule
    assert copy.offset == timedelta(minutes=25)
    assert copy != celery.phased(timedelta(hours=1))
    assert repr(schedule) == "<phased: every 1:00:00 at +0:25:00>"


def test_beat_entries_send_account_names_only(tmp_path: Path) -> None:
    settings = celery.load_settings(write(tmp_path, SCHEDULE))
    entries = celery.beat_schedule(settings)
    entry = entries["cdp-sync eu usage+audit_events"]
    assert entry["task"] == celery.SYNC_ACCOUNT == "cdp_sdk.sync.sync_account"
    assert entry["args"] == ("eu",)
    assert entry["kwargs"] == {"entities": ["usage", "audit_events"]}
    assert entry["options"] == {"expires": 3600.0}
    assert entry["schedule"] == celery.phased(timedelta(hours=1), settings.schedule[0].offset)
    for each in entries.values():
        json.dumps([each["args"], each["kwargs"], each["options"]])  # JSON, like the messages
    app = celery.create_app(write(tmp_path, SCHEDULE))
    assert set(app.conf.beat_schedule) == set(entries)


def test_celery_beat_sends_the_due_entries_once(tmp_path: Path) -> None:
    from celery.beat import Scheduler

    table = (
        MEMORY + 'queue = "beat-test"\n[celery.schedule]\nevery = "1h"\n'
        '[celery.schedule.entities]\nusage = "10m"\n'
    )
    app = celery.create_app(write(tmp_path, table))
    beat = Scheduler(app=app, lazy=False)
    ours = {name: e for name, e in beat.schedule.items() if name.startswith("cdp-sync ")}
    assert len(ours) == 4
    for entry in ours.values():
        entry.last_run_at = datetime.now(UTC) - timedelta(hours=2)  # a slot has passed
    for _ in range(12):
        beat.tick()
    sent = []
    with app.connection_for_read() as connection:
        queue = connection.SimpleQueue("beat-test")
        while True:
            try:
                message = queue.get(timeout=0.2)
            except queue.Empty:
                break
            message.ack()
            assert message.content_type == "application/json"
            assert message.headers["task"] == celery.SYNC_ACCOUNT
            assert message.headers["expires"] is not None  # dropped if not taken in time
            args, kwargs, _ = message.payload
            sent.append((args, kwargs))
        queue.close()
    rest = ["subscriptions", "activation_modes", "tariffs", "invoices", "audit_events"]
    expected = [
        (["eu"], {"entities": rest}),
        (["eu"], {"entities": ["usage"]}),
        (["us"], {"entities": rest}),
        (["us"], {"entities": ["usage"]}),
    ]
    assert sorted(sent, key=json.dumps) == sorted(expected, key=json.dumps)
    # Each ran in its slot: nothing is due again before the next one.
    assert all(not entry.is_due()[0] for entry in beat.schedule.values() if entry.name in ours)


# -- the app --------------------------------------------------------------------------------


def test_the_app_speaks_json_only_and_acknowledges_late(tmp_path: Path) -> None:
    config = write(
        tmp_path,
        '[celery]\nbroker = "redis://127.0.0.1:1/0"\nvisibility_timeout = "30m"\nlease = "20s"\n'
        'restore_interval = "5s"\nqueue = "q1"\n',
    )
    app = celery.create_app(config, worker_concurrency=3)
    conf = celery.celery_settings(app)
    assert conf["task_serializer"] == conf["result_serializer"] == "json"
    assert conf["event_serializer"] == "json"
    assert conf["accept_content"] == conf["result_accept_content"] == ["json"]
    assert conf["task_acks_late"] is True
    assert conf["task_reject_on_worker_lost"] is True
    assert conf["worker_prefetch_multiplier"] == 1
    assert conf["task_default_queue"] == "q1"
    assert conf["broker_transport_options"] == {
        "visibility_timeout": 1800.0,
        "unacked_restore_interval": 5.0,
        "unacked_restore_throttle": 1,
    }
    assert conf["worker_concurrency"] == 3
    assert conf["enable_utc"] is True
    task = app.tasks[celery.SYNC_ACCOUNT]
    assert task.acks_late is True
    assert task.reject_on_worker_lost is True
    assert celery.SYNC_WORKSPACE in app.tasks


def test_celery_dash_a_finds_the_app_of_cdp_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = write(tmp_path, MEMORY)
    done = subprocess.run(
        [sys.executable, "-c", "from celery.app.utils import find_app; "
         "app = find_app('cdp_sdk.sync.celery'); print(app.conf.broker_url, sorted(app.tasks))"],
        env={"CDP_CONFIG": str(config), "PATH": "/usr/bin:/bin"},
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("memory:// [")
    assert "'cdp_sdk.sync.sync_account', 'cdp_sdk.sync.sync_workspace'" in done.stdout
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        _ = celery.nothing


def test_import_cdp_sdk_and_its_sync_store_load_no_celery() -> None:
    code = (
        "import sys, cdp_sdk, cdp_sdk.sync; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('celery', 'kombu', 'redis')))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_task_arguments() -> None:
    assert celery.task_arguments() == {}
    assert celery.task_arguments(list(Entity)) == {}  # every entity: said by nothing
    assert celery.task_arguments(["usage", Entity.SUBSCRIPTIONS], 30) == {
        "entities": ["subscriptions", "usage"],
        "history_days": 30,
    }
    with pytest.raises(ValueError, match="unknown entity 'sims'"):
        celery.task_arguments(["sims"])
    for bad in (0, -1, True, 1.5):
        with pytest.raises(ValueError, match="history_days must be a positive number"):
            celery.task_arguments(history_days=bad)  # type: ignore[arg-type]


# -- the tasks, run in this process ---------------------------------------------------------


@pytest.fixture
def app(tmp_path: Path) -> Any:
    return celery.create_app(write(tmp_path, MEMORY + 'lease = "3s"\n'))


def test_the_account_task_syncs_like_a_local_sync(app: Any, tmp_path: Path) -> None:
    result = app.tasks[celery.SYNC_ACCOUNT].apply(
        args=["eu"], kwargs={"entities": ["subscriptions", "usage"], "history_days": 10}
    )
    outcome = celery.AccountOutcome.from_json(result.get())
    assert outcome.status == "ok"
    assert outcome.account == "eu"
    assert outcome.errors == 0
    with Store(tmp_path / "cdp.db") as store:
        [report] = store.runs()
        assert report.run_id == outcome.run_id
        assert [r.entity for r in report.results] == [Entity.SUBSCRIPTIONS, Entity.USAGE]
        assert outcome.records == report.records > 12
        assert len(store.rows("subscriptions", account="eu")) == 12
        assert store.rows("subscriptions", account="us") == []
        first_usage = min(r["period_start"] for r in store.rows("usage"))
    assert first_usage >= datetime.now(UTC) - timedelta(days=11)
    assert json.loads(json.dumps(result.get())) == outcome.to_json()


def test_an_unknown_account_fails_the_task_without_a_run(app: Any, tmp_path: Path) -> None:
    result = app.tasks[celery.SYNC_ACCOUNT].apply(args=["mars"])
    assert result.failed()
    [outcome] = celery.collect(["mars"], [result])
    assert outcome.status == "error"
    assert outcome.detail == "ConfigurationError: unknown account 'mars' (accounts: eu, us)"
    assert outcome.run_id is None
    with Store(tmp_path / "cdp.db") as store:
        assert store.runs() == []


def test_an_account_held_by_another_sync_is_skipped(app: Any, tmp_path: Path) -> None:
    other = Claimant.here("cdp sync")
    with Store(tmp_path / "cdp.db") as store, held(store, other):
        result = app.tasks[celery.SYNC_ACCOUNT].apply(args=["eu"], task_id="t-1")
        outcome = celery.AccountOutcome.from_json(result.get())
        assert outcome.status == "skipped"
        assert outcome.skipped
        assert outcome.detail.startswith(f"running elsewhere ({other.holder}, lease until")
        assert outcome.records == 0


def test_a_copy_of_a_running_task_comes_back_later(app: Any, tmp_path: Path) -> None:
    """The broker handed the task out again while its first copy runs: retry, not skip."""
    running = Claimant.here("celery task t-2 (w1@host)")
    with Store(tmp_path / "cdp.db") as store:
        store.transaction(lambda c: acquire(c, running, "eu", timedelta(minutes=1)))
        task = app.tasks[celery.SYNC_ACCOUNT]
        # As a worker runs it (retrying sends nothing here: the request is eager).
        task.push_request(id="t-2", hostname="w2@host", called_directly=False, is_eager=True)
        try:
            with pytest.raises(Retry) as retry:
                task.run("eu")
        finally:
            task.pop_request()
        assert retry.value.when == 3.0  # after a lease's time
        # Another task finding the same lease is skipped, not retried.
        other = app.tasks[celery.SYNC_ACCOUNT].apply(args=["eu"], task_id="t-3")
        assert other.state == "SUCCESS"
        assert other.get()["status"] == "skipped"


def test_a_copy_of_a_finished_task_is_dropped(app: Any, tmp_path: Path) -> None:
    app.backend.store_result("t-4", {"account": "eu", "status": "ok"}, "SUCCESS")
    result = app.tasks[celery.SYNC_ACCOUNT].apply(args=["eu"], task_id="t-4")
    assert result.state == "IGNORED"
    with Store(tmp_path / "cdp.db") as store:
        assert store.runs() == []


def test_outcomes_of_partly_and_wholly_failed_accounts(tmp_path: Path) -> None:
    config = write(tmp_path, MEMORY)
    settings = celery.load_settings(config)
    with Workspace.load(config):
        pass
    broken = tmp_path / "broken.toml"
    broken.write_text(
        config.read_text().replace(
            'rate_limit = 1000\ntoday = "', 'api_key = "env:NOPE"\ntoday = "', 1
        )
    )
    broken.chmod(0o600)
    failed = celery.sync_account(
        celery.load_settings(broken), "eu", entities=["subscriptions", "tariffs"]
    )
    assert failed.status == "failed"
    assert failed.errors == 2
    assert failed.detail.startswith("subscriptions: ConfigurationError: account 'eu': setting")
    fine = celery.sync_account(settings, "us", entities=["subscriptions"], worker="w1@h")
    assert (fine.status, fine.errors, fine.detail, fine.worker) == ("ok", 0, None, "w1@h")
    assert fine.records == 5


def test_collect_gives_up_after_its_timeout(app: Any) -> None:
    pending = app.AsyncResult("never-sent")
    with pytest.raises(TimeoutError, match=r"did not finish within 0.2 s \(account 'eu'"):
        celery.collect(["eu"], [pending], timeout=0.2)


# -- cdp sync --on celery -------------------------------------------------------------------


def test_cdp_sync_on_celery_needs_a_celery_table(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write(tmp_path, "")
    result = cdp("sync", "--config", config, "--on", "celery")
    assert result.exit_code == 1
    assert result.stderr.startswith("error: cdp.toml: no [celery] table: add one with at least")
    assert main(["sync", "--config", str(config), "--on", "cluster"]) == 2
    assert "'cluster' is not one of 'local', 'celery'" in capsys.readouterr().err


def test_a_missing_redis_server_fails_unless_skipping_is_asked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import redis_server

    monkeypatch.setattr(redis_server, "find_binary", lambda: None)
    monkeypatch.delenv(redis_server.SKIP_VARIABLE, raising=False)
    with pytest.raises(pytest.fail.Exception, match="CDP_SDK_SKIP_REDIS=1"):
        redis_server.require_binary()
    monkeypatch.setenv(redis_server.SKIP_VARIABLE, "1")
    with pytest.raises(pytest.skip.Exception, match="apt-get install redis-server"):
        redis_server.require_binary()

"""A store on a read-only location opens for reading; opening read-only never writes; a
permission problem is a ``StorePermissionError`` that says so."""

from __future__ import annotations

import asyncio
import hashlib
import os
import shutil
import sqlite3
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from cdp_sdk import ConfigurationError
from cdp_sdk.sync import Store, StorePermissionError, _store
from cdp_sdk.workspace import Workspace
from emulated import emulated

RunReadOnly = Callable[[str, Path], subprocess.CompletedProcess[str]]


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _journal_mode(path: Path) -> str:
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as raw:
        return str(raw.execute("PRAGMA journal_mode").fetchone()[0])


@pytest.fixture
def synced(tmp_path: Path) -> Path:
    """A store holding one synced sandbox account of 12 SIMs."""
    account, _ = emulated("sandbox", 12)
    path = tmp_path / "store" / "cdp.db"
    path.parent.mkdir()
    with Workspace({"lab": account}) as workspace, Store(path) as store:
        assert store.sync(workspace, entities=["subscriptions"]).ok
    return path


# -- read_only=True never writes --------------------------------------------------------------


def test_opening_read_only_never_writes(synced: Path) -> None:
    with sqlite3.connect(synced) as raw:  # a store last written without the write-ahead log
        raw.execute("PRAGMA journal_mode=DELETE")
    before = _digest(synced)
    with Store(synced, read_only=True) as store:
        assert store.read_only
        assert len(store.rows("subscriptions")) == 12
        assert store.accounts() == ["lab"]
        with pytest.raises(StorePermissionError) as refused:
            store.purge_account("lab")
        assert str(refused.value) == (
            f"the store {synced} is open read-only (its location cannot be written, or "
            "read_only=True): nothing was written"
        )
        with pytest.raises(StorePermissionError):
            store.import_tags(Path(__file__))  # refused before the file is even read
    assert _digest(synced) == before
    assert _journal_mode(synced) == "delete"  # no switch to the write-ahead log
    assert sorted(p.name for p in synced.parent.iterdir()) == ["cdp.db"]


def test_read_only_creates_nothing(tmp_path: Path) -> None:
    missing = tmp_path / "none.db"
    with pytest.raises(ConfigurationError, match=r"no store at .*never created"):
        Store(missing, read_only=True)
    assert not missing.exists()
    other = tmp_path / "other.db"
    with sqlite3.connect(other) as raw:
        raw.execute("CREATE TABLE notes (text)")
    before = _digest(other)
    with pytest.raises(ConfigurationError, match="not a cdp-sdk store"):
        Store(other, read_only=True)
    assert _digest(other) == before  # no table was created


def test_read_only_does_not_migrate_an_older_store(synced: Path) -> None:
    with sqlite3.connect(synced) as raw:
        raw.execute("UPDATE store_info SET value = '1' WHERE name = 'schema_version'")
    with pytest.raises(ConfigurationError, match="older than this cdp-sdk's"):
        Store(synced, read_only=True)
    with Store(synced) as store:  # where it can be written, it is migrated
        assert not store.read_only


# -- a read-only location -------------------------------------------------------------------------


@pytest.fixture
def run_read_only(tmp_path: Path) -> Iterator[RunReadOnly]:
    """Run Python code in a child process for which ``location`` (a directory, or one file)
    is read-only: a read-only bind mount of it when this runs as root (who may write
    whatever the file modes say), its modes otherwise."""
    made_read_only: list[Path] = []

    def run(code: str, location: Path) -> subprocess.CompletedProcess[str]:
        script = tmp_path / "child.py"
        script.write_text(textwrap.dedent(code))
        command = [sys.executable, str(script), str(location)]
        if os.geteuid() == 0:
            unshare, mount = shutil.which("unshare"), shutil.which("mount")
            if unshare is None or mount is None:
                pytest.skip("running as root without unshare(1): no read-only location")
            inner = " ".join(f"'{part}'" for part in command)
            command = [
                unshare,
                "--mount",
                "sh",
                "-c",
                f"mount --bind -o ro '{location}' '{location}' && exec {inner}",
            ]
        elif location.is_dir():
            for path in location.iterdir():
                path.chmod(0o444)
            location.chmod(0o555)
            made_read_only.append(location)
        else:
            location.chmod(0o444)
        done = subprocess.run(command, capture_output=True, text=True, timeout=120)
        if "mount:" in done.stderr and "permission denied" in done.stderr.lower():
            pytest.skip("this machine does not allow a private read-only mount")
        return done

    yield run
    for directory in made_read_only:
        directory.chmod(0o755)


def test_a_store_on_a_read_only_location_opens_for_reading(
    synced: Path, run_read_only: RunReadOnly
) -> None:
    before = _digest(synced)
    done = run_read_only(
        """
        import sys
        from pathlib import Path
        from cdp_sdk.sync import Store, StorePermissionError

        path = Path(sys.argv[1]) / "cdp.db"
        store = Store(path)
        print("read_only", store.read_only)
        print("rows", len(store.to_pandas("subscriptions")))
        for attempt in (
            lambda: store.purge_account("lab"),
            lambda: Store(path, read_only=False),
            lambda: Store(path.with_name("new.db")),
        ):
            try:
                attempt()
            except StorePermissionError as error:
                print("refused:", error)
        """,
        synced.parent,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[:2] == ["read_only True", "rows 12"]
    assert lines[2] == (
        f"refused: the store {synced} is open read-only (its location cannot be written, "
        "or read_only=True): nothing was written"
    )
    assert lines[3].startswith(f"refused: cannot write the store {synced}: this user may not")
    assert lines[4].startswith("refused: cannot create the store ")
    assert "may not write in its directory" in lines[4]
    assert _digest(synced) == before


def test_a_store_file_that_cannot_be_written_opens_read_only_in_a_writable_directory(
    synced: Path, run_read_only: RunReadOnly
) -> None:
    before = _digest(synced)
    done = run_read_only(
        """
        import sys
        from cdp_sdk.sync import Store

        store = Store(sys.argv[1])
        print("read_only", store.read_only, "rows", len(store.to_pandas("subscriptions")))
        """,
        synced,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["read_only True rows 12"]
    assert _digest(synced) == before


@pytest.mark.parametrize(
    "url", ["://no-scheme", "postgresql://lab:s3cret@db.example:port/cdp"], ids=["form", "port"]
)
def test_a_database_url_that_cannot_be_read_is_refused_without_repeating_it(url: str) -> None:
    with pytest.raises(ConfigurationError) as refused:
        Store(url)
    assert str(refused.value) == "the database URL cannot be read"
    assert refused.value.__cause__ is None
    assert "s3cret" not in repr(refused.value)


def test_cdp_sims_reads_a_store_on_a_read_only_location(
    synced: Path, run_read_only: RunReadOnly
) -> None:
    done = run_read_only(
        """
        import sys
        from cdp_sdk.cli import main

        sys.exit(main(["sims", "--db", sys.argv[1] + "/cdp.db", "--format", "csv"]))
        """,
        synced.parent,
    )
    assert done.returncode == 0, done.stderr
    assert len(done.stdout.splitlines()) == 1 + 12


# -- the decision, in process (the tests above make the location read-only for real) ----------


@pytest.fixture
def unwritable(monkeypatch: pytest.MonkeyPatch) -> None:
    """This user may not write the store's location (as the file system would say)."""
    monkeypatch.setattr(_store, "location_writable", lambda url: False)


def test_an_existing_store_that_cannot_be_written_opens_read_only(
    synced: Path, unwritable: None
) -> None:
    with Store(synced) as store:
        assert store.read_only is True
        assert len(store.rows("subscriptions")) == 12
    with pytest.raises(StorePermissionError) as refused:
        Store(synced, read_only=False)
    assert str(refused.value) == (
        f"cannot write the store {synced}: this user may not write its file or directory "
        "(or the file system is read-only); open it with read_only=True to read it"
    )
    with pytest.raises(StorePermissionError) as refused:
        Store(synced.with_name("new.db"))
    assert str(refused.value) == (
        f"cannot create the store {synced.with_name('new.db')}: this user may not write in "
        "its directory (or the file system is read-only)"
    )


def test_a_writable_store_opens_for_writing(synced: Path) -> None:
    with Store(synced) as store:
        assert store.read_only is False
        assert store.engine.echo is False  # no SQL in the logs unless asked
    with Store(synced, read_only=False) as store:
        assert store.read_only is False
        assert store.closed is False
    with Store(synced, echo=True) as store:  # every SQL statement logged, when asked
        assert store.engine.echo is True


def test_a_file_that_is_not_a_store_is_refused_in_words(tmp_path: Path) -> None:
    path = tmp_path / "cdp.db"
    path.write_text("id,name\n1,not a database\n" * 100)
    path.chmod(0o600)
    with pytest.raises(ConfigurationError) as refused:
        Store(path)
    assert str(refused.value) == f"cannot open the store {path}: file is not a database"


def test_a_store_in_a_missing_directory_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "missing" / "cdp.db"
    with pytest.raises(ConfigurationError) as refused:
        Store(path)
    assert str(refused.value) == f"cannot open the store {path}: no such directory"
    assert not path.parent.exists()


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///:memory:"])
def test_a_store_in_memory_writes_no_file(
    url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with Store(url) as store:
        assert store.read_only is False
        assert store.accounts() == []
        assert str(store).startswith("sqlite://")  # named by its URL: it has no file
    assert list(tmp_path.iterdir()) == []


async def test_a_read_only_store_is_read_from_any_thread(synced: Path) -> None:
    """An application reading in worker threads (``asyncio.to_thread``) shares the pool's
    connections across threads."""
    with Store(synced, read_only=True) as store:
        assert len(store.rows("subscriptions")) == 12
        counts = await asyncio.gather(
            *(asyncio.to_thread(lambda: len(store.rows("subscriptions"))) for _ in range(4))
        )
    assert counts == [12] * 4

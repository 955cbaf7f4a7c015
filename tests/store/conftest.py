"""Store fixtures: every store test runs against SQLite and against a real PostgreSQL.

PostgreSQL: the session starts its own throw-away cluster (initdb + pg_ctl as the ``postgres``
user, on a free loopback port, in a temporary directory) and each test gets a fresh database.
The cluster runs with ``fsync=off``: these tests check behaviour, not PostgreSQL's own
durability (the crash test is about SQLite, the default). Without PostgreSQL binaries or
psycopg, the PostgreSQL variants are *skipped with the reason shown* (never counted as passed);
set LANFAX_REQUIRE_PG=1 to make that a failure instead.

Memory (#17): the same tests also run on the in-memory store (``memory://``,
lanfax.store.memory), the contract every store keeps. A test about the SQL machinery itself
(the schema, the group commit's engine) is marked ``sql_only`` and has no memory variant
(deselected at collection).
"""

from __future__ import annotations

import glob
import itertools
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from lanfax.model.clock import ManualClock
from lanfax.store import open_store
from lanfax.store.sql import SqlStore

BACKENDS = ("sqlite", "postgresql", "memory")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "sql_only: about the SQL store's machinery; not run on the memory store"
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """A ``sql_only`` test has no memory variant at all (deselected, not skipped: a skip
    would look like a test that could not run here)."""
    keep, drop = [], []
    for item in items:
        memory = getattr(item, "callspec", None) and item.callspec.params.get("store_url")
        if memory == "memory" and item.get_closest_marker("sql_only") is not None:
            drop.append(item)
        else:
            keep.append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


@dataclass
class PgCluster:
    host: str
    port: int
    _names = itertools.count(1)

    def url(self, db: str) -> str:
        return f"postgresql+psycopg://postgres@{self.host}:{self.port}/{db}"

    def create_database(self) -> str:
        import psycopg

        name = f"lanfax_test_{os.getpid()}_{next(self._names)}"
        with psycopg.connect(
            host=self.host, port=self.port, user="postgres", dbname="postgres", autocommit=True
        ) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')  # type: ignore[arg-type]
        return name


def _pg_unavailable() -> str | None:
    if not glob.glob("/usr/lib/postgresql/*/bin/initdb"):
        return "PostgreSQL binaries are not installed (apt-get install postgresql)"
    if shutil.which("runuser") is None:
        return "runuser is missing"
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return "psycopg is not installed (pip install 'lanfax[postgres]')"
    try:
        subprocess.run(["id", "postgres"], check=True, capture_output=True)
    except subprocess.CalledProcessError:
        return "there is no postgres user"
    if os.geteuid() != 0:
        return "starting a private PostgreSQL cluster needs root (runuser -u postgres)"
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _as_postgres(*cmd: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["runuser", "-u", "postgres", "--", *cmd], check=True, capture_output=True, text=True
    )


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PgCluster]:
    why = _pg_unavailable()
    if why is not None:
        if os.environ.get("LANFAX_REQUIRE_PG") == "1":
            pytest.fail(f"LANFAX_REQUIRE_PG=1 but {why}")
        pytest.skip(f"PostgreSQL variant not run: {why}")
    bindir = Path(sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))[-1]).parent
    root = Path(tempfile.mkdtemp(prefix="lanfax-pg-"))
    shutil.chown(root, "postgres", "postgres")
    data = root / "data"
    port = _free_port()
    _as_postgres(
        str(bindir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres",
        "-E", "UTF8", "--no-sync", "--locale=C",
    )  # fmt: skip
    opts = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off"
    _as_postgres(
        str(bindir / "pg_ctl"), "-D", str(data), "-o", opts, "-l", str(root / "log"),
        "-w", "-t", "60", "start",
    )  # fmt: skip
    try:
        yield PgCluster("127.0.0.1", port)
    finally:
        _as_postgres(str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(params=BACKENDS)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A URL for a new, empty database on each backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'lanfax.db'}"
    if request.param == "memory":
        from lanfax.store.memory import forget_memory_store

        # A named store: reopening the URL finds the same data (as a database file does).
        url = f"memory://test-{uuid.uuid4().hex}"
        request.addfinalizer(lambda: forget_memory_store(url))
        return url
    cluster: PgCluster = request.getfixturevalue("pg_cluster")
    return cluster.url(cluster.create_database())


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def store(store_url: str, clock: ManualClock) -> Iterator[SqlStore]:
    s = open_store(store_url, clock=clock)
    try:
        yield s
    finally:
        s.close()

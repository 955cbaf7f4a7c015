"""The nodes table (issue #18, migration 0009) on SQLite and on a real PostgreSQL.

Two stores opened on one database stand for two processes: each has its own connections, and
the node lock (SQLite: an flock on its own descriptor; PostgreSQL: an advisory lock held by a
session) is as exclusive between them as between two processes.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from lanfax.model.clock import ManualClock
from lanfax.model.errors import Conflict
from lanfax.store import open_store
from lanfax.store.nodes import MemoryNodes, NodeStart, SqlNodes, open_nodes
from lanfax.store.sql import SqlStore

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
LEASE = timedelta(seconds=30)

#: The nodes table is the SQL store's; the in-memory store's registry is tested at the end.
pytestmark = pytest.mark.sql_only


def _me(name: str = "main", host: str = "fax1", pid: int = 100) -> NodeStart:
    return NodeStart(name, host, pid, f"http://{host}:8470", "0.1.0")


@pytest.mark.sql_only  # the SQL nodes table (#17: the store fixture runs on memory too)
def test_registration_numbers_nodes_once_and_counts_starts(store: SqlStore) -> None:
    nodes = open_nodes(store)
    assert isinstance(nodes, SqlNodes)
    main = nodes.register(_me(), T0, LEASE)
    assert (main.name, main.number, main.incarnation) == ("main", 0, 1)
    assert main.alive(T0 + timedelta(seconds=29), LEASE)
    assert not main.alive(T0 + timedelta(seconds=30), LEASE)
    assert nodes.heartbeat("main", 1, T0 + timedelta(seconds=20))
    assert not nodes.heartbeat("main", 2, T0 + timedelta(seconds=20))  # not that start
    (rec,) = nodes.nodes()
    assert rec.heartbeat_at == T0 + timedelta(seconds=20) and rec.stopped_at is None
    nodes.stop("main", 1, T0 + timedelta(seconds=25))
    (rec,) = nodes.nodes()
    assert rec.stopped_at == T0 + timedelta(seconds=25)
    assert not rec.alive(T0 + timedelta(seconds=26), LEASE)
    # Started again: same number, next incarnation, running again.
    again = nodes.register(_me(pid=200), T0 + timedelta(minutes=1), LEASE)
    assert (again.number, again.incarnation, again.pid, again.stopped_at) == (0, 2, 200, None)
    nodes.stop("main", 2, T0 + timedelta(minutes=2))


def test_a_second_registration_in_one_registry_is_refused(store: SqlStore) -> None:
    nodes = open_nodes(store)
    nodes.register(_me(), T0, LEASE)
    with pytest.raises(Conflict, match="already registered by this process"):
        nodes.register(_me(), T0, LEASE)
    nodes.release()


def test_sqlite_serves_one_node_whatever_its_name(tmp_path, clock: ManualClock) -> None:  # type: ignore[no-untyped-def]
    url = f"sqlite:///{tmp_path / 'lanfax.db'}"
    with open_store(url, clock=clock) as first, open_store(url, clock=clock) as second:
        a, b = open_nodes(first), open_nodes(second)
        a.register(_me(), T0, LEASE)
        for name in ("main", "fax2"):
            with pytest.raises(Conflict) as err:
                b.register(_me(name, host="fax1", pid=300), T0 + timedelta(seconds=3), LEASE)
            message = err.value.message
            assert "is in use by node 'main' (pid 100 on host 'fax1'" in message
            assert "last heartbeat 3 s ago" in message
            assert "a SQLite database serves one lanfax node" in message
            assert "PostgreSQL" in (err.value.hint or "")
        # The holder goes away (its process dies: the descriptor closes): the next one starts.
        a.release()
        rec = b.register(_me("main", pid=300), T0 + timedelta(seconds=5), LEASE)
        assert (rec.number, rec.incarnation, rec.pid) == (0, 2, 300)
        b.release()


def test_sqlite_refuses_a_live_node_of_another_host(tmp_path, clock: ManualClock) -> None:  # type: ignore[no-untyped-def]
    """A file shared over a network file system: the flock may not reach the other host, the
    other node's fresh heartbeat does."""
    url = f"sqlite:///{tmp_path / 'lanfax.db'}"
    with open_store(url, clock=clock) as first, open_store(url, clock=clock) as second:
        a, b = open_nodes(first), open_nodes(second)
        a.register(_me("fax1", host="host-a"), T0, LEASE)
        a.release()  # as if the lock had not reached this host
        with pytest.raises(Conflict, match="node 'fax1' \\(pid 100 on host 'host-a'"):
            b.register(_me("fax2", host="host-b"), T0 + timedelta(seconds=10), LEASE)
        # Once its heartbeat is older than the lease, it is dead: the file is free.
        rec = b.register(_me("fax2", host="host-b"), T0 + timedelta(seconds=31), LEASE)
        assert rec.number == 1
        b.release()


def test_postgresql_one_process_per_node_name(pg_cluster) -> None:  # type: ignore[no-untyped-def]
    url = pg_cluster.url(pg_cluster.create_database())
    clock = ManualClock(T0)
    with open_store(url, clock=clock) as first, open_store(url, clock=clock) as second:
        a, b = open_nodes(first), open_nodes(second)
        assert a.register(_me("fax1", host="host-a"), T0, LEASE).number == 0
        with pytest.raises(Conflict) as err:
            b.register(_me("fax1", host="host-b"), T0 + timedelta(seconds=2), LEASE)
        assert "node 'fax1' (pid 100 on host 'host-a'" in err.value.message
        assert "[node] name" in (err.value.hint or "")
        # Another name is another node: numbered next, both alive at once.
        rec2 = b.register(_me("fax2", host="host-b"), T0 + timedelta(seconds=2), LEASE)
        assert rec2.number == 1
        assert [n.name for n in a.nodes() if n.alive(T0 + timedelta(seconds=3), LEASE)] == [
            "fax1",
            "fax2",
        ]
        # fax1's process dies: its session ends, the advisory lock with it; fax1 may start
        # again at once (here, on the other connection's store).
        a.release()
        third = open_nodes(second)
        again = third.register(_me("fax1", host="host-c"), T0 + timedelta(seconds=4), LEASE)
        assert (again.number, again.incarnation, again.host) == (0, 2, "host-c")
        third.release()
        b.release()


def test_memory_registry_for_an_in_memory_store() -> None:
    nodes = open_nodes(object())
    assert isinstance(nodes, MemoryNodes)
    rec = nodes.register(_me(), T0, LEASE)
    assert (rec.number, rec.incarnation) == (0, 1)
    with pytest.raises(Conflict):
        nodes.register(_me(), T0, LEASE)
    assert nodes.heartbeat("main", 1, T0 + timedelta(seconds=1))
    nodes.stop("main", 1, T0 + timedelta(seconds=2))
    assert nodes.register(_me(), T0, LEASE).incarnation == 2

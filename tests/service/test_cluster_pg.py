"""Several real ``lanfax serve`` nodes on one real PostgreSQL and one shared spool (issue #18):
what one node commits, the others hear (PostgreSQL LISTEN/NOTIFY, lanfax.store.notify).

* a token created on A works on B, and once revoked on A is refused by B at once;
* a configuration change on A is B's configuration, a routing order and outgoing routing
  groups changed on A are B's and C's, a fax account created or removed on one node is
  there or gone on the others; a port is read and set only through the node that drives it;
* a client following C's event stream sees a job of A's, every event in cursor order, with no
  gap (what C streamed is exactly what the database holds after the client's cursor);
* a job submitted on A, on a call of whichever node dialled it, is canceled through another.

The shared queue under load (300 jobs, SIGKILL of a node) is in test_cluster_queue_pg.py.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.support.pg import PgServer, pg_unavailable
from tests.support.server import TEST_PROVIDER_TOML, LanfaxServer

from lanfax.store import open_store


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[LanfaxServer]]:
    why = pg_unavailable()
    if why is not None:
        pytest.skip(f"PostgreSQL not available: {why}")
    pg = PgServer()
    nodes: list[LanfaxServer] = []
    shared = tmp_path_factory.mktemp("shared-data")  # one spool: any node may dial any job
    try:
        for name in ("a", "b", "c"):
            toml = (
                f'{TEST_PROVIDER_TOML}\n[server]\ndatabase = "{pg.url}"\n'
                f'[node]\nname = "{name}"\nheartbeat_s = 1\nlease_s = 5\n'
            )
            node = LanfaxServer(tmp_path_factory.mktemp(f"node-{name}"), toml, [])
            node.data_dir = shared
            if nodes:
                node.token = nodes[0].token
            nodes.append(node.start())
        yield nodes
    finally:
        for n in nodes:
            n.close()
        pg.close()


def _admin(nodes: list[LanfaxServer]) -> dict[str, str]:
    # The first node to start created the administrator (with its LANFAX_ADMIN_TOKEN); the
    # others found users already there.
    return {"Authorization": f"Bearer {nodes[0].token}"}


def _eventually(check: Any, what: str, timeout: float = 10.0) -> float:
    """Poll ``check()`` until true; the seconds it took."""
    began = time.monotonic()
    while not check():
        if time.monotonic() - began > timeout:
            raise AssertionError(f"{what}: not within {timeout} s")
        threading.Event().wait(0.02)
    return time.monotonic() - began


def test_every_node_knows_the_others(cluster: list[LanfaxServer]) -> None:
    a, b, c = cluster
    body = httpx.get(f"{b.api}/nodes", headers=_admin(cluster), timeout=10).json()
    assert body["node"] == "b"
    assert [(n["name"], n["number"], n["alive"]) for n in body["nodes"]] == [
        ("a", 0, True),
        ("b", 1, True),
        ("c", 2, True),
    ]
    assert [n["url"] for n in body["nodes"]] == [a.url, b.url, c.url]
    # Each node's devices are numbered in its own range (node n: n * 65536 + 1 ...).
    ports = httpx.get(f"{c.api}/ports", headers=_admin(cluster), timeout=10).json()
    assert [p["device_id"] for p in ports] == [131073, 131074]


def test_a_token_revoked_on_one_node_is_refused_by_the_others(
    cluster: list[LanfaxServer],
) -> None:
    a, b, c = cluster
    admin = _admin(cluster)
    r = httpx.post(f"{a.api}/users", json={"name": "carol", "role": "user"}, headers=admin)
    assert r.status_code == 201, r.text
    r = httpx.post(f"{a.api}/tokens", json={"user": "carol", "label": "t"}, headers=admin)
    assert r.status_code == 201, r.text
    token, token_id = r.json()["token"], r.json()["token_id"]
    carol = {"Authorization": f"Bearer {token}"}
    # B and C had loaded their users before carol existed: they hear of her.
    for node in (b, c):
        _eventually(
            lambda n=node: httpx.get(f"{n.api}/server", headers=carol).status_code == 200,
            f"carol's new token accepted by {node.url}",
        )
    r = httpx.delete(f"{a.api}/tokens/{token_id}", headers=admin)
    assert r.status_code in (200, 204), r.text
    took = _eventually(
        lambda: (
            httpx.get(f"{b.api}/server", headers=carol).status_code == 401
            and httpx.get(f"{c.api}/server", headers=carol).status_code == 401
        ),
        "the revoked token refused by B and C",
    )
    assert took < 5.0  # #18 asks for one second; generous here: the machine is shared


def test_a_configuration_change_on_one_node_is_every_nodes(cluster: list[LanfaxServer]) -> None:
    a, b, c = cluster
    admin = _admin(cluster)
    r = httpx.patch(f"{a.api}/config", json={"retries": 7}, headers=admin)
    assert r.status_code == 200, r.text
    for node in (b, c):
        _eventually(
            lambda n=node: httpx.get(f"{n.api}/config", headers=admin).json()["retries"] == 7,
            f"retries 7 on {node.url}",
        )


def test_a_routing_order_changed_on_one_node_is_every_nodes(cluster: list[LanfaxServer]) -> None:
    """The routing state (here the global order of routing methods) is cached by each node;
    a change on A reaches B's and C's copies (a notification drops them)."""
    a, b, c = cluster
    admin = _admin(cluster)

    def order(node: LanfaxServer) -> list[str]:
        methods = httpx.get(f"{node.api}/routing/methods", headers=admin, timeout=10).json()
        return [str(m["guid"]) for m in methods]

    before = order(b)
    assert order(c) == before and len(before) >= 2
    wanted = list(reversed(before))
    r = httpx.put(f"{a.api}/routing/methods/order", json={"order": wanted}, headers=admin)
    assert r.status_code == 200, r.text
    for node in (b, c):
        _eventually(lambda n=node: order(n) == wanted, f"the new routing order on {node.url}")


def test_outgoing_routing_groups_changed_on_one_node_are_every_nodes(
    cluster: list[LanfaxServer],
) -> None:
    a, b, c = cluster
    admin = _admin(cluster)
    group = {"name": "Berlin", "devices": [2, 1]}  # A's lines
    r = httpx.post(f"{a.api}/outbound/groups", json=group, headers=admin)
    assert r.status_code == 201, r.text

    def berlin(node: LanfaxServer) -> list[Any]:
        # (Each node judges the group's status by its own lines: the devices are compared.)
        body = httpx.get(f"{node.api}/outbound/groups", headers=admin, timeout=10).json()
        return [g["devices"] for g in body["groups"] if g["name"] == "Berlin"]

    assert berlin(a) == [[2, 1]]
    for node in (b, c):
        _eventually(lambda n=node: berlin(n) == [[2, 1]], f"the new group on {node.url}")


def test_a_fax_account_created_or_removed_on_one_node_is_every_nodes(
    cluster: list[LanfaxServer],
) -> None:
    """Each node caches the fax accounts; A's creation and removal reach B's and C's."""
    a, b, c = cluster
    admin = _admin(cluster)

    def known(node: LanfaxServer) -> bool:
        r = httpx.get(f"{node.api}/accounts/dora", headers=admin, timeout=10)
        assert r.status_code in (200, 404), r.text
        return r.status_code == 200

    assert not known(b) and not known(c)
    r = httpx.post(f"{a.api}/accounts", json={"name": "dora"}, headers=admin)
    assert r.status_code == 201, r.text
    for node in (b, c):
        took = _eventually(lambda n=node: known(n), f"dora's account on {node.url}")
        assert took < 5.0  # #18 asks for one second; generous here: the machine is shared
        names = httpx.get(f"{node.api}/accounts", headers=admin, timeout=10).json()["accounts"]
        assert "dora" in [acc["name"] for acc in names]
    r = httpx.delete(f"{a.api}/accounts/dora", headers=admin)
    assert r.status_code == 204, r.text
    for node in (b, c):
        took = _eventually(lambda n=node: not known(n), f"dora's account gone on {node.url}")
        assert took < 5.0
    # B removes what A created: A's copy drops it as well (no node's copy is the master).
    r = httpx.post(f"{a.api}/accounts", json={"name": "dora"}, headers=admin)
    assert r.status_code == 201, r.text
    _eventually(lambda: known(b), "dora's new account on B")
    r = httpx.delete(f"{b.api}/accounts/dora", headers=admin)
    assert r.status_code == 204, r.text
    _eventually(lambda: not known(a) and not known(c), "dora's account gone on A and C")


def test_a_port_is_read_and_set_only_on_its_own_node(cluster: list[LanfaxServer]) -> None:
    """A line's settings live with the node that drives it: another node neither lists nor
    serves it (so no node holds a stale copy of another's port); its own node changes it."""
    a, b, _c = cluster
    admin = _admin(cluster)
    a_ports = httpx.get(f"{a.api}/ports", headers=admin, timeout=10).json()
    b_ports = httpx.get(f"{b.api}/ports", headers=admin, timeout=10).json()
    a_ids = [p["device_id"] for p in a_ports]
    assert a_ids == [1, 2] and not set(a_ids) & {p["device_id"] for p in b_ports}
    r = httpx.get(f"{b.api}/ports/1", headers=admin, timeout=10)
    assert r.status_code == 404, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    r = httpx.post(f"{b.api}/ports/1/handles", json={"mode": "modify"}, headers=admin)
    assert r.status_code == 404, r.text
    # On A, its own node, the port is changed and reads back changed.
    r = httpx.post(f"{a.api}/ports/1/handles", json={"mode": "modify"}, headers=admin)
    assert r.status_code == 201, r.text
    handle = r.json()["handle"]
    try:
        rings = 5 if a_ports[0]["rings"] != 5 else 4
        r = httpx.patch(
            f"{a.api}/ports/1",
            json={"rings": rings},
            headers={**admin, "X-Lanfax-Port-Handle": handle},
        )
        assert r.status_code == 200, r.text
        assert httpx.get(f"{a.api}/ports/1", headers=admin).json()["rings"] == rings
    finally:
        httpx.delete(f"{a.api}/handles/{handle}", headers=admin)


def test_a_stream_on_one_node_sees_another_nodes_job_in_order(
    cluster: list[LanfaxServer], tmp_path: Path
) -> None:
    from tests.support.faxes import make_fax_tiff

    a, _b, c = cluster
    admin = _admin(cluster)
    tiff = make_fax_tiff(tmp_path, pages=2)
    start = httpx.get(f"{c.api}/server", headers=admin).json()["last_event_seq"]
    seen: list[dict[str, Any]] = []
    done = threading.Event()
    opened = threading.Event()

    def follow() -> None:
        with httpx.stream(
            "GET", f"{c.api}/events", params={"after": start}, headers=admin, timeout=60
        ) as resp:
            opened.set()
            for line in resp.iter_lines():
                if line.startswith("data: "):
                    seen.append(json.loads(line[6:]))
                    if seen[-1].get("event") == "completed" or done.is_set():
                        return

    t = threading.Thread(target=follow, daemon=True)
    t.start()
    assert opened.wait(15)
    r = httpx.post(
        f"{a.api}/jobs",
        data={"params": json.dumps({"recipients": [{"recipient_number": "5550123"}]})},
        files=[("file", ("doc.tif", tiff.read_bytes(), "image/tiff"))],
        headers=admin,
        timeout=30,
    )
    assert r.status_code == 201, r.text
    job_id = r.json()["jobs"][0]["job_id"]
    t.join(60)
    done.set()
    mine = [e for e in seen if e["job_id"] == job_id]
    assert [e["event"] for e in mine][:2] == ["job_queued", "dialing"], mine
    assert mine[-1]["event"] == "completed", mine
    seqs = [e["seq"] for e in seen]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    # No gap: C streamed exactly the events the database holds after the cursor, up to the
    # last one it sent (whichever node wrote them).
    with open_store(_pg_url(cluster)) as store:
        held = [e.seq for e in store.events_after(start, 1000) if e.seq <= seqs[-1]]
    assert seqs == held


def _pg_url(cluster: list[LanfaxServer]) -> str:
    assert cluster[0].config_path is not None
    text = cluster[0].config_path.read_text()
    return text.split('database = "', 1)[1].split('"', 1)[0]


def test_a_restarting_node_leaves_a_live_nodes_calls_alone(cluster: list[LanfaxServer]) -> None:
    """Start-up recovery settles the calls a crash cut short: its own node's, and a dead
    node's; a call on a device of a node that is alive (device ids name their node) is that
    node's, not a crash's."""
    from datetime import UTC, datetime

    from lanfax.model.codes import JobType, QueueStatus
    from lanfax.model.jobs import Job

    _a, _b, c = cluster
    now = datetime.now(UTC)

    def on_call(device_id: int) -> Job:
        return Job(
            0,
            JobType.SEND,
            QueueStatus.IN_PROGRESS,
            now,
            recipient_number="5550199",
            attempts=0,
            device_id=device_id,
            started_at=now,
        )

    with open_store(_pg_url(cluster)) as store:
        of_b, of_c, of_dead = store.add_jobs(
            [on_call(65537), on_call(131073), on_call((7 << 16) | 1)]  # b (alive), c, node 7
        )
    c.kill()
    c.start()
    with open_store(_pg_url(cluster)) as store:
        assert store.get_job(of_b.job_id).queue_status is QueueStatus.IN_PROGRESS  # type: ignore[union-attr]
        for job in (of_c, of_dead):
            settled = store.get_job(job.job_id)
            assert settled is not None and settled.queue_status is not QueueStatus.IN_PROGRESS
            assert settled.attempts == 1  # the cut call counted (then retried or completed)


def _submit_one(node: LanfaxServer, admin: dict[str, str], tmp_path: Path, number: str) -> int:
    """Submit a one-page fax to ``number`` through ``node``; its job id."""
    from tests.support.faxes import make_fax_tiff

    tiff = make_fax_tiff(tmp_path, pages=1)
    r = httpx.post(
        f"{node.api}/jobs",
        data={"params": json.dumps({"recipients": [{"recipient_number": number}]})},
        files=[("file", ("doc.tif", tiff.read_bytes(), "image/tiff"))],
        headers=admin,
        timeout=30,
    )
    assert r.status_code == 201, r.text
    return int(r.json()["jobs"][0]["job_id"])


def test_a_call_on_one_node_is_canceled_through_another(
    cluster: list[LanfaxServer], tmp_path: Path
) -> None:
    """Cancel works from any node: a job submitted on A is dialled by whichever node has an
    idle line (its device id names that node); the cancel goes through a node that does not
    hold the call, which commits CANCELING and tells the nodes; the holder aborts the call.
    The call would last 30 s; it ends long before, CANCELED."""
    a, b, c = cluster
    admin = _admin(cluster)
    job_id = _submit_one(a, admin, tmp_path, "900930000")

    def job(node: LanfaxServer) -> dict[str, Any]:
        body: dict[str, Any] = httpx.get(f"{node.api}/jobs/{job_id}", headers=admin).json()
        return body

    _eventually(lambda: job(a)["queue_status"] == "in_progress", "the call started", timeout=20)
    holder = cluster[job(a)["device_id"] >> 16]  # node n numbers its devices n * 65536 + 1 ...
    via = b if holder is not b else c
    began = time.monotonic()
    r = httpx.post(f"{via.api}/jobs/{job_id}/cancel", headers=admin, timeout=30)
    assert r.status_code == 200, r.text
    assert r.json()["queue_status"] == "canceling"
    _eventually(
        lambda: job(via)["queue_status"] == "canceled", "the call aborted by its node", timeout=20
    )
    assert time.monotonic() - began < 25  # before the 30 s call could have ended by itself
    assert job(a)["queue_status"] == job(holder)["queue_status"] == "canceled"


def test_every_node_answers_a_cancel_as_committed_while_the_call_hangs_up(
    cluster: list[LanfaxServer], tmp_path: Path
) -> None:
    """A node's copy of a job lags what other nodes commit (it is read again only once their
    notification is heard), and the node on the call keeps its own copy until it writes the
    call's end. One job read through the API is the committed state on every node: once a
    cancel through B answered CANCELING, no node says the call is still in progress. The far
    end here takes 4 s to hang up (``9008``, the test provider's slow hang-up), so the
    holder's copy would say in_progress all along."""
    a, b, c = cluster
    admin = _admin(cluster)
    job_id = _submit_one(a, admin, tmp_path, "90084000")

    def status(node: LanfaxServer) -> str:
        r = httpx.get(f"{node.api}/jobs/{job_id}", headers=admin, timeout=30)
        assert r.status_code == 200, r.text
        return str(r.json()["queue_status"])

    _eventually(lambda: all(status(n) == "in_progress" for n in cluster), "the call", 20)
    holder = cluster[httpx.get(f"{a.api}/jobs/{job_id}", headers=admin).json()["device_id"] >> 16]
    via = b if holder is not b else c
    r = httpx.post(f"{via.api}/jobs/{job_id}/cancel", headers=admin, timeout=30)
    assert r.status_code == 200, r.text
    assert r.json()["queue_status"] == "canceling"
    # At once, on every node (the holder first: its copy is the one kept on purpose).
    seen = {n.url: status(n) for n in (holder, *[n for n in cluster if n is not holder])}
    assert all(s in ("canceling", "canceled") for s in seen.values()), seen
    _eventually(lambda: status(via) == "canceled", "the call hung up", timeout=30)
    assert [status(n) for n in cluster] == ["canceled"] * 3

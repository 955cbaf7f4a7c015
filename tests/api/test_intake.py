"""Intake workers (#19, ``[server] intake_workers``) against a real ``lanfax serve`` on loopback.

Every test starts real servers: the main process and its worker processes (their pids come
from the main process's "intake worker N started (pid P)" lines). What is checked: the
submissions of several threads all land once; a request that is not a submission, on a
connection a worker holds, is served by the main process on that same connection; every bad
input gets the very answer the main process alone gives; rights are the main process's; a
worker killed mid-request leaves its client with an error (never a hang), loses no
acknowledged job and is replaced; SIGINT stops everything cleanly even mid-request; the
workers die with a killed main process, and a main killed mid-burst loses no acknowledged job
nor its document; TLS is refused; a worker that cannot run at all
leaves the main process serving alone.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx as _plain_httpx
import pytest
from tests.support.authhttp import httpx, login_as
from tests.support.http import all_jobs
from tests.support.server import TEST_PROVIDER_TOML, LanfaxServer, start_lanfax_server

from lanfax.model.errors import ConfigError
from lanfax.service.metrics import parse_families
from lanfax.service.settings import load_settings


def _workers_toml(n: int) -> str:
    return f"[server]\nintake_workers = {n}\n" + TEST_PROVIDER_TOML


_STARTED = re.compile(r"lanfax: intake worker (\d+) started \(pid (\d+)\)")


def _with_workers(tmp: Path, n: int, extra: str = "") -> LanfaxServer:
    return start_lanfax_server(tmp, _workers_toml(n) + extra)


def _worker_pids(server: LanfaxServer) -> dict[int, int]:
    """The latest pid of each worker slot, from the server's stdout."""
    pids: dict[int, int] = {}
    for line in list(server.stdout_lines):
        m = _STARTED.search(line)
        if m:
            pids[int(m.group(1))] = int(m.group(2))
    return pids


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie (its parent has not reaped it yet) has ended too
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _wait_for(what: str, check: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def _submit(client: Any, api: str, number: str, tiff: bytes, **kw: Any) -> Any:
    params = {"recipients": [{"recipient_number": number}]}
    return client.post(
        f"{api}/jobs",
        data={"params": json.dumps(params)},
        files=[("file", ("d.tif", tiff, "image/tiff"))],
        **kw,
    )


def _metrics(server: LanfaxServer) -> dict[tuple[str, tuple[str, ...]], float]:
    """/metrics as {(name, label values): value}."""
    r = httpx.get(f"{server.url}/metrics", timeout=30)
    assert r.status_code == 200, r.text
    return {(name, tuple(labels.values())): value for name, labels, value in parse_families(r.text)}


def _summary(server: LanfaxServer) -> tuple[int, int, int]:
    """(prepared, relayed, handed) from the line the main process prints when it stops."""
    for line in server.stdout_lines:
        m = re.search(r"intake workers: (\d+) submission.*?(\d+) request.*?(\d+) connection", line)
        if m:
            return int(m.group(1)), int(m.group(2)), int(m.group(3))
    raise AssertionError(f"no intake summary:\n{server.log_tail()}")


def _partial_submission(server: LanfaxServer, tiff: bytes) -> socket.socket:
    """A connection with a submission's head and half its body sent: a worker holds it,
    waiting for the rest."""
    boundary = "b0undary"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="params"\r\n\r\n'
            '{"recipients": [{"recipient_number": "777"}]}\r\n'
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="d.tif"\r\n'
            "Content-Type: image/tiff\r\n\r\n"
        ).encode()
        + tiff
        + f"\r\n--{boundary}--\r\n".encode()
    )
    token = server.token
    head = (
        f"POST /api/v1/jobs HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n"
        f"Content-Type: multipart/form-data; boundary={boundary}\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode()
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=30)
    sock.sendall(head + body[: len(body) // 2])
    return sock


def _ends(sock: socket.socket) -> bytes:
    """What the server sends before it closes ``sock`` (an error, not a hang: 30 s)."""
    got = b""
    sock.settimeout(30)
    try:
        while chunk := sock.recv(65536):
            got += chunk
    except ConnectionResetError:
        pass
    return got


@pytest.fixture(scope="module")
def plain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LanfaxServer]:
    with start_lanfax_server(tmp_path_factory.mktemp("plain"), TEST_PROVIDER_TOML) as srv:
        yield srv


@pytest.fixture(scope="module")
def intake(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LanfaxServer]:
    with _with_workers(tmp_path_factory.mktemp("intake"), 2) as srv:
        yield srv


def test_the_setting_defaults_to_none_and_is_bounded(tmp_path: Path) -> None:
    assert load_settings(None).intake_workers == 0
    path = tmp_path / "s.toml"
    path.write_text("[server]\nintake_workers = 3\n")
    assert load_settings(str(path)).intake_workers == 3
    for bad in ("-1", "65", "true", '"2"'):
        path.write_text(f"[server]\nintake_workers = {bad}\n")
        with pytest.raises(ConfigError, match="intake_workers"):
            load_settings(str(path))


def test_the_hang_limit_defaults_to_30_s_and_is_bounded(tmp_path: Path) -> None:
    assert load_settings(None).intake_hang_s == 30
    path = tmp_path / "s.toml"
    for good in (0, 1, 3600):
        path.write_text(f"[server]\nintake_hang_s = {good}\n")
        assert load_settings(str(path)).intake_hang_s == good
    for bad in ("-1", "3601", "true", '"2"', "1.5"):
        path.write_text(f"[server]\nintake_hang_s = {bad}\n")
        with pytest.raises(ConfigError, match="intake_hang_s"):
            load_settings(str(path))


def test_threads_submissions_all_land_once_through_the_workers(
    intake: LanfaxServer, fax_tiff: Path
) -> None:
    tiff = fax_tiff.read_bytes()
    acked: dict[str, int] = {}
    failures: list[str] = []
    lock = threading.Lock()

    def submitter(k: int) -> None:
        with httpx.Client(timeout=60) as c:
            for n in range(12):
                number = f"61{k}{n:03d}"
                r = _submit(c, intake.api, number, tiff)
                with lock:
                    if r.status_code == 201:
                        acked[number] = r.json()["jobs"][0]["job_id"]
                    else:
                        failures.append(r.text)

    threads = [threading.Thread(target=submitter, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not failures
    assert len(acked) == 96
    jobs = {j["job_id"]: j for j in all_jobs(intake.api) if j["recipient_number"][:2] == "61"}
    assert sorted(j["recipient_number"] for j in jobs.values()) == sorted(acked)
    for number, job_id in acked.items():
        assert jobs[job_id]["recipient_number"] == number
    doc = httpx.get(f"{intake.api}/jobs/{acked['610000']}/document")
    assert doc.status_code == 200 and doc.content == tiff
    assert not [p for p in (intake.data_dir / "spool" / "tmp").iterdir()], "staged files left"
    # Main answered them through its lean path (#19 wave 7: tests/api/test_intake_lean.py
    # shows it answers and audits as the whole app does).
    figures = _metrics(intake)
    assert figures[("lanfax_intake_lean_submissions_total", ())] >= 96
    assert (
        figures[("lanfax_intake_lean_submissions_total", ())]
        == figures[("lanfax_intake_requests_total", ("prepared",))]
    )
    # Each one's hops were timed (the worker's clock and main's are the same machine's).
    assert figures[("lanfax_intake_hopped_submissions_total", ())] >= 96
    hops = ("read", "stage", "to_main", "route", "trip_wait", "trip", "answer")
    for hop in hops:
        assert figures[("lanfax_intake_hop_seconds_total", (hop,))] > 0, hop


def test_other_requests_on_a_workers_connection_are_served_by_main(
    intake: LanfaxServer, fax_tiff: Path
) -> None:
    tiff = fax_tiff.read_bytes()
    with httpx.Client(timeout=30) as c:
        first = _submit(c, intake.api, "6200", tiff)
        assert first.status_code == 201, first.text
        job_id = first.json()["jobs"][0]["job_id"]
        got = c.get(f"{intake.api}/jobs/{job_id}")  # the same kept-alive connection
        assert got.status_code == 200 and got.json()["recipient_number"] == "6200"
        again = _submit(c, intake.api, "6201", tiff)
        assert again.status_code == 201, again.text
        page = c.get(f"{intake.url}/")  # the console, from main
        assert page.status_code == 200
        with c.stream("GET", f"{intake.api}/events", params={"after": 0}) as events:
            assert events.status_code == 200  # a streamed answer, from main, handed over


# Bodies that main answers with an error (or a conversion): a worker must give the same.
_BOUNDARY = "xYz"


def _body(*parts: tuple[str, str | None, bytes]) -> bytes:
    out = b""
    for name, filename, data in parts:
        disposition = f'form-data; name="{name}"' + (
            f'; filename="{filename}"' if filename is not None else ""
        )
        out += f"--{_BOUNDARY}\r\nContent-Disposition: {disposition}\r\n\r\n".encode()
        out += data + b"\r\n"
    return out + f"--{_BOUNDARY}--\r\n".encode()


def _bad_inputs(tiff: bytes) -> dict[str, tuple[dict[str, str], bytes]]:
    multipart = {"Content-Type": f"multipart/form-data; boundary={_BOUNDARY}"}
    good = json.dumps({"recipients": [{"recipient_number": "6300"}]}).encode()
    return {
        "params not JSON": (multipart, _body(("params", None, b"{no"), ("file", "d.tif", tiff))),
        "params missing": (multipart, _body(("file", "d.tif", tiff))),
        "no file": (multipart, _body(("params", None, good))),
        "empty file": (multipart, _body(("params", None, good), ("file", "d.tif", b""))),
        "no recipients": (multipart, _body(("params", None, b"{}"), ("file", "d.tif", tiff))),
        "bad number": (
            multipart,
            _body(
                ("params", None, b'{"recipients": [{"recipient_number": "x!"}]}'),
                ("file", "d.tif", tiff),
            ),
        ),
        "a damaged TIFF": (
            multipart,
            _body(("params", None, good), ("file", "d.tif", tiff[: len(tiff) // 2])),
        ),
        "not multipart": ({"Content-Type": "application/json"}, good),
        "no closing boundary": (multipart, _body(("params", None, good))[:-10]),
        "an unknown cover page": (
            multipart,
            _body(
                (
                    "params",
                    None,
                    b'{"recipients": [{"recipient_number": "1"}], "cover_page": {"name": "nope"}}',
                ),
                ("file", "d.tif", tiff),
            ),
        ),
    }


def _answer(server: LanfaxServer, headers: dict[str, str], body: bytes, **kw: Any) -> Any:
    post = httpx.post if headers.get("Authorization") != "" else _plain_httpx.post
    headers = {k: v for k, v in headers.items() if v}  # "": no Authorization at all
    r = post(f"{server.api}/jobs", content=body, headers=headers, timeout=30, **kw)
    try:
        answer = r.json()
    except ValueError:
        return r.status_code, r.text
    if r.status_code == 201:  # ids and times differ: what the jobs are is compared
        return 201, [(j["page_count"], j["size"], j["recipient_number"]) for j in answer["jobs"]]
    return r.status_code, answer


def test_bad_input_gets_the_same_answer_from_a_worker_as_from_main(
    plain: LanfaxServer, intake: LanfaxServer, fax_tiff: Path
) -> None:
    for name, (headers, body) in _bad_inputs(fax_tiff.read_bytes()).items():
        alone, worked = _answer(plain, headers, body), _answer(intake, headers, body)
        assert alone == worked, name
        # (a TIFF cut in half is converted as far as it reads, by main in both cases)
        assert alone[0] >= 400 or name == "a damaged TIFF", (name, alone)
    assert not [p for p in (intake.data_dir / "spool" / "tmp").iterdir()], "staged files left"


def test_rights_and_tokens_are_main_s_a_revoked_token_is_refused_at_once(
    plain: LanfaxServer, intake: LanfaxServer, fax_tiff: Path
) -> None:
    tiff = fax_tiff.read_bytes()
    high = json.dumps({"recipients": [{"recipient_number": "6400", "priority": "high"}]})
    body = _body(("params", None, high.encode()), ("file", "d.tif", tiff))
    headers = {"Content-Type": f"multipart/form-data; boundary={_BOUNDARY}"}
    for who in ("no credentials", "a wrong token", "viewer"):
        answers = []
        for server in (plain, intake):
            auth = {"Authorization": "Bearer lfx_nope" if who == "a wrong token" else ""}
            if who == "viewer":
                auth = login_as(server.api, "intake-viewer", role="user")
            answers.append(_answer(server, {**headers, **auth}, body))
        assert answers[0] == answers[1], who
    assert answers[0][0] in (201, 403), answers
    minted = httpx.post(f"{intake.api}/tokens", json={"label": "soon revoked"})
    assert minted.status_code == 201, minted.text
    auth = {"Authorization": f"Bearer {minted.json()['token']}"}
    with httpx.Client(timeout=30) as c:
        assert _submit(c, intake.api, "6401", tiff, headers=auth).status_code == 201
        gone = httpx.delete(f"{intake.api}/tokens/{minted.json()['token_id']}")
        assert gone.status_code == 204
        refused = _submit(c, intake.api, "6402", tiff, headers=auth)
        assert refused.status_code == 401, refused.text
    assert "6402" not in {j["recipient_number"] for j in all_jobs(intake.api)}


def test_a_killed_worker_leaves_an_error_not_a_hang_loses_nothing_and_is_replaced(
    tmp_path: Path, fax_tiff: Path
) -> None:
    tiff = fax_tiff.read_bytes()
    server = _with_workers(tmp_path, 1)
    try:
        (pid,) = _worker_pids(server).values()
        acked: dict[str, int] = {}
        stop = threading.Event()
        errors: list[str] = []

        def submitter(k: int) -> None:
            n = 0
            while not stop.is_set():
                n += 1
                number = f"65{k}{n:04d}"
                try:
                    with httpx.Client(timeout=30) as c:
                        r = _submit(c, server.api, number, tiff)
                except httpx.HTTPError as exc:  # the worker died under it: an error
                    errors.append(type(exc).__name__)
                    continue
                if r.status_code == 201:
                    acked[number] = r.json()["jobs"][0]["job_id"]
                else:
                    errors.append(r.text)

        threads = [threading.Thread(target=submitter, args=(k,)) for k in range(3)]
        for t in threads:
            t.start()
        _wait_for("some submissions", lambda: len(acked) >= 10)
        held = _partial_submission(server, tiff)  # a request the worker is in the middle of
        time.sleep(0.2)  # (only so that the worker has read it; the check below waits)
        os.kill(pid, signal.SIGKILL)
        assert b"201" not in _ends(held)[:20]  # closed on the client: never a hang
        held.close()
        _wait_for("a new worker", lambda: _worker_pids(server)[1] != pid)
        before = len(acked)
        _wait_for("submissions through the new worker", lambda: len(acked) >= before + 10)
        stop.set()
        for t in threads:
            t.join(60)
        jobs = {j["job_id"]: j for j in all_jobs(server.api)}
        numbers = [j["recipient_number"] for j in jobs.values()]
        assert len(numbers) == len(set(numbers)), "a submission was queued twice"
        for number, job_id in acked.items():
            assert jobs[job_id]["recipient_number"] == number, "an acknowledged job was lost"
        assert "777" not in numbers  # the half-sent submission
        tmp = server.data_dir / "spool" / "tmp"
        _wait_for("the dead worker's files removed", lambda: not list(tmp.glob(f"*-{pid}-*")))
        assert not _alive(pid)
        metrics = _metrics(server)
        assert metrics[("lanfax_intake_workers", ("running",))] == 1
        assert metrics[("lanfax_intake_worker_restarts_total", ())] == 1
        assert metrics[("lanfax_intake_requests_total", ("prepared",))] >= len(acked)
        assert metrics[("lanfax_intake_main_alone", ())] == 0
    finally:
        server.close()


def test_sigint_mid_request_stops_main_and_workers_cleanly(tmp_path: Path, fax_tiff: Path) -> None:
    tiff = fax_tiff.read_bytes()
    server = _with_workers(tmp_path, 2)
    try:
        pids = list(_worker_pids(server).values())
        with httpx.Client(timeout=30) as c:
            assert _submit(c, server.api, "6600", tiff).status_code == 201
        acked: dict[str, int] = {}
        others: list[Any] = []

        def submitter(k: int) -> None:  # until the stop cuts it off
            with httpx.Client(timeout=30) as c:
                for n in range(100_000):
                    try:
                        r = _submit(c, server.api, f"66{k}{n:05d}", tiff)
                    except httpx.HTTPError:
                        return
                    if r.status_code != 201:
                        others.append(r)
                        return
                    acked[f"66{k}{n:05d}"] = r.json()["jobs"][0]["job_id"]

        threads = [threading.Thread(target=submitter, args=(k,)) for k in range(3)]
        for t in threads:
            t.start()
        _wait_for("submissions under way", lambda: len(acked) >= 10)
        held = _partial_submission(server, tiff)
        assert server.stop(signal.SIGINT) == 0
        assert b"201" not in _ends(held)[:20]
        held.close()
        for t in threads:
            t.join(60)
        # The stop's own answer ("stopping: may not have been carried out"), or none at all.
        assert all(r.status_code == 503 for r in others), [r.text for r in others]
        for pid in pids:
            _wait_for(f"worker {pid} to end", lambda pid=pid: not _alive(pid))
        prepared, _relayed, _handed = _summary(server)
        assert prepared >= 1
        assert "lanfax: stopping" in server.stdout_lines
        server.start()  # the port is free again: no worker kept it
        jobs = {j["job_id"]: j["recipient_number"] for j in all_jobs(server.api)}
        assert "6600" in jobs.values() and "777" not in jobs.values()
        for number, job_id in acked.items():  # every 201 heard before the stop is there
            assert jobs.get(job_id) == number, f"acknowledged job {job_id} was lost"
    finally:
        server.close()


def test_workers_die_with_a_killed_main_process(tmp_path: Path, fax_tiff: Path) -> None:
    server = _with_workers(tmp_path, 2)
    try:
        pids = list(_worker_pids(server).values())
        assert len(pids) == 2 and all(_alive(p) for p in pids)
        server.kill()
        for pid in pids:
            _wait_for(f"worker {pid} to end", lambda pid=pid: not _alive(pid))
        server.start()
        with httpx.Client(timeout=30) as c:
            assert _submit(c, server.api, "6700", fax_tiff.read_bytes()).status_code == 201
    finally:
        server.close()


def test_main_killed_mid_burst_loses_no_acknowledged_job_nor_its_document(
    tmp_path: Path, fax_tiff: Path
) -> None:
    """#19 wave 8: the workers write their files without an fsync and main makes each
    trip's group durable with one syncfs before its commit. Main SIGKILLed while threads
    submit (files staged, renamed, synced or committed at that moment): after a restart
    every acknowledged job is there once with its whole document, and nothing is left in
    spool/tmp."""
    tiff = fax_tiff.read_bytes()
    server = _with_workers(tmp_path, 2)
    try:
        acked: dict[str, int] = {}
        lock = threading.Lock()

        def submitter(k: int) -> None:  # until the kill cuts it off
            with httpx.Client(timeout=30) as c:
                for n in range(100_000):
                    number = f"68{k}{n:05d}"
                    try:
                        r = _submit(c, server.api, number, tiff)
                    except httpx.HTTPError:
                        return
                    if r.status_code != 201:
                        return
                    with lock:
                        acked[number] = r.json()["jobs"][0]["job_id"]

        threads = [threading.Thread(target=submitter, args=(k,)) for k in range(6)]
        for t in threads:
            t.start()
        _wait_for("submissions under way", lambda: len(acked) >= 60)
        server.kill()
        for t in threads:
            t.join(60)
        assert not any(t.is_alive() for t in threads)
        server.start()
        jobs = {j["job_id"]: j for j in all_jobs(server.api)}
        numbers = [j["recipient_number"] for j in jobs.values()]
        assert len(numbers) == len(set(numbers)), "a submission was queued twice"
        with httpx.Client(timeout=30) as c:
            for number, job_id in acked.items():
                assert jobs[job_id]["recipient_number"] == number, "an acknowledged job was lost"
                doc = c.get(f"{server.api}/jobs/{job_id}/document")
                assert doc.status_code == 200 and doc.content == tiff, number
        assert not list((server.data_dir / "spool" / "tmp").iterdir())
    finally:
        server.close()


def test_tls_with_intake_workers_is_refused_at_start(tmp_path: Path) -> None:
    import subprocess

    from tests.support.tls import self_signed_certificate

    cert, key = self_signed_certificate(tmp_path)
    config = tmp_path / "s.toml"
    config.write_text("[server]\nintake_workers = 1\n")
    cmd = [sys.executable, "-m", "lanfax.cli.serve", "--config", str(config)]
    cmd += ["--data", str(tmp_path / "data"), "--listen", "127.0.0.1:0"]
    cmd += ["--tls-cert", str(cert), "--tls-key", str(key)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done.stderr
    assert "intake_workers cannot be used with TLS" in done.stderr


def test_workers_that_cannot_run_leave_main_serving_alone(tmp_path: Path, fax_tiff: Path) -> None:
    # Python imports sitecustomize at start: this one ends an intake worker before it runs.
    hook = tmp_path / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(
        "import os, sys\nif 'lanfax.api.intake_worker' in sys.orig_argv:\n    os._exit(3)\n"
    )
    old = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join([str(hook), *([old] if old else [])])
    try:
        server = _with_workers(tmp_path, 1)
    finally:
        if old is None:
            del os.environ["PYTHONPATH"]
        else:
            os.environ["PYTHONPATH"] = old
    try:
        with httpx.Client(timeout=60) as c:
            r = _submit(c, server.api, "6800", fax_tiff.read_bytes())
            assert r.status_code == 201, r.text
        log = server.stderr_path.read_text()
        assert "no intake worker can run" in log
        metrics = _metrics(server)
        assert metrics[("lanfax_intake_main_alone", ())] == 1
        assert metrics[("lanfax_intake_workers", ("running",))] == 0
        assert metrics[("lanfax_intake_workers", ("configured",))] == 1
        assert len([line for line in server.stdout_lines if _STARTED.search(line)]) == 3
    finally:
        server.close()


def test_a_worker_that_cannot_stage_passes_the_body_to_main(tmp_path: Path, fax_tiff: Path) -> None:
    """Its spool's tmp gone (as a full disk would fail it): the worker relays, main answers."""
    import asyncio

    from lanfax.api.intake_worker import Worker

    pair_a, pair_b = socket.socketpair()
    hand_a, hand_b = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    listen = socket.socket()
    try:
        worker = Worker(
            {
                "tmp": str(tmp_path / "gone"),
                "max_upload_bytes": 2**20,
                "max_json_bytes": 2**16,
                "max_pages": 10,
                # its own descriptors (it owns what it is given)
                "listen_fd": os.dup(listen.fileno()),
                "pair_fd": os.dup(pair_a.fileno()),
                "handoff_fd": os.dup(hand_a.fileno()),
            }
        )
        body = _body(("params", None, b"{}"), ("file", "d.tif", fax_tiff.read_bytes()))
        scope = {
            "method": "POST",
            "path": "/api/v1/jobs",
            "headers": [
                (b"content-type", f"multipart/form-data; boundary={_BOUNDARY}".encode()),
                (b"authorization", b"Bearer x"),
            ],
        }
        assert asyncio.run(worker._prepare(scope, body)) is None
        (tmp_path / "gone").mkdir()
        prepared = asyncio.run(worker._prepare(scope, body))
        assert prepared is not None and Path(prepared.staged[0]).parent == tmp_path / "gone"
        for owned in (worker.listen, worker.handoff, worker._pair):
            owned.close()
    finally:
        for s in (listen, pair_a, pair_b, hand_a, hand_b):
            s.close()


def test_a_stopped_worker_leaves_new_connections_to_the_others(
    intake: LanfaxServer, fax_tiff: Path
) -> None:
    """A hung worker takes no new connection meanwhile (the socket is shared); until
    ``intake_hang_s`` (30 s here) it is left alone."""
    tiff = fax_tiff.read_bytes()
    first, second = sorted(_worker_pids(intake).items())
    os.kill(first[1], signal.SIGSTOP)
    try:
        for n in range(10):  # each a new connection
            r = _submit(httpx, intake.api, f"690{n}", tiff, timeout=30)
            assert r.status_code == 201, r.text
    finally:
        with contextlib.suppress(ProcessLookupError):  # killed as hung on a slow machine
            os.kill(first[1], signal.SIGCONT)
    assert _alive(second[1])


def test_a_hung_worker_is_killed_and_replaced(tmp_path: Path, fax_tiff: Path) -> None:
    """#19 wave 7: a worker whose loop stops answering main's ping for ``intake_hang_s`` is
    killed: its client gets an error at once, not at its time-out; another worker takes
    over."""
    tiff = fax_tiff.read_bytes()
    toml = "[server]\nintake_workers = 1\nintake_hang_s = 2\n" + TEST_PROVIDER_TOML
    with start_lanfax_server(tmp_path, toml) as server:
        (pid,) = _worker_pids(server).values()
        with httpx.Client(timeout=30) as c:  # the worker is up and answering
            assert _submit(c, server.api, "6950", tiff).status_code == 201
        sock = _partial_submission(server, tiff)  # held by the worker, waiting for its rest
        _wait_for(
            "the worker's first answer to a ping",
            lambda: _metrics(server)[("lanfax_intake_heartbeats_total", ())] >= 1,
        )
        os.kill(pid, signal.SIGSTOP)
        try:
            # Closed by the kill (an error, no answer), not left to the client's time-out
            # (_ends would raise TimeoutError after 30 s).
            assert b"201" not in _ends(sock)
            _wait_for("another worker", lambda: _worker_pids(server).get(1) not in (None, pid))
            assert not _alive(pid)
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)
            sock.close()
        with httpx.Client(timeout=30) as c:
            r = _submit(c, server.api, "6951", tiff)
            assert r.status_code == 201, r.text
        assert _metrics(server)[("lanfax_intake_worker_hangs_total", ())] == 1
        assert "has not answered for" in server.log_tail()
        numbers = {j["recipient_number"] for j in all_jobs(server.api)}
        assert {"6950", "6951"} <= numbers and "777" not in numbers

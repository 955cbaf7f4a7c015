"""A newcomer's first contact, word for word: the README's five-minute path from a copy of the
checkout, and stopping the service with Ctrl-C or SIGTERM.

The copy is what ``git ls-files`` lists (no ``.venv``, no ``lanfax-data``); it reuses the
virtual environment the tests run in through ``LANFAX_VENV`` (as ``./serve`` allows), so
nothing is installed. ``./serve`` runs with its relative default data directory and its own
free port (``--listen``, as the README says to do when 8470 is taken).
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.support.server import REPO_ROOT

VENV = Path(sys.executable).parent.parent
LANFAX = str(VENV / "bin" / "lanfax")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _clean_env(home: Path) -> dict[str, str]:
    """The environment of a newcomer: no lanfax variables, a fresh home directory."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("LANFAX_") and k not in ("XDG_CONFIG_HOME", "PYTHONPATH")
    }
    env.update(HOME=str(home), PYTHONUNBUFFERED="1")
    return env


def session_processes(sid: int) -> list[int]:
    """Every live process of session ``sid`` (the server and whatever it started)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        # fields[0] is the state, fields[3] the session id (stat(5): fields 3 and 6)
        if fields[0] != "Z" and int(fields[3]) == sid:
            pids.append(int(entry.name))
    return pids


def wait_session_empty(sid: int, timeout: float = 15) -> list[str]:
    """The processes of ``sid`` still alive after ``timeout`` (the forkserver and the resource
    tracker end when they see the service's end of their pipes close, a moment after it)."""
    deadline = time.monotonic() + timeout
    left = session_processes(sid)
    while left and time.monotonic() < deadline:
        time.sleep(0.1)  # polling process exits, bounded above
        left = session_processes(sid)
    return [_describe(pid) for pid in left]


def _describe(pid: int) -> str:
    try:
        return f"{pid}: " + Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return str(pid)


class Served:
    """A server process started in its own session, its output collected."""

    def __init__(self, args: list[str], cwd: Path, env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(
            args,
            cwd=cwd,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        self.out: list[str] = []
        self.err: list[str] = []
        self.listening = threading.Event()
        self.url = ""
        for stream, sink in ((self.proc.stdout, self.out), (self.proc.stderr, self.err)):
            threading.Thread(target=self._read, args=(stream, sink), daemon=True).start()

    def _read(self, stream: object, sink: list[str]) -> None:
        for raw in stream:  # type: ignore[attr-defined]
            line = raw.decode("utf-8", "replace").rstrip("\n")
            sink.append(line)
            m = re.search(r"listening on (http://\S+)", line)
            if m and not self.url:
                self.url = m.group(1)
            # Printed after the first start wrote the administrator's credentials.
            if line.startswith("lanfax: data directory "):
                self.listening.set()

    def text(self) -> str:
        return "\n".join([*self.out, "--- stderr ---", *self.err])

    def wait_listening(self, timeout: float) -> None:
        if not self.listening.wait(timeout):
            self.kill()
            raise AssertionError(f"the server did not start:\n{self.text()}")

    def interrupt(self, sig: int, timeout: float = 60) -> int:
        """``sig`` to the whole process group, as a terminal's Ctrl-C does."""
        os.killpg(self.proc.pid, sig)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"the server ignored signal {sig}:\n{self.text()}") from None

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)


def _readme_commands() -> list[str]:
    """The shell lines of the README's "A first fax in five minutes" section."""
    text = (REPO_ROOT / "README.md").read_text()
    section = text.split("## A first fax in five minutes", 1)[1].split("\n## ", 1)[0]
    lines = []
    for block in re.findall(r"```sh\n(.*?)```", section, re.S):
        for line in block.splitlines():
            command = line.split("#", 1)[0].strip()
            if command:
                lines.append(command)
    return lines


@pytest.fixture
def checkout_copy(tmp_path: Path) -> Iterator[Path]:
    """The checkout as a fresh clone has it, in a temporary directory."""
    if not (REPO_ROOT / ".git").exists():
        pytest.skip("not a git checkout: nothing to copy with git ls-files")
    stamp = VENV / ".lanfax-installed"
    want = hashlib.sha256((REPO_ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if not stamp.is_file() or stamp.read_text().strip() != want:
        # ./serve would reinstall (pointing the editable install at the copy): refuse.
        pytest.skip("the test venv is not installed from this pyproject.toml: run bootstrap")
    files = subprocess.run(
        ["git", "ls-files", "-z"], cwd=REPO_ROOT, capture_output=True, check=True
    ).stdout.split(b"\0")
    copy = tmp_path / "lanfax"
    for name in filter(None, files):
        src = REPO_ROOT / os.fsdecode(name)
        if not src.is_file():
            continue  # deleted in the working tree, not yet committed
        dst = copy / os.fsdecode(name)
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, dst)
    assert not (copy / ".venv").exists() and not (copy / "lanfax-data").exists()
    yield copy


def test_the_readme_first_fax_reaches_the_inbox_of_a_fresh_copy(
    checkout_copy: Path, tmp_path: Path
) -> None:
    commands = _readme_commands()
    # The README's words, which this test follows: if they change, so must the test.
    assert "./serve" in commands
    assert "lanfax send README.md --to 101 --wait" in commands
    assert "ls lanfax-data/inbox/" in commands
    readme = (REPO_ROOT / "README.md").read_text()
    assert "./serve --listen 127.0.0.1:8471" in readme  # how to take another port
    assert "LANFAX_SERVER=http://127.0.0.1:8471" in readme

    home = tmp_path / "home"
    home.mkdir()
    env = _clean_env(home)
    serve_env = dict(env, LANFAX_VENV=str(VENV), LANFAX_NO_APT="1")
    port = _free_port()
    server = Served(["./serve", "--listen", f"127.0.0.1:{port}"], checkout_copy, serve_env)
    try:
        server.wait_listening(120)
        assert server.url == f"http://127.0.0.1:{port}"
        client_env = dict(env, LANFAX_SERVER=server.url, PATH=f"{VENV}/bin:{env['PATH']}")
        sent = subprocess.run(
            ["lanfax", "send", "README.md", "--to", "101", "--wait", "--timeout", "120"],
            cwd=checkout_copy,
            env=client_env,
            capture_output=True,
            text=True,
            timeout=180,
        )
        assert sent.returncode == 0, f"{sent.stdout}\n{sent.stderr}\n{server.text()}"
        assert "completed" in sent.stdout
        # The pool that converted README.md is running: the service, the forkserver, workers.
        assert len(session_processes(server.proc.pid)) >= 3

        inbox = checkout_copy / "lanfax-data" / "inbox"
        deadline = time.monotonic() + 60
        faxes: list[Path] = []
        while time.monotonic() < deadline and not faxes:
            faxes = sorted(inbox.glob("*.tif")) if inbox.is_dir() else []
            if not faxes:
                time.sleep(0.2)  # polling the routing of the received fax, bounded above
        jobs = subprocess.run(
            ["lanfax", "jobs", "--all"],
            cwd=checkout_copy,
            env=client_env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert len(faxes) == 1, f"{jobs.stdout}\n{server.text()}"
        assert faxes[0].read_bytes()[:4] in (b"II*\0", b"MM\0*")
        assert "routing" not in jobs.stdout.split("\n", 1)[1], jobs.stdout

        # Ctrl-C in the terminal: SIGINT to every process of the group.
        status = server.interrupt(signal.SIGINT)
    finally:
        server.kill()
    assert status == 0, server.text()
    assert "lanfax: stopping" in server.out, server.text()
    assert "Traceback" not in server.text(), server.text()
    assert "KeyboardInterrupt" not in server.text(), server.text()
    assert wait_session_empty(server.proc.pid) == []  # the parent ended what it started
    # ./serve ran `lanfax doctor --quiet` first: on this machine nothing failed, so it said
    # nothing (test_serve_reports_what_doctor_found shows it speaking).
    assert not [line for line in server.err if line.startswith("lanfax doctor:")]


def test_serve_reports_what_doctor_found_then_a_taken_port(
    checkout_copy: Path, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    env = dict(_clean_env(home), LANFAX_VENV=str(VENV), LANFAX_NO_APT="1")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        p = subprocess.run(
            ["./serve", "--listen", f"127.0.0.1:{port}"],
            cwd=checkout_copy,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert p.returncode == 7, p.stdout + p.stderr
    doctor_lines = [line for line in p.stderr.splitlines() if line.startswith("lanfax doctor:")]
    assert len(doctor_lines) == 1 and "FAIL  API port:" in doctor_lines[0], p.stderr
    assert f"lanfax serve: 127.0.0.1:{port} is in use" in p.stderr
    assert f"--listen 127.0.0.1:{port + 1}" in p.stderr
    assert "Traceback" not in p.stderr


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_stops_the_service_and_its_conversion_workers_quietly(
    tmp_path: Path, sig: int
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    env = _clean_env(home)
    args = [LANFAX, "serve", "--data", "data", "--listen", "127.0.0.1:0"]
    server = Served(args, tmp_path, env)
    try:
        server.wait_listening(60)
        letter = tmp_path / "letter.txt"
        letter.write_text("A letter, converted in the pool.\n")
        sent = subprocess.run(
            [LANFAX, "send", str(letter), "--to", "101"],
            env=dict(env, LANFAX_SERVER=server.url),
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert sent.returncode == 0, sent.stderr
        assert len(session_processes(server.proc.pid)) >= 3  # forkserver and workers run
        status = server.interrupt(sig)
    finally:
        server.kill()
    assert status == 0, server.text()
    assert "lanfax: stopping" in server.out
    assert "Traceback" not in server.text(), server.text()
    assert wait_session_empty(server.proc.pid) == []
    # --data was relative: the service made it absolute from its start directory.
    assert f"lanfax: data directory {tmp_path / 'data'}" in server.out


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_stop_during_a_conversion_answers_the_sender_and_leaves_no_traceback(
    tmp_path: Path, sig: int
) -> None:
    """Ctrl-C (or systemd's SIGTERM to the group) while a long document is being
    converted: uvicorn gives the request 3 s, then cuts it short; the sender hears 503 "the
    service is stopping" (or, on a fast machine, its job was queued in time), the service ends
    its workers and exits 0, and nothing prints a traceback."""
    home = tmp_path / "home"
    home.mkdir()
    env = _clean_env(home)
    args = [LANFAX, "serve", "--data", "data", "--listen", "127.0.0.1:0"]
    server = Served(args, tmp_path, env)
    letter = tmp_path / "long-letter.txt"
    # About 475 pages (the default limit is 500): seconds of converting, even on a fast machine.
    letter.write_text(
        "".join(f"line {i} of a long letter for the stop test\n" for i in range(29000))
    )
    try:
        server.wait_listening(60)
        sender = subprocess.Popen(
            [LANFAX, "send", str(letter), "--to", "555"],
            env=dict(env, LANFAX_SERVER=server.url),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        # main, resource tracker, forkserver and a worker: the conversion has begun.
        deadline = time.monotonic() + 60
        while len(session_processes(server.proc.pid)) < 4:
            assert sender.poll() is None, sender.communicate()
            assert time.monotonic() < deadline, server.text()
            time.sleep(0.05)  # polling for the worker process, bounded above
        status = server.interrupt(sig, timeout=120)
        out, err = sender.communicate(timeout=60)
    finally:
        server.kill()
    assert status == 0, server.text()
    assert "lanfax: stopping" in server.out
    assert "Traceback" not in server.text(), server.text()
    assert "Exception in ASGI application" not in server.text()
    assert wait_session_empty(server.proc.pid) == []
    if sender.returncode == 0:  # converted within the 3 s uvicorn allows
        assert out.startswith("queued job ")
    else:
        assert sender.returncode == 7, err
        assert "the service is stopping" in err and "Traceback" not in err

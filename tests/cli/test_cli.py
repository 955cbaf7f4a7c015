"""The ``lanfax`` command as a user runs it: real processes, a real server."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from PIL import Image
from tests.support.server import LanfaxServer

from lanfax import __version__
from lanfax.model import Job, PortInfo, ServerConfig
from lanfax.model.wire import from_wire

LANFAX = str(Path(sys.executable).with_name("lanfax"))
Run = Callable[..., subprocess.CompletedProcess[str]]


def _no_traceback(p: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in p.stderr and "Traceback" not in p.stdout


def test_version_and_help(lanfax: Run) -> None:
    p = lanfax("--version")
    assert p.returncode == 0 and p.stdout.strip() == f"lanfax {__version__}"
    p = lanfax("--help")
    assert p.returncode == 0 and "send" in p.stdout and "LANFAX_SERVER" in p.stdout
    p = lanfax("send", "--help")
    assert p.returncode == 0 and "--to" in p.stdout and "--wait" in p.stdout


def test_send_one_and_several_recipients(lanfax: Run, fax: Path) -> None:
    assert lanfax("config", "set", "pause_server_queue", "true").returncode == 0
    try:
        p = lanfax("send", str(fax), "--to", "1100", "--name", "Ann", "--sender", "Me")
        assert p.returncode == 0, p.stderr
        assert p.stdout.startswith("queued job ") and p.stdout.rstrip().endswith("to 1100")
        p = lanfax("send", str(fax), "--to", "1101", "--to", "1102", "--json", "--priority", "high")
        assert p.returncode == 0, p.stderr
        body = json.loads(p.stdout)
        jobs = [from_wire(Job, j) for j in body["jobs"]]
        assert [j.recipient_number for j in jobs] == ["1101", "1102"]
        assert {j.priority.name for j in jobs} == {"HIGH"} and body["broadcast_id"]
        listed = json.loads(lanfax("jobs", "--json").stdout)["jobs"]
        assert {j.job_id for j in jobs} <= {j["job_id"] for j in listed}
        table = lanfax("jobs").stdout
        assert "1101" in table and "pending" in table
        for j in jobs:
            assert lanfax("job", "cancel", str(j.job_id)).returncode == 0
    finally:
        lanfax("config", "set", "pause_server_queue", "false")


def test_wait_exit_codes(lanfax: Run, fax: Path) -> None:
    ok = lanfax("send", str(fax), "--to", "5551000", "--wait", "--timeout", "60")
    assert ok.returncode == 0, ok.stderr
    assert "completed" in ok.stdout.splitlines()[-1]
    bad = lanfax("send", str(fax), "--to", "9003", "--wait", "--timeout", "60")
    assert bad.returncode == 10
    assert bad.stderr.startswith("error: 1 of 1 job(s) did not complete")
    assert "hint: " in bad.stderr and "failed" in bad.stderr
    _no_traceback(bad)


def test_job_control_and_show(lanfax: Run, fax: Path) -> None:
    lanfax("config", "set", "PauseServerQueue", "1")
    try:
        job_id = json.loads(lanfax("send", str(fax), "--to", "1200", "--json").stdout)["jobs"][0][
            "job_id"
        ]
        assert "paused" in lanfax("job", "pause", str(job_id)).stdout
        assert "pending" in lanfax("job", "resume", str(job_id)).stdout
        again = lanfax("job", "resume", str(job_id))
        assert again.returncode == 4 and again.stderr.startswith("error: ")
        shown = json.loads(lanfax("job", "show", str(job_id), "--json").stdout)
        assert from_wire(Job, shown).recipient_number == "1200"
        assert "recipient_number" in lanfax("job", "show", str(job_id)).stdout
        assert lanfax("job", "cancel", str(job_id)).returncode == 0
        missing = lanfax("job", "show", "999999")
        assert missing.returncode == 3 and "hint:" in missing.stderr
        _no_traceback(missing)
    finally:
        lanfax("config", "set", "PauseServerQueue", "0")


def test_ports_and_port_set(lanfax: Run) -> None:
    ports = [from_wire(PortInfo, p) for p in json.loads(lanfax("ports", "--json").stdout)]
    assert [p.number for p in ports] == ["200", "201"]
    dev = str(ports[0].device_id)
    p = lanfax("port", "set", dev, "rings", "4", "--json")
    assert p.returncode == 0, p.stderr
    assert from_wire(PortInfo, json.loads(p.stdout)).rings == 4
    assert "rings" in lanfax("port", "show", dev).stdout
    bad = lanfax("port", "set", dev, "rings", "many")
    assert bad.returncode == 2 and "hint:" in bad.stderr
    status = lanfax("port", "show", dev, "--status", "--json")
    assert json.loads(status.stdout)["device_id"] == ports[0].device_id


def test_config_show_set_and_bad_key(lanfax: Run) -> None:
    p = lanfax("config", "set", "retries", "5", "--json")
    assert p.returncode == 0
    assert from_wire(ServerConfig, json.loads(p.stdout)).retries == 5
    assert "RetryDelay" in lanfax("config", "show").stdout
    bad = lanfax("config", "set", "colour", "red")
    assert bad.returncode == 2
    lines = bad.stderr.splitlines()
    assert lines[0].startswith("error: ") and "colour" in lines[0]
    assert lines[1].startswith("hint: ") and "retries" in lines[1]
    _no_traceback(bad)
    lanfax("config", "set", "retries", "3")


def test_logging_show_set(lanfax: Run) -> None:
    p = lanfax("logging", "set", "outbound", "max", "--json")
    assert p.returncode == 0
    cats = {c["category"]: c["level"] for c in json.loads(p.stdout)}
    assert cats["outbound"] == "max"
    assert "outbound" in lanfax("logging", "show").stdout


def test_events_pagedata_access(lanfax: Run, fax: Path, tmp_path: Path) -> None:
    lanfax("config", "set", "pause_server_queue", "yes")
    try:
        job_id = json.loads(lanfax("send", str(fax), "--to", "1300", "--json").stdout)["jobs"][0][
            "job_id"
        ]
        ev = lanfax("events", "--after", "0", "--count", "3", "--json")
        assert ev.returncode == 0
        lines = [json.loads(line) for line in ev.stdout.splitlines()]
        assert [e["seq"] for e in lines] == sorted(e["seq"] for e in lines) and len(lines) == 3
        assert {"seq", "timestamp", "event", "event_id", "job_id"} <= set(lines[0])
        assert isinstance(lines[0]["event_id"], int) and isinstance(lines[0]["event"], str)
        out = tmp_path / "p.tif"
        p = lanfax("pagedata", str(job_id), "-o", str(out))
        assert p.returncode == 0, p.stderr
        with Image.open(out) as img:
            assert f"{img.size[0]}x{img.size[1]}" in p.stdout
        assert lanfax("access", "job_submit", "config_set").returncode == 0
        bad = lanfax("access", "teleport")
        assert bad.returncode == 2 and "hint:" in bad.stderr
        lanfax("job", "cancel", str(job_id))
    finally:
        lanfax("config", "set", "pause_server_queue", "no")


def test_bad_input_and_connection_refused(lanfax: Run, cli_server: LanfaxServer) -> None:
    p = lanfax("send", "/no/such/file.pdf", "--to", "1")
    assert p.returncode == 2 and "cannot read /no/such/file.pdf" in p.stderr
    p = lanfax("send", "/no/such/file.pdf", "--to", "1", "--at", "tea time")
    assert p.returncode == 2 and "--at" in p.stderr
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    p = lanfax("jobs", "--server", f"http://127.0.0.1:{port}")
    assert p.returncode == 7
    assert p.stderr.startswith(f"error: cannot reach the lanfax server at http://127.0.0.1:{port}")
    assert "hint: is `lanfax serve` running" in p.stderr
    _no_traceback(p)


def test_import_of_the_cli_stays_light() -> None:
    p = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import lanfax.cli.main, lanfax.cli._verbs"],
        capture_output=True,
        text=True,
        check=True,
    )
    modules = {line.rsplit("|", 1)[-1].strip() for line in p.stderr.splitlines() if "|" in line}
    assert "lanfax.client._sync" in modules  # the measurement saw the client itself
    for heavy in ("httpx", "fastapi", "sqlalchemy", "numpy", "ssl", "email"):
        assert heavy not in modules, f"{heavy} is imported by the CLI"
    assert Path(LANFAX).exists()

"""``lanfax doctor``: each check passes on this machine (the bootstrap installed everything)
and fails when pointed at a missing tool, library, font or an unwritable directory."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from lanfax.service import doctor

LANFAX = str(Path(sys.executable).with_name("lanfax"))


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        yield int(s.getsockname()[1])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_settings(tmp_path: Path) -> None:
    check, settings = doctor.load(None, str(tmp_path / "d"), "127.0.0.1:0")
    assert check.status == "ok" and settings is not None
    bad = tmp_path / "bad.toml"
    bad.write_text('[server]\nlisten = "nowhere"\n')
    check, settings = doctor.load(str(bad), None, None)
    assert check.status == "fail" and settings is None
    assert "server.listen" in check.detail and check.fix


def test_python_packages() -> None:
    assert doctor.check_server_packages().status == "ok"
    failed = doctor.check_server_packages(("fastapi", "lanfax_nonesuch_module"))
    assert failed.status == "fail" and "lanfax_nonesuch_module" in failed.detail
    assert "lanfax[server]" in failed.fix


def test_spandsp() -> None:
    ok = doctor.check_spandsp()
    assert ok.status == "ok" and "0.0.6 ABI" in ok.detail
    missing = doctor.check_spandsp("libspandsp-nonesuch.so.9")
    assert missing.status == "fail" and "libspandsp-nonesuch.so.9" in missing.detail
    assert "libspandsp2" in missing.fix
    other = doctor.check_spandsp(doctor.check_libtiff().detail.split()[0])  # not spandsp
    assert other.status == "fail" and "not the spandsp 0.0.6 ABI" in other.detail


def test_engine_helper_is_reported() -> None:
    """The compiled helper builds here (the bootstrap installs gcc and the headers); a
    process told to use the ABI binding says so and why, without failing."""
    assert doctor.check_engine_helper().status == "ok"
    assert "engine: compiled helper" in doctor.check_spandsp().detail
    code = (
        "from lanfax.service import doctor\n"
        "c = doctor.check_engine_helper()\n"
        "print(c.status, c.detail)\n"
    )
    env = {**os.environ, "LANFAX_ENGINE_ABI": "1"}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    ).stdout
    assert out.startswith("skip ABI fallback") and "LANFAX_ENGINE_ABI" in out


def test_libtiff() -> None:
    ok = doctor.check_libtiff()
    assert ok.status == "ok"
    missing = doctor.check_libtiff("libtiff-nonesuch.so.1")
    assert missing.status == "fail" and "libtiff6" in missing.fix
    wrong = doctor.check_libtiff("libm.so.6")
    assert wrong.status == "fail" and "is not libtiff" in wrong.detail


def test_ghostscript(tmp_path: Path) -> None:
    ok = doctor.check_ghostscript()
    assert ok.status == "ok" and "gs" in ok.detail
    missing = doctor.check_ghostscript("gs-nonesuch")
    assert missing.status == "fail" and "ghostscript" in missing.fix
    broken = tmp_path / "gs"
    broken.write_text("#!/bin/sh\necho 'gs: broken install' >&2\nexit 1\n")
    broken.chmod(0o755)
    failed = doctor.check_ghostscript(str(broken))
    assert failed.status == "fail" and "broken install" in failed.detail


def test_fonts(tmp_path: Path) -> None:
    assert doctor.check_fonts().status == "ok"
    gone = str(tmp_path / "DejaVuSansMono.ttf")
    failed = doctor.check_fonts([gone])
    assert failed.status == "fail" and gone in failed.detail and "fonts-dejavu" in failed.fix


def test_libreoffice_only_when_office_input_is_wanted() -> None:
    skipped = doctor.check_libreoffice(False, ("soffice-nonesuch",))
    assert skipped.status == "skip" and skipped.ok
    failed = doctor.check_libreoffice(True, ("soffice-nonesuch",))
    assert failed.status == "fail" and "libreoffice-writer-nogui" in failed.fix
    ok = doctor.check_libreoffice(True)  # installed by the bootstrap
    assert ok.status == "ok" and "office" in ok.detail


def test_data_directory(tmp_path: Path) -> None:
    assert doctor.check_data_dir(tmp_path).status == "ok"
    made = doctor.check_data_dir(tmp_path / "new" / "data")
    assert made.status == "ok" and "will be made" in made.detail
    (tmp_path / "file").write_text("x")
    under_file = doctor.check_data_dir(tmp_path / "file" / "data")
    assert under_file.status == "fail"
    assert doctor.check_data_dir(tmp_path / "file").status == "fail"
    # A directory nobody may write in (root may write anywhere but in /proc).
    unwritable = doctor.check_data_dir(Path("/proc/lanfax-data"))
    assert unwritable.status == "fail" and "cannot write in /proc" in unwritable.detail
    assert "choose another --data" in unwritable.fix


def test_data_directory_without_write_permission() -> None:
    import tempfile

    # Root writes in a mode 0500 directory: as root (CI), check as the user nobody would
    # (the effective user id only, given back at once).
    top = Path(tempfile.mkdtemp(prefix="lanfax-doctor-"))
    top.chmod(0o755)
    locked = top / "locked"
    locked.mkdir(mode=0o500)
    root = os.geteuid() == 0
    try:
        if root:
            os.seteuid(65534)
        try:
            failed = doctor.check_data_dir(locked)
        finally:
            if root:
                os.seteuid(0)
    finally:
        locked.chmod(0o700)
        shutil.rmtree(top)
    assert failed.status == "fail" and "Permission denied" in failed.detail


def test_free_space(tmp_path: Path) -> None:
    assert doctor.check_free_space(tmp_path, 1).status == "ok"
    failed = doctor.check_free_space(tmp_path / "x", 10**12)
    assert failed.status == "fail" and "MB free" in failed.detail


def test_api_port(busy_port: int) -> None:
    assert doctor.check_port("127.0.0.1", _free_port()).status == "ok"
    assert doctor.check_port("127.0.0.1", 0).status == "ok"
    failed = doctor.check_port("127.0.0.1", busy_port)
    assert failed.status == "fail" and "in use" in failed.detail
    assert f"--listen 127.0.0.1:{busy_port + 1}" in failed.fix
    nowhere = doctor.check_port("192.0.2.1", 8470)  # TEST-NET-1: not this machine's
    assert nowhere.status == "fail"


def test_devices() -> None:
    from lanfax.service.settings import DEFAULT_PROVIDERS

    ok = doctor.check_providers(DEFAULT_PROVIDERS)
    assert ok.status == "ok" and "virtual: 2 (100, 101)" in ok.detail
    unknown = doctor.check_providers([{"type": "nonesuch"}])
    assert unknown.status == "fail" and "nonesuch" in unknown.detail
    bad = doctor.check_providers([{"type": "virtual", "lines": "100"}])
    assert bad.status == "fail" and "provider 'virtual'" in bad.detail
    assert doctor.check_providers([]).status == "fail"


def test_intake_workers_are_reported_when_asked_for(tmp_path: Path) -> None:
    """#19: ``[server] intake_workers``: off is a skip; on, whether they can start (TLS is
    refused, as ``lanfax serve`` refuses it) and what they cost."""
    from lanfax.service.settings import load_settings

    assert doctor.check_intake_workers(load_settings(None)).status == "skip"
    path = tmp_path / "s.toml"
    path.write_text("[server]\nintake_workers = 2\nintake_hang_s = 10\n")
    on = doctor.check_intake_workers(load_settings(str(path)), cpus=2)
    assert on.status == "ok", on.line()
    assert "2 worker process(es)" in on.detail and "hung for 10 s is replaced" in on.detail
    assert "more processes than CPUs" in on.detail
    assert "more processes" not in doctor.check_intake_workers(load_settings(str(path)), 8).detail
    cert, key = tmp_path / "c.pem", tmp_path / "k.pem"
    cert.write_text("x")
    key.write_text("x")
    path.write_text(
        f'[server]\nintake_workers = 1\n[security]\ntls_cert = "{cert}"\ntls_key = "{key}"\n'
    )
    refused = doctor.check_intake_workers(load_settings(str(path)))
    assert refused.status == "fail" and "TLS" in refused.detail, refused.line()
    assert "intake_workers = 0" in refused.fix
    # The command: the line is there when workers are asked for, and only then.
    path.write_text("[server]\nintake_workers = 2\n")
    listen = f"127.0.0.1:{_free_port()}"
    p = _doctor("--config", str(path), "--data", str(tmp_path / "d"), "--listen", listen)
    assert p.returncode == 0, p.stdout + p.stderr
    assert [x for x in p.stdout.splitlines() if "intake workers" in x] == [
        "ok    intake workers: 2 worker process(es) beside the main one (about 55 MB each);"
        f" one hung for 30 s is replaced; {os.cpu_count()} CPU(s) here"
        + (
            " (more processes than CPUs: the workers pay where cores are spare)"
            if (os.cpu_count() or 1) < 3
            else ""
        )
    ]


def _doctor(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [LANFAX, "doctor", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=cwd,
    )


def test_the_command_passes_on_a_ready_machine(tmp_path: Path) -> None:
    p = _doctor("--data", str(tmp_path / "d"), "--listen", f"127.0.0.1:{_free_port()}")
    assert p.returncode == 0, p.stdout + p.stderr
    lines = p.stdout.splitlines()
    names = [line.split(":", 1)[0].split(None, 1)[1] for line in lines[:-1]]
    assert names == [
        "settings",
        "python packages",
        "spandsp",
        "libtiff",
        "ghostscript",
        "fonts",
        "libreoffice",
        "data directory",
        "free space",
        "API port",
        "devices",
    ]
    assert lines[-1] == "all checks passed"
    quiet = _doctor("-q", "--data", str(tmp_path / "d"), "--listen", "127.0.0.1:0")
    assert quiet.returncode == 0 and quiet.stdout == ""


def test_the_command_fails_naming_the_fix(tmp_path: Path, busy_port: int) -> None:
    env = dict(os.environ, PATH=str(Path(LANFAX).parent))  # no gs on this PATH
    p = _doctor("--data", str(tmp_path / "d"), "--listen", f"127.0.0.1:{busy_port}", env=env)
    assert p.returncode == 1, p.stdout + p.stderr
    failed = [line for line in p.stdout.splitlines() if line.startswith("FAIL")]
    assert len(failed) == 2, p.stdout
    assert (
        failed[0].startswith("FAIL  ghostscript:")
        and "fix: apt-get install ghostscript" in (failed[0])
    )
    assert failed[1].startswith("FAIL  API port:") and "fix: --listen" in failed[1]
    assert p.stdout.splitlines()[-1] == "2 of 11 checks failed"
    quiet = _doctor("--quiet", "--listen", f"127.0.0.1:{busy_port}", "--log-level", "debug")
    assert quiet.returncode == 1
    assert quiet.stdout.splitlines() == [
        line for line in quiet.stdout.splitlines() if line.startswith("lanfax doctor: FAIL")
    ]
    assert len(quiet.stdout.splitlines()) == 1
    as_json = json.loads(_doctor("--json", "--listen", f"127.0.0.1:{busy_port}").stdout)
    assert as_json["ok"] is False
    assert [c["check"] for c in as_json["checks"] if c["status"] == "fail"] == ["API port"]
    top = subprocess.run(
        [LANFAX, "--json", "doctor", "--listen", f"127.0.0.1:{busy_port}"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert json.loads(top.stdout)["ok"] is False

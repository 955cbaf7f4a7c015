"""HylaFAX (on iaxmodem) as a peer for interop tests, driven through the shared peer.sh.

The peer is real: faxq, hfaxd and faxgetty from Debian's hylafax-server, on a software
Class 1 modem (iaxmodem) whose IAX2 "server" is the lanfax endpoint under test. When
anything it needs is missing, :func:`require_hylafax` FAILS the test with what to install:
CI installs the packages, so a missing one is a broken set-up, not a reason to skip.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest


def _find_peer_sh() -> Path:
    """peer.sh from LANFAX_PEER_SH, else the shared/ folder beside the checkout (as CI lays it
    out), else /work/shared."""
    if "LANFAX_PEER_SH" in os.environ:
        return Path(os.environ["LANFAX_PEER_SH"])
    beside = Path(__file__).resolve().parents[2].parent / "shared" / "peers" / "hylafax" / "peer.sh"
    return beside if beside.exists() else Path("/work/shared/peers/hylafax/peer.sh")


PEER_SH = _find_peer_sh()
NEEDED = {
    "/usr/sbin/faxq": "hylafax-server",
    "/usr/sbin/faxgetty": "hylafax-server",
    "/usr/sbin/hfaxd": "hylafax-server",
    "/usr/bin/sendfax": "hylafax-client",
    "/usr/bin/faxstat": "hylafax-client",
    "/usr/bin/iaxmodem": "iaxmodem",
}
#: HylaFAX's client port: peer.sh's HFAXD_PORT (default 14559), so a run can move aside.
HFAXD = f"127.0.0.1:{os.environ.get('HFAXD_PORT', '14559')}"
#: The modem's own IAX2 port (iaxmodem binds it on 0.0.0.0; we talk to it on loopback).
MODEM_PORT = 4570


def require_hylafax() -> None:
    """Fail (not skip) with a clear message when the peer cannot run here."""
    missing = sorted({pkg for path, pkg in NEEDED.items() if not Path(path).exists()})
    problems = []
    if missing:
        problems.append(
            f"Debian packages missing: {' '.join(missing)} "
            f"(apt-get install {' '.join(missing)}, or scripts/bootstrap.sh)"
        )
    if os.geteuid() != 0:
        problems.append("the HylaFAX peer needs root (it writes /etc/iaxmodem and runs as uucp)")
    if not PEER_SH.exists():
        problems.append(f"{PEER_SH} not found (set LANFAX_PEER_SH to the peer script)")
    if shutil.which("tiffinfo") is None:
        problems.append("tiffinfo missing (apt-get install libtiff-tools)")
    if problems:
        pytest.fail("interop tests cannot run: " + "; ".join(problems), pytrace=False)


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class HylaFax:
    """A running HylaFAX peer whose modem calls (and is called from) ``iax_endpoint``."""

    peer_dir: Path
    iax_endpoint: str
    #: peer.sh's set-up: "iax" (HylaFAX's modem calls ``iax_endpoint``), "pair" (HylaFAX on
    #: ttyIAX0, /dev/ttyIAX1 free for a Class 1 driver), "bare" (two bare modems), "modem"
    #: (one bare modem on /dev/ttyIAX1 whose IAX2 peer is ``iax_endpoint``).
    mode: str = "iax"

    def sh(self, *args: str, timeout: float = 120.0) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "PEER_DIR": str(self.peer_dir)}
        return subprocess.run(
            ["bash", str(PEER_SH), *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def up(self) -> None:
        args = (
            ("up", self.mode, self.iax_endpoint)
            if self.mode in ("iax", "modem")
            else (
                "up",
                self.mode,
            )
        )
        r = self.sh(*args)
        idle = "Running and idle" in r.stdout or self.mode in ("bare", "modem")
        if r.returncode != 0 or not idle:
            log = self.logs()
            self.down()
            pytest.fail(
                f"peer.sh up failed (rc {r.returncode}): {r.stdout}\n{r.stderr}\n{log}",
                pytrace=False,
            )

    def down(self) -> None:
        self.sh("down", timeout=60)

    def wait_idle(self, timeout: float = 60.0) -> None:
        """Until the modem is back to 'Running and idle' (faxgetty resets it after calls)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            r = subprocess.run(
                ["faxstat", "-h", HFAXD], capture_output=True, text=True, check=False
            )
            if "Running and idle" in r.stdout:
                return
            time.sleep(0.5)
        pytest.fail(f"HylaFAX modem not idle after {timeout} s:\n{self.logs()}", pytrace=False)

    def send(self, document: Path, number: str) -> str:
        r = self.sh("send", str(document), number)
        job = r.stdout.strip()
        if r.returncode != 0 or not job.isdigit():
            pytest.fail(f"peer.sh send failed: {r.stdout}\n{r.stderr}", pytrace=False)
        return job

    def wait(self, job: str, seconds: int = 240) -> str:
        r = self.sh("wait", job, str(seconds), timeout=seconds + 30)
        if r.returncode != 0:
            pytest.fail(
                f"HylaFAX job {job} did not finish: {r.stderr}\n{self.logs()}", pytrace=False
            )
        return r.stdout.strip()

    def received(self) -> list[Path]:
        return [Path(p) for p in self.sh("received").stdout.split()]

    def xferfaxlog(self) -> str:
        p = self.peer_dir / "spool" / "log" / "xferfaxlog"
        return p.read_text(errors="replace") if p.exists() else ""

    def session_logs(self) -> dict[str, str]:
        """HylaFAX's per-call T.30 session logs (``spool/log/cNNNNNNNNN``), by name."""
        logs = sorted((self.peer_dir / "spool" / "log").glob("c[0-9]*"))
        return {p.name: p.read_text(errors="replace") for p in logs}

    def done_jobs(self) -> str:
        r = subprocess.run(
            ["faxstat", "-h", HFAXD, "-d"], capture_output=True, text=True, check=False
        )
        return r.stdout

    def logs(self, lines: int = 30) -> str:
        out = []
        for name in ("iaxmodem-ttyIAX0.log", "faxgetty-ttyIAX0.log", "syslog.txt"):
            p = self.peer_dir / name
            if p.exists():
                tail = p.read_text(errors="replace").splitlines()[-lines:]
                out.append(f"--- {name}\n" + "\n".join(tail))
        return "\n".join(out)


@dataclass(frozen=True)
class Negotiated:
    """What HylaFAX's session log says the call used (its own view of the DCS)."""

    bit_rate: int
    ecm: bool
    compression: str  # "mh", "mr" or "mmr", as lanfax names them
    #: The session log's lines about the DCS and the pages, for failure messages.
    evidence: tuple[str, ...] = ()


_CODINGS = {"1-D MH": "mh", "2-D MR": "mr", "2-D MMR": "mmr"}
#: A DCS as HylaFAX logs it: "REMOTE wants ..." when it receives, "USE ..." when it sends.
_DCS_LINE = re.compile(r": (?:REMOTE wants|USE) (.+)$", re.MULTILINE)


def negotiated(session_log: str) -> Negotiated:
    """The rate, ECM and coding of the last DCS in a HylaFAX session log (after a fallback
    the last one is the one the pages went with). Fails the test if the log has none."""
    rate: int | None = None
    coding: str | None = None
    ecm = False
    for item in _DCS_LINE.findall(session_log):
        if m := re.fullmatch(r"(\d+) bit/s", item):
            rate = int(m.group(1))
        elif item in _CODINGS:
            coding = _CODINGS[item]
        elif item == "error correction mode" or item.startswith("T.30 Annex"):
            # Sending, HylaFAX says "USE error correction mode"; receiving, "REMOTE wants
            # T.30 Annex A, 256-byte ECM". Without ECM there is no such line.
            ecm = True
    if rate is None or coding is None:
        pytest.fail(f"no DCS in HylaFAX's session log:\n{session_log[-3000:]}", pytrace=False)
    evidence = tuple(
        line
        for line in session_log.splitlines()
        if re.search(r"REMOTE wants|: USE |bit/s|ECM", line) and "HDLC" not in line
    )
    return Negotiated(rate, ecm, coding, evidence)

"""A real Kamailio (the Debian package) as registrar and proxy for the SIP tests.

:func:`start_kamailio` writes a config into a temporary directory, picks a loopback port
free for both UDP and TCP (Kamailio listens on both; it bridges a TCP account and a UDP one,
record-routing twice), starts ``kamailio`` in the foreground and waits until it answers an
OPTIONS ping (a deadline, never a bare sleep). If Kamailio is not installed the tests FAIL
with a clear message: CI installs it (``scripts/bootstrap.sh``), so a missing binary is a
broken setup, not a reason to skip.

Routing, as a trunk would do it:

* REGISTER must carry digest credentials (401 challenge, realm ``lanfax.test``);
* INVITEs from our users must carry proxy credentials (407 challenge);
* a request for a configured user that is not registered gets 480, an unknown user 404;
* dialogs are record-routed, so BYE and re-INVITE go through the proxy too.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

REALM = "lanfax.test"
MODULES = Path("/usr/lib/x86_64-linux-gnu/kamailio/modules")

_CONFIG = """#!KAMAILIO
debug=1
log_stderror=yes
fork=yes
children=2
tcp_children=1
auto_aliases=no
listen=udp:127.0.0.1:{port}
listen=tcp:127.0.0.1:{port}
alias="{realm}"
mpath="{modules}"

loadmodule "tm.so"
loadmodule "sl.so"
loadmodule "rr.so"
loadmodule "pv.so"
loadmodule "maxfwd.so"
loadmodule "usrloc.so"
loadmodule "registrar.so"
loadmodule "textops.so"
loadmodule "siputils.so"
loadmodule "xlog.so"
loadmodule "sanity.so"
loadmodule "auth.so"
loadmodule "kex.so"
loadmodule "corex.so"

modparam("usrloc", "db_mode", 0)
modparam("registrar", "max_expires", 3600)
modparam("registrar", "min_expires", 5)
modparam("tm", "fr_inv_timer", 60000)
modparam("rr", "append_fromtag", 1)

request_route {{
    if (!mf_process_maxfwd_header("10")) {{ sl_send_reply("483", "Too Many Hops"); exit; }}
    force_rport();
    if (is_method("OPTIONS") && uri==myself && $rU==$null) {{
        sl_send_reply("200", "Keepalive");
        exit;
    }}
    if (has_totag()) {{
        if (loose_route()) {{ t_relay(); exit; }}
        if (is_method("ACK")) {{ if (t_check_trans()) {{ t_relay(); }} exit; }}
        sl_send_reply("404", "Not here");
        exit;
    }}
    if (is_method("CANCEL")) {{ if (t_check_trans()) {{ t_relay(); }} exit; }}
    if (is_method("ACK")) {{ if (t_check_trans()) {{ t_relay(); }} exit; }}
    t_check_trans();
    route(PASSWORD);
    if (is_method("REGISTER")) {{
        if (!pv_www_authenticate("{realm}", "$var(pw)", "0")) {{
            www_challenge("{realm}", "0");
            exit;
        }}
        if ($au != $tU) {{ sl_send_reply("403", "Forbidden"); exit; }}
        consume_credentials();
        save("location");
        exit;
    }}
    if (is_method("INVITE") && $var(pw) != "") {{
        if (!pv_proxy_authenticate("{realm}", "$var(pw)", "0")) {{
            proxy_challenge("{realm}", "0");
            exit;
        }}
        consume_credentials();
    }} else if (is_method("INVITE")) {{
        sl_send_reply("403", "Unknown caller");
        exit;
    }}
    if (is_method("INVITE")) {{ record_route(); }}
    route(KNOWN);
    if (!lookup("location")) {{
        if ($var(known) == 1) {{ sl_send_reply("480", "Temporarily Unavailable"); }}
        else {{ sl_send_reply("404", "Not Found"); }}
        exit;
    }}
    t_relay();
}}

route[PASSWORD] {{
    $var(pw) = "";
{passwords}
}}

route[KNOWN] {{
    $var(known) = 0;
{known}
}}
"""


@dataclass
class Kamailio:
    port: int
    directory: Path
    proc: subprocess.Popen[bytes]

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def log(self) -> str:
        path = self.directory / "kamailio.log"
        return path.read_text(errors="replace") if path.exists() else ""


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def free_udp_tcp_port() -> int:
    """A loopback port number free for UDP and for TCP at once."""
    for _ in range(50):
        port = free_udp_port()
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no loopback port free for both UDP and TCP")


def _ping(port: int) -> bool:
    msg = (
        f"OPTIONS sip:127.0.0.1:{port} SIP/2.0\r\n"
        "Via: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKping;rport\r\n"
        "From: <sip:ping@127.0.0.1>;tag=p\r\nTo: <sip:127.0.0.1>\r\n"
        "Call-ID: ping@127.0.0.1\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\n"
        "Content-Length: 0\r\n\r\n"
    ).encode()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        s.settimeout(0.3)
        s.sendto(msg, ("127.0.0.1", port))
        try:
            data = s.recv(4096)
        except OSError:
            return False
        return data.startswith(b"SIP/2.0 200")


@contextlib.contextmanager
def start_kamailio(
    directory: Path, users: Mapping[str, str], *, known: tuple[str, ...] = ()
) -> Iterator[Kamailio]:
    """Run Kamailio with these ``{user: password}`` accounts; ``known`` adds numbers that
    exist but never register (480 instead of 404)."""
    binary = shutil.which("kamailio") or (
        "/usr/sbin/kamailio" if Path("/usr/sbin/kamailio").exists() else None
    )
    if binary is None:
        raise RuntimeError(
            "kamailio is not installed: the SIP provider tests need it "
            "(apt-get install kamailio; scripts/bootstrap.sh installs it)"
        )
    directory.mkdir(parents=True, exist_ok=True)
    port = free_udp_tcp_port()
    passwords = "\n".join(
        f'    if ($fU == "{u}") {{ $var(pw) = "{p}"; }}' for u, p in users.items()
    )
    known_lines = "\n".join(
        f'    if ($rU == "{u}") {{ $var(known) = 1; }}' for u in (*users, *known)
    )
    cfg = directory / "kamailio.cfg"
    cfg.write_text(
        _CONFIG.format(
            port=port, realm=REALM, modules=MODULES, passwords=passwords, known=known_lines
        )
    )
    log = (directory / "kamailio.log").open("wb")
    proc = subprocess.Popen(
        [binary, "-f", str(cfg), "-DD", "-E", "-Y", str(directory), "-m", "64", "-M", "8"],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    k = Kamailio(port, directory, proc)
    try:
        deadline = time.monotonic() + 15
        while not _ping(port):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"kamailio did not start on port {port}:\n{k.log()[-3000:]}")
        yield k
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()

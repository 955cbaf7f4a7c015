"""Interop benchmark: a 3-page fax between lanfax (IAX2 provider) and HylaFAX (iaxmodem).

Times, in the same run and with the same document, submission to completion of:

* lanfax sending to HylaFAX (provider send; "submitted" = send() called, "done" = its result);
* HylaFAX sending to lanfax (``peer.sh send``; "done" = ``peer.sh wait`` returns, i.e. the job
  left HylaFAX's send queue), with lanfax's provider answering after 1 ring.

With ``--modem`` (issue #16) it times, instead, the modem path on ``peer.sh up pair`` (ECM
on both ways, as each side negotiates by default):

* lanfax's modem provider on /dev/ttyIAX1 sending to HylaFAX on ttyIAX0 (send() to result);
* HylaFAX sending to HylaFAX: a faxgetty is started on ttyIAX1 and ``peer.sh send`` to 2000
  is timed until ``peer.sh wait`` returns.

Needs root and the Debian packages hylafax-server, hylafax-client and iaxmodem. Run:

    .venv/bin/python bench/interop.py [--pages 3] [--fine] [--modem]

Each fax takes real time (about 20-60 s a page), so one run takes a few minutes.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.interop.hylafax import (  # noqa: E402
    HFAXD,
    HylaFax,
    free_udp_port,
    require_hylafax,
)
from tests.interop.test_hylafax import (  # noqa: E402
    AnsweringHarness,
    _provider,
    fax_tiff,
    send_retrying_busy,
)

from lanfax.providers.api import CallResult  # noqa: E402


async def lanfax_sends(peer: HylaFax, doc: Path, work: Path) -> tuple[float, CallResult]:
    h = AnsweringHarness(work)
    p, dev = await _provider(h, peer)
    try:
        await asyncio.to_thread(peer.wait_idle)
        t0 = time.monotonic()
        result = await send_retrying_busy(h, p, dev, doc, ecm=True)
        return time.monotonic() - t0, result
    finally:
        await p.shutdown()


async def hylafax_sends(peer: HylaFax, doc: Path, work: Path) -> tuple[float, CallResult]:
    h = AnsweringHarness(work)
    p, dev = await _provider(h, peer)
    h.answer_after[dev] = 1
    got = h.expect(dev)
    try:
        await asyncio.to_thread(peer.wait_idle)
        t0 = time.monotonic()
        job = await asyncio.to_thread(peer.send, doc, "2000")
        received = await asyncio.wait_for(got, 600)
        await asyncio.to_thread(peer.wait, job, 300)
        return time.monotonic() - t0, received.result
    finally:
        await p.shutdown()


async def modem_sends(doc: Path, work: Path) -> tuple[float, CallResult]:
    from tests.interop.test_modem import DEVICE
    from tests.interop.test_modem import _provider as modem_provider
    from tests.interop.test_modem import _send as modem_send
    from tests.providers.harness import Harness

    h = Harness(work)
    p = await modem_provider(h)
    try:
        await asyncio.sleep(6)  # iaxmodem's busy-out after our ATZ
        t0 = time.monotonic()
        result = await modem_send(h, p, doc)
        assert DEVICE
        return time.monotonic() - t0, result
    finally:
        await p.shutdown()


def hylafax_to_hylafax(peer: HylaFax, doc: Path, fine: bool) -> tuple[float, str]:
    """faxgetty on ttyIAX1 (its config.ttyIAX1 is in the spool), then HylaFAX -> 2000."""
    import subprocess

    spool = peer.peer_dir / "spool"
    getty = subprocess.Popen(
        ["/usr/sbin/faxgetty", "-q", str(spool), "ttyIAX1"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(60):
            r = subprocess.run(["faxstat", "-h", HFAXD, "-a"], capture_output=True, text=True)
            if r.stdout.count("Running and idle") >= 2:
                break
            time.sleep(1)
        t0 = time.monotonic()
        job = peer.send(doc, "2000") if not fine else peer.sh("send", str(doc), "2000", "-m")
        job_id = job if isinstance(job, str) else job.stdout.strip()
        final = peer.wait(job_id, 600)
        return time.monotonic() - t0, final
    finally:
        getty.terminate()
        getty.wait(timeout=30)


def modem_main(args: argparse.Namespace) -> None:
    work = Path(tempfile.mkdtemp(prefix="lanfax-modem-bench-"))
    work.chmod(0o755)
    (work / "peer").mkdir()
    (work / "peer").chmod(0o755)
    peer = HylaFax(work / "peer", "", mode="pair")
    doc = fax_tiff(work / "doc.tif", args.pages, args.fine)
    peer.up()
    try:
        t_modem, r_modem = asyncio.run(modem_sends(doc, work))
        peer.wait_idle()
        t_hh, final = hylafax_to_hylafax(peer, doc, args.fine)
    finally:
        peer.down()
        shutil.rmtree(work, ignore_errors=True)
    res = "fine" if args.fine else "standard"
    print(f"\n{args.pages}-page fax ({res}), two iaxmodems on loopback, real time\n")
    print("| path | submit→done s | result | pages | bit/s | ECM | coding |")
    print("|---|---|---|---|---|---|---|")
    print(
        f"| lanfax modem → HylaFAX | {t_modem:7.1f} | {r_modem.status.status_id.name} |"
        f" {r_modem.pages} | {r_modem.bit_rate} | {'on' if r_modem.ecm else 'off'} |"
        f" {r_modem.compression} |"
    )
    print(f"| HylaFAX → HylaFAX | {t_hh:7.1f} | {final.strip()[:60]} | | | | |")


def row(name: str, seconds: float, r: CallResult) -> str:
    return (
        f"| {name} | {seconds:7.1f} | {r.status.status_id.name} | {r.pages} | {r.bit_rate} |"
        f" {'on' if r.ecm else 'off'} | {r.compression} | {r.extra.get('late_frames', '-')} |"
        f" {r.extra.get('max_late_ms', '-')} |"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pages", type=int, default=3)
    ap.add_argument("--fine", action="store_true")
    ap.add_argument("--modem", action="store_true", help="time the Class 1 modem path (#16)")
    args = ap.parse_args()
    require = require_hylafax
    try:
        require()
    except BaseException as exc:  # pytest.fail outside pytest: print the reason
        sys.exit(f"bench/interop.py: {exc}")
    if args.modem:
        modem_main(args)
        return
    work = Path(tempfile.mkdtemp(prefix="lanfax-interop-bench-"))
    work.chmod(0o755)
    peer = HylaFax(work / "peer", f"127.0.0.1:{free_udp_port()}")
    (work / "peer").mkdir()
    (work / "peer").chmod(0o755)
    doc = fax_tiff(work / "doc.tif", args.pages, args.fine)
    peer.up()
    try:
        t_out, r_out = asyncio.run(lanfax_sends(peer, doc, work))
        t_in, r_in = asyncio.run(hylafax_sends(peer, doc, work))
    finally:
        peer.down()
        shutil.rmtree(work, ignore_errors=True)
    res = "fine" if args.fine else "standard"
    print(f"\n{args.pages}-page fax ({res}), IAX2 slinear on loopback, real time\n")
    print(
        "| direction | submit→done s | status | pages | bit/s | ECM | coding | late frames |"
        " max late ms |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    print(row("lanfax → HylaFAX", t_out, r_out))
    print(row("HylaFAX → lanfax", t_in, r_in))


if __name__ == "__main__":
    main()

"""Virtual lines driven through the provider API exactly as the service drives them."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from tests.providers.harness import Harness
from tests.providers.helpers import network_name, run, tiff_pixels

from lanfax.model.codes import ProviderStatus
from lanfax.model.errors import FaxError, InvalidInput, ProviderError
from lanfax.providers.api import FaxDevStatus, FaxReceive, FaxSend
from lanfax.providers.virtual import VirtualProvider
from lanfax.providers.virtual.network import networks

S = ProviderStatus


async def setup(
    h: Harness, *, numbers: tuple[str, ...] = ("100", "101"), **cfg: Any
) -> tuple[VirtualProvider, str]:
    net = network_name()
    lines = [{"number": n, "name": f"Line {n}", "ident": f"+1 555 0{n}"} for n in numbers]
    prov = VirtualProvider()
    await h.add(prov, {"network": net, "lines": lines, **cfg})
    return prov, net


def same_pages(a: Path, b: Path) -> bool:
    pa, pb = tiff_pixels(a), tiff_pixels(b)
    return len(pa) == len(pb) and all(
        x.shape == y.shape and np.array_equal(x, y) for x, y in zip(pa, pb, strict=True)
    )


def kinds(h: Harness, local_id: str) -> list[ProviderStatus]:
    """The status ids reported for a line, with repeats collapsed."""
    out: list[ProviderStatus] = []
    for st in h.statuses[local_id]:
        if not out or out[-1] != st.status_id:
            out.append(st.status_id)
    return out


@pytest.mark.parametrize("doc", ["g3", "g4"])
def test_send_two_pages_between_lines(tmp_path: Path, docs: dict[str, Path], doc: str) -> None:
    async def scenario() -> None:
        h = Harness(tmp_path)
        prov, net = await setup(h)
        a, b = f"{net}:100", f"{net}:101"
        h.answer_after[b] = 2
        got = h.expect(b)
        result, in_progress = await h.send(prov, a, docs[doc], "101", caller_number="LANFAX 100")
        rx = await got
        await prov.shutdown()

        assert result.ok and result.pages == 2 and in_progress == 1
        assert result.remote_ident == "+1 555 0101"  # the callee line's CSID
        assert result.modem == "v17" and result.bit_rate == 14400
        assert rx.result.ok and rx.result.pages == 2
        assert rx.result.remote_ident == "LANFAX 100"  # our TSID as the callee saw it
        assert rx.result.status.caller_id == "100"
        assert [c.ring_count for c in h.rings[b]] == [1, 2]
        assert all(c.caller_id == "100" and c.called_number == "101" for c in h.rings[b])
        assert same_pages(docs[doc], rx.file)
        assert kinds(h, a) == [S.DIALING, S.TRANSMITTING, S.COMPLETED]
        assert kinds(h, b) == [S.ANSWERED, S.RECEIVING, S.COMPLETED]
        # Page numbers only go up while transmitting.
        pages = [s.page_count for s in h.statuses[a] if s.status_id == S.TRANSMITTING]
        assert pages == sorted(pages) and pages[-1] == 2
        assert prov.report_status(h.receive_jobs[b]).status_id == S.COMPLETED

    run(scenario())


@pytest.mark.parametrize(
    "cfg",
    [{"codec": "ulaw"}, {"codec": "alaw"}, {"mode": "t38"}],
    ids=["ulaw", "alaw", "t38"],
)
def test_media_modes(tmp_path: Path, docs: dict[str, Path], cfg: dict[str, Any]) -> None:
    async def scenario() -> None:
        h = Harness(tmp_path)
        prov, net = await setup(h, **cfg)
        h.answer_after[f"{net}:101"] = 1
        got = h.expect(f"{net}:101")
        result, _ = await h.send(prov, f"{net}:100", docs["g4"], "101")
        rx = await got
        await prov.shutdown()
        assert result.ok and result.pages == 2, result
        assert result.extra["media"] == cfg.get("mode", "audio")
        assert rx.result.ok and same_pages(docs["g4"], rx.file)

    run(scenario())


def test_lines_of_two_providers_call_each_other(tmp_path: Path, docs: dict[str, Path]) -> None:
    async def scenario() -> None:
        h = Harness(tmp_path)
        net = network_name()
        p1 = await h.add(VirtualProvider(), {"network": net, "lines": [{"number": "200"}]})
        p2 = await h.add(VirtualProvider(), {"network": net, "lines": [{"number": "300"}]})
        h.answer_after[f"{net}:300"] = 1
        got = h.expect(f"{net}:300")
        result, _ = await h.send(p1, f"{net}:200", docs["one"], "300")
        rx = await got
        await p1.shutdown()
        await p2.shutdown()
        assert result.ok and rx.result.ok and rx.result.status.caller_id == "200"
        assert net not in networks()  # the last shutdown freed the network

    run(scenario())


@pytest.mark.parametrize(
    ("number", "status"),
    [
        ("*10", S.BUSY),
        ("*12", S.NO_DIAL_TONE),
        ("*13", S.BAD_ADDRESS),
        ("999", S.BAD_ADDRESS),  # not a line on this network
        ("12ab", S.BAD_ADDRESS),  # not a number at all
        ("*99", S.BAD_ADDRESS),  # not a service code
        ("100", S.BUSY),  # our own line is in use by this very call
    ],
)
def test_signalling_outcomes(
    tmp_path: Path, docs: dict[str, Path], number: str, status: ProviderStatus
) -> None:
    async def scenario() -> None:
        h = Harness(tmp_path)
        prov, net = await setup(h)
        result, in_progress = await h.send(prov, f"{net}:100", docs["one"], number)
        await prov.shutdown()
        assert result.status.status_id == status and in_progress == 0 and result.pages == 0
        assert kinds(h, f"{net}:100") == [S.DIALING, status]

    run(scenario())


def test_no_answer(tmp_path: Path, docs: dict[str, Path]) -> None:
    async def scenario() -> None:
        h = Harness(tmp_path)  # nobody answers line 101
        prov, net = await setup(h, ring_interval=0.02, answer_timeout=0.2)
        r1, n1 = await h.send(prov, f"{net}:100", docs["one"], "101")
        r2, n2 = await h.send(prov, f"{net}:100", docs["one"], "*11")
        await asyncio.sleep(0.05)  # let the ring task see the caller hang up
        await prov.shutdown()
        assert r1.status.status_id == S.NO_ANSWER and n1 == 0
        assert r2.status.status_id == S.NO_ANSWER and n2 == 0
        assert len(h.rings[f"{net}:101"]) >= 2
        assert [lid for lid, _ in h.ended] == [f"{net}:101"]

    run(scenario())


@pytest.mark.parametrize(
    ("number", "check"),
    [
        ("*30", lambda r: r.ok and r.pages == 2 and r.extra["far_end_pages"] == 2),
        ("*20", lambda r: r.status.status_id == S.NOT_FAX_CALL and r.pages == 0),
        ("*33", lambda r: r.ok and r.modem == "v27ter" and r.bit_rate in (2400, 4800)),
        ("*34", lambda r: r.ok and r.compression == "mh" and not r.ecm),
        (
            "*311",
            lambda r: r.status.status_id == S.DISCONNECTED and r.extra["far_end_pages"] == 1,
        ),
        ("*3240", lambda r: r.ok and r.pages == 2),
        ("*3215", lambda r: r.status.status_id == S.DISCONNECTED and r.pages < 2),
    ],
    ids=["robot", "voice", "v27ter", "mh-no-ecm", "drop-after-1", "snr40", "snr15"],
)
def test_special_far_ends(tmp_path: Path, docs: dict[str, Path], number: str, check: Any) -> None:
    async def scenario() -> None:
        h = Harness(tmp_path)
        prov, net = await setup(h, noise_seed=3)
        result, in_progress = await h.send(prov, f"{net}:100", docs["g4"], number)
        await prov.shutdown()
        assert in_progress == 1  # every one of these answers
        assert check(result), result

    run(scenario())


def test_robot_keeps_what_it_received(tmp_path: Path, docs: dict[str, Path]) -> None:
    async def scenario() -> None:
        keep = tmp_path / "robot"
        keep.mkdir()
        h = Harness(tmp_path)
        prov, net = await setup(h, robot_dir=str(keep), robot_ident="ROBOT 9")
        ok, _ = await h.send(prov, f"{net}:100", docs["g3"], "*30")
        cut, _ = await h.send(prov, f"{net}:100", docs["g3"], "*311")
        await prov.shutdown()
        assert ok.ok and ok.remote_ident == "ROBOT 9"
        assert same_pages(docs["g3"], Path(ok.extra["far_end_file"]))
        kept = tiff_pixels(Path(cut.extra["far_end_file"]))
        assert len(kept) == 1 and np.array_equal(kept[0], tiff_pixels(docs["g3"])[0])

    run(scenario())


def test_line_drops_after_page_one(tmp_path: Path, docs: dict[str, Path]) -> None:
    async def scenario() -> None:
        h = Harness(tmp_path)
        prov, net = await setup(h)
        h.answer_after[f"{net}:101"] = 1
        got = h.expect(f"{net}:101")
        result, _ = await h.send(prov, f"{net}:100", docs["g4"], "*311#101")
        rx = await got
        await prov.shutdown()
        assert result.status.status_id == S.DISCONNECTED
        assert rx.result.status.status_id == S.DISCONNECTED and rx.result.pages == 1
        kept = tiff_pixels(rx.file)
        assert len(kept) == 1 and np.array_equal(kept[0], tiff_pixels(docs["g4"])[0])

    run(scenario())


def test_noisy_line_to_a_real_line(tmp_path: Path, docs: dict[str, Path]) -> None:
    async def scenario() -> None:
        h = Harness(tmp_path)
        prov, net = await setup(h, noise_seed=5, codec="ulaw")
        h.answer_after[f"{net}:101"] = 1
        got = h.expect(f"{net}:101")
        result, _ = await h.send(prov, f"{net}:100", docs["g3"], "*3245#101")
        rx = await got
        await prov.shutdown()
        assert result.ok and rx.result.ok and same_pages(docs["g3"], rx.file)

    run(scenario())


@pytest.mark.parametrize("who", ["caller", "callee"])
def test_abort_mid_call(tmp_path: Path, docs: dict[str, Path], who: str) -> None:
    """Abort once page 1 is through; the other end sees a disconnect and keeps its pages."""

    async def scenario() -> None:
        h = Harness(tmp_path)
        prov, net = await setup(h)
        a, b = f"{net}:100", f"{net}:101"
        h.answer_after[b] = 1
        got = h.expect(b)
        aborted = asyncio.Event()
        job = await prov.start_job(a)
        watched = a if who == "caller" else b

        def status(local_id: str, st: FaxDevStatus) -> None:
            if local_id == watched and st.page_count >= 2 and not aborted.is_set():
                aborted.set()
                target = job if who == "caller" else h.receive_jobs[b]
                asyncio.get_running_loop().create_task(prov.abort(target))

        h.watchers.append(status)
        result = await prov.send(job, FaxSend(docs["dense"], "101"), lambda: None)
        await prov.end_job(job)
        rx = await got
        await prov.shutdown()
        assert aborted.is_set()
        mine, theirs = (result, rx.result) if who == "caller" else (rx.result, result)
        assert mine.status.status_id == S.USER_ABORT
        assert theirs.status.status_id == S.DISCONNECTED
        assert 1 <= rx.result.pages < 4
        kept = tiff_pixels(rx.file)
        assert len(kept) == rx.result.pages
        sent = tiff_pixels(docs["dense"])
        assert all(np.array_equal(x, y) for x, y in zip(kept, sent, strict=False))

    run(scenario())


def test_abort_while_ringing(tmp_path: Path, docs: dict[str, Path]) -> None:
    async def scenario() -> None:
        h = Harness(tmp_path)  # 101 never answers
        prov, net = await setup(h, ring_interval=0.02, answer_timeout=30.0)
        job = await prov.start_job(f"{net}:100")
        task = asyncio.create_task(prov.send(job, FaxSend(docs["one"], "101"), lambda: None))
        while len(h.rings[f"{net}:101"]) < 2:
            await asyncio.sleep(0.01)
        await prov.abort(job)
        result = await task
        await prov.end_job(job)
        await asyncio.sleep(0.05)
        await prov.shutdown()
        assert result.status.status_id == S.USER_ABORT
        assert [lid for lid, _ in h.ended] == [f"{net}:101"]

    run(scenario())


def test_second_call_to_a_busy_line(tmp_path: Path, docs: dict[str, Path]) -> None:
    async def scenario() -> None:
        h = Harness(tmp_path)
        prov, net = await setup(h, numbers=("100", "101", "102"))
        a, b, c = (f"{net}:{n}" for n in ("100", "101", "102"))
        h.answer_after[b] = 1
        got = h.expect(b)
        second: list[asyncio.Task[Any]] = []

        def status(local_id: str, st: FaxDevStatus) -> None:
            if local_id == b and st.status_id == S.ANSWERED and not second:
                second.append(asyncio.create_task(h.send(prov, c, docs["one"], "101")))

        h.watchers.append(status)
        first, _ = await h.send(prov, a, docs["dense"], "101")
        busy, _ = await second[0]
        rx = await got
        # The line is free again once the first call is over.
        h.answer_after[b] = 1
        got2 = h.expect(b)
        again, _ = await h.send(prov, c, docs["one"], "101")
        await got2
        await prov.shutdown()
        assert first.ok and rx.result.ok
        assert busy.status.status_id == S.BUSY
        assert again.ok

    run(scenario())


def test_line_with_open_job_is_busy(tmp_path: Path, docs: dict[str, Path]) -> None:
    async def scenario() -> None:
        h = Harness(tmp_path)
        prov, net = await setup(h)
        job = await prov.start_job(f"{net}:101")  # the service is about to send on 101
        result, _ = await h.send(prov, f"{net}:100", docs["one"], "101")
        await prov.end_job(job)
        await prov.shutdown()
        assert result.status.status_id == S.BUSY

    run(scenario())


def test_watchdog_ends_a_long_call(tmp_path: Path, docs: dict[str, Path]) -> None:
    async def scenario() -> None:
        h = Harness(tmp_path)
        prov, net = await setup(h, max_call_seconds=30)
        h.answer_after[f"{net}:101"] = 1
        got = h.expect(f"{net}:101")
        result, _ = await h.send(prov, f"{net}:100", docs["dense"], "101")
        rx = await got
        await prov.shutdown()
        assert result.status.status_id == S.DISCONNECTED
        assert rx.result.status.status_id == S.DISCONNECTED
        assert result.extra["cut"] == "watchdog"
        assert result.duration <= 31

    run(scenario())


def test_job_rules(tmp_path: Path, docs: dict[str, Path]) -> None:
    async def scenario() -> None:
        h = Harness(tmp_path)
        prov, net = await setup(h)
        a = f"{net}:100"
        job = await prov.start_job(a)
        with pytest.raises(ProviderError):
            await prov.start_job(a)
        with pytest.raises(ProviderError):
            await prov.start_job(f"{net}:555")
        # Receiving with nothing ringing is a result, not a crash.
        r = await prov.receive(job, FaxReceive(tmp_path / "x.tif"))
        assert r.status.status_id == S.DISCONNECTED
        await prov.end_job(job)
        with pytest.raises(ProviderError):
            await prov.send(job, FaxSend(docs["one"], "101"), lambda: None)
        # Abort before send: the send ends at once as a user abort.
        job2 = await prov.start_job(a)
        await prov.abort(job2)
        r2 = await prov.send(job2, FaxSend(docs["one"], "101"), lambda: None)
        await prov.end_job(job2)
        assert r2.status.status_id == S.USER_ABORT
        await prov.shutdown()
        with pytest.raises(ProviderError):
            await prov.start_job(a)

    run(scenario())


def test_bad_input_raises_before_dialing(tmp_path: Path, docs: dict[str, Path]) -> None:
    async def scenario() -> None:
        h = Harness(tmp_path)
        prov, net = await setup(h)
        h.answer_after[f"{net}:101"] = 1
        bad = tmp_path / "not-a-fax.tif"
        bad.write_bytes(b"this is not a TIFF")
        for fax, error in [
            (FaxSend(bad, "101"), FaxError),
            (FaxSend(tmp_path / "missing.tif", "101"), FaxError),
            (FaxSend(docs["one"], "101", caller_number="x" * 40), InvalidInput),
        ]:
            job = await prov.start_job(f"{net}:100")
            with pytest.raises(error) as info:
                await prov.send(job, fax, lambda: None)
            await prov.end_job(job)
            assert info.value.hint
        # Nothing was dialed, and the line still works.
        assert h.rings[f"{net}:101"] == []
        got = h.expect(f"{net}:101")
        ok, _ = await h.send(prov, f"{net}:100", docs["one"], "101")
        await got
        await prov.shutdown()
        assert ok.ok

    run(scenario())


@pytest.mark.slow
def test_realtime_short_exchange(tmp_path: Path, docs: dict[str, Path]) -> None:
    async def scenario() -> None:
        h = Harness(tmp_path)
        prov, net = await setup(h, timing="realtime", ring_interval=0.2, answer_timeout=5.0)
        h.answer_after[f"{net}:101"] = 1
        got = h.expect(f"{net}:101")
        result, _ = await h.send(prov, f"{net}:100", docs["one"], "101")
        rx = await got
        await prov.shutdown()
        assert result.ok and rx.result.ok and same_pages(docs["one"], rx.file)
        assert "late_ticks" in result.extra
        # Line time is what the call took; in real time that is also roughly the wall time.
        assert result.extra["wall_seconds"] >= result.duration * 0.5

    run(scenario(), timeout=90)


@pytest.mark.parametrize(
    ("number", "check"),
    [
        ("*20", lambda r: r.status.status_id == S.NOT_FAX_CALL),
        ("*311", lambda r: r.status.status_id == S.DISCONNECTED and r.extra["far_end_pages"] == 1),
        ("*33", lambda r: r.ok and r.modem == "v27ter"),
        ("*34", lambda r: r.ok and r.compression == "mh" and not r.ecm),
    ],
    ids=["voice", "drop-after-1", "v27ter", "mh-no-ecm"],
)
def test_special_far_ends_over_t38(
    tmp_path: Path, docs: dict[str, Path], number: str, check: Any
) -> None:
    async def scenario() -> None:
        h = Harness(tmp_path)
        prov, net = await setup(h, mode="t38")
        result, _ = await h.send(prov, f"{net}:100", docs["g4"], number)
        await prov.shutdown()
        assert result.extra["media"] == "t38"
        assert check(result), result

    run(scenario())


def test_shutdown_mid_call(tmp_path: Path, docs: dict[str, Path]) -> None:
    async def scenario() -> None:
        h = Harness(tmp_path)
        prov, net = await setup(h)
        a, b = f"{net}:100", f"{net}:101"
        h.answer_after[b] = 1
        got = h.expect(b)
        stopping: list[asyncio.Task[None]] = []

        def status(local_id: str, st: FaxDevStatus) -> None:
            if local_id == b and st.status_id == S.RECEIVING and not stopping:
                stopping.append(asyncio.create_task(prov.shutdown()))

        h.watchers.append(status)
        job = await prov.start_job(a)
        result = await prov.send(job, FaxSend(docs["dense"], "101"), lambda: None)
        rx = await got
        await stopping[0]
        assert result.status.status_id == S.DISCONNECTED
        assert rx.result.status.status_id == S.DISCONNECTED and rx.result.pages < 4
        assert net not in networks()
        with pytest.raises(ProviderError):
            await prov.start_job(a)

    run(scenario())


def test_unusable_receive_file_leaves_call_ringing(tmp_path: Path, docs: dict[str, Path]) -> None:
    async def scenario() -> None:
        h = Harness(tmp_path / "no" / "such" / "dir")
        prov, net = await setup(h, ring_interval=0.02, answer_timeout=0.3)
        h.answer_after[f"{net}:101"] = 1
        got = h.expect(f"{net}:101")
        result, in_progress = await h.send(prov, f"{net}:100", docs["one"], "101")
        with pytest.raises(FaxError) as info:
            await got
        await asyncio.sleep(0.05)
        await prov.shutdown()
        assert info.value.hint
        # The answer failed on the callee's side before picking up: the caller heard rings.
        assert result.status.status_id == S.NO_ANSWER and in_progress == 0
        assert len(h.rings[f"{net}:101"]) >= 2

    run(scenario())

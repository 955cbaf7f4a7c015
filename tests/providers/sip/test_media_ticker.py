"""The SIP media Ticker (#19): it reads its calls' sockets itself and steps them on a thread of
its own; what a step reports reaches the call on the event loop.

Real spandsp sessions on real loopback UDP sockets, no SIP: two FaxMedia per call, one per
Ticker (one Ticker per provider, as two fax servers would have).
"""

from __future__ import annotations

import asyncio
import socket
import threading
from pathlib import Path

import pytest
from tests.support.ports import reserve_port_range

from lanfax.engine.batch import available as batch_available
from lanfax.engine.options import SessionOptions
from lanfax.engine.session import AudioFaxSession
from lanfax.model.errors import ProviderError
from lanfax.providers.sip.media import FaxMedia, MediaPorts, bind_media
from lanfax.providers.sip.sdp import Media, T38Params
from lanfax.providers.sip.ticker import Ticker


def _range() -> tuple[int, int]:
    """Ten consecutive free ports, this test's alone (tests/support/ports.py: fixed ports
    collided with another test run on the same machine)."""
    return reserve_port_range(10)


#: The batched media path needs the engine's compiled helper (built by the bootstrap).
needs_helper = pytest.mark.skipif(
    not batch_available(), reason="the engine's compiled helper is not built"
)


async def _pair(
    kind: str,
    doc: Path,
    rx: Path,
    progress: list[tuple[str, str, int, bool]],
    *,
    max_seconds: float = 120.0,
) -> tuple[FaxMedia, FaxMedia]:
    low = _range()[0]
    ends = []
    for calling in (True, False):
        ports = await bind_media("127.0.0.1", (low, low + 9))
        role = "caller" if calling else "callee"

        def on_progress(what: str, pages: int, info: str, role: str = role) -> None:
            on_loop = threading.current_thread() is threading.main_thread()
            progress.append((role, what, pages, on_loop))

        ends.append(
            FaxMedia(
                ports,
                calling=calling,
                options=SessionOptions(),
                tx_file=doc if calling else None,
                rx_file=None if calling else rx,
                jitter_frames=3,
                redundancy=3,
                max_seconds=max_seconds,
                on_progress=on_progress,
            )
        )
    a, b = ends
    t38 = T38Params() if kind == "t38" else None

    def port(m: FaxMedia) -> int:
        return m.ports.rtp_port if kind == "audio" else m.ports.udptl_port

    a.set_remote(Media(kind, "127.0.0.1", port(b), t38=t38))
    b.set_remote(Media(kind, "127.0.0.1", port(a), t38=t38))
    return a, b


async def _until(predicate: object, timeout: float) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():  # type: ignore[operator]
            await asyncio.sleep(0.05)


async def _ticks(ticker: Ticker, n: int) -> None:
    """Wait until the ticker's thread has run ``n`` more ticks."""
    seen = ticker.total_ticks
    await _until(lambda: ticker.total_ticks >= seen + n, 10.0)


def _one_by_one(ticker: Ticker) -> None:
    """What a Ticker does without the engine's compiled helper: each call steps its own
    session, sockets are read with recv and written with sendto per datagram."""
    ticker._rtp = ticker._t38 = ticker._io = None


@pytest.mark.parametrize(
    "batched", [pytest.param(True, marks=needs_helper), False], ids=["batched", "one-by-one"]
)
@pytest.mark.parametrize("kind", ["audio", "t38"])
def test_a_fax_on_the_ticker_threads_reports_on_the_loop(
    kind: str, batched: bool, tmp_path: Path, sip_docs: dict[str, Path]
) -> None:
    """One page in real time through two threaded Tickers: both ends complete, every
    progress report runs on the event loop's thread, the sockets were read (RTP frames
    played or UDPTL packets received) and nothing stays registered once the calls close.
    Batched (#19: the compiled helper's RtpBatch or T38Batch with the calls' wire formats
    in C, recv_many and send_columns: a few C calls per tick for every call) and one call
    at a time (its fallback)."""

    async def scenario() -> None:
        progress: list[tuple[str, str, int, bool]] = []
        a, b = await _pair(kind, sip_docs["one"], tmp_path / "rx.tif", progress)
        caller, callee = Ticker(), Ticker()
        if batched:
            assert caller._io is not None and caller._t38 is not None
        else:
            _one_by_one(caller)
            _one_by_one(callee)
        try:
            caller.add(a)
            callee.add(b)
            await _until(lambda: a.session_done and b.session_done, 90.0)
            await _until(lambda: len([p for p in progress if p[1] == "ended"]) == 2, 10.0)
            caller.remove(a)
            callee.remove(b)
            a.close()
            b.close()
            assert a.result is not None and a.result.ok, a.result
            assert b.result is not None and b.result.ok, b.result
            assert b.pages == 1 and a.pages == 1
            assert all(on_loop for *_, on_loop in progress), progress
            assert ("callee", "page", 1, True) in progress
            assert {p[1] for p in progress} >= {"negotiated", "page", "ended"}
            if kind == "audio":
                assert b.stats["rtp_played"] > 100
            else:
                assert b.stats["udptl_received"] > 10
            assert caller.total_ticks > 0 and caller.call_ticks >= a.ticks
            assert not caller._sockets and not callee._sockets
            if batched:  # the far addresses leave the send table with their calls
                for t in (caller, callee):
                    io = t._io
                    assert io is not None
                    await _until(lambda io=io: io.destinations == 0, 10.0)
        finally:
            caller.close()
            callee.close()

    asyncio.run(scenario())


def test_manual_ticks_read_every_datagram_that_arrived(tmp_path: Path) -> None:
    """A tick queues every datagram on the watched sockets (several per socket after a
    stall), the newest 200 at most; the RTP socket of a call on T.38 keeps its queue."""

    async def scenario() -> None:
        ports = await bind_media("127.0.0.1", _range())
        media = FaxMedia(
            ports,
            calling=False,
            options=SessionOptions(),
            tx_file=None,
            rx_file=tmp_path / "rx.tif",
            jitter_frames=3,
            redundancy=3,
            max_seconds=60.0,
            on_progress=lambda *_: None,
        )
        ticker = Ticker()
        ticker.manual()
        peer = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        peer.bind(("127.0.0.1", 0))
        try:
            media.set_remote(Media("t38", "127.0.0.1", peer.getsockname()[1], t38=T38Params()))
            ticker.add(media)
            rtp = ("127.0.0.1", ports.rtp_port)
            for first, count in ((0, 120), (120, 130)):  # two ticks' worth, 250 in all
                for i in range(first, first + count):
                    peer.sendto(bytes([0x80, 0, i >> 8, i & 0xFF]) + bytes(8 + 160), rtp)
                ticker.tick()
            assert len(ports.rtp.queue) == 200  # the newest 200 of 250
            assert [(d[2] << 8) | d[3] for d in (ports.rtp.queue[0], ports.rtp.queue[-1])] == [
                50,
                249,
            ]
            for i in range(3):
                peer.sendto(bytes([0, i, 1, 0x06, 0, 0]), ("127.0.0.1", ports.udptl_port))
            ticker.tick()
            assert not ports.udptl.queue  # stepped: the T.38 session took them
            # Counted by the call's UDPTL receiver: in C when the batch carried it (#19).
            receiver = media._line if media._wired else media._udptl_rx
            assert receiver is not None and receiver.received == 3
            ticker.remove(media)
            media.close()
            assert media.done.done() and not ticker._sockets
        finally:
            peer.close()
            ticker.close()

    asyncio.run(scenario())


def test_a_failing_step_fails_its_call_on_the_loop_and_the_others_go_on(
    tmp_path: Path, sip_docs: dict[str, Path]
) -> None:
    async def scenario() -> None:
        progress: list[tuple[str, str, int, bool]] = []
        a, b = await _pair("audio", sip_docs["one"], tmp_path / "rx.tif", progress)
        ticker = Ticker()
        broken = await bind_media("127.0.0.1", _range())
        bad = FaxMedia(
            broken,
            calling=True,
            options=SessionOptions(),
            tx_file=sip_docs["one"],
            rx_file=None,
            jitter_frames=3,
            redundancy=3,
            max_seconds=60.0,
            on_progress=lambda *_: None,
        )
        bad.set_remote(Media("audio", "127.0.0.1", 9))

        def boom() -> None:
            raise RuntimeError("a bug in one call")

        bad._audio_in = boom  # type: ignore[method-assign]  # stepped alone
        bad._wire_in = boom  # type: ignore[method-assign]  # or in the batch
        try:
            for m in (a, b, bad):
                ticker.add(m)
            with pytest.raises(RuntimeError, match="a bug in one call"):
                await asyncio.wait_for(asyncio.shield(bad.done), 10.0)
            ticks = a.ticks
            await _until(lambda: a.ticks > ticks + 10, 10.0)  # the others still run
            assert bad not in ticker._media
        finally:
            for m in (a, b, bad):
                ticker.remove(m)
                m.close()
            ticker.close()

    asyncio.run(scenario())


def test_closing_calls_while_the_thread_ticks_is_safe(
    tmp_path: Path, sip_docs: dict[str, Path]
) -> None:
    """Calls come and go on the loop while the thread steps the others: a call is never
    stepped after close (its spandsp state is gone), and the sockets go with it."""

    async def scenario() -> None:
        progress: list[tuple[str, str, int, bool]] = []
        ticker = Ticker()
        # A call that stays throughout keeps the thread ticking while the others go.
        keep = await _pair("audio", sip_docs["one"], tmp_path / "keep.tif", progress)
        try:
            for m in keep:
                ticker.add(m)
            for round_ in range(6):
                pairs = [
                    await _pair(kind, sip_docs["one"], tmp_path / f"rx-{round_}-{i}.tif", progress)
                    for i, kind in enumerate(("audio", "t38", "audio"))
                ]
                for a, b in pairs:
                    ticker.add(a)
                    ticker.add(b)
                await _ticks(ticker, 3)
                closed: dict[FaxMedia, int] = {}
                for a, b in pairs:
                    for m in (a, b):
                        ticker.remove(m)
                        m.close()
                        closed[m] = m.ticks
                        assert m.session is not None and m.session.closed
                await _ticks(ticker, 3)
                assert {m: m.ticks for m in closed} == closed  # not stepped after close
                assert set(ticker._media) == set(keep)
            assert len(ticker._sockets) == 4  # the kept call's
        finally:
            for m in keep:
                ticker.remove(m)
                m.close()
            ticker.close()
        assert not ticker._sockets and not ticker._media

    asyncio.run(scenario())


def test_ports_closed_before_remove_leave_nothing_registered() -> None:
    async def scenario() -> None:
        ports: MediaPorts = await bind_media("127.0.0.1", _range())
        ticker = Ticker()
        ticker.manual()
        media = FaxMedia(
            ports,
            calling=True,
            options=SessionOptions(),
            tx_file=None,
            rx_file=None,
            jitter_frames=3,
            redundancy=3,
            max_seconds=60.0,
            on_progress=lambda *_: None,
        )
        ticker.add(media)
        assert set(ticker._sockets) == {ports.rtp.fd, ports.udptl.fd}
        ports.close()
        assert not ticker._sockets
        ticker.remove(media)  # no error: already gone
        assert ticker.tick() is False
        ticker.close()

    asyncio.run(scenario())


def test_every_ticker_of_a_process_steps_on_one_media_thread(
    tmp_path: Path, sip_docs: dict[str, Path]
) -> None:
    """#19: two providers' Tickers (here the two ends of an audio and of a T.38 call) are
    stepped by one thread of the process, not one each, each on its own phase; closing one
    Ticker leaves the other's calls running on it; reports still reach the loop."""

    async def scenario() -> None:
        progress: list[tuple[str, str, int, bool]] = []
        audio = await _pair("audio", sip_docs["one"], tmp_path / "a.tif", progress)
        t38 = await _pair("t38", sip_docs["one"], tmp_path / "t.tif", progress)
        stepped_on: set[threading.Thread] = set()

        def record(ev: object) -> None:
            stepped_on.add(threading.current_thread())

        for m in (*audio, *t38):
            m._watch = record
        first, second = Ticker(), Ticker()
        try:
            first.add(audio[0])
            first.add(t38[0])
            await _ticks(first, 2)
            second.add(audio[1])
            second.add(t38[1])
            await _until(lambda: all(m.negotiated for m in (*audio, *t38)), 60.0)
            media_threads = [t for t in threading.enumerate() if t.name == "lanfax-sip-media"]
            assert len(media_threads) == 1
            assert stepped_on == set(media_threads)
            # Each Ticker on its own phase: the second's schedule started when its calls did.
            assert second._start_at - first._start_at >= 0.02
            # The first Ticker goes (its ends of the calls stop); the second's keep ticking.
            first.close()
            ticks = audio[1].ticks
            await _until(lambda: audio[1].ticks > ticks + 5, 10.0)
            assert [t for t in threading.enumerate() if t.name == "lanfax-sip-media"] == (
                media_threads
            )
            stopped = audio[0].ticks
            await _ticks(second, 3)
            assert audio[0].ticks == stopped
            assert all(on_loop for *_, on_loop in progress), progress
        finally:
            for m in (*audio, *t38):
                first.remove(m)
                second.remove(m)
                m.close()
            first.close()
            second.close()

    asyncio.run(scenario())


@needs_helper
def test_a_tick_sends_nothing_from_a_socket_closed_during_it(tmp_path: Path) -> None:
    """#19: a tick's datagrams go out together at its end (send_many). A call whose
    sockets the loop closes after its step and before that send (its call ended) sends
    nothing: the descriptor may already be another socket's. The other calls' go out."""

    async def scenario() -> None:
        peer = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        peer.bind(("127.0.0.1", 0))
        peer.settimeout(5.0)
        ticker = Ticker()
        ticker.manual()
        assert ticker._io is not None
        calls = []
        for i in range(2):
            ports = await bind_media("127.0.0.1", _range())
            media = FaxMedia(
                ports,
                calling=True,
                options=SessionOptions(),
                tx_file=None,
                rx_file=tmp_path / f"rx-{i}.tif",
                jitter_frames=3,
                redundancy=3,
                max_seconds=60.0,
                on_progress=lambda *_: None,
            )
            media.set_remote(Media("audio", "127.0.0.1", peer.getsockname()[1]))
            ticker.add(media)
            calls.append(media)
        closing, staying = calls
        assert ticker._rtp is not None
        batch_tick = ticker._rtp.tick
        fd = closing.ports.rtp.fd
        reused: list[socket.socket] = []

        def tick_then_closed() -> list[AudioFaxSession]:
            ticked = batch_tick()
            closing.ports.close()  # as the loop would, between the tick and the send
            # ... and a new socket takes the descriptor at once (the lowest free one).
            reuse = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            reuse.bind(("127.0.0.1", 0))
            reused.append(reuse)
            assert reuse.fileno() == fd
            return ticked

        ticker._rtp.tick = tick_then_closed  # type: ignore[method-assign]
        try:
            assert ticker.tick()
            data, source = peer.recvfrom(2048)
            assert source[1] == staying.ports.rtp_port and len(data) == 12 + 160
            peer.setblocking(False)
            with pytest.raises(BlockingIOError):  # nothing from the closed call's descriptor
                peer.recvfrom(2048)
            assert reused
        finally:
            for s in reused:
                s.close()
            for m in calls:
                ticker.remove(m)
                m.close()
            ticker.close()
            peer.close()

    asyncio.run(scenario())


def test_bind_media_takes_numeric_addresses_and_names() -> None:
    """A numeric media address is bound as given (#19: without the resolver's thread); a
    name is still resolved; an address that is not this host's is a ProviderError."""

    async def scenario() -> None:
        for host in ("127.0.0.1", "localhost"):
            low = _range()[0]
            ports = await bind_media(host, (low, low + 9))
            try:
                for sock in (ports.rtp, ports.udptl):
                    assert sock.sock is not None
                    # (a name may resolve to either loopback first)
                    assert sock.sock.getsockname()[0] in ("127.0.0.1", "::1")
                assert ports.rtp_port % 2 == 0 and ports.udptl_port == ports.rtp_port + 1
                assert low <= ports.rtp_port <= low + 9
            finally:
                ports.close()
        low = _range()[0]
        with pytest.raises(ProviderError, match="no free media ports"):
            await bind_media("192.0.2.1", (low, low + 9))  # TEST-NET-1: not ours

    asyncio.run(scenario())

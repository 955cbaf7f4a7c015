"""Running a connected virtual call: sessions, the line model, and the results of both sides.

The caller's provider calls :func:`run_call` once the far end answered. It runs the
:class:`~.media.Exchange` (in a worker thread or in real time), then turns each side's
spandsp result into a :class:`~lanfax.providers.api.CallResult`, the way a real provider
would with what it knows about the call:

* the side that hung up (FaxDevAbortOperation) gets USER_ABORT;
* a side whose line was cut (the far end hung up, the line dropped, the watchdog fired) and
  that had not completed gets DISCONNECTED, with the pages it had;
* a caller whose call was answered but that never heard a DIS (no phase B) reached something
  that is not a fax machine: NOT_FAX_CALL;
* otherwise the engine's own mapping of the T.30 completion code stands.

(:func:`lanfax.providers.common.call_end` holds these rules for every provider; a cut
counts for the sides still in the call when it came, ``Exchange.cut_sides``.)
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from lanfax.engine import g711, line
from lanfax.engine.events import SessionResult
from lanfax.engine.options import MAX_HEADER, SessionOptions
from lanfax.engine.session import AudioFaxSession, T38FaxSession
from lanfax.providers.api import CallResult, FaxDevStatus, FaxSend, SendOptions
from lanfax.providers.common import call_end, session_options, session_result
from lanfax.providers.virtual.media import (
    AudioEnd,
    Codec,
    CutReason,
    Exchange,
    PacketEnd,
    Progress,
    RealtimeRunner,
    Side,
    run_fast,
)
from lanfax.providers.virtual.network import Answer, Call
from lanfax.providers.virtual.voice import VoiceEnd

if TYPE_CHECKING:
    from lanfax.providers.virtual.provider import VirtualJob, VirtualProvider

__all__ = [
    "LineModel",
    "make_session",
    "robot_answer",
    "run_call",
]

#: A noisy line is also a long one: it loses 10 dB before the noise is added.
NOISY_LINE_LOSS_DB = 10.0


class LineModel:
    """One direction of the line: G.711 companding; on a noisy line, 10 dB of loss and then
    white Gaussian noise, there all the time (also in silences), at ``snr_db`` below the
    attenuated modem signal. spandsp copes down to about 25 dB; at 20 dB it fails."""

    def __init__(self, codec: str, snr_db: float | None, rng: np.random.Generator) -> None:
        self._codec = codec
        self._snr = snr_db
        self._rng = rng
        self._signal = line.NOMINAL_SIGNAL_RMS * 10.0 ** (-NOISY_LINE_LOSS_DB / 20.0)

    @property
    def identity(self) -> bool:
        return self._codec == "slin" and self._snr is None

    @property
    def g711_law(self) -> str | None:
        """The law when G.711 coding is all this line does (the C batch applies it)."""
        return self._codec if self._codec != "slin" and self._snr is None else None

    def __call__(self, samples: NDArray[np.int16]) -> NDArray[np.int16]:
        out = samples
        if self._codec != "slin":
            out = g711.roundtrip(out, self._codec)
        if self._snr is not None:
            out = line.attenuate(out, NOISY_LINE_LOSS_DB)
            out = line.add_noise(out, self._snr, self._rng, signal_rms=self._signal)
        return out


def page_header(fax: FaxSend, fallback: str) -> str | None:
    """The branding text: the job's own header, else (branding on) the sender's name."""
    if fax.options.page_header is not None:
        return fax.options.page_header
    if not fax.branding:
        return None
    text = fax.caller_name or fax.caller_number or fallback
    return "".join(ch for ch in text if 0x20 <= ord(ch) < 0x7F)[:MAX_HEADER] or None


def make_session(
    media: str,
    calling: bool,
    options: SessionOptions,
    *,
    tx_file: Path | None = None,
    rx_file: Path | None = None,
) -> AudioFaxSession | T38FaxSession:
    """A spandsp session of the call's media (the engine checks the files first)."""
    if media == "t38":
        return T38FaxSession(calling, options, tx_file=tx_file, rx_file=rx_file)
    return AudioFaxSession(calling, options, tx_file=tx_file, rx_file=rx_file)


def robot_answer(provider: VirtualProvider, call: Call) -> Answer:
    """The far end of a special number: a voice, or a spandsp receiver with the robot's
    capabilities whose file is kept in ``robot_dir`` (or a temporary directory)."""
    if call.dialed.kind.value == "voice":
        return Answer(VoiceEnd(), None, _ignore, far_end="voice")
    directory = provider.robot_dir()
    keep = provider.config.robot_dir is not None
    rx_file = directory / f"robot-{call.call_id}.tif"
    ident = provider.config.robot_ident
    far_end = call.dialed.far_end
    options = (
        session_options(SendOptions(), ident)
        if far_end is None
        else SessionOptions(
            local_ident=ident,
            ecm=far_end.ecm,
            modems=far_end.modems,
            compressions=far_end.compressions,
        )
    )
    session = make_session(call.media, False, options, rx_file=rx_file)

    def cleanup() -> None:
        if not keep:
            shutil.rmtree(directory, ignore_errors=True)

    return Answer(
        _end(session),
        session,
        _ignore,
        far_end="robot",
        rx_file=rx_file if keep else None,
        cleanup=cleanup,
    )


def _ignore(_p: Progress) -> None:
    return None


def _end(session: AudioFaxSession | T38FaxSession) -> AudioEnd | PacketEnd:
    return session


async def run_call(
    provider: VirtualProvider,
    job: VirtualJob,
    call: Call,
    caller: AudioFaxSession | T38FaxSession,
    answer: Answer,
    report_caller: Callable[[Progress], None],
) -> tuple[CallResult, CallResult]:
    """Run the media of a connected call to its end; returns (caller, callee) results."""
    cfg = provider.config
    loop = asyncio.get_running_loop()
    rng = np.random.default_rng(cfg.noise_seed)
    snr = call.dialed.impairments.snr_db
    packets = call.media == "t38"
    line_model: Codec | None = None
    if not packets:
        model = LineModel(cfg.codec, snr, rng)
        line_model = None if model.identity else model
    exchange = Exchange(
        _end(caller),
        answer.end,
        packets=packets,
        line=line_model,
        max_seconds=cfg.max_call_seconds,
        max_idle_seconds=cfg.max_idle_seconds,
        drop_after_page=call.dialed.impairments.drop_after_page,
        callee_watch=answer.watch,
    )
    call.attach(exchange)
    if job.aborted:
        exchange.request_cut(CutReason.CALLER_ABORT)

    def dispatch(batch: list[Progress]) -> None:
        for p in batch:
            (report_caller if p.side is Side.CALLER else answer.report)(p)

    def hop(batch: list[Progress]) -> None:
        """(On the call's thread.) Report a batch; after a page the far end confirmed, wait
        for the service to record it before the call goes on (a simulated page takes
        milliseconds, and a kill must not find the fax at the far end but not the pages)."""
        loop.call_soon_threadsafe(dispatch, batch)
        if any(p.side is Side.CALLER and p.kind == "page" for p in batch):
            wait_recorded(loop, provider, job.local_id)

    started = loop.time()
    extra: dict[str, Any] = {"far_end": answer.far_end, "media": call.media}
    try:
        if cfg.timing == "fast":
            fut = loop.run_in_executor(None, run_fast, exchange, hop)
            try:
                await asyncio.shield(fut)
            except asyncio.CancelledError:
                # The service gave up on the send: hang up and let the thread finish.
                exchange.request_cut(CutReason.CALLER_ABORT)
                await fut
                raise
        else:
            runner = RealtimeRunner(exchange, dispatch, loop)
            runner.start()
            try:
                await runner.done
            except asyncio.CancelledError:
                runner.cancel()
                raise
            extra["late_ticks"] = runner.late_ticks
        extra["wall_seconds"] = loop.time() - started
        extra["line_seconds"] = exchange.line_seconds
        if exchange.cut_reason is not None:
            extra["cut"] = exchange.cut_reason.value
        caller_res = caller.result
        callee_res = answer.session.result if answer.session is not None else None
        if answer.far_end != "line":
            extra["far_end_pages"] = callee_res.pages_rx if callee_res is not None else 0
            if answer.rx_file is not None:
                extra["far_end_file"] = str(answer.rx_file)
        caller_cr = side_result(caller_res, Side.CALLER, exchange, extra, caller_id="", routing="")
        callee_cr = side_result(
            callee_res,
            Side.CALLEE,
            exchange,
            {"media": call.media, "line_seconds": exchange.line_seconds},
            caller_id=call.caller_number,
            routing=call.called_number,
        )
        return caller_cr, callee_cr
    finally:
        caller.close()
        if answer.session is not None:
            answer.session.close()
        if answer.cleanup is not None:
            answer.cleanup()


#: Longest a simulated call waits (wall seconds) for the service to record a confirmed page;
#: past it the call goes on and the outcome carries the page.
PROGRESS_WAIT_S = 10.0


def wait_recorded(
    loop: asyncio.AbstractEventLoop, provider: VirtualProvider, local_id: str
) -> None:
    """Block this (non-loop) thread until the service has recorded the pages reported so far
    on ``local_id`` (``ServiceCallbacks.progress_recorded``), at most PROGRESS_WAIT_S."""
    try:
        fut = asyncio.run_coroutine_threadsafe(provider._cb().progress_recorded(local_id), loop)
    except RuntimeError:  # the loop is closed (or the provider shut down): nothing to wait for
        return
    try:
        fut.result(PROGRESS_WAIT_S)
    except concurrent.futures.TimeoutError:
        fut.cancel()
    except Exception:  # the service logs its own failures; the call goes on
        pass


def side_result(
    res: SessionResult | None,
    side: Side,
    exchange: Exchange,
    extra: dict[str, Any],
    *,
    caller_id: str,
    routing: str,
) -> CallResult:
    """One side's CallResult from its spandsp result and what the line did."""
    cut = exchange.cut_reason if side in exchange.cut_sides else None
    calling = side is Side.CALLER
    end = call_end(res, cut, calling=calling, negotiated=side in exchange.negotiated)
    if res is None:
        return CallResult(
            status=FaxDevStatus(end.status, end.text, caller_id=caller_id, routing_info=routing),
            duration=exchange.line_seconds,
            extra=dict(extra),
        )
    return session_result(
        res,
        end.status,
        end.text,
        calling=calling,
        duration=exchange.line_seconds,
        extra=extra,
        caller_id=caller_id,
        routing=routing,
    )

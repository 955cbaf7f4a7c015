"""The fax on a connected IAX2 call: run the audio session to its end, hang up, and build
the :class:`~lanfax.providers.api.CallResult`.

The provider hands in what it owns (how to send a voice payload, flush the socket and log a
line), so this module needs no provider and the call's lifetime reads in one place: start the
:class:`~.media.VoicePump`, watch the call's events until the session ends or the far end
leaves, then classify (:func:`~.outcome.final_result`) with the pump's and the call's
statistics in ``extra``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from lanfax.engine.events import PhaseB, SessionEvent
from lanfax.engine.session import AudioFaxSession
from lanfax.engine.watchdog import Watchdog
from lanfax.model.errors import ProviderError
from lanfax.providers.api import CallResult
from lanfax.providers.iax2.call import CallState
from lanfax.providers.iax2.channels import CallCtx, Iax2Job
from lanfax.providers.iax2.config import Iax2Config
from lanfax.providers.iax2.events import CallEvent, HungUp, LinkLost, Rejected
from lanfax.providers.iax2.frames import Cause, MediaFormat
from lanfax.providers.iax2.media import VoicePump
from lanfax.providers.iax2.outcome import final_result

__all__ = ["run_fax"]


async def run_fax(
    job: Iax2Job,
    ctx: CallCtx,
    session: AudioFaxSession,
    report: Callable[[SessionEvent], None],
    *,
    config: Iax2Config,
    send_voice: Callable[[bytes], None],
    flush: Callable[[], None],
    log: Callable[[str], None],
) -> CallResult:
    """Run the fax over the connected call ``ctx``, hang up, and return the result.

    ``session`` is owned from here on (closed before returning). Cancellation hangs the call
    up and re-raises. A hangup or lost link from the far end stops the pump after a short
    settle, so T.30 can tell a call cut after the last page from one cut in the middle.
    """
    loop = asyncio.get_running_loop()
    call = ctx.call
    watchdog = Watchdog(config.call_timeout, config.idle_timeout)
    negotiated = False

    def reporter(ev: SessionEvent) -> None:
        # "Was T.30 heard at all?" decides NOT_FAX_CALL against DISCONNECTED.
        nonlocal negotiated
        negotiated = negotiated or isinstance(ev, PhaseB)
        report(ev)

    pump = VoicePump(session, call.media_format, send_voice, reporter, loop, watchdog)
    ctx.pump = pump
    started = loop.time()
    pump.start()
    far_end: CallEvent | None = None
    try:
        while not pump.done.done():
            waiter: asyncio.Future[Any] = asyncio.ensure_future(ctx.queue.get())
            done, _ = await asyncio.wait({waiter, pump.done}, return_when=asyncio.FIRST_COMPLETED)
            if waiter not in done:
                waiter.cancel()
                break
            event = waiter.result()
            if isinstance(event, HungUp | LinkLost | Rejected):
                far_end = event
                pump.hang_up()
        await pump.done
    except asyncio.CancelledError:
        pump.cancel()
        session.terminate()
        call.hangup(loop.time())
        flush()
        raise
    finally:
        ctx.pump = None
    if call.state not in (CallState.CLOSED, CallState.HANGING_UP):
        call.hangup(loop.time(), Cause.NORMAL_CLEARING)
        flush()
    res = session.result
    session.close()
    if res is None:
        raise ProviderError("the fax session ended without a result", hint="a bug: report it")
    extra: dict[str, Any] = {
        "codec": str(MediaFormat(call.media_format).name).lower(),
        "wall_seconds": round(loop.time() - started, 3),
        **pump.stats(),
        **{f"iax2_{k}": v for k, v in call.stats.items()},
    }
    if watchdog.fired:
        extra["watchdog"] = watchdog.fired
    if far_end is not None:
        extra["far_end_hangup"] = str(getattr(far_end, "cause", "") or type(far_end).__name__)
    result = final_result(
        res,
        calling=call.outgoing,
        aborted=job.aborted,
        far_end_gone=far_end is not None,
        negotiated=negotiated,
        extra=extra,
        caller_id=ctx.incoming.calling_number if ctx.incoming else "",
        routing=config.number if ctx.incoming else "",
    )
    job.set_status(result.status)
    log(
        f"call {call.local_call} ended: {result.status.status_id.name}, {result.pages}"
        f" page(s), {result.bit_rate} bit/s, ecm={result.ecm}, {result.compression},"
        f" T.30 {result.t30_code} {result.t30_text!r}, late frames {pump.late_frames}"
    )
    return result

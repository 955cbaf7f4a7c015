"""ModemProvider: one device per Class 1 fax modem on a serial tty (``type = "modem"``).

At start each tty is locked (UUCP lock), opened and probed: ``ATZ``, ``ATE0``, the
configured ``init`` commands, then ``AT+FCLASS=?``, ``AT+FTM=?``, ``AT+FRM=?`` and ``ATI``.
What the modem offers (Class 1 / 1.0, V.17, V.29, V.27ter) is recorded in the device's
capabilities. A tty that cannot be opened, does not answer or has no Class 1 keeps its
device with ``capabilities["error"]`` naming the tty; its jobs end LINE_UNAVAILABLE and the
other modems work on.

While a modem is idle, its tty is watched for ``RING`` (and caller id lines, ``NMBR=`` /
``NAME=``): each ring is reported (``callbacks.ring``), and the service answers through
:meth:`ModemProvider.receive` (``ATA``). ``answer = "manual"`` reports rings but refuses
to answer. Sending dials ``ATD<T|P><dial_prefix><number>``.

How a call that did not complete is reported (FS_* statuses):

=====================================  ===============
modem says                             status
=====================================  ===============
BUSY                                   BUSY
NO ANSWER, NO CARRIER (after ATD)      NO_ANSWER
NO DIALTONE                            NO_DIAL_TONE
ERROR, no reply, the tty failed        LINE_UNAVAILABLE
connected, T.30 ended badly            from the T.30 completion code
=====================================  ===============
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, ClassVar

from lanfax.engine.events import PageDone, PhaseB, SessionEvent
from lanfax.engine.frontend import FrontEndFaxSession
from lanfax.engine.options import SessionOptions
from lanfax.model.codes import PortFlags, ProviderStatus
from lanfax.model.errors import FaxError, ProviderError
from lanfax.providers.api import (
    CallResult,
    FaxDevStatus,
    FaxReceive,
    FaxSend,
    IncomingCall,
    JobHandle,
    OnCallInProgress,
    ProviderDevice,
    ServiceCallbacks,
)
from lanfax.providers.common import (
    CutReason,
    LineProvider,
    ProviderJob,
    ReceiveGuard,
    call_end,
    receiving_status,
    sending_status,
    session_options,
    session_result,
)
from lanfax.providers.modem.class1 import Class1Dialogue, Outcome
from lanfax.providers.modem.config import ModemConfig, parse_config
from lanfax.providers.modem.tty import ModemPort

__all__ = ["ModemProvider", "parse_probe"]

_log = logging.getLogger("lanfax.providers.modem")
_MODULATIONS = {
    24: "v27ter",
    48: "v27ter",
    72: "v29",
    96: "v29",
    73: "v17",
    74: "v17",
    97: "v17",
    98: "v17",
    121: "v17",
    122: "v17",
    145: "v17",
    146: "v17",
}
#: A ring not followed by another within this many seconds: the caller gave up.
RING_GAP = 8.0


def parse_probe(answers: Mapping[str, tuple[str, list[str]]]) -> dict[str, Any]:
    """What the probe's answers say about a modem (pure): classes, modulations, identity.

    ``answers`` maps each probe command to (final result, lines). Raises ProviderError when
    the modem has no Class 1."""
    final, lines = answers.get("AT+FCLASS=?", ("ERROR", []))
    classes = [c.strip() for ln in lines for c in ln.replace("(", "").replace(")", "").split(",")]
    classes = [c for c in classes if c]
    if final != "OK" or "1" not in classes:
        raise ProviderError(
            f"the modem has no fax Class 1 (AT+FCLASS=? answered {final} {lines})",
            hint="lanfax drives Class 1 / 1.0 fax modems; Class 2/2.0 are not supported",
        )
    caps: dict[str, Any] = {"classes": classes, "class1.0": "1.0" in classes}
    for cmd, key in (("AT+FTM=?", "ftm"), ("AT+FRM=?", "frm")):
        final, lines = answers.get(cmd, ("ERROR", []))
        codes: list[int] = []
        if final == "OK":
            for ln in lines:
                for part in ln.replace("(", "").replace(")", "").split(","):
                    with contextlib.suppress(ValueError):
                        codes.append(int(part))
        caps[key] = codes
    both = set(caps["ftm"]) & set(caps["frm"])
    caps["modulations"] = sorted({_MODULATIONS[c] for c in both if c in _MODULATIONS})
    caps["max_rate"] = max((_rate(c) for c in both if c in _MODULATIONS), default=0)
    final, lines = answers.get("ATI", ("ERROR", []))
    caps["identity"] = " ".join(lines) if final == "OK" else ""
    return caps


def _rate(code: int) -> int:
    return {24: 2400, 48: 4800, 72: 7200, 73: 7200, 74: 7200, 96: 9600, 97: 9600, 98: 9600}.get(
        code, 12000 if code in (121, 122) else 14400
    )


class ModemLine:
    """One modem: its tty, what the probe found, its job, the call ringing on it."""

    def __init__(self, provider: ModemProvider, device: str) -> None:
        self.provider = provider
        self.device = device
        self.local_id = f"modem:{Path(device).name}"
        self.port: ModemPort | None = None
        self.caps: dict[str, Any] = {}
        self.error = ""
        self.job: ModemJob | None = None
        self.ring_count = 0
        self.caller_id = ""
        self.caller_name = ""
        self.call_id = ""
        self.last_ring = 0.0
        self.watch: asyncio.Task[None] | None = None
        self.idle = asyncio.Event()
        self.idle.set()

    @property
    def label(self) -> str:
        return f"modem {self.device}"


class ModemJob(ProviderJob):
    def __init__(self, line: ModemLine) -> None:
        super().__init__(line.provider, line.local_id)
        self.line = line
        self.abort_event = asyncio.Event()


class ModemProvider(LineProvider[ModemLine, ModemJob]):
    """Class 1 fax modems on serial ttys."""

    name: ClassVar[str] = "modem"
    friendly_name: ClassVar[str] = "Class 1 fax modems (serial, USB)"
    line_noun: ClassVar[str] = "modem"

    def __init__(self) -> None:
        super().__init__()
        self.config: ModemConfig | None = None
        self._calls = itertools.count(1)

    # -- FaxDevInitialize / VirtualDeviceCreation / Shutdown -------------------------------

    async def initialize(self, config: Mapping[str, Any], callbacks: ServiceCallbacks) -> None:
        self._check_not_running()
        self.config = parse_config(config)
        self._callbacks = callbacks
        for device in self.config.devices:
            line = ModemLine(self, device)
            self._lines[line.local_id] = line
            await self._bring_up(line)
        self._running = True

    async def _bring_up(self, line: ModemLine) -> None:
        """Open, reset and probe one modem; a failure is the device's error, not ours."""
        cfg = self._cfg()
        port = ModemPort(line.device, cfg.speed, cfg.flow)
        try:
            port.open()
            line.port = port
            line.caps = await self._probe(port)
            await self._ready(port)
        except FaxError as exc:
            port.close()
            line.port = None
            line.error = str(exc)
            self._cb().log(line.local_id, logging.ERROR, f"{line.label}: {exc}")
            return
        line.error = ""
        port.on_line = lambda text, ln=line: self._idle_line(ln, text)
        line.watch = asyncio.get_running_loop().create_task(self._watch(line))

    async def _probe(self, port: ModemPort) -> dict[str, Any]:
        cfg = self._cfg()
        t = cfg.command_timeout
        await port.command("ATZ", t)
        final, _ = await port.command("ATE0", t)
        for cmd in cfg.init:
            final, _lines = await port.command(cmd, t)
            if final != "OK":
                raise ProviderError(
                    f"the modem {port.device} answered {final} to init command {cmd!r}",
                    hint="fix the init strings in the provider's configuration",
                )
        answers = {cmd: await port.command(cmd, t) for cmd in ("AT+FCLASS=?", "AT+FTM=?")}
        answers["AT+FRM=?"] = await port.command("AT+FRM=?", t)
        answers["ATI"] = await port.command("ATI", t)
        caps = parse_probe(answers)
        caps["device"] = port.device
        if cfg.country:
            caps.update(await self._set_country(port, cfg.country))
        return caps

    async def _set_country(self, port: ModemPort, code: str) -> dict[str, Any]:
        """``AT+GCI=<code>`` (V.250 country of installation), then what the modem says it is.
        Many modems have no +GCI (their country is fixed, or set with a vendor command in
        ``init``): that is noted on the device and logged, and the modem is used as it is."""
        t = self._cfg().command_timeout
        final, _ = await port.command(f"AT+GCI={code}", t)
        if final != "OK":
            why = (
                f"the modem answered {final} to AT+GCI={code}: its country is left as it was"
                " (set it with the vendor's command in init, if it has one)"
            )
            _log.warning("%s: %s", port.device, why)
            return {"country_error": why}
        final, lines = await port.command("AT+GCI?", t)
        said = next((ln.split(":", 1)[1].strip() for ln in lines if ln.startswith("+GCI:")), "")
        return {"country": said.upper() or code}

    async def _ready(self, port: ModemPort) -> None:
        """Put the modem in fax Class 1, not answering by itself, ready for ATD/ATA."""
        t = self._cfg().command_timeout
        for cmd in ("AT+FCLASS=1", "ATS0=0"):
            final, _ = await port.command(cmd, t)
            if final != "OK":
                raise ProviderError(f"the modem {port.device} answered {final} to {cmd}")

    def virtual_devices(self) -> list[ProviderDevice]:
        out = []
        for line in self._lines.values():
            caps = dict(line.caps)
            if line.error:
                caps["error"] = line.error
            flags = PortFlags.SEND | PortFlags.RECEIVE
            out.append(
                ProviderDevice(
                    line.local_id,
                    f"Modem {line.device}",
                    self._cfg().number,
                    flags,
                    capabilities=caps,
                    rings=self._cfg().rings,
                )
            )
        return out

    async def shutdown(self) -> None:
        for line in self._lines.values():
            if line.job is not None:
                line.job.abort_event.set()
        for line in self._lines.values():
            if line.watch is not None:
                line.watch.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await line.watch
            if line.port is not None:
                with contextlib.suppress(Exception):
                    line.port.write(b"ATH0\r")
                line.port.close()
                line.port = None
        for task in list(self._tasks):
            task.cancel()
        self._running = False

    # -- ringing ---------------------------------------------------------------------------

    def _idle_line(self, line: ModemLine, text: str) -> None:
        loop = asyncio.get_running_loop()
        if text.startswith("NMBR="):
            line.caller_id = text[5:].strip()
        elif text.startswith("NAME="):
            line.caller_name = text[5:].strip()
        elif text == "RING":
            now = loop.time()
            if line.ring_count == 0 or now - line.last_ring > RING_GAP:
                line.ring_count = 0
                line.call_id = f"{line.device}#{next(self._calls)}"
            line.ring_count += 1
            line.last_ring = now
            call = IncomingCall(
                line.call_id,
                line.caller_id,
                self._cfg().number,
                line.ring_count,
                caller_name=line.caller_name,
            )
            self._cb().ring(line.local_id, call)

    async def _watch(self, line: ModemLine) -> None:
        """Read the idle tty: rings and caller id; a ring that stops is a call that ended."""
        port = line.port
        assert port is not None
        pending = b""
        while True:
            await line.idle.wait()
            await port.wait(1.0)
            if not line.idle.is_set():
                continue
            pending += port.take()
            *complete, pending = pending.replace(b"\n", b"\r").split(b"\r")
            for raw in complete:
                text = raw.decode("ascii", "replace").strip()
                if text:
                    self._idle_line(line, text)
            loop = asyncio.get_running_loop()
            if line.ring_count and loop.time() - line.last_ring > RING_GAP and line.job is None:
                self._cb().call_ended(line.local_id, line.call_id)
                line.ring_count = 0
                line.caller_id = line.caller_name = ""

    # -- jobs ------------------------------------------------------------------------------

    def _new_job(self, line: ModemLine) -> ModemJob:
        return ModemJob(line)

    async def abort(self, handle: JobHandle) -> None:
        job = self._job(handle)
        job.aborted = True
        job.abort_event.set()

    async def send(
        self, handle: JobHandle, fax: FaxSend, on_call_in_progress: OnCallInProgress
    ) -> CallResult:
        job = self._job(handle)
        self._begin(job)
        try:
            if job.aborted:
                return self._final(job, ProviderStatus.USER_ABORT, "aborted before dialing")
            cfg = self._cfg()
            opts = _with_ecm(
                session_options(
                    fax.options,
                    fax.caller_number or cfg.number,
                    page_header=fax.options.page_header,
                ),
                cfg.ecm,
            )
            session = FrontEndFaxSession(True, opts, tx_file=fax.file_name)
            line = job.line
            if line.port is None:
                session.close()
                return self._final(job, ProviderStatus.LINE_UNAVAILABLE, line.error or "no modem")
            number = fax.receiver_number
            dial = ("P" if cfg.pulse else "T") + cfg.dial_prefix + _dial_digits(number)
            job.set_status(FaxDevStatus(ProviderStatus.DIALING, f"dialing {number}"))
            tx_pages, first = session.tx_pages, opts.first_page

            def report(ev: SessionEvent) -> None:
                if isinstance(ev, PhaseB):
                    job.set_status(sending_status(0, tx_pages, ev.remote_ident, first_page=first))
                elif isinstance(ev, PageDone):
                    job.set_status(
                        sending_status(ev.page, tx_pages, job.status.csi, first_page=first)
                    )

            return await self._call(job, session, dial, report, on_call_in_progress, None)
        finally:
            job.busy = False

    async def receive(self, handle: JobHandle, fax: FaxReceive) -> CallResult:
        job = self._job(handle)
        self._begin(job)
        try:
            if job.aborted:
                return self._final(job, ProviderStatus.USER_ABORT, "aborted before answering")
            cfg = self._cfg()
            line = job.line
            if line.port is None:
                return self._final(job, ProviderStatus.LINE_UNAVAILABLE, line.error or "no modem")
            if cfg.answer == "manual":
                return self._final(
                    job, ProviderStatus.LINE_UNAVAILABLE, f"{line.label} answers manually only"
                )
            opts = _with_ecm(
                session_options(fax.options, fax.receiver_number or cfg.number), cfg.ecm
            )
            session = FrontEndFaxSession(False, opts, rx_file=fax.file_name)
            caller = line.caller_id
            job.set_status(FaxDevStatus(ProviderStatus.ANSWERED, "answering", caller_id=caller))
            guard = ReceiveGuard(fax, session.terminate)

            def report(ev: SessionEvent) -> None:
                guard.observe(ev)
                last = isinstance(ev, PageDone) and "EOP" in ev.frame
                pages = ev.page if isinstance(ev, PageDone) else 0
                job.set_status(receiving_status(pages, last, caller_id=caller, routing=cfg.number))

            result = await self._call(job, session, None, report, lambda: None, caller)
            return guard.outcome(result)
        finally:
            job.busy = False

    async def _call(
        self,
        job: ModemJob,
        session: FrontEndFaxSession,
        dial: str | None,
        report: Callable[[SessionEvent], None],
        on_call_in_progress: OnCallInProgress,
        caller: str | None,
    ) -> CallResult:
        line = job.line
        port = line.port
        assert port is not None
        loop = asyncio.get_running_loop()
        line.idle.clear()
        started = loop.time()
        dialogue = Class1Dialogue(session, dial=dial)
        announced = False

        async def pump_events() -> None:
            nonlocal announced
            while True:
                if dialogue.connected and not announced:
                    announced = True
                    on_call_in_progress()
                for ev in session.events():
                    report(ev)
                await asyncio.sleep(0.05)

        watcher = loop.create_task(pump_events())
        try:
            await port.run(dialogue, job.abort_event)
        except ProviderError as exc:
            dialogue.outcome = Outcome("modem", str(exc))
        finally:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
            for ev in session.events():
                report(ev)
            line.ring_count = 0
            with contextlib.suppress(FaxError):
                await self._ready(port)
            port.take()
            line.idle.set()
        self._cb().log(line.local_id, logging.DEBUG, "\n".join(dialogue.trace.lines[-200:]))
        outcome = dialogue.outcome or Outcome("modem", "the dialogue ended without an outcome")
        if not session.done:
            session.terminate()
        res = session.result
        session.close()
        duration = loop.time() - started
        # How the call ended is call_end's table; the texts stay the modem's own. A Class 1
        # modem has never told a silent answer from a failed fax (NOT_FAX_CALL): T.30's own
        # status stands, hence negotiated=True.
        calling = dial is not None
        if job.aborted:
            status = call_end(res, CutReason.ABORT, calling=calling, negotiated=True).status
            text = "aborted"
        elif outcome.kind == "t30" and res is not None:
            end = call_end(res, None, calling=calling, negotiated=True)
            status, text = end.status, end.text
        elif outcome.kind == "modem" and res is not None and res.pages:
            # The modem failed after pages went through: the line was cut mid-call.
            end = call_end(res, CutReason.DROPPED, calling=calling, negotiated=True)
            status, text = end.status, outcome.text
        else:
            status = _OUTCOME_STATUS.get(outcome.kind, ProviderStatus.LINE_UNAVAILABLE)
            text = outcome.text
        if res is None:
            result = self._final(job, status, text)
        else:
            extra = {"device": line.device, "modem_trace_lines": len(dialogue.trace.lines)}
            result = session_result(
                res,
                status,
                text,
                calling=dial is not None,
                duration=duration,
                extra=extra,
                caller_id=caller or "",
                routing=self._cfg().number if dial is None else "",
            )
            if dial is not None and not dialogue.connected:
                result = self._final(job, status, text)
        job.set_status(result.status)
        return result

    def _cfg(self) -> ModemConfig:
        if self.config is None:
            raise ProviderError("the modem provider is not initialized")
        return self.config


_OUTCOME_STATUS = {
    "busy": ProviderStatus.BUSY,
    "no-answer": ProviderStatus.NO_ANSWER,
    "no-carrier": ProviderStatus.NO_ANSWER,
    "no-dialtone": ProviderStatus.NO_DIAL_TONE,
    "aborted": ProviderStatus.USER_ABORT,
    "modem": ProviderStatus.LINE_UNAVAILABLE,
}


def _with_ecm(opts: SessionOptions, allowed: bool) -> SessionOptions:
    """ECM as the job asks, unless the provider's ``ecm = false`` turns it off."""
    if allowed:
        return opts
    import dataclasses

    return dataclasses.replace(opts, ecm=False)


def _dial_digits(number: str) -> str:
    digits = "".join(c for c in number if c in "0123456789*#,")
    if not digits:
        raise ProviderError(f"{number!r} has no digits to dial", hint="a fax number, e.g. 5550100")
    return digits

"""A device provider for tests: calls complete or fail on command. NOT shipped, NOT default.

Use from TOML as ``type = "tests.support.testprovider:TestProvider"`` (the server process
needs the repository root on ``sys.path``; :mod:`tests.support.server` arranges that).

Config::

    lines = [{number = "200"}, {number = "201", flags = ["send"]}]   # default: 200 and 201
    duration = [0.0, 0.0]     # seconds a successful call lasts, uniformly at random in range

Behaviour by dialled number (numbers must be diallable, so commands are digit prefixes):

=============  =====================================================================
``9001...``    busy                       ``9005...``  disconnected after page 1
``9002...``    no answer                  ``9006...``  not a fax machine
``9003...``    bad address (permanent)    ``9007N...`` busy for the first N calls, then ok
``9004...``    fatal error                ``9009MS``   a call of MS milliseconds, then ok
own line       rings that line (once per 10 ms, up to 20 rings); when the service answers,
               the fax is copied into its receive file (remote ident = the caller's TSID)
``9008MS``     a call of 30 s whose far end, once the call is aborted, takes MS milliseconds
               to hang up (a fault for a test: the cancel's CANCELING lasts that long)
anything else  ok after ``duration``
=============  =====================================================================

Every call is recorded in :attr:`TestProvider.calls` and :attr:`TestProvider.log_file` (a
JSON line per finished call, if the ``log`` config key names a file), so a test can check
what really reached "the line".
"""

from __future__ import annotations

import asyncio
import json
import random
import shutil
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from lanfax.model.codes import PortFlags, ProviderStatus
from lanfax.model.errors import ConfigError, ProviderError
from lanfax.model.wire import enum_from_wire
from lanfax.providers.api import (
    CallResult,
    FaxDevStatus,
    FaxProvider,
    FaxReceive,
    FaxSend,
    IncomingCall,
    JobHandle,
    OnCallInProgress,
    ProviderDevice,
    ServiceCallbacks,
)

_FAILURES = {
    "9001": ProviderStatus.BUSY,
    "9002": ProviderStatus.NO_ANSWER,
    "9003": ProviderStatus.BAD_ADDRESS,
    "9004": ProviderStatus.FATAL_ERROR,
    "9006": ProviderStatus.NOT_FAX_CALL,
}


def _pages(path: Path) -> int:
    from lanfax.service import docs

    ready = docs.is_fax_ready(path)
    return ready.pages if ready is not None else 1


@dataclass
class _Handle:
    local_id: str
    abort: asyncio.Event = field(default_factory=asyncio.Event)
    status: FaxDevStatus = field(default_factory=lambda: FaxDevStatus(ProviderStatus.INITIALIZING))
    #: For a receive: the sender's file and TSID, handed over by the loopback.
    incoming: tuple[Path, str] | None = None


@dataclass
class _Offer:
    source: Path
    tsid: str
    answered: asyncio.Event = field(default_factory=asyncio.Event)
    done: asyncio.Future[CallResult] | None = None


class TestProvider(FaxProvider):
    """Completes or fails calls on command (see the module docstring)."""

    __test__ = False  # not a pytest test class
    name: ClassVar[str] = "test"
    friendly_name: ClassVar[str] = "lanfax test provider (not shipped)"

    def __init__(self) -> None:
        self.lines: list[ProviderDevice] = []
        self.callbacks: ServiceCallbacks | None = None
        self.duration = (0.0, 0.0)
        self.calls: list[dict[str, Any]] = []
        self.busy_counts: dict[str, int] = {}
        self.active: dict[str, _Handle] = {}
        self.offers: dict[str, _Offer] = {}
        self.log_file: Path | None = None
        #: Set by a test to hold every call open until it is set (or aborted).
        self.gate: asyncio.Event | None = None

    async def initialize(self, config: Mapping[str, Any], callbacks: ServiceCallbacks) -> None:
        self.callbacks = callbacks
        lines = config.get("lines", [{"number": "200"}, {"number": "201"}])
        if not isinstance(lines, list) or not lines:
            raise ConfigError("lines must be a non-empty list", hint='lines = [{number = "200"}]')
        for i, line in enumerate(lines):
            number = str(line.get("number", ""))
            if not number.isdigit():
                raise ConfigError(f"lines[{i}].number {number!r} is not digits", hint="e.g. 200")
            flags = PortFlags.SEND | PortFlags.RECEIVE
            if "flags" in line:
                flags = enum_from_wire(PortFlags, line["flags"], f"lines[{i}].flags")
            name = str(line.get("name", f"Test line {number}"))
            self.lines.append(ProviderDevice(number, name, number, flags))
        d = config.get("duration", [0.0, 0.0])
        self.duration = (float(d[0]), float(d[1]))
        if "log" in config:
            self.log_file = Path(str(config["log"]))

    def virtual_devices(self) -> list[ProviderDevice]:
        return list(self.lines)

    async def start_job(self, local_id: str) -> JobHandle:
        if local_id in self.active:
            raise ProviderError(f"line {local_id} is in use", hint="wait for the call to end")
        handle = _Handle(local_id)
        self.active[local_id] = handle
        return handle

    async def _wait(self, handle: _Handle, seconds: float) -> bool:
        """Wait ``seconds`` (and the test's gate, if set); False when aborted."""
        aborted = asyncio.ensure_future(handle.abort.wait())
        held = asyncio.ensure_future(self._hold(seconds))
        try:
            await asyncio.wait([aborted, held], return_when=asyncio.FIRST_COMPLETED)
            return not handle.abort.is_set()
        finally:
            aborted.cancel()
            held.cancel()

    async def _hold(self, seconds: float) -> None:
        await asyncio.sleep(seconds)
        if self.gate is not None:
            await self.gate.wait()

    def _record(self, fax: FaxSend, result: CallResult) -> CallResult:
        entry = {
            "number": fax.receiver_number,
            "status": result.status.status_id.name.lower(),
            "pages": result.pages,
            "file": str(fax.file_name),
            "tsid": fax.caller_number,
            "header": fax.options.page_header,
        }
        self.calls.append(entry)
        if self.log_file is not None:
            with self.log_file.open("a") as f:
                f.write(json.dumps(entry) + "\n")
        return result

    async def send(
        self, handle: JobHandle, fax: FaxSend, on_call_in_progress: OnCallInProgress
    ) -> CallResult:
        assert isinstance(handle, _Handle)
        assert self.callbacks is not None
        number = fax.receiver_number
        self.callbacks.status(handle.local_id, FaxDevStatus(ProviderStatus.DIALING))
        await asyncio.sleep(0)
        prefix = number[:4]
        if prefix in _FAILURES:
            return self._record(fax, CallResult(FaxDevStatus(_FAILURES[prefix])))
        if prefix == "9007" and len(number) > 4:
            n = int(number[4])
            seen = self.busy_counts.get(number, 0)
            self.busy_counts[number] = seen + 1
            if seen < n:
                return self._record(fax, CallResult(FaxDevStatus(ProviderStatus.BUSY)))
        if any(line.number == number for line in self.lines):
            return self._record(fax, await self._loopback(handle, fax, on_call_in_progress))
        seconds = random.uniform(*self.duration)
        if prefix == "9009" and number[4:].isdigit():
            seconds = int(number[4:]) / 1000.0
        on_call_in_progress()
        pages = await asyncio.to_thread(_pages, fax.file_name)
        if prefix == "9005":
            status = FaxDevStatus(ProviderStatus.DISCONNECTED, page_count=1)
            return self._record(fax, CallResult(status, pages=min(1, pages)))
        slow_hang_up = int(number[4:]) / 1000.0 if prefix == "9008" and number[4:].isdigit() else 0
        if slow_hang_up:
            seconds = 30.0
        if not await self._wait(handle, seconds):
            await asyncio.sleep(slow_hang_up)
            return self._record(fax, CallResult(FaxDevStatus(ProviderStatus.USER_ABORT)))
        status = FaxDevStatus(ProviderStatus.COMPLETED, page_count=pages, csi=f"TEST {number}")
        # Provider detail of every shape a real provider may put in `extra`, including values
        # JSON cannot hold exactly (a tuple, NaN), which the service must still record.
        extra = {"recipe": "default", "pair": (1, 2), "odd": float("nan")}
        return self._record(
            fax,
            CallResult(
                status,
                pages=pages,
                remote_ident=f"TEST {number}",
                modem="V.17",
                t30_code=0,
                t30_text="OK",
                extra=extra,
            ),
        )

    async def _loopback(
        self, handle: _Handle, fax: FaxSend, on_call_in_progress: OnCallInProgress
    ) -> CallResult:
        assert self.callbacks is not None
        target = fax.receiver_number
        if target in self.offers or target in self.active:
            return CallResult(FaxDevStatus(ProviderStatus.BUSY))
        loop = asyncio.get_running_loop()
        offer = _Offer(fax.file_name, fax.caller_number, done=loop.create_future())
        self.offers[target] = offer
        call_id = f"call-{handle.local_id}-{len(self.calls)}"
        try:
            for ring in range(1, 21):
                call = IncomingCall(
                    call_id, handle.local_id, target, ring, caller_name=f"Line {handle.local_id}"
                )
                self.callbacks.ring(target, call)
                try:
                    await asyncio.wait_for(asyncio.shield(offer.answered.wait()), 0.01)
                    break
                except TimeoutError:
                    if handle.abort.is_set():
                        break
            if not offer.answered.is_set():
                self.callbacks.call_ended(target, call_id)
                return CallResult(FaxDevStatus(ProviderStatus.NO_ANSWER))
            on_call_in_progress()
            assert offer.done is not None
            received = await offer.done
            return CallResult(
                FaxDevStatus(received.status.status_id, page_count=received.pages),
                pages=received.pages,
                remote_ident=target,
            )
        finally:
            self.offers.pop(target, None)

    async def receive(self, handle: JobHandle, fax: FaxReceive) -> CallResult:
        assert isinstance(handle, _Handle)
        offer = self.offers.get(handle.local_id)
        if offer is None:
            return CallResult(FaxDevStatus(ProviderStatus.DISCONNECTED, string_id="no call"))
        offer.answered.set()
        await asyncio.to_thread(shutil.copyfile, offer.source, fax.file_name)
        pages = await asyncio.to_thread(_pages, fax.file_name)
        result = CallResult(
            FaxDevStatus(ProviderStatus.COMPLETED, page_count=pages, csi=offer.tsid),
            pages=pages,
            remote_ident=offer.tsid,
        )
        assert offer.done is not None
        if not offer.done.done():
            offer.done.set_result(result)
        return result

    def report_status(self, handle: JobHandle) -> FaxDevStatus:
        assert isinstance(handle, _Handle)
        return handle.status

    async def abort(self, handle: JobHandle) -> None:
        assert isinstance(handle, _Handle)
        handle.abort.set()

    async def end_job(self, handle: JobHandle) -> None:
        assert isinstance(handle, _Handle)
        self.active.pop(handle.local_id, None)

    async def shutdown(self) -> None:
        for handle in self.active.values():
            handle.abort.set()

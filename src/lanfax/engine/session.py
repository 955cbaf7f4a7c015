"""Sans-IO T.30 fax sessions on spandsp 0.0.6: audio (PCM) and T.38 (IFP packets).

A session never touches a socket or a clock. The caller moves samples or packets and asks for
events; line time is counted in samples (8000 per second), so a watchdog can act on line time
whatever the wall clock does.

Callback discipline (spandsp calls us back from inside ``fax_tx``/``fax_rx``/...):

* callbacks only record what happened (in the session's C record ``lf_sess_t``: C callbacks
  in the compiled helper, ``_accel``; Python ones in ABI mode) and never call into spandsp;
  the recorded facts are turned into events right after the C call returns;
* every exception inside a callback is caught and kept by the session the callback belongs
  to, then raised as :class:`EngineError` after that session's C call returns (cffi would
  otherwise print it and hand 0 = "OK" to C). The callbacks are closures over their session,
  so an error is never kept where another session (perhaps in another thread) would raise it;
* the cffi callback objects stay referenced by their session until its state is freed.

A session is used by one thread at a time; different sessions may run in parallel threads
(cffi releases the GIL during C calls).

The record the callbacks fill, the ABI-mode callbacks themselves and the reading of events
and the result from it live in :mod:`lanfax.engine.record` (:class:`SessionRecord`, a base
of :class:`FaxSession`).
"""

from __future__ import annotations

import itertools
import os
import weakref
from pathlib import Path
from typing import Any, Self

import numpy as np
import numpy.typing as npt

from lanfax.engine._binding import (
    SPAN_LOG_SHOW_PROTOCOL,
    load,
    python_level,
    span_level,
)
from lanfax.engine.events import SessionEvent, SessionResult
from lanfax.engine.options import RX_ENCODINGS, SessionOptions
from lanfax.engine.record import SAMPLE_RATE, SessionRecord, modem_from_dcs, tiff_pages_on_disk
from lanfax.engine.tiffcheck import check_path_length, check_rx_path, check_tx_tiff
from lanfax.model.errors import EngineError

T38_NO_PACING = 0x01  # T38_TERMINAL_OPTION_NO_PACING

Int16Array = npt.NDArray[np.int16]
Packet = tuple[int, bytes]


#: Documents whose check passed, by (path, device, inode, size, mtime_ns): their page count.
_checked: dict[tuple[str, int, int, int, int], int] = {}
_CHECKED_MAX = 1024


def tx_pages(path: Path) -> int:
    """How many pages the TIFF at ``path`` has, after :func:`check_tx_tiff` found it fit to
    send (:class:`EngineError` saying what is wrong otherwise).

    The check reads every page's tags in Python (about 1 ms a page, holding the GIL); a call
    makes up to three sessions on one document (the provider's, the audio one, the T.38 one
    after a re-INVITE), and a busy server many calls. So a passed check is remembered per
    (path, device, inode, size, modification time): a file changed in place or replaced is
    checked again; a failed check is never remembered.
    """
    try:
        st = os.stat(path)
    except OSError:
        return len(check_tx_tiff(path))  # says what is wrong (missing, unreadable)
    key = (os.fspath(path), st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
    pages = _checked.get(key)
    if pages is None:
        pages = len(check_tx_tiff(path))
        if len(_checked) >= _CHECKED_MAX:
            _checked.pop(next(iter(_checked)))  # the oldest
        _checked[key] = pages
    return pages


def _free(free: Any, state: Any, release: Any, record: Any) -> None:
    """Free a spandsp state, then the packet queue of its record (compiled helper)."""
    free(state)
    if release is not None:
        release(record)


class FaxSession(SessionRecord):
    """What audio and T.38 sessions share: options, files, events, result, lifetime."""

    _free_name = ""

    def __init__(
        self,
        calling: bool,
        options: SessionOptions | None = None,
        *,
        tx_file: Path | None = None,
        rx_file: Path | None = None,
    ) -> None:
        self.calling = bool(calling)
        self.options = options if options is not None else SessionOptions()
        self.tx_file = Path(tx_file) if tx_file is not None else None
        self.rx_file = Path(rx_file) if rx_file is not None else None
        # Checked before any C state exists, so a refusal leaks nothing.
        tx_raw = rx_raw = None
        if self.tx_file is not None:
            tx_raw = check_path_length(self.tx_file, "document")
            self.tx_pages = tx_pages(self.tx_file)
            if self.options.first_page > self.tx_pages:
                raise EngineError(
                    f"first page {self.options.first_page} is past the document's"
                    f" {self.tx_pages} page(s)",
                    hint="nothing is left to send",
                )
        else:
            self.tx_pages = 0
        if self.rx_file is not None:
            rx_raw = check_path_length(self.rx_file, "receive file")
            check_rx_path(self.rx_file)
        if tx_raw is None and rx_raw is None:
            raise EngineError(
                "a fax session needs a document to send or a file to receive into",
                hint="pass tx_file=... or rx_file=...",
            )

        sp = load()
        self._sp = sp
        self._ffi = sp.ffi
        self._lib = sp.lib
        self._compiled = sp.compiled
        #: The C record the callbacks fill (events, T.38 packets) and line time in samples:
        #: C callbacks with the compiled helper, Python ones in ABI mode.
        self._cs: Any = sp.ffi.new("lf_sess_t *")
        self._cb_errors: list[BaseException] = []
        self._out: list[Packet] = []
        self._events: list[SessionEvent] = []
        self._keep: list[Any] = []
        self._last_activity = 0
        self._pages_reported = 0
        #: Set when a received page did not reach the file (disk full): the call is ended
        #: before the page is confirmed, so the sender keeps it for its next attempt.
        self._write_error = ""
        self._pages_stored = 0
        self._modem = ""
        self._terminated = False
        self.result: SessionResult | None = None

        self._state = self._create()
        if self._state == self._ffi.NULL:
            raise EngineError("spandsp could not create a fax state (out of memory?)")
        release = self._lib.lf_sess_release if self._compiled else None
        self._finalizer = weakref.finalize(
            self, _free, getattr(self._lib, self._free_name), self._state, release, self._cs
        )
        self._t30 = self._get_t30()
        self._configure(tx_raw, rx_raw)

    # -- subclass hooks ------------------------------------------------------------------
    def _create(self) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    def _get_t30(self) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    def _logging_states(self) -> list[Any]:
        return [self._lib.t30_get_logging_state(self._t30)]

    # -- set-up --------------------------------------------------------------------------
    def _configure(self, tx_raw: bytes | None, rx_raw: bytes | None) -> None:
        lib, t30, opts = self._lib, self._t30, self.options
        self._setup_logging()
        if opts.local_ident and lib.t30_set_tx_ident(t30, opts.local_ident.encode("ascii")) < 0:
            raise EngineError(f"spandsp refused the local ident {opts.local_ident!r}")
        if opts.page_header is not None:
            lib.t30_set_tx_page_header_info(t30, opts.page_header.encode("ascii"))
        lib.t30_set_ecm_capability(t30, 1 if opts.ecm else 0)
        lib.t30_set_supported_modems(t30, opts.modem_mask)
        lib.t30_set_supported_compressions(t30, opts.compression_mask)
        lib.t30_set_rx_encoding(t30, RX_ENCODINGS[opts.rx_encoding])
        if tx_raw is not None:
            # spandsp counts TIFF directories from 0; -1 as the stop page means "to the end".
            lib.t30_set_tx_file(t30, tx_raw, opts.first_page - 1, -1)
        if rx_raw is not None:
            lib.t30_set_rx_file(t30, rx_raw, -1)
        if self._compiled:
            lib.lf_attach_t30(t30, self._cs)
            return
        phase_b, phase_d, phase_e, frame = self._t30_callbacks()
        null = self._ffi.NULL
        lib.t30_set_phase_b_handler(t30, phase_b, null)
        lib.t30_set_phase_d_handler(t30, phase_d, null)
        lib.t30_set_phase_e_handler(t30, phase_e, null)
        lib.t30_set_real_time_frame_handler(t30, frame, null)

    def _setup_logging(self) -> None:
        level = self.options.log_level
        if level is None:
            return
        lib, ffi = self._lib, self._ffi
        logger = self.options.logger

        def on_message(span_lvl: int, text: Any) -> None:
            msg = ffi.string(text).decode("utf-8", "replace").rstrip("\n")
            logger.log(python_level(span_lvl), "%s", msg)

        cb = ffi.callback("message_handler_func_t", on_message)
        self._keep.append(cb)
        for state in self._logging_states():
            lib.span_log_set_message_handler(state, cb)
            lib.span_log_set_level(state, span_level(level) | SPAN_LOG_SHOW_PROTOCOL)

    # -- public API ----------------------------------------------------------------------
    @property
    def done(self) -> bool:
        """True once phase E has been reported (``result`` is then set)."""
        return self.result is not None

    @property
    def closed(self) -> bool:
        return not self._finalizer.alive

    @property
    def compiled(self) -> bool:
        """True when the session runs on the engine's compiled helper (so it can go in a
        batch of :mod:`lanfax.engine.batch`); False on the ABI fallback."""
        return bool(self._compiled)

    def events(self) -> list[SessionEvent]:
        """The events since the last call, oldest first (drains the queue)."""
        out = self._events[:]
        self._events.clear()
        return out

    def terminate(self) -> None:
        """Hang up: end the T.30 session now (``t30_terminate``); phase E follows.

        No-op once the session is done or closed.
        """
        if self.done or self.closed:
            return
        self._terminated = True
        self._lib.t30_terminate(self._t30)
        self._after()

    def close(self) -> None:
        """Free the spandsp state. Idempotent; the session is unusable afterwards."""
        self._finalizer()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- internals -----------------------------------------------------------------------
    def _check_open(self) -> None:
        if not self._finalizer.alive:
            raise EngineError("the fax session is closed", hint="create a new session")


class AudioFaxSession(FaxSession):
    """A T.30 session over 8 kHz 16-bit PCM (a telephone line, RTP G.711, ...).

    Call :meth:`tx` and :meth:`rx` once per audio frame (any size; 160 samples = 20 ms is
    usual). ``tx`` always returns exactly ``n`` samples (silence when idle).
    """

    _free_name = "fax_free"
    _frame: tuple[Int16Array, Int16Array, Any, Any, int] | None = None

    def _create(self) -> Any:
        state = self._lib.fax_init(self._ffi.NULL, 1 if self.calling else 0)
        if state != self._ffi.NULL:
            self._lib.fax_set_transmit_on_idle(state, 1)
        return state

    def _get_t30(self) -> Any:
        return self._lib.fax_get_t30_state(self._state)

    def _logging_states(self) -> list[Any]:
        return [*super()._logging_states(), self._lib.fax_get_logging_state(self._state)]

    def tx(self, n: int) -> Int16Array:
        """The next ``n`` samples to put on the line (int16, 8 kHz)."""
        self._check_open()
        if n <= 0:
            raise EngineError(f"tx needs a positive sample count, got {n}")
        out = np.empty(n, dtype=np.int16)
        got = self._lib.fax_tx(self._state, self._ffi.from_buffer("int16_t[]", out), n)
        if got < n:
            out[got:] = 0
        cs = self._cs
        if cs.n_ev or cs.error:
            self._after()
        return out

    def rx(self, samples: npt.ArrayLike) -> None:
        """Feed samples heard on the line; they also advance line time.

        The samples are copied first: spandsp's ``fax_rx`` modifies its buffer in place.
        """
        self._check_open()
        buf = np.array(samples, dtype=np.int16)  # always a fresh, writable copy
        n = int(buf.size)
        if n == 0:
            return
        self._lib.fax_rx(
            self._state, self._ffi.from_buffer("int16_t[]", buf, require_writable=True), n
        )
        cs = self._cs
        cs.samples += n
        if cs.n_ev or cs.error:
            self._after()

    def frame_buffers(self, n: int = 160) -> tuple[Int16Array, Int16Array]:
        """Two ``n``-sample buffers for :meth:`step_frame`: ``(rx, tx)``.

        For a real-time caller that steps many calls every 20 ms: the buffers and their C
        pointers are made once, so a step allocates nothing. Write the samples heard into
        ``rx`` (spandsp overwrites it in place: it is scratch after the step) and read the
        samples to send from ``tx`` after the step.
        """
        if n <= 0:
            raise EngineError(f"frame_buffers needs a positive sample count, got {n}")
        rx = np.zeros(n, dtype=np.int16)
        tx = np.zeros(n, dtype=np.int16)
        ffi = self._ffi
        self._frame = (
            rx,
            tx,
            ffi.from_buffer("int16_t[]", rx, require_writable=True),
            ffi.from_buffer("int16_t[]", tx, require_writable=True),
            n,
        )
        return rx, tx

    def step_frame(self) -> None:
        """One frame both ways on the :meth:`frame_buffers`: the same as ``rx(rx)`` then
        ``tx = tx(n)``, without copies or allocations."""
        self._check_open()
        frame = self._frame
        if frame is None:
            raise EngineError("step_frame needs frame_buffers() first")
        _rx, tx, prx, ptx, n = frame
        lib, state, cs = self._lib, self._state, self._cs
        lib.fax_rx(state, prx, n)
        cs.samples += n
        if cs.n_ev or cs.error:
            self._after()
        got = lib.fax_tx(state, ptx, n)
        if got < n:
            tx[got:] = 0
        if cs.n_ev or cs.error:
            self._after()


class T38FaxSession(FaxSession):
    """A T.30 session over T.38 IFP packets (the UDPTL/TPKT framing is the caller's job).

    Call :meth:`tick` every 20-30 ms of line time (160-240 samples) in paced mode; it returns
    the packets to send as ``(seq, ifp_bytes)``, with one sequence counter per direction.
    Pass each packet from the far end to :meth:`receive`. ``pacing=False`` is spandsp's
    no-pacing (TCP/TPKT) mode: data flows as fast as it is ticked.
    """

    _free_name = "t38_terminal_free"

    def __init__(
        self,
        calling: bool,
        options: SessionOptions | None = None,
        *,
        tx_file: Path | None = None,
        rx_file: Path | None = None,
        pacing: bool = True,
    ) -> None:
        self.pacing = pacing
        super().__init__(calling, options, tx_file=tx_file, rx_file=rx_file)

    def _create(self) -> Any:
        calling = 1 if self.calling else 0
        if self._compiled:
            state = self._lib.lf_t38_new(calling, self._cs)
        else:
            state = self._lib.t38_terminal_init(
                self._ffi.NULL, calling, self._make_tx_packet(), self._ffi.NULL
            )
        if state != self._ffi.NULL:
            self._lib.t38_terminal_set_config(state, 0 if self.pacing else T38_NO_PACING)
            self._core = self._lib.t38_terminal_get_t38_core_state(state)
        return state

    def _make_tx_packet(self) -> Any:
        """ABI mode: this session's packet callback, a closure, so the hot path needs no
        from_handle (the compiled helper queues packets in C, ``lf_tx_packet``).

        ``count`` asks for redundant copies with the same seq; the receiver drops repeats,
        so one copy is emitted and redundancy is the transport's business (UDPTL).
        """
        out = self._out
        failed = self._callback_failed
        seqs = itertools.count()
        unpack = self._ffi.buffer

        def tx_packet(_s: Any, _user_data: Any, buf: Any, length: int, _count: int) -> int:
            try:
                out.append((next(seqs) & 0xFFFF, unpack(buf, length)[:]))
            except BaseException as exc:
                failed(exc)
                return -1
            return 0

        cb = self._ffi.callback("t38_tx_packet_handler_t *", tx_packet)
        self._keep.append(cb)
        return cb

    def _get_t30(self) -> Any:
        return self._lib.t38_terminal_get_t30_state(self._state)

    def _logging_states(self) -> list[Any]:
        return [
            *super()._logging_states(),
            self._lib.t38_terminal_get_logging_state(self._state),
            self._lib.t38_core_get_logging_state(self._core),
        ]

    def tick(self, samples: int = 160) -> list[Packet]:
        """Advance line time by ``samples`` and return the packets to send now."""
        self._check_open()
        if samples <= 0:
            raise EngineError(f"tick needs a positive sample count, got {samples}")
        self._lib.t38_terminal_send_timeout(self._state, samples)
        cs = self._cs
        cs.samples += samples
        if cs.n_ev or cs.error:
            self._after()
        return self.take_packets()

    def receive(self, seq: int, packet: bytes) -> None:
        """Hand over one IFP packet from the far end (duplicates by seq are dropped)."""
        self._check_open()
        self._lib.t38_core_rx_ifp_packet(self._core, packet, len(packet), seq & 0xFFFF)
        cs = self._cs
        if cs.n_ev or cs.error:
            self._after()

    def take_packets(self) -> list[Packet]:
        """Packets queued since the last tick (e.g. answers produced by :meth:`receive`)."""
        if not self._compiled:
            out = self._out[:]
            self._out.clear()
            return out
        cs = self._cs
        n = cs.n_pk
        if not n:
            return []
        data = self._ffi.buffer(cs.pk_data, cs.pk_bytes)[:]
        packets: list[Packet] = []
        at = 0
        for seq, length in zip(cs.pk_seq[0:n], cs.pk_len[0:n], strict=True):
            packets.append((seq, data[at : at + length]))
            at += length
        cs.n_pk = 0
        cs.pk_bytes = 0
        return packets


__all__ = [
    "SAMPLE_RATE",
    "AudioFaxSession",
    "FaxSession",
    "T38FaxSession",
    "modem_from_dcs",
    "tiff_pages_on_disk",
    "tx_pages",
]

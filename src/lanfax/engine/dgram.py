"""Datagram I/O in one crossing: many UDP sockets read, or many datagrams sent, in one C call
(the engine's compiled helper, issue #19).

Python's ``socket.recv``/``sendto`` release the GIL and take it back for every datagram. A
real-time thread that moves 600 calls' media every 20 ms while another thread runs Python
(the event loop) waits up to the interpreter's switch interval at each re-take: hundreds of
waits per tick. :func:`recv_many` and :func:`send_many` do all of a tick's socket calls in one
C function with the GIL released once.

They work on file descriptors the caller owns (its own non-blocking UDP sockets, still open:
a descriptor closed and reused by another file would be read or written as that file); the
engine opens, binds and closes nothing. Every call is made with ``MSG_DONTWAIT``: nothing
blocks. One datagram's or one socket's failure (a bad destination, a full buffer, a closed
descriptor) is reported per datagram or per socket, never raised.

Without the compiled helper (no compiler, ``LANFAX_ENGINE_ABI=1``) the same functions call
the C library's ``sendto``/``recvfrom`` one datagram at a time through cffi's ABI mode: same
results, one GIL release per datagram (as the socket module).
"""

from __future__ import annotations

import errno
import socket
import struct
import threading
from array import array
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from itertools import accumulate
from typing import Any

import numpy as np

from lanfax.engine._binding import load

__all__ = ["Datagrams", "Received", "pack_address", "recv_many", "send_many"]

#: UDP's largest payload: a datagram read with this room is never truncated.
MAX_DATAGRAM = 65535
#: Bytes per packed destination: an int (the sockaddr's length) and a sockaddr_in6's 28.
_ADDR_SIZE = 32
#: ints per send record: fd, offset, length, destination index.
_SEND_REC = 4
#: ints per receive record: fd index, length, family, port, then 16 address bytes.
_RECV_REC = 8
_RECV_REC_BYTES = _RECV_REC * 4

Address = tuple[str, int]
#: One datagram to send: ``(fd, payload, (host, port))``.
Outgoing = tuple[int, bytes | bytearray | memoryview, Address]


def pack_address(address: Address | tuple[str, int, int, int]) -> bytes | None:
    """A numeric ``(host, port)`` (IPv4 or IPv6, ``(host, port, flowinfo, scope_id)`` too)
    as the 32-byte record the send functions take (the sockaddr's length, then the
    sockaddr); None when it is not one (a name, a bad port): such a destination fails with
    ``EINVAL`` for its datagram alone."""
    try:
        host, port = str(address[0]), int(address[1])
        if not 0 <= port <= 0xFFFF:
            return None
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM, flags=socket.AI_NUMERICHOST)
    except (OSError, ValueError, TypeError, IndexError, UnicodeError, OverflowError):
        return None
    family, _, _, _, sockaddr = infos[0]
    if family == socket.AF_INET:
        raw = (
            struct.pack("=H", socket.AF_INET)
            + struct.pack("!H", sockaddr[1])
            + socket.inet_pton(socket.AF_INET, str(sockaddr[0]))
            + bytes(8)
        )
    elif family == socket.AF_INET6:
        flow = int(address[2]) if len(address) > 2 else sockaddr[2]  # type: ignore[misc]
        scope = int(address[3]) if len(address) > 3 else sockaddr[3]  # type: ignore[misc]
        raw = (
            struct.pack("=H", socket.AF_INET6)
            + struct.pack("!H", sockaddr[1])
            + struct.pack("!I", flow)
            + socket.inet_pton(socket.AF_INET6, str(sockaddr[0]).split("%")[0])
            + struct.pack("=I", scope)
        )
    else:  # pragma: no cover - AI_NUMERICHOST gives one of the two
        return None
    return struct.pack("=i", len(raw)) + raw.ljust(_ADDR_SIZE - 4, b"\0")


def _unpack_source(family: int, port: int, raw: bytes) -> Address:
    if family == socket.AF_INET:
        return socket.inet_ntop(socket.AF_INET, raw[:4]), port
    if family == socket.AF_INET6:
        return socket.inet_ntop(socket.AF_INET6, raw), port
    return "", 0


@dataclass(slots=True)
class Received:
    """What one :func:`recv_many` read: every datagram back to back in :attr:`data`.

    ``index[k]`` is datagram k's socket (its place in the list of descriptors given),
    ``offsets[k]`` and ``lengths[k]`` where it lies in :attr:`data`; datagrams of one socket
    are in arrival order, sockets in the order given. :attr:`errors` maps a socket's index
    to the error its reads reported (``errno``: ``EBADF`` for a closed descriptor,
    ``EMSGSIZE`` for a datagram longer than the room allowed, which is dropped; the socket's
    other datagrams are still read). Source addresses are decoded only when asked
    (:meth:`source`).
    """

    data: bytes = b""
    index: list[int] = field(default_factory=list)
    offsets: list[int] = field(default_factory=list)
    lengths: list[int] = field(default_factory=list)
    errors: dict[int, int] = field(default_factory=dict)
    #: The C records as read (8 ints a datagram: index, length, family, port, address).
    _raw: bytes = b""

    def __len__(self) -> int:
        return len(self.index)

    def datagrams(self) -> list[tuple[int, bytes]]:
        """``(socket index, payload)`` for every datagram, in order."""
        data = self.data
        return [
            (i, data[at : at + n])
            for i, at, n in zip(self.index, self.offsets, self.lengths, strict=True)
        ]

    def by_index(self) -> dict[int, list[bytes]]:
        """The payloads per socket index (only sockets that had any), in arrival order."""
        data = self.data
        out: dict[int, list[bytes]] = {}
        for i, at, n in zip(self.index, self.offsets, self.lengths, strict=True):
            got = out.get(i)
            if got is None:
                out[i] = [data[at : at + n]]
            else:
                got.append(data[at : at + n])
        return out

    def columns(self) -> tuple[bytes, Any, Any, Any]:
        """``(data, index, offsets, lengths)``: the datagrams as numpy int32 columns (no
        Python per datagram), e.g. for a batch's ``feed_all(data, session_of_fd[index],
        lengths)``."""
        table = np.frombuffer(self._raw, dtype=np.int32).reshape(-1, _RECV_REC)
        lengths = np.ascontiguousarray(table[:, 1])
        offsets = np.zeros(len(lengths), dtype=np.int32)
        if len(lengths) > 1:
            np.cumsum(lengths[:-1], out=offsets[1:])
        return self.data, np.ascontiguousarray(table[:, 0]), offsets, lengths

    def source(self, k: int) -> Address:
        """Datagram k's source address as the socket module gives it: ``(host, port)``."""
        if not 0 <= k < len(self.index):
            raise IndexError(f"no datagram {k}")
        family, port = struct.unpack_from("=ii", self._raw, k * _RECV_REC_BYTES + 8)
        at = k * _RECV_REC_BYTES + 16
        return _unpack_source(family, port, self._raw[at : at + 16])


class Datagrams:
    """Reusable buffers for :meth:`recv_many` and :meth:`send_many` (one thread at a time;
    the module's functions keep one per thread).

    ``capacity`` is the receive buffer's size: one :meth:`recv_many` reads in rounds of at
    most that many bytes (plus one largest datagram of room), as many rounds as it takes.
    ``max_per_fd`` bounds the datagrams taken from one socket per call, dropped ones
    included (the newer ones stay in the kernel for the next call). ``max_datagram`` is the
    room a datagram is read with: a longer one is dropped and reported (``EMSGSIZE``).
    """

    def __init__(
        self,
        capacity: int = 1 << 20,
        *,
        max_per_fd: int = 200,
        max_datagram: int = MAX_DATAGRAM,
    ) -> None:
        if capacity <= 0 or max_per_fd <= 0 or not 0 < max_datagram <= MAX_DATAGRAM:
            raise ValueError("capacity, max_per_fd and max_datagram must be positive")
        sp = load()
        self.compiled = bool(sp.compiled)
        self.max_per_fd = max_per_fd
        self.max_datagram = max_datagram
        self._room = capacity + max_datagram
        if self.compiled:
            self._ffi, self._lib = sp.ffi, sp.lib
        else:
            self._ffi, self._lib = _libc()
        self._buf = self._ffi.new("uint8_t[]", self._room)
        #: Records for one round: at most one per 12 bytes of room (an empty datagram takes
        #: a record and no room, so rounds also stop when the records run out).
        self._max_recs = max(64, capacity // 64)
        self._recs = self._ffi.new("int[]", self._max_recs * _RECV_REC)
        self._addresses: dict[tuple[Any, ...], int] = {}
        self._packed = bytearray()
        #: Entries of forgotten addresses, reused first (the table stays as large as the
        #: most addresses held at once).
        self._free: list[int] = []

    # -- sending ----------------------------------------------------------------------------

    def destination(self, address: Address) -> int:
        """The index of ``address`` in this object's table of packed destinations (made
        once per address; -1 for one that is not a numeric address)."""
        key = tuple(address)
        d = self._addresses.get(key)
        if d is None:
            packed = pack_address(address)
            if packed is None:
                return -1  # not kept: a name asked again is checked again
            if self._free:
                d = self._free.pop()
                self._packed[d * _ADDR_SIZE : (d + 1) * _ADDR_SIZE] = packed
            else:
                d = len(self._packed) // _ADDR_SIZE
                self._packed += packed
            self._addresses[key] = d
        return d

    def forget(self, address: Address) -> bool:
        """Drop ``address`` from the table (a call ended: its far end's entry is free for
        the next new address); False if it was not there. An index still held for it then
        fails its datagrams with ``EDESTADDRREQ`` until the entry is reused: forget only
        what no record will name again."""
        d = self._addresses.pop(tuple(address), None)
        if d is None:
            return False
        self._packed[d * _ADDR_SIZE : (d + 1) * _ADDR_SIZE] = bytes(_ADDR_SIZE)
        self._free.append(d)
        return True

    @property
    def destinations(self) -> int:
        """How many addresses the table holds now."""
        return len(self._addresses)

    def send_many(self, datagrams: Iterable[Outgoing]) -> list[int]:
        """Send ``(fd, payload, (host, port))`` each, in order, in one C call; returns one
        ``errno`` per datagram, 0 for sent (``EAGAIN``: the socket's buffer is full, the
        datagram is dropped as the network would drop it; ``EINVAL``: not a numeric
        address; ``EBADF``: a closed descriptor). Never raises for one datagram."""
        items = datagrams if isinstance(datagrams, list | tuple) else list(datagrams)
        if not items:
            return []
        # Columns built by C-level iteration (zip, map, accumulate): no Python per datagram.
        fds, payloads, addresses = zip(*items, strict=True)
        lengths = array("i", map(len, payloads))
        offsets = array("i", accumulate(lengths, initial=0))
        offsets.pop()
        found = list(map(self._addresses.get, addresses))
        dests = (
            found
            if None not in found
            else [self.destination(a) for a in addresses]  # the first datagram to one
        )
        return self._send(
            b"".join(payloads),
            array("i", fds),
            offsets,
            lengths,
            array("i", dests),  # type: ignore[arg-type]  # no None left
        )

    def send_records(self, data: Any, records: array[int]) -> list[int]:
        """:meth:`send_many` on datagrams laid out by the caller: ``data`` one buffer (bytes,
        bytearray, a numpy array: anything with the buffer protocol, contiguous) and
        ``records`` an ``array('i')`` of ``(fd, offset, length, destination)`` quads,
        ``destination`` from :meth:`destination`. A record outside ``data`` or with
        destination -1 fails with ``EINVAL``. Returns one ``errno`` per record (0: sent)."""
        if len(records) % _SEND_REC:
            raise ValueError("send records are (fd, offset, length, destination) quads")
        if not records:
            return []
        return self._send(data, records[0::4], records[1::4], records[2::4], records[3::4])

    def send_columns(
        self, data: Any, fds: Any, offsets: Any, lengths: Any, dests: Any
    ) -> list[int]:
        """:meth:`send_records` with the records as columns: ``fds``, ``offsets``,
        ``lengths``, ``dests`` (int32 sequences of one length: numpy arrays, ``array('i')``,
        lists), e.g. a batch's :meth:`~lanfax.engine.lines.T38Batch.out_columns` with
        ``fd_of[index]`` and ``dest_of[index]``: no Python per datagram."""
        cols = [np.ascontiguousarray(c, dtype=np.int32) for c in (fds, offsets, lengths, dests)]
        if len({len(c) for c in cols}) != 1:
            raise ValueError("send columns must all have one length")
        if not len(cols[0]):
            return []
        return self._send(data, *cols)

    def _send(
        self,
        data: Any,
        fds: Any,
        offsets: Any,
        lengths: Any,
        dests: Any,
    ) -> list[int]:
        n = len(fds)
        errs = array("i", bytes(4 * n))
        ffi = self._ffi
        if not self._packed:
            self._packed += bytes(_ADDR_SIZE)  # from_buffer needs a non-empty buffer
        view = memoryview(data).cast("B")
        size = view.nbytes
        if not size:
            view = memoryview(b"\0")
        cols = [ffi.from_buffer("int[]", c) for c in (fds, offsets, lengths, dests)]
        p_data = ffi.from_buffer("uint8_t[]", view)
        p_err = ffi.from_buffer("int[]", errs, require_writable=True)
        p_addr = ffi.from_buffer("uint8_t[]", self._packed)
        try:
            if self.compiled:
                n_addrs = len(self._packed) // _ADDR_SIZE
                self._lib.lf_send_many(*cols, n, p_data, size, p_addr, n_addrs, p_err)
            else:
                _send_python(ffi, self._lib, fds, offsets, lengths, dests, view, self._packed, errs)
        finally:
            for p in (p_addr, p_err, p_data, *cols):
                ffi.release(p)
        return errs.tolist()

    # -- receiving --------------------------------------------------------------------------

    def recv_many(self, fds: Sequence[int]) -> Received:
        """Read every datagram pending on each descriptor (up to ``max_per_fd`` each), in
        one C call per round of ``capacity`` bytes (one round unless that much is waiting)."""
        out = Received()
        n = len(fds)
        if not n:
            return out
        ffi = self._ffi
        fd_arr = array("i", fds)
        errs = array("i", bytes(4 * n))
        p_fds = ffi.from_buffer("int[]", fd_arr)
        p_err = ffi.from_buffer("int[]", errs, require_writable=True)
        state = ffi.new("int[2]")  # the next fd index, and how many it already gave
        chunks: list[bytes] = []
        raws: list[bytes] = []
        index, lengths = out.index, out.lengths
        try:
            while state[0] < n:
                if self.compiled:
                    got = self._lib.lf_recv_many(
                        p_fds,
                        n,
                        self.max_per_fd,
                        self.max_datagram,
                        self._buf,
                        self._room,
                        self._recs,
                        self._max_recs,
                        p_err,
                        state,
                    )
                else:
                    got = _recv_python(self, fd_arr, errs, state)
                if got <= 0:
                    continue
                raw = ffi.buffer(self._recs, got * _RECV_REC_BYTES)[:]
                ints = memoryview(raw).cast("i")
                lens = ints[1::_RECV_REC].tolist()
                index += ints[0::_RECV_REC].tolist()
                lengths += lens
                chunks.append(ffi.buffer(self._buf, sum(lens))[:])
                raws.append(raw)
        finally:
            ffi.release(p_err)
            ffi.release(p_fds)
        out.offsets = [0, *accumulate(lengths)][:-1] if lengths else []
        out._raw = raws[0] if len(raws) == 1 else b"".join(raws)
        out.data = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        out.errors = {i: e for i, e in enumerate(errs) if e}
        return out


# -- the ABI fallback: the C library's sendto/recvfrom, one call per datagram ---------------

_LIBC_CDEF = """
typedef unsigned int socklen_t;
long sendto(int sockfd, const void *buf, size_t len, int flags, const void *dest_addr,
            socklen_t addrlen);
long recvfrom(int sockfd, void *buf, size_t len, int flags, void *src_addr,
              socklen_t *addrlen);
"""
_libc_state: list[tuple[Any, Any]] = []
_libc_lock = threading.Lock()
_MSG_DONTWAIT = 0x40
_MSG_TRUNC = 0x20
_MSG_NOSIGNAL = 0x4000


def _libc() -> tuple[Any, Any]:
    with _libc_lock:
        if not _libc_state:
            from cffi import FFI

            ffi = FFI()
            ffi.cdef(_LIBC_CDEF)
            _libc_state.append((ffi, ffi.dlopen(None)))
        return _libc_state[0]


def _send_python(
    ffi: Any,
    libc: Any,
    fds: Any,
    offsets: Any,
    lengths: Any,
    dests: Any,
    data: memoryview,
    packed: bytearray,
    errs: array[int],
) -> None:
    """What ``lf_send_many`` does, one cffi call (and GIL release) per datagram."""
    size = len(data)
    for i, (fd, at, length, d) in enumerate(zip(fds, offsets, lengths, dests, strict=True)):
        if d < 0 or d >= len(packed) // _ADDR_SIZE or at < 0 or length < 0 or at + length > size:
            errs[i] = errno.EINVAL
            continue
        (alen,) = struct.unpack_from("=i", packed, d * _ADDR_SIZE)
        if alen <= 0:
            errs[i] = errno.EDESTADDRREQ
            continue
        addr = bytes(packed[d * _ADDR_SIZE + 4 : d * _ADDR_SIZE + 4 + alen])
        payload = bytes(data[at : at + length])
        while True:
            r = libc.sendto(fd, payload, length, _MSG_DONTWAIT | _MSG_NOSIGNAL, addr, alen)
            if r < 0 and ffi.errno == errno.EINTR:
                continue
            errs[i] = ffi.errno if r < 0 else 0
            break


def _recv_python(io: Datagrams, fds: array[int], errs: array[int], state: Any) -> int:
    """What ``lf_recv_many`` does (one round), one cffi call per datagram."""
    ffi, libc = io._ffi, io._lib
    buf, recs = io._buf, io._recs
    src = ffi.new("uint8_t[128]")
    alen = ffi.new("socklen_t *")
    used = got = 0
    n = len(fds)
    while state[0] < n:
        i = state[0]
        while state[1] < io.max_per_fd:
            if io._room - used < io.max_datagram or got >= io._max_recs:
                return got
            alen[0] = 128
            r = libc.recvfrom(
                fds[i], buf + used, io.max_datagram, _MSG_DONTWAIT | _MSG_TRUNC, src, alen
            )
            if r < 0:
                e = ffi.errno
                if e == errno.EINTR:
                    continue
                if e in (errno.EAGAIN, errno.EWOULDBLOCK):
                    break
                errs[i] = e
                if e in (errno.EBADF, errno.ENOTSOCK, errno.EINVAL, errno.EFAULT):
                    break
                state[1] += 1  # an error the socket reported: what follows is still there
                continue
            state[1] += 1
            if r > io.max_datagram:
                errs[i] = errno.EMSGSIZE
                continue
            family, port, raw = _sockaddr(ffi, src, alen[0])
            base = got * _RECV_REC
            recs[base] = i
            recs[base + 1] = r
            recs[base + 2] = family
            recs[base + 3] = port
            ffi.memmove(ffi.cast("uint8_t *", recs + base + 4), raw.ljust(16, b"\0"), 16)
            used += r
            got += 1
        state[0] += 1
        state[1] = 0
    return got


def _sockaddr(ffi: Any, src: Any, length: int) -> tuple[int, int, bytes]:
    raw = ffi.buffer(src, max(length, 0))[:]
    if len(raw) < 4:
        return 0, 0, b""
    (family,) = struct.unpack_from("=H", raw, 0)
    (port,) = struct.unpack_from("!H", raw, 2)
    if family == socket.AF_INET:
        return family, port, raw[4:8]
    if family == socket.AF_INET6 and len(raw) >= 24:
        return family, port, raw[8:24]
    return family, port, b""


# -- one object per thread for the module's functions --------------------------------------

_local = threading.local()


def _default() -> Datagrams:
    io: Datagrams | None = getattr(_local, "io", None)
    if io is None:
        io = _local.io = Datagrams()
    return io


def recv_many(fds: Sequence[int]) -> Received:
    """Every datagram pending on the non-blocking UDP sockets ``fds`` (descriptors), read
    in one C call with the GIL released once: see :meth:`Datagrams.recv_many`."""
    return _default().recv_many(fds)


def send_many(
    datagrams: Iterable[Outgoing],
) -> list[int]:
    """Send ``(fd, payload, (host, port))`` each in one C call with the GIL released once;
    one ``errno`` per datagram back (0: sent): see :meth:`Datagrams.send_many`."""
    return _default().send_many(datagrams)

"""engine.dgram: many UDP sockets read, or many datagrams sent, in one C call, on real
non-blocking sockets on loopback; one bad destination or closed socket fails alone. Run on
the compiled helper and on the ABI fallback (libc through cffi), which must agree."""

from __future__ import annotations

import errno
import select
import socket
import threading
import time
from array import array
from collections.abc import Iterator

import numpy as np
import pytest

from lanfax.engine import dgram
from lanfax.engine._binding import load, load_abi

WAIT = 10.0  # seconds: generous, the machine is shared


@pytest.fixture(params=["compiled", "abi"])
def io(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> dgram.Datagrams:
    if request.param == "compiled":
        if not load().compiled:
            pytest.skip("no compiled helper")
    else:
        monkeypatch.setattr(dgram, "load", load_abi)
    made = dgram.Datagrams()
    assert made.compiled is (request.param == "compiled")
    return made


@pytest.fixture
def sockets() -> Iterator[list[socket.socket]]:
    made: list[socket.socket] = []

    def _close() -> None:
        for s in made:
            s.close()

    try:
        for _ in range(4):
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            made.append(s)
            s.bind(("127.0.0.1", 0))
            s.setblocking(False)
        yield made
    finally:
        _close()


def _readable(sock: socket.socket) -> bool:
    return bool(select.select([sock], [], [], WAIT)[0])


def _drain(sock: socket.socket) -> list[tuple[bytes, tuple[str, int]]]:
    out: list[tuple[bytes, tuple[str, int]]] = []
    while True:
        try:
            data, src = sock.recvfrom(65535)
        except BlockingIOError:
            return out
        out.append((data, src))


def _recv_all(io: dgram.Datagrams, fds: list[int], want: int) -> dgram.Received:
    """recv_many until ``want`` datagrams came (loopback delivers at once; the wait is for a
    loaded machine)."""
    deadline = time.monotonic() + WAIT
    got = dgram.Received()
    while True:
        r = io.recv_many(fds)
        base = len(got.data)
        got.data += r.data
        got.index += r.index
        got.offsets += [base + o for o in r.offsets]
        got.lengths += r.lengths
        got.errors.update(r.errors)
        got._raw += r._raw
        if len(got) >= want or time.monotonic() > deadline:
            return got
        time.sleep(0.01)


def test_send_many_sends_each_datagram_and_reports_each_failure(
    io: dgram.Datagrams, sockets: list[socket.socket]
) -> None:
    """Good datagrams to two receivers, interleaved with one to a name (not a numeric
    address), one to port 0, one from a closed descriptor and one too big for UDP: all in
    one call; each bad one fails alone with its errno, every good one arrives, in order."""
    src, rx1, rx2, closed = sockets
    closed_fd = closed.fileno()
    closed.close()
    a1, a2 = rx1.getsockname(), rx2.getsockname()
    errs = io.send_many(
        [
            (src.fileno(), b"one", a1),
            (src.fileno(), b"x", ("no-such-host.invalid", 5000)),
            (src.fileno(), b"two", a2),
            (src.fileno(), b"y", ("127.0.0.1", 0)),
            (closed_fd, b"z", a1),
            (src.fileno(), bytes(70000), a1),
            (src.fileno(), b"three", a1),
            (src.fileno(), b"", a2),
        ]
    )
    assert errs == [0, errno.EINVAL, 0, errno.EINVAL, errno.EBADF, errno.EMSGSIZE, 0, 0]
    assert _readable(rx1) and _readable(rx2)
    port = src.getsockname()
    assert _drain(rx1) == [(b"one", port), (b"three", port)]
    assert _drain(rx2) == [(b"two", port), (b"", port)]
    assert io.send_many([]) == []


def test_send_records_takes_one_buffer_laid_out_by_the_caller(
    io: dgram.Datagrams, sockets: list[socket.socket]
) -> None:
    """A numpy buffer of RTP-sized payloads and (fd, offset, length, destination) quads, as
    a media tick builds them; a record that runs past the buffer or names no destination
    fails alone."""
    src, rx1, rx2, _ = sockets
    frames = np.arange(3 * 172, dtype=np.uint32).astype(np.uint8).reshape(3, 172)
    d1, d2 = io.destination(rx1.getsockname()), io.destination(rx2.getsockname())
    assert io.destination(rx1.getsockname()) == d1  # made once
    assert io.destination(("not an address", 1)) == -1
    fd = src.fileno()
    rec = array("i", [fd, 0, 172, d1, fd, 172, 172, d2, fd, 344, 200, d1, fd, 344, 172, -1])
    rec += array("i", [fd, 344, 172, d2])
    assert io.send_records(frames, rec) == [0, 0, errno.EINVAL, errno.EINVAL, 0]
    assert _readable(rx1) and _readable(rx2)
    assert [d for d, _ in _drain(rx1)] == [frames[0].tobytes()]
    assert [d for d, _ in _drain(rx2)] == [frames[1].tobytes(), frames[2].tobytes()]
    with pytest.raises(ValueError, match="quads"):
        io.send_records(b"abc", array("i", [fd, 0, 3]))


def test_recv_many_reads_every_socket_in_order_with_sources_and_a_closed_one_fails_alone(
    io: dgram.Datagrams, sockets: list[socket.socket]
) -> None:
    rx1, rx2, rx3, tx = sockets
    dead = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    dead_fd = dead.fileno()
    dead.close()
    sent: dict[int, list[bytes]] = {0: [], 2: []}
    for k in range(30):
        payload = bytes([k]) * (k * 37 % 300)
        target = 0 if k % 3 else 2
        tx.sendto(payload, (rx1 if target == 0 else rx3).getsockname())
        sent[target].append(payload)
    big = bytes(range(256)) * 240  # 61,440 bytes: read whole
    tx.sendto(big, rx3.getsockname())
    sent[2].append(big)
    assert _readable(rx1) and _readable(rx3)
    fds = [rx1.fileno(), rx2.fileno(), rx3.fileno(), dead_fd]
    got = _recv_all(io, fds, 31)
    assert got.by_index() == sent
    assert got.errors == {3: errno.EBADF}
    assert [i for i, _ in got.datagrams()] == [0] * 20 + [2] * 11
    assert got.source(0) == tx.getsockname() and got.source(30) == tx.getsockname()
    data, index, offsets, lengths = got.columns()
    assert data == got.data and list(index) == got.index
    assert list(offsets) == got.offsets and list(lengths) == got.lengths
    with pytest.raises(IndexError):
        got.source(31)
    # Nothing left: the next call reads nothing and blocks on nothing.
    again = io.recv_many(fds[:3])
    assert len(again) == 0 and again.data == b"" and again.errors == {}


def test_recv_many_bounds_each_socket_and_reads_in_rounds(
    monkeypatch: pytest.MonkeyPatch, sockets: list[socket.socket]
) -> None:
    """max_per_fd leaves the rest in the kernel for the next call; a small buffer is
    filled and emptied in as many rounds as it takes; a datagram longer than max_datagram
    is dropped with EMSGSIZE and the ones after it are still read."""
    for mode in ("compiled", "abi"):
        if mode == "abi":
            monkeypatch.setattr(dgram, "load", load_abi)
        elif not load().compiled:
            continue
        io = dgram.Datagrams(capacity=1000, max_per_fd=5, max_datagram=500)
        rx, _, _, tx = sockets
        for k in range(12):
            tx.sendto(bytes([k]) * (600 if k == 3 else 400), rx.getsockname())
        assert _readable(rx)
        first = io.recv_many([rx.fileno()])
        # Five taken from the socket, 3 among them (too long: dropped).
        assert [p[0] for _, p in first.datagrams()] == [0, 1, 2, 4]
        assert first.errors == {0: errno.EMSGSIZE}
        second = io.recv_many([rx.fileno()])
        assert [p[0] for _, p in second.datagrams()] == [5, 6, 7, 8, 9]
        assert second.errors == {}
        assert [p[0] for _, p in io.recv_many([rx.fileno()]).datagrams()] == [10, 11]


def test_ipv6_loopback_both_ways(io: dgram.Datagrams) -> None:
    if not socket.has_ipv6:
        pytest.skip("no IPv6")
    a = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    b = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    try:
        try:
            a.bind(("::1", 0))
            b.bind(("::1", 0))
        except OSError:
            pytest.skip("no IPv6 loopback")
        a.setblocking(False)
        b.setblocking(False)
        assert io.send_many([(a.fileno(), b"six", b.getsockname()[:2])]) == [0]
        assert _readable(b)
        got = io.recv_many([b.fileno()])
        assert got.datagrams() == [(0, b"six")]
        assert got.source(0) == a.getsockname()[:2]
    finally:
        a.close()
        b.close()


def test_the_module_functions_keep_one_object_per_thread(sockets: list[socket.socket]) -> None:
    rx, _, _, tx = sockets
    seen: list[dgram.Datagrams] = []

    def run() -> None:
        assert dgram.send_many([(tx.fileno(), b"t", rx.getsockname())]) == [0]
        seen.append(dgram._default())

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(WAIT)
    assert len(seen) == 2 and seen[0] is not seen[1]
    assert _readable(rx)
    got = _recv_all(dgram._default(), [rx.fileno()], 2)
    assert got.datagrams() == [(0, b"t"), (0, b"t")]


def test_pack_address_refuses_what_is_not_a_numeric_address() -> None:
    assert dgram.pack_address(("127.0.0.1", 5060)) is not None
    assert dgram.pack_address(("::1", 5060)) is not None
    for bad in (("localhost", 1), ("127.0.0.1", -1), ("127.0.0.1", 70000), ("", 1)):
        assert dgram.pack_address(bad) is None, bad


def test_the_destination_table_reuses_forgotten_entries_and_checks_every_index(
    io: dgram.Datagrams, sockets: list[socket.socket]
) -> None:
    """A server meets a new far address per call: forget() frees its entry for the next
    one, so the table stays as large as the calls at once. A record naming a forgotten
    entry fails with EDESTADDRREQ (until the entry is given to another address); an index
    past the table fails with EINVAL: no index reads outside the table."""
    src, rx1, rx2, _ = sockets
    d1 = io.destination(rx1.getsockname())
    assert io.destinations == 1
    assert io.destination(("no-such-host.invalid", 1)) == -1 and io.destinations == 1
    assert io.forget(rx1.getsockname()) and not io.forget(rx1.getsockname())
    assert io.destinations == 0
    fd = src.fileno()
    assert io.send_records(b"x", array("i", [fd, 0, 1, d1])) == [errno.EDESTADDRREQ]
    assert io.send_records(b"x", array("i", [fd, 0, 1, d1 + 5])) == [errno.EINVAL]
    d2 = io.destination(rx2.getsockname())
    assert d2 == d1 and io.destinations == 1  # the freed entry, reused
    assert io.send_many([(fd, b"two", rx2.getsockname())]) == [0]
    assert _readable(rx2)
    assert [d for d, _ in _drain(rx2)] == [b"two"]
    for port in range(1000, 1100):  # 100 calls one after another: one entry
        io.destination(("127.0.0.1", port))
        io.forget(("127.0.0.1", port))
    assert len(io._packed) // 32 <= 2

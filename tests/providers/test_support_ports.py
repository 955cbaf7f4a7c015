"""``tests.support.ports.reserve_port_range``: the media port ranges the SIP tests name are
free when handed out, never handed out twice in a process, never to two processes at once,
and a port someone else holds is skipped."""

from __future__ import annotations

import socket
import subprocess
import sys
from contextlib import ExitStack

from tests.support import ports
from tests.support.ports import reserve_media_ports, reserve_port_range
from tests.support.server import REPO_ROOT


def _overlap(a: tuple[int, int], b: tuple[int, int]) -> bool:
    return a[0] <= b[1] and b[0] <= a[1]


def test_ranges_are_consecutive_even_free_and_never_handed_out_twice() -> None:
    got = [reserve_port_range(n) for n in (10, 4, 40, 10)]
    for (low, high), n in zip(got, (10, 4, 40, 10), strict=True):
        assert high - low + 1 == n and low % 2 == 0
        assert high < 20000 or low >= 30000  # never in lanfax's default media_ports
        with ExitStack() as stack:  # every port binds (nobody holds it)
            for port in range(low, high + 1):
                s = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_DGRAM))
                s.bind(("127.0.0.1", port))
    for i, a in enumerate(got):
        assert not any(_overlap(a, b) for b in got[i + 1 :]), got
    low, _, high = reserve_media_ports(6).partition("-")
    assert int(high) - int(low) == 5


def test_a_port_in_use_is_skipped() -> None:
    start = ports._next + ports._next % 2  # where the next search begins
    with ExitStack() as stack:
        for port in range(start, start + 8):
            s = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_DGRAM))
            s.bind(("127.0.0.1", port))
        low, high = reserve_port_range(10)
    assert low >= start + 8, (start, low, high)


def test_another_process_never_gets_a_range_this_one_holds() -> None:
    mine = [reserve_port_range(20) for _ in range(3)]
    code = (
        "import sys; sys.path.insert(0, sys.argv[1])\n"
        "from tests.support.ports import reserve_port_range\n"
        "for _ in range(5): print(*reserve_port_range(20))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(REPO_ROOT)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    theirs = [(int(a), int(b)) for a, b in (line.split() for line in out.splitlines())]
    assert len(theirs) == 5
    held = ports._handed  # everything this process holds, not only this test's ranges
    for r in theirs:
        assert not any(_overlap(r, (h.start, h.stop - 1)) for h in held), (r, held)
    assert all(any((h.start, h.stop - 1) == m for h in held) for m in mine)

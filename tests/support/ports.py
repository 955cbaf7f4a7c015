"""Consecutive UDP port ranges for tests that must name a range (a SIP account's
``media_ports``, a media relay listening on every port of it), picked at run time.

A fixed range collides when two test runs share a machine: both bind the same ports
("Address already in use"), or worse, one run's call sends its media to the other's. So
:func:`reserve_port_range` hands out a range that is

- free now: every port of it binds (UDP, and TCP if asked) on every host named;
- not handed out before in this process (never twice, even after its test ended);
- not held by another process running this function on the machine: each range is locked
  (POSIX byte-range locks on one file, one byte per port number) until the process ends, and
  the kernel drops the locks of a process that dies, so nothing is left to clean up.

Ranges are taken below the kernel's ephemeral range (``ip_local_port_range``: ports 0-binds
and outgoing connections take come from there) and outside 20000-29999 (lanfax's default
``media_ports``, which a test that sets none, or a real server on this machine, uses).
"""

from __future__ import annotations

import fcntl
import os
import socket
import tempfile
import threading
from collections.abc import Iterable
from pathlib import Path

#: lanfax's default ``media_ports`` (providers/sip/config.py): never handed out.
_LANFAX_DEFAULT = range(20000, 30000)
_POOL_LOW = 10000

_mutex = threading.Lock()
_handed: list[range] = []  # every range this process handed out, never reused
_next = _POOL_LOW  # where the next search starts (the pool is walked once, upwards)
_fd: int | None = None  # the lock file, open for the life of the process


def _ephemeral_low() -> int:
    try:
        text = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text()
        return int(text.split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def _pool() -> list[range]:
    """The port numbers this module hands out from, in order."""
    top = min(_ephemeral_low(), 65536)
    low_part = range(_POOL_LOW, min(top, _LANFAX_DEFAULT.start))
    high_part = range(max(_POOL_LOW, _LANFAX_DEFAULT.stop), top)
    return [r for r in (low_part, high_part) if len(r)]


def _lock_file() -> int:
    global _fd
    if _fd is None:
        path = Path(tempfile.gettempdir()) / f"lanfax-test-ports-{os.getuid()}.lock"
        _fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    return _fd


def _lock(ports: range) -> bool:
    """Lock ``ports`` against every other process (one byte per port number)."""
    try:
        fcntl.lockf(_lock_file(), fcntl.LOCK_EX | fcntl.LOCK_NB, len(ports), ports.start)
    except OSError:
        return False
    return True


def _unlock(ports: range) -> None:
    fcntl.lockf(_lock_file(), fcntl.LOCK_UN, len(ports), ports.start)


def _binds(ports: range, hosts: Iterable[str], tcp: bool) -> bool:
    """Whether every port of ``ports`` binds now on every host (UDP, and TCP if asked)."""
    kinds = (socket.SOCK_DGRAM, socket.SOCK_STREAM) if tcp else (socket.SOCK_DGRAM,)
    for host in hosts:
        for kind in kinds:
            for port in ports:
                with socket.socket(socket.AF_INET, kind) as s:
                    try:
                        s.bind((host, port))
                    except OSError:
                        return False
    return True


def reserve_port_range(
    count: int, hosts: Iterable[str] = ("127.0.0.1",), *, tcp: bool = False, even: bool = True
) -> tuple[int, int]:
    """``count`` consecutive ports ``(low, high)`` (both included, ``high - low + 1 ==
    count``), free for UDP (and TCP if ``tcp``) on each of ``hosts`` and this caller's alone
    (see the module's docstring). ``even``: ``low`` is even, as an RTP port is.

    Raises RuntimeError when the pool below the ephemeral range has no such range left."""
    if count < 1:
        raise ValueError(f"count must be at least 1, got {count}")
    hosts = tuple(hosts)
    global _next
    with _mutex:
        for part in _pool():
            low = max(_next, part.start)
            while low + count <= part.stop:
                if even and low % 2:
                    low += 1
                    continue
                ports = range(low, low + count)
                if _lock(ports):
                    if _binds(ports, hosts, tcp):
                        _handed.append(ports)
                        _next = ports.stop
                        return ports.start, ports.stop - 1
                    _unlock(ports)
                # Held by another process or busy: step past its first port and try again
                # (held ranges are usually one process's whole range, so skip in small
                # strides, not one port at a time).
                low += max(2, min(count, 16))
            _next = max(_next, part.stop)
        raise RuntimeError(
            f"no {count} consecutive free ports left below the ephemeral range"
            f" (this process has handed out {len(_handed)} ranges): "
            "see tests/support/ports.py"
        )


def reserve_media_ports(count: int, hosts: Iterable[str] = ("127.0.0.1",)) -> str:
    """A SIP account's ``media_ports`` setting (``"low-high"``) over a range of ``count``
    ports from :func:`reserve_port_range`."""
    low, high = reserve_port_range(count, hosts)
    return f"{low}-{high}"

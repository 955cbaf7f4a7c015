"""The thin I/O side of the modem provider: a serial tty (termios, non-blocking, asyncio)
and UUCP lock files.

* :class:`UucpLock`: ``/var/lock/LCK..<tty>`` in the HDB format (the pid as ten ASCII
  digits and a newline), as getty, HylaFAX, efax, minicom and cu use, so programs on the
  same tty do not trample each other. A lock whose process is gone is stale and replaced.
* :class:`ModemPort`: the tty in raw mode at ``speed`` with RTS/CTS or XON/XOFF flow
  control; :meth:`ModemPort.command` runs one AT command and collects its reply lines;
  :meth:`ModemPort.run` drives a sans-IO :class:`~.class1.Class1Dialogue` to its end.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import termios
import time
from collections.abc import Callable
from pathlib import Path

from lanfax.model.errors import ProviderError
from lanfax.providers.modem.class1 import Class1Dialogue

LOCK_DIR = Path("/var/lock")
SPEEDS = {
    9600: termios.B9600,
    19200: termios.B19200,
    38400: termios.B38400,
    57600: termios.B57600,
    115200: termios.B115200,
}
FINAL_REPLIES = ("OK", "ERROR", "CONNECT", "NO CARRIER", "+FCERROR", "BUSY", "NO DIALTONE")


class UucpLock:
    """A UUCP lock on ``device`` (``acquire`` raises ProviderError if another process has it)."""

    def __init__(self, device: str, lock_dir: Path | None = None) -> None:
        self.path = Path(lock_dir or LOCK_DIR) / f"LCK..{Path(device).name}"
        self.held = False

    def owner(self) -> int | None:
        """The pid in the lock file, if a live process holds it."""
        try:
            text = self.path.read_text("ascii", "replace").strip()
            pid = int(text.split()[0])
        except (OSError, ValueError, IndexError):
            return None
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            return pid
        return pid

    def acquire(self) -> None:
        if self.held:
            return
        mine = f"{os.getpid():10d}\n".encode("ascii")
        for _ in range(2):
            try:
                fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            except FileExistsError:
                pid = self.owner()
                if pid is not None and pid != os.getpid():
                    raise ProviderError(
                        f"{self.path.name[5:]} is in use by process {pid} ({self.path})",
                        hint="stop the other program on that tty, or use another device",
                    ) from None
                with contextlib.suppress(FileNotFoundError):
                    self.path.unlink()  # stale (or our own): replace it
                continue
            except OSError as exc:
                raise ProviderError(
                    f"cannot create the lock file {self.path}: {exc.strerror}",
                    hint="lanfax needs write access to the lock directory (/var/lock)",
                ) from exc
            with os.fdopen(fd, "wb") as f:
                f.write(mine)
            self.held = True
            return
        raise ProviderError(f"cannot take the lock {self.path}")  # pragma: no cover

    def release(self) -> None:
        if not self.held:
            return
        self.held = False
        if self.owner() in (os.getpid(), None):
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()


def open_tty(device: str, speed: int, flow: str) -> int:
    """Open ``device`` raw, non-blocking, at ``speed`` with ``flow`` ("rtscts", "xonxoff",
    "none"). ProviderError naming the tty when it cannot be opened."""
    try:
        fd = os.open(device, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
    except OSError as exc:
        raise ProviderError(
            f"cannot open the modem {device}: {exc.strerror}",
            hint="check the device path, that the modem is plugged in, and the permissions",
        ) from exc
    try:
        attrs = termios.tcgetattr(fd)
        iflag, oflag, cflag, lflag = 0, 0, termios.CS8 | termios.CREAD | termios.CLOCAL, 0
        if flow == "xonxoff":
            iflag |= termios.IXON | termios.IXOFF
        elif flow == "rtscts":
            cflag |= termios.CRTSCTS
        baud = SPEEDS[speed]
        cc = attrs[6]
        cc[termios.VMIN] = 0
        cc[termios.VTIME] = 0
        termios.tcsetattr(fd, termios.TCSANOW, [iflag, oflag, cflag, lflag, baud, baud, cc])
        termios.tcflush(fd, termios.TCIOFLUSH)
    except (termios.error, OSError) as exc:
        os.close(fd)
        raise ProviderError(
            f"{device} is not a serial port: {exc}", hint="device must name a modem's tty"
        ) from exc
    return fd


class ModemPort:
    """An open modem tty on the running event loop."""

    def __init__(self, device: str, speed: int = 115200, flow: str = "rtscts") -> None:
        self.device = device
        self.speed = speed
        self.flow = flow
        self._fd: int | None = None
        self._buf = bytearray()
        self._wake = asyncio.Event()
        self._lock = UucpLock(device)
        self.on_line: Callable[[str], None] | None = None

    @property
    def is_open(self) -> bool:
        return self._fd is not None

    def open(self) -> None:
        self._lock.acquire()
        try:
            self._fd = open_tty(self.device, self.speed, self.flow)
        except BaseException:
            self._lock.release()
            raise
        asyncio.get_running_loop().add_reader(self._fd, self._readable)

    def close(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(Exception):
                asyncio.get_running_loop().remove_reader(self._fd)
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = None
        self._lock.release()

    def _readable(self) -> None:
        assert self._fd is not None
        try:
            data = os.read(self._fd, 4096)
        except BlockingIOError:
            return
        except OSError as exc:
            if exc.errno == errno.EIO:  # the pty's other side went away
                data = b""
            else:
                raise
        if not data:
            # A hung-up pty: stop watching it (a later write fails and says so).
            with contextlib.suppress(Exception):
                asyncio.get_running_loop().remove_reader(self._fd)
            self._wake.set()
            return
        self._buf += data
        self._wake.set()

    def write(self, data: bytes) -> None:
        if self._fd is None:
            raise ProviderError(f"the modem {self.device} is not open")
        view = memoryview(data)
        deadline = time.monotonic() + 5.0
        while view:
            try:
                n = os.write(self._fd, view)
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise ProviderError(f"the modem {self.device} takes no data") from None
                time.sleep(0.005)
                continue
            except OSError as exc:
                raise ProviderError(f"writing to {self.device} failed: {exc.strerror}") from exc
            view = view[n:]

    def take(self) -> bytes:
        out = bytes(self._buf)
        self._buf.clear()
        self._wake.clear()
        return out

    async def wait(self, timeout: float) -> None:
        if self._buf:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), timeout)

    async def command(self, cmd: str, timeout: float = 5.0) -> tuple[str, list[str]]:
        """Send ``cmd`` and return (final result, the lines before it, echo left out).

        ProviderError "did not answer" naming the tty after ``timeout`` seconds."""
        self.take()
        self.write(cmd.encode("ascii") + b"\r")
        lines: list[str] = []
        pending = b""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise ProviderError(
                    f"the modem {self.device} did not answer {cmd!r} within {timeout:g} s",
                    hint="check that a modem is on this tty and powered; try a lower speed",
                )
            await self.wait(left)
            pending += self.take()
            *complete, pending = pending.replace(b"\n", b"\r").split(b"\r")
            for raw in complete:
                line = raw.decode("ascii", "replace").strip()
                if not line or line == cmd:
                    continue
                if line in FINAL_REPLIES:
                    return line, lines
                if self.on_line is not None:
                    self.on_line(line)
                lines.append(line)

    async def run(self, dialogue: Class1Dialogue, abort: asyncio.Event) -> None:
        """Drive ``dialogue`` until it finishes (or ``abort`` is set: it hangs up first)."""
        loop = asyncio.get_running_loop()
        dialogue.start(loop.time())
        aborted = False
        while not dialogue.finished:
            out = dialogue.output()
            if out:
                self.write(out)
            now = loop.time()
            if abort.is_set() and not aborted:
                from lanfax.providers.modem.class1 import Outcome

                aborted = True
                dialogue.abort(now, Outcome("aborted", "the job was aborted"))
                continue
            await self.wait(max(0.0, dialogue.next_deadline() - now))
            data = self.take()
            now = loop.time()
            if data:
                dialogue.feed(data, now)
            dialogue.poll(now)
        out = dialogue.output()
        if out:
            self.write(out)


__all__ = ["ModemPort", "UucpLock", "open_tty"]

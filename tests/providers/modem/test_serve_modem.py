"""``lanfax serve`` with ``[[providers]] type = "modem"``: the probe is on the port
(``GET /api/v1/ports``, ``lanfax port show``), and a missing tty is a device error beside a
working modem. The modem is a scripted one on a pty, answered from a thread."""

from __future__ import annotations

import os
import pty
import select
import threading
import tty as ttymod
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.providers.modem.test_provider import ANSWERS
from tests.support.server import LanfaxServer, start_lanfax_server

from lanfax.client import Client


class ThreadModem:
    def __init__(self) -> None:
        self.master, self._slave = pty.openpty()
        ttymod.setraw(self._slave)
        self.path = os.ttyname(self._slave)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        line = bytearray()
        while not self._stop.is_set():
            r, _, _ = select.select([self.master], [], [], 0.1)
            if not r:
                continue
            try:
                data = os.read(self.master, 1024)
            except OSError:
                return
            for b in data:
                if b == 0x0D:
                    cmd = line.decode().strip()
                    line.clear()
                    if cmd:
                        reply = f"\r\n{ANSWERS[cmd]}\r\n" if cmd in ANSWERS else ""
                        os.write(self.master, (reply + "\r\nOK\r\n").encode())
                elif b != 0x0A:
                    line.append(b)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        os.close(self.master)
        os.close(self._slave)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[LanfaxServer, ThreadModem]]:
    modem = ThreadModem()
    toml = f"""
[[providers]]
type = "modem"
devices = ["{modem.path}", "/dev/lanfax-no-such-modem"]
flow = "none"
number = "5550100"
command_timeout = 2
"""
    server = start_lanfax_server(tmp_path, toml)
    try:
        yield server, modem
    finally:
        server.close()
        modem.close()


def test_the_probe_is_shown_on_the_port(served: tuple[LanfaxServer, ThreadModem]) -> None:
    server, modem = served
    with Client(server.url) as client:
        ports = {p.device_name: p for p in client.ports()}
        ok = ports[f"Modem {modem.path}"]
        bad = ports["Modem /dev/lanfax-no-such-modem"]
        assert ok.capabilities["modulations"] == ["v17", "v27ter", "v29"]
        assert ok.capabilities["identity"] == "Scripted Class 1"
        assert "error" not in ok.capabilities
        assert "cannot open the modem /dev/lanfax-no-such-modem" in bad.capabilities["error"]
        assert client.port(ok.device_id).capabilities["max_rate"] == 14400
        assert ok.number == "5550100"

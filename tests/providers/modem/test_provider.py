"""The modem provider on real ptys: configuration, probe, UUCP locks, a dead tty beside a
working one, rings and caller id. The far side of each pty is a scripted modem."""

from __future__ import annotations

import asyncio
import os
import pty
import subprocess
import sys
import tty as ttymod
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.providers.harness import Harness
from tests.providers.helpers import run

from lanfax.model.codes import ProviderStatus
from lanfax.model.errors import ConfigError, ProviderError
from lanfax.providers.loader import load_provider_class
from lanfax.providers.modem import ModemProvider
from lanfax.providers.modem import tty as modem_tty
from lanfax.providers.modem.config import parse_config
from lanfax.providers.modem.provider import parse_probe

ANSWERS = {
    "AT+FCLASS=?": "0,1,1.0",
    "AT+FTM=?": "24,48,72,73,74,96,97,98,121,122,145,146",
    "AT+FRM=?": "24,48,72,73,74,96,97,98,121,122,145,146",
    "ATI": "Scripted Class 1",
}


class ScriptedModem:
    """The far side of a pty answering AT commands (on the event loop)."""

    def __init__(
        self,
        answers: dict[str, str] | None = None,
        silent: bool = False,
        refuse: frozenset[str] = frozenset(),
    ) -> None:
        self.master, slave = pty.openpty()
        ttymod.setraw(slave)
        self.path = os.ttyname(slave)
        self._slave = slave  # kept open so the pty stays up
        self.answers = dict(ANSWERS if answers is None else answers)
        self.silent = silent
        self.refuse = refuse  # commands answered ERROR
        self.commands: list[str] = []
        self._line = bytearray()
        os.set_blocking(self.master, False)

    def attach(self) -> None:
        asyncio.get_running_loop().add_reader(self.master, self._readable)

    def detach(self) -> None:
        asyncio.get_running_loop().remove_reader(self.master)

    def send(self, text: str) -> None:
        os.write(self.master, f"\r\n{text}\r\n".encode())

    def _readable(self) -> None:
        try:
            data = os.read(self.master, 4096)
        except OSError:
            return
        for b in data:
            if b == 0x0D:
                cmd = self._line.decode().strip()
                self._line.clear()
                if cmd:
                    self.commands.append(cmd)
                    if cmd in self.refuse:
                        self.send("ERROR")
                    elif not self.silent:
                        if cmd in self.answers:
                            self.send(self.answers[cmd])
                        self.send("OK")
            elif b != 0x0A:
                self._line.append(b)

    def close(self) -> None:
        os.close(self.master)
        os.close(self._slave)


@pytest.fixture
def lock_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    d = tmp_path / "lock"
    d.mkdir()
    monkeypatch.setattr(modem_tty, "LOCK_DIR", d)
    return d


@pytest.fixture
def modems() -> Iterator[list[ScriptedModem]]:
    made: list[ScriptedModem] = []
    yield made
    for m in made:
        m.close()


def test_entry_point_and_config() -> None:
    assert load_provider_class("modem") is ModemProvider
    cfg = parse_config(
        {"devices": ["/dev/ttyACM0", "/dev/ttyS0"], "dial": "pulse", "rings": 3, "flow": "xonxoff"}
    )
    assert cfg.devices == ("/dev/ttyACM0", "/dev/ttyS0") and cfg.pulse and cfg.rings == 3
    assert cfg.country == ""
    assert parse_config({"device": "/dev/x", "country": " b5"}).country == "B5"
    assert parse_config({"device": "/dev/x", "country": "0x04"}).country == "04"
    for bad, word in [
        ({}, "no device"),
        ({"device": "ttyS0"}, "tty path"),
        ({"device": "/dev/x", "speed": 1234}, "speed"),
        ({"device": "/dev/x", "flow": "magic"}, "flow"),
        ({"device": "/dev/x", "dial": "rotary"}, "dial"),
        ({"device": "/dev/x", "answer": "sometimes"}, "answer"),
        ({"device": "/dev/x", "colour": 1}, "unknown key"),
        ({"device": "/dev/x", "dial_prefix": "9;"}, "dial_prefix"),
        ({"devices": ["/dev/x", "/dev/x"]}, "twice"),
        ({"device": "/dev/x", "country": "Germany"}, "T.35 country code"),
        ({"device": "/dev/x", "country": "B55"}, "T.35 country code"),
        ({"device": "/dev/x", "country": 181}, "not text"),
    ]:
        with pytest.raises(ConfigError, match=word):
            parse_config(bad)


def test_probe_parsing() -> None:
    ok = {k: ("OK", [v]) for k, v in ANSWERS.items()}
    caps = parse_probe(ok)
    assert caps["modulations"] == ["v17", "v27ter", "v29"] and caps["max_rate"] == 14400
    assert caps["class1.0"] is True and caps["identity"] == "Scripted Class 1"
    only_v29 = {**ok, "AT+FTM=?": ("OK", ["24,48,72,96"]), "AT+FRM=?": ("OK", ["(24,48,72,96)"])}
    assert parse_probe(only_v29)["modulations"] == ["v27ter", "v29"]
    with pytest.raises(ProviderError, match="no fax Class 1"):
        parse_probe({**ok, "AT+FCLASS=?": ("OK", ["0,2,2.0"])})
    with pytest.raises(ProviderError, match="no fax Class 1"):
        parse_probe({**ok, "AT+FCLASS=?": ("ERROR", [])})


def test_a_dead_tty_is_a_device_error_and_the_other_modem_works(
    lock_dir: Path, modems: list[ScriptedModem], tmp_path: Path
) -> None:
    good, dead = ScriptedModem(), ScriptedModem(silent=True)
    nonclass1 = ScriptedModem({**ANSWERS, "AT+FCLASS=?": "0,2"})
    modems += [good, dead, nonclass1]

    async def scenario() -> None:
        for m in modems:
            m.attach()
        h = Harness(tmp_path)
        p = ModemProvider()
        cfg = {
            "devices": [dead.path, good.path, nonclass1.path, "/dev/lanfax-no-such-tty"],
            "flow": "none",
            "command_timeout": 0.5,
        }
        await h.add(p, cfg)
        try:
            devs = {d.local_id: d for d in p.virtual_devices()}
            assert len(devs) == 4
            name = Path(dead.path).name
            assert "did not answer 'ATZ'" in devs[f"modem:{name}"].capabilities["error"]
            assert dead.path in devs[f"modem:{name}"].capabilities["error"]
            err = devs[f"modem:{Path(nonclass1.path).name}"].capabilities["error"]
            assert "no fax Class 1" in err
            assert "cannot open" in devs["modem:lanfax-no-such-tty"].capabilities["error"]
            ok = devs[f"modem:{Path(good.path).name}"].capabilities
            assert "error" not in ok and ok["modulations"] == ["v17", "v27ter", "v29"]
            assert good.commands[:2] == ["ATZ", "ATE0"]
            assert "AT+FCLASS=1" in good.commands and "ATS0=0" in good.commands
            # The lock is held on the working tty, not on the dead ones.
            assert (lock_dir / f"LCK..{Path(good.path).name}").read_text().strip() == str(
                os.getpid()
            )
            assert not (lock_dir / f"LCK..{name}").exists()
            # A job on the dead modem ends LINE_UNAVAILABLE, naming the tty.
            doc = tmp_path / "doc.tif"
            from tests.interop.test_hylafax import fax_tiff

            fax_tiff(doc, 1, False)
            result, _ = await h.send(p, f"modem:{name}", doc, "1000")
            assert result.status.status_id is ProviderStatus.LINE_UNAVAILABLE
            assert dead.path in result.status.string_id
        finally:
            await p.shutdown()
            for m in modems:
                m.detach()
        assert not (lock_dir / f"LCK..{Path(good.path).name}").exists()

    run(scenario())


def test_uucp_lock_held_by_another_process(
    lock_dir: Path, modems: list[ScriptedModem], tmp_path: Path
) -> None:
    m = ScriptedModem()
    modems.append(m)
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (lock_dir / f"LCK..{Path(m.path).name}").write_text(f"{holder.pid:10d}\n")

        async def scenario() -> str:
            m.attach()
            h = Harness(tmp_path)
            p = ModemProvider()
            await h.add(p, {"device": m.path, "flow": "none", "command_timeout": 0.5})
            try:
                return str(p.virtual_devices()[0].capabilities["error"])
            finally:
                await p.shutdown()
                m.detach()

        err = run(scenario())
        assert f"in use by process {holder.pid}" in err
        assert m.commands == []  # the tty was not touched
    finally:
        holder.kill()
        holder.wait()
    # The holder is gone: its lock is stale and replaced.
    lock = modem_tty.UucpLock(m.path)
    lock.acquire()
    assert (lock_dir / f"LCK..{Path(m.path).name}").read_text() == f"{os.getpid():10d}\n"
    lock.release()
    assert not (lock_dir / f"LCK..{Path(m.path).name}").exists()


def test_rings_and_caller_id(lock_dir: Path, modems: list[ScriptedModem], tmp_path: Path) -> None:
    m = ScriptedModem()
    modems.append(m)

    async def scenario() -> Harness:
        m.attach()
        h = Harness(tmp_path)
        p = ModemProvider()
        await h.add(p, {"device": m.path, "flow": "none", "command_timeout": 0.5, "rings": 4})
        offered = p.virtual_devices()[0]
        assert offered.rings == 4  # the port's Rings until an administrator changes it
        dev = offered.local_id
        try:
            m.send("DATE=1204")
            m.send("NMBR=5550100")
            m.send("NAME=Front desk")
            m.send("RING")
            for _ in range(100):
                if h.rings[dev]:
                    break
                await asyncio.sleep(0.05)
            m.send("RING")
            for _ in range(100):
                if len(h.rings[dev]) == 2:
                    break
                await asyncio.sleep(0.05)
            return h
        finally:
            await p.shutdown()
            m.detach()

    h = run(scenario())
    [rings] = h.rings.values()
    assert [r.ring_count for r in rings] == [1, 2]
    assert rings[0].caller_id == "5550100"
    assert rings[0].caller_name == "Front desk"
    assert rings[0].call_id == rings[1].call_id


def test_manual_answer_refuses_to_pick_up(
    lock_dir: Path, modems: list[ScriptedModem], tmp_path: Path
) -> None:
    m = ScriptedModem()
    modems.append(m)

    async def scenario() -> tuple[ProviderStatus, str]:
        m.attach()
        h = Harness(tmp_path)
        p = ModemProvider()
        await h.add(p, {"device": m.path, "flow": "none", "answer": "manual", "ecm": False})
        assert p.config is not None and p.config.ecm is False
        dev = p.virtual_devices()[0].local_id
        try:
            from lanfax.providers.api import FaxReceive

            job = await p.start_job(dev)
            try:
                result = await p.receive(job, FaxReceive(tmp_path / "rx.tif"))
            finally:
                await p.end_job(job)
            return result.status.status_id, result.status.string_id
        finally:
            await p.shutdown()
            m.detach()

    status, text = run(scenario())
    assert status is ProviderStatus.LINE_UNAVAILABLE and "manually" in text
    assert "ATA" not in m.commands


@pytest.mark.parametrize("has_gci", [True, False])
def test_country_is_set_with_gci_and_a_modem_without_it_still_works(
    lock_dir: Path, modems: list[ScriptedModem], tmp_path: Path, has_gci: bool
) -> None:
    """``country`` sends AT+GCI=<T.35 code> at start and shows what the modem then says; a
    modem that answers ERROR is noted on the device and used as it is."""
    if has_gci:
        m = ScriptedModem({**ANSWERS, "AT+GCI?": "+GCI: B4"})
    else:
        m = ScriptedModem(refuse=frozenset({"AT+GCI=B4"}))
    modems.append(m)

    async def scenario() -> dict[str, object]:
        m.attach()
        h = Harness(tmp_path)
        p = ModemProvider()
        await h.add(p, {"device": m.path, "flow": "none", "command_timeout": 0.5, "country": "b4"})
        try:
            return dict(p.virtual_devices()[0].capabilities)
        finally:
            await p.shutdown()
            m.detach()

    caps = run(scenario())
    assert "AT+GCI=B4" in m.commands
    assert "error" not in caps and caps["modulations"]  # the modem is in use either way
    if has_gci:
        assert caps["country"] == "B4" and "country_error" not in caps
        assert m.commands.index("AT+GCI=B4") < m.commands.index("AT+FCLASS=1")
    else:
        assert "country" not in caps
        assert "ERROR to AT+GCI=B4" in str(caps["country_error"])

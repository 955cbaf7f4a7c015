"""DNS-SD: the TXT record and the on/off decision as pure functions, the setting, and a
real ``lanfax serve`` announcing the printer, resolved by python-zeroconf, both bound to
127.0.0.1 only (no multicast leaves this machine)."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.support.server import start_lanfax_server

from lanfax.model.errors import ConfigError
from lanfax.service.ipp.dnssd import parse_mode, should_advertise, txt_record
from lanfax.service.settings import settings_from_mapping


def test_txt_record() -> None:
    txt = txt_record(uuid="0d1e", tls=False, admin_url="http://h:8470/api/v1/docs", version="1")
    assert txt["rfo"] == "ipp/faxout" and txt["rp"] == "ipp/faxout"
    assert txt["UUID"] == "0d1e" and txt["Fax"] == "T"
    pdl = txt["pdl"].split(",")
    assert {"application/pdf", "image/pwg-raster", "image/urf"} <= set(pdl)
    assert "TLS" not in txt
    assert txt_record(uuid="x", tls=True, admin_url="https://h/")["TLS"] == "1.2"
    with pytest.raises(ValueError, match="255"):
        txt_record(uuid="x", tls=False, admin_url="http://" + "h" * 300)


@pytest.mark.parametrize(
    ("mode", "host", "expected"),
    [
        ("auto", "127.0.0.1", False),
        ("auto", "::1", False),
        ("auto", "localhost", False),
        ("auto", "0.0.0.0", True),
        ("auto", "192.168.1.5", True),
        ("on", "127.0.0.1", True),
        ("off", "0.0.0.0", False),
    ],
)
def test_should_advertise(mode: str, host: str, expected: bool) -> None:
    assert should_advertise(mode, host) is expected


def test_setting() -> None:
    assert settings_from_mapping({}).dnssd == "auto"
    assert settings_from_mapping({"server": {"dnssd": False}}).dnssd == "off"
    assert settings_from_mapping({"server": {"dnssd": "ON"}}).dnssd == "on"
    with pytest.raises(ConfigError, match=r"server\.dnssd"):
        settings_from_mapping({"server": {"dnssd": "sometimes"}})
    assert parse_mode(True) == "on"


def test_serve_announces_the_printer_on_loopback(tmp_path: Path) -> None:
    zeroconf = pytest.importorskip("zeroconf")
    toml = '[server]\ndnssd = "on"\n'
    with start_lanfax_server(tmp_path, toml) as srv:
        assert any("announced by DNS-SD" in line for line in srv.stdout_lines), srv.log_tail()
        zc = zeroconf.Zeroconf(interfaces=["127.0.0.1"], ip_version=zeroconf.IPVersion.V4Only)
        try:
            name = "lanfax fax printer._ipp._tcp.local."
            info = zc.get_service_info("_ipp._tcp.local.", name, timeout=5000)
            assert info is not None, srv.log_tail()
            assert info.port == srv.port
            assert info.parsed_addresses() == ["127.0.0.1"]
            props = {k.decode(): (v or b"").decode() for k, v in info.properties.items()}
            assert props["rfo"] == "ipp/faxout"
            import httpx
            from tests.support.ipp import request

            from lanfax.service.ipp.codec import GroupTag, decode, encode
            from lanfax.service.ipp.model import Op

            # The UUID announced is the printer's own.
            uri = f"ipp://127.0.0.1:{srv.port}/ipp/faxout"
            r = httpx.post(
                f"{srv.url}/ipp/faxout",
                content=encode(request(Op.GET_PRINTER_ATTRIBUTES, uri)),
                headers={"Content-Type": "application/ipp"},
            )
            attrs = decode(r.content).group(GroupTag.PRINTER)
            assert attrs is not None
            uuid = attrs.get("printer-uuid")
            assert uuid is not None and uuid.values[0].value == f"urn:uuid:{props['UUID']}"
        finally:
            zc.close()


def test_not_announced_on_loopback_by_default(tmp_path: Path) -> None:
    with start_lanfax_server(tmp_path) as srv:
        assert not any("DNS-SD" in line for line in srv.stdout_lines)

"""A port's settings before an administrator sets them: what its provider offers (a modem's
configured ``rings``), else the service's defaults; saved settings always win."""

from __future__ import annotations

from lanfax.providers.api import ProviderDevice
from lanfax.providers.loader import ProviderSpec
from lanfax.service.devices import DeviceManager

SPEC = ProviderSpec("modem", "modem", {})


def test_rings_offered_by_the_provider_are_the_ports_until_an_administrator_sets_them() -> None:
    offered = ProviderDevice("modem:/dev/ttyACM0", "Modem", "555", rings=4)
    assert DeviceManager._port_from({}, offered, 7, SPEC, 0).rings == 4
    assert DeviceManager._port_from({"rings": 1}, offered, 7, SPEC, 0).rings == 1
    plain = ProviderDevice("virtual:100", "Line 100", "100")
    assert DeviceManager._port_from({}, plain, 8, SPEC, 1).rings == 2

"""Configuration of the virtual provider: every mistake is a ConfigError with a hint."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from tests.providers.harness import Harness
from tests.providers.helpers import network_name, run

from lanfax.model.errors import ConfigError
from lanfax.providers.virtual import VirtualProvider
from lanfax.providers.virtual.config import parse_config

LINES = [{"number": "100"}, {"number": "101", "name": "Sales", "ident": "+1 555 0101"}]


def test_defaults_depend_on_timing() -> None:
    fast = parse_config({"lines": LINES})
    real = parse_config({"lines": LINES, "timing": "realtime"})
    assert (fast.timing, fast.codec, fast.mode, fast.network) == (
        "fast",
        "slin",
        "audio",
        "default",
    )
    assert fast.ring_interval < real.ring_interval == 6.0
    assert fast.answer_timeout < real.answer_timeout
    assert fast.lines[0].name == "Virtual line 100" and fast.lines[0].ident == "100"
    assert fast.lines[1].ident == "+1 555 0101"
    # Integers are accepted as numbers, separators are dropped.
    assert parse_config({"lines": [{"number": 7}, {"number": "55-5"}]}).lines[1].number == "555"


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        ({"lines": [{"number": "100"}, {"number": "100"}]}, "used twice"),
        ({"lines": [{"number": "100"}, {"number": "1-00"}]}, "used twice"),
        ({"codec": "gsm"}, "codec"),
        ({"timing": "slow"}, "timing"),
        ({"mode": "v34"}, "mode"),
        ({"mode": "t38", "codec": "ulaw"}, "t38"),
        ({"ring_interval": 0}, "ring_interval"),
        ({"ring_interval": -1.0}, "ring_interval"),
        ({"answer_timeout": "soon"}, "answer_timeout"),
        ({"answer_timeout": True}, "answer_timeout"),
        ({"max_call_seconds": float("nan")}, "max_call_seconds"),
        ({"lines": []}, "lines"),
        ({"lines": "100"}, "lines"),
        ({"lines": [{"name": "no number"}]}, "number"),
        ({"lines": [{"number": "12ab"}]}, "telephone number"),
        ({"lines": [{"number": "100", "colour": "red"}]}, "unknown keys"),
        ({"lines": [{"number": "100", "ident": "x" * 21}]}, "ident"),
        ({"lines": [{"number": "100", "name": ""}]}, "name"),
        ({"special_prefix": "x"}, "special_prefix"),
        ({"special_prefix": "*****"}, "special_prefix"),
        ({"special_prefix": 9}, "special_prefix"),
        ({"robot_dir": "/nonexistent/robots"}, "robot_dir"),
        ({"noise_seed": -1}, "noise_seed"),
        ({"network": ""}, "network"),
        ({"lines_": []}, "unknown settings"),
    ],
)
def test_bad_config(change: dict[str, Any], needle: str) -> None:
    raw: dict[str, Any] = {"lines": LINES, **change}
    with pytest.raises(ConfigError) as info:
        parse_config(raw)
    assert needle in info.value.message
    assert info.value.hint


def test_line_number_starting_with_prefix_is_refused() -> None:
    # A reserved range of digits works as a prefix, but then no line may start with it.
    assert parse_config({"lines": [{"number": "100"}], "special_prefix": "99"}).lines
    with pytest.raises(ConfigError, match="special prefix") as info:
        parse_config({"lines": [{"number": "100"}], "special_prefix": "1"})
    assert info.value.hint


def test_number_taken_by_another_provider(tmp_path: Path) -> None:
    async def scenario() -> None:
        h = Harness(tmp_path)
        net = network_name()
        first = await h.add(VirtualProvider(), {"network": net, "lines": [{"number": "100"}]})
        second = VirtualProvider()
        with pytest.raises(ConfigError) as info:
            await second.initialize(
                {"network": net, "lines": [{"number": "200"}, {"number": "100"}]}, h
            )
        assert "100" in info.value.message and info.value.hint
        # The refused provider left nothing behind: 200 is still free.
        third = await h.add(VirtualProvider(), {"network": net, "lines": [{"number": "200"}]})
        await first.shutdown()
        await third.shutdown()

    run(scenario())


def test_devices_offered(tmp_path: Path) -> None:
    async def scenario() -> None:
        h = Harness(tmp_path)
        net = network_name()
        prov = await h.add(VirtualProvider(), {"network": net, "lines": LINES, "mode": "t38"})
        devices = prov.virtual_devices()
        await prov.shutdown()
        assert [d.local_id for d in devices] == [f"{net}:100", f"{net}:101"]
        assert [d.number for d in devices] == ["100", "101"]
        assert devices[1].name == "Sales"
        assert devices[0].capabilities["t38"] is True

    run(scenario())

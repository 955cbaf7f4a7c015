"""Finding providers: entry points, registration, "module:Class" types, and the docs example."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
from tests.providers.harness import Harness
from tests.providers.helpers import run

from lanfax.model.codes import ProviderStatus
from lanfax.model.errors import ConfigError
from lanfax.providers.api import ENTRY_POINT_GROUP, FaxProvider
from lanfax.providers.loader import (
    ProviderRegistry,
    create_provider,
    list_providers,
    load_provider_class,
    parse_provider_tables,
)
from lanfax.providers.virtual import VirtualProvider

DOCS = Path(__file__).resolve().parents[2] / "docs" / "providers.md"


def test_entry_point_finds_virtual() -> None:
    infos = {p.name: p for p in list_providers()}
    virtual = infos["virtual"]
    assert virtual.source == "entry-point" and virtual.usable
    assert virtual.image == "lanfax.providers.virtual:VirtualProvider"
    assert virtual.friendly_name == VirtualProvider.friendly_name
    assert load_provider_class("virtual") is VirtualProvider
    assert isinstance(create_provider(" virtual "), VirtualProvider)


def test_unknown_type_lists_the_known_ones() -> None:
    with pytest.raises(ConfigError) as info:
        load_provider_class("sip-trunk")
    assert "sip-trunk" in info.value.message
    assert info.value.hint is not None and "virtual" in info.value.hint
    with pytest.raises(ConfigError) as empty:
        load_provider_class("")
    assert empty.value.hint is not None and "virtual" in empty.value.hint


@pytest.mark.parametrize(
    ("type_string", "needle"),
    [
        ("no_such_module_xyz:Provider", "cannot import"),
        ("lanfax.providers.virtual:Nope", "no attribute"),
        ("lanfax.model.codes:ProviderStatus", "not a FaxProvider"),
        ("lanfax.providers.api:FaxProvider", "no 'name'"),
        ("bad module:Class", "not a 'module.path:ClassName'"),
    ],
)
def test_bad_references(type_string: str, needle: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_provider_class(type_string)
    assert needle in info.value.message and info.value.hint


def test_register_and_override() -> None:
    class Stand(VirtualProvider):
        name = "stand-in"
        friendly_name = "A stand-in"

    reg = ProviderRegistry()
    info = reg.register(Stand)
    assert (info.name, info.source, info.friendly_name) == ("stand-in", "registered", "A stand-in")
    assert reg.resolve("stand-in") is Stand
    # A registration wins over an entry point of the same name.
    reg.register(Stand, name="virtual")
    assert reg.resolve("virtual") is Stand
    assert {p.name: p.source for p in reg.list()}["virtual"] == "registered"
    with pytest.raises(ConfigError):
        reg.register(VirtualProvider, name="stand-in")
    with pytest.raises(ConfigError):
        reg.register(Stand, name="bad name!")
    with pytest.raises(ConfigError):
        reg.register(int)  # type: ignore[arg-type]
    reg.unregister("virtual")
    assert reg.resolve("virtual") is VirtualProvider


def test_broken_entry_point_is_listed_not_fatal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A real installed distribution (a dist-info directory on sys.path) whose provider's
    # module does not exist: the registry must list it with its error and keep the others.
    dist = tmp_path / "broken_fax-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: broken-fax\nVersion: 1.0\n")
    group = "lanfax.providers.test-broken"
    (dist / "entry_points.txt").write_text(
        f"[{group}]\nbroken = no_such_fax_module:Provider\n"
        "virtual = lanfax.providers.virtual:VirtualProvider\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    reg = ProviderRegistry(group=group)
    infos = {p.name: p for p in reg.list()}
    assert not infos["broken"].usable and "no_such_fax_module" in infos["broken"].error
    assert infos["virtual"].usable
    with pytest.raises(ConfigError) as info:
        reg.resolve("broken")
    assert "failed to load" in info.value.message and info.value.hint
    assert group != ENTRY_POINT_GROUP  # the real group was not touched


def test_parse_provider_tables() -> None:
    specs = parse_provider_tables(
        [
            {"type": "virtual", "lines": [{"number": "1"}]},
            {"type": "virtual", "id": "lab", "network": "lab"},
            {"type": "virtual"},
        ]
    )
    assert [s.instance for s in specs] == ["virtual", "lab", "virtual#2"]
    assert specs[0].config == {"lines": [{"number": "1"}]}
    assert specs[1].config == {"network": "lab"}
    bad: object
    for bad in (
        {"providers": []},
        [{"lines": []}],
        ["virtual"],
        [{"type": "virtual", "id": "x"}, {"type": "virtual", "id": "x"}],
        [{"type": "virtual", "id": "no spaces"}],
    ):
        with pytest.raises(ConfigError) as info:
            parse_provider_tables(bad)
        assert info.value.hint


def test_docs_example_provider_works(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The third-party provider in docs/providers.md, loaded by "module:Class", sends a fax."""
    text = DOCS.read_text()
    section = text.split("## A complete third-party provider", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S)
    assert code is not None
    (tmp_path / "folder_provider.py").write_text(code.group(1))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "folder_provider", raising=False)
    cls = load_provider_class("folder_provider:FolderProvider")
    assert issubclass(cls, FaxProvider) and cls.name == "folder"

    outbox = tmp_path / "outbox"
    outbox.mkdir()
    doc = tmp_path / "doc.tif"
    doc.write_bytes(b"II*\x00 pretend TIFF")

    async def scenario() -> None:
        h = Harness(tmp_path)
        prov = create_provider("folder_provider:FolderProvider")
        with pytest.raises(ConfigError):
            await prov.initialize({"folder": str(tmp_path / "nope")}, h)
        await h.add(prov, {"folder": str(outbox)})
        result, in_progress = await h.send(prov, "outbox", doc, "5550100")
        bad, _ = await h.send(prov, "outbox", doc, "not-a-number")
        await prov.shutdown()
        assert result.ok and in_progress == 1
        assert bad.status.status_id == ProviderStatus.BAD_ADDRESS
        delivered = list(outbox.iterdir())
        assert len(delivered) == 1 and delivered[0].read_bytes() == doc.read_bytes()
        assert [s.status_id for s in h.statuses["outbox"]][:3] == [
            ProviderStatus.DIALING,
            ProviderStatus.TRANSMITTING,
            ProviderStatus.COMPLETED,
        ]

    run(scenario())

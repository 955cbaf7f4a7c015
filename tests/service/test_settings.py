"""The settings file: defaults, overrides, and clear errors naming file, key and remedy."""

from __future__ import annotations

from pathlib import Path

import pytest

from lanfax.model.errors import ConfigError
from lanfax.service.settings import DEFAULT_PROVIDERS, load_settings


def test_defaults_without_a_file() -> None:
    s = load_settings()
    assert (s.host, s.port) == ("127.0.0.1", 8470)
    assert s.providers == DEFAULT_PROVIDERS
    assert s.store_url == f"sqlite:///{s.data_dir / 'lanfax.db'}"


def test_file_and_overrides(tmp_path: Path) -> None:
    f = tmp_path / "l.toml"
    f.write_text(
        '[server]\nlisten = "0.0.0.0:9000"\ndata = "d"\ntimezone = "Europe/Berlin"\n'
        '[settings]\nRetries = 5\n[[providers]]\ntype = "virtual"\nlines = [{number = "7"}]\n'
    )
    s = load_settings(f)
    assert (s.host, s.port, s.data_dir) == ("0.0.0.0", 9000, tmp_path / "d")
    assert s.initial_config == {"Retries": 5}
    assert s.providers[0]["lines"] == [{"number": "7"}]
    o = load_settings(f, data_dir=tmp_path / "x", listen="127.0.0.1:0")
    assert (o.port, o.data_dir) == (0, tmp_path / "x")


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ('[server]\nlisten = "localhost"\n', "server.listen"),
        ('[server]\nlisten = "h:99999"\n', "port number"),
        ('[server]\ntimezone = "Mars/Olympus"\n', "server.timezone"),
        ("[server]\nmax_upload_mb = 0\n", "max_upload_mb"),
        ("[server]\nport = 1\n", "server.port"),
        ("[settings]\nretries = -4\n", "retries"),
        ("[settings]\ncolour = 1\n", "colour"),
        ("[[providers]]\nlines = []\n", "providers[0].type"),
        ("[extras]\n", "extras"),
        ("[server\n", "not valid TOML"),
    ],
)
def test_errors_name_the_file_and_key(tmp_path: Path, text: str, needle: str) -> None:
    f = tmp_path / "bad.toml"
    f.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_settings(f)
    assert needle in info.value.message
    assert str(f) in info.value.message
    assert info.value.hint


def test_missing_file_and_bad_override(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_settings(tmp_path / "nope.toml")
    with pytest.raises(ConfigError, match="--listen"):
        load_settings(listen="nowhere")


def test_serve_exits_2_on_a_bad_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from lanfax.cli.serve import main

    f = tmp_path / "bad.toml"
    f.write_text("[settings]\nretries = 'lots'\n")
    assert main(["--config", str(f), "--data", str(tmp_path / "d")]) == 2
    err = capsys.readouterr().err
    assert "retries" in err and "hint:" in err

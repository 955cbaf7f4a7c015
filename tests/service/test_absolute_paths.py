"""Paths are made absolute once, at start, from the directory ``lanfax serve`` started in; a
relative path typed later is refused with the absolute path it would have meant."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from lanfax.model.config import ServerConfig
from lanfax.model.errors import ConfigError
from lanfax.routing.builtin import BuiltinRoutes
from lanfax.routing.builtin.folder import folder_check
from lanfax.service.settings import ServiceSettings, absolute_paths, load_settings


def test_the_default_data_directory_is_absolute_from_the_start_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    s = load_settings()
    assert s.data_dir == tmp_path / "lanfax-data"
    assert s.store_url == f"sqlite:///{tmp_path / 'lanfax-data' / 'lanfax.db'}"
    assert load_settings(data_dir="./a/../b").data_dir == tmp_path / "b"
    assert load_settings(data_dir=tmp_path / "abs").data_dir == tmp_path / "abs"


def test_relative_paths_of_a_settings_file_are_read_from_its_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    conf = tmp_path / "etc"
    conf.mkdir()
    (conf / "lanfax.toml").write_text(
        '[server]\ndata = "data"\ndatabase = "sqlite:///db/fax.db"\n'
        '[settings]\nArchiveDirectory = "archive"\n'
        '[security]\ncredentials_file = "creds"\n'
    )
    monkeypatch.chdir(tmp_path)
    s = load_settings("etc/lanfax.toml")
    assert s.data_dir == conf / "data"
    assert s.initial_config == {"ArchiveDirectory": str(conf / "archive")}
    assert s.security.credentials_file == conf / "creds"
    # The database URL is made absolute from the start directory (it never was relative to
    # the file), as is every other path the service derives.
    assert s.database_url == f"sqlite:///{tmp_path / 'db' / 'fax.db'}"


def test_absolute_paths_leaves_absolute_and_special_values_alone(tmp_path: Path) -> None:
    s = ServiceSettings(data_dir=tmp_path, database_url="sqlite:///:memory:")
    assert absolute_paths(s, cwd=Path("/elsewhere")) == s
    pg = ServiceSettings(data_dir=tmp_path, database_url="postgresql://u@h/db")
    assert absolute_paths(pg).database_url == "postgresql://u@h/db"
    rel = ServiceSettings(data_dir=Path("x"), database_url="sqlite:///y.db")
    out = absolute_paths(rel, cwd=tmp_path)
    assert (out.data_dir, out.database_url) == (tmp_path / "x", f"sqlite:///{tmp_path}/y.db")


def test_a_relative_archive_directory_is_refused_naming_the_path_meant(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError) as err:
        ServerConfig().with_changes({"ArchiveDirectory": "faxes/archive"})
    assert str(tmp_path / "faxes" / "archive") in err.value.message
    assert str(tmp_path / "faxes" / "archive") in (err.value.hint or "")
    assert ServerConfig().with_changes({"archive_directory": "/srv/a"}).archive_directory == (
        "/srv/a"
    )
    assert ServerConfig().with_changes({"archive_directory": ""}).archive_directory == ""


def test_a_relative_folder_for_the_folder_route_is_refused_naming_the_path_meant(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    check = folder_check([tmp_path])
    with pytest.raises(ConfigError) as err:
        check("lanfax-data/inbox")
    assert repr(str(tmp_path / "lanfax-data" / "inbox")) in err.value.message
    assert check(str(tmp_path / "inbox")) == str(tmp_path / "inbox")


def test_the_default_inbox_of_the_folder_route_is_absolute(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    settings = load_settings()  # ./lanfax-data, as ./serve runs
    routes = BuiltinRoutes(settings.data_dir)
    assert routes.inbox == tmp_path / "lanfax-data" / "inbox"
    assert routes.inbox.is_absolute()


def test_the_service_makes_a_relative_data_directory_absolute_itself(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from lanfax.service.core import FaxService

    monkeypatch.chdir(tmp_path)
    service = FaxService(ServiceSettings(data_dir=Path("rel"), providers=()))
    assert service.settings.data_dir == tmp_path / "rel"
    assert service.spool.inbox == tmp_path / "rel" / "inbox"


def test_a_stored_relative_archive_directory_is_read_from_the_start_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An older version stored ArchiveDirectory as typed; the stored configuration must not be
    dropped for it (the retries set beside it survive)."""
    from lanfax.service.core import FaxService

    monkeypatch.chdir(tmp_path)

    async def scenario() -> tuple[str, int]:
        settings = ServiceSettings(data_dir=tmp_path / "data", providers=())
        service = FaxService(settings)
        await service.start()
        try:
            await service.ctx.put_settings(
                "config", {"archive_directory": "old/archive", "retries": 7}
            )
        finally:
            await service.stop()
        service = FaxService(settings)
        await service.start()
        try:
            config = service.get_config()
            return config.archive_directory, config.retries
        finally:
            await service.stop()

    archive, retries = asyncio.run(scenario())
    assert (archive, retries) == (os.path.join(tmp_path, "old", "archive"), 7)

"""The manager: discovery, the global order, per-device enable, routing info, route_fax."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

import pytest

from lanfax.model.clock import ManualClock
from lanfax.model.errors import ConfigError, NotFound
from lanfax.routing import (
    REDACTED,
    FaxRoute,
    FileSetCallbacks,
    JsonFileStateStore,
    RouteResult,
    RoutingConfig,
    RoutingExtension,
    RoutingManager,
    RoutingMethodInfo,
    next_retry,
)
from lanfax.routing.builtin import (
    EMAIL_GUID,
    FOLDER_GUID,
    PRINT_GUID,
    USER_GUID,
    WEBHOOK_GUID,
    BuiltinRoutes,
)

from .conftest import make_fax

ALL = [FOLDER_GUID, EMAIL_GUID, PRINT_GUID, WEBHOOK_GUID, USER_GUID]


class FlakyExtension(RoutingExtension):
    """A real, deliberately failing extension: its first method always fails (retryable),
    its second raises an unexpected exception. It records which faxes it saw."""

    name: ClassVar[str] = "flaky"
    friendly_name: ClassVar[str] = "Deliberately failing test extension"
    FAIL = "{11111111-2222-3333-4444-555555555555}"
    BOOM = "{11111111-2222-3333-4444-666666666666}"

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[tuple[str, int, dict[str, Any]]] = []

    def methods(self) -> list[RoutingMethodInfo]:
        return [
            RoutingMethodInfo(self.FAIL, "Always fails", "fail"),
            RoutingMethodInfo(self.BOOM, "Raises", "boom"),
        ]

    def default_enabled(self, method_guid: str, device_id: int) -> bool:
        return True

    def validate_routing_info(self, method_guid: str, info: Any) -> dict[str, Any]:
        return dict(info)

    async def route(self, method_guid: str, fax: FaxRoute) -> RouteResult:
        self.seen.append((method_guid, fax.job_id, dict(fax.routing_data)))
        if method_guid == self.FAIL:
            return RouteResult.failure("the far end is down", retryable=True, data={"n": 1})
        raise RuntimeError("a bug in an extension")


def new_manager(tmp_path: Path, builtin: BuiltinRoutes) -> RoutingManager:
    m = RoutingManager(JsonFileStateStore(tmp_path / "state.json"))
    m.register(builtin)
    return m


def test_entry_point_discovery_finds_builtin(data_dir: Path, tmp_path: Path) -> None:
    m = RoutingManager(JsonFileStateStore(tmp_path / "s.json"))
    loaded = m.load_entry_points(RoutingConfig(data_dir=data_dir, options={"file_mode": "600"}))
    assert "builtin" in loaded
    ext = next(e for e in m.extensions if e.name == "builtin")
    assert isinstance(ext, BuiltinRoutes)
    assert ext.file_mode == 0o600
    assert [g.guid for g in m.enum_global_routing_info()] == ALL


def test_discovery_refuses_unknown_options(data_dir: Path, tmp_path: Path) -> None:
    m = RoutingManager(JsonFileStateStore(tmp_path / "s.json"))
    with pytest.raises(ConfigError) as err:
        m.load_entry_points(RoutingConfig(data_dir=data_dir, options={"colour": "red"}))
    assert "lp_command" in (err.value.hint or "")


def test_duplicate_registration_is_refused(manager: RoutingManager, builtin: BuiltinRoutes) -> None:
    with pytest.raises(ConfigError):
        manager.register(builtin)


def test_global_order_persists_across_managers(
    tmp_path: Path, manager: RoutingManager, builtin: BuiltinRoutes
) -> None:
    manager.set_priority(WEBHOOK_GUID, 1)
    info = manager.enum_global_routing_info()
    assert [i.guid for i in info] == [WEBHOOK_GUID, FOLDER_GUID, EMAIL_GUID, PRINT_GUID, USER_GUID]
    assert [i.priority for i in info] == [1, 2, 3, 4, 5]
    assert info[0].extension_friendly_name == builtin.friendly_name
    # FaxSetGlobalRoutingInfo shape, GUID spelled differently.
    moved = info[3]
    manager.set_global_routing_info(
        type(moved)(
            priority=2,
            guid=moved.guid.upper().strip("{}"),
            friendly_name="",
            function_name="",
            extension_image_name="",
            extension_friendly_name="",
        )
    )
    again = new_manager(tmp_path, BuiltinRoutes(builtin.data_dir, builtin.allowed_roots[1:]))
    assert [i.guid for i in again.enum_global_routing_info()] == [
        WEBHOOK_GUID,
        PRINT_GUID,
        FOLDER_GUID,
        EMAIL_GUID,
        USER_GUID,
    ]


def test_global_order_errors(manager: RoutingManager) -> None:
    with pytest.raises(ConfigError) as err:
        manager.set_priority(FOLDER_GUID, 9)
    assert "1 to 5" in (err.value.hint or "")
    with pytest.raises(ConfigError) as err:
        manager.set_global_order([FOLDER_GUID, FOLDER_GUID, EMAIL_GUID, PRINT_GUID, USER_GUID])
    assert WEBHOOK_GUID in (err.value.hint or "")
    with pytest.raises(NotFound):
        manager.set_priority("{00000000-0000-0000-0000-000000000000}", 1)
    with pytest.raises(ConfigError):
        manager.set_priority("not-a-guid", 1)
    manager.set_global_order(list(reversed(ALL)))
    assert [i.guid for i in manager.enum_global_routing_info()] == list(reversed(ALL))


def test_per_device_enable_persists(
    tmp_path: Path, manager: RoutingManager, builtin: BuiltinRoutes
) -> None:
    methods = {m.guid: m for m in manager.enum_routing_methods(1, "line1")}
    assert methods[FOLDER_GUID].enabled and not methods[EMAIL_GUID].enabled
    assert methods[FOLDER_GUID].device_name == "line1"
    assert manager.enable_routing_method(FOLDER_GUID, 1, False) is False
    manager.set_routing_info(PRINT_GUID, 2, {"printer": "office"})
    assert manager.enable_routing_method(PRINT_GUID, 2, True) is True
    again = new_manager(tmp_path, BuiltinRoutes(builtin.data_dir, builtin.allowed_roots[1:]))
    assert not again.is_enabled(FOLDER_GUID, 1)
    assert again.is_enabled(FOLDER_GUID, 2)  # untouched device keeps the default
    assert again.is_enabled(PRINT_GUID, 2) and not again.is_enabled(PRINT_GUID, 1)


def test_enabling_an_unconfigured_method_is_refused(manager: RoutingManager) -> None:
    with pytest.raises(ConfigError) as err:
        manager.enable_routing_method(EMAIL_GUID, 1, True)
    assert "routing info" in (err.value.hint or "")


def test_default_routing_info_is_the_inbox(manager: RoutingManager, data_dir: Path) -> None:
    info = manager.get_routing_info(FOLDER_GUID, 7)
    assert info == {
        "folder": str(data_dir / "inbox"),
        "name_template": "{datetime}_{tsid}_{job_id}",
        "format": "tiff",
    }
    assert manager.get_routing_info(EMAIL_GUID, 7) == {}


@pytest.mark.parametrize(
    ("guid", "info", "in_message", "in_hint"),
    [
        (FOLDER_GUID, {"folder": "/etc"}, "outside", "allowed roots"),
        (FOLDER_GUID, {"folder": "relative/dir"}, "absolute", "/"),
        (FOLDER_GUID, {"folder": "/x", "colour": "red"}, "unknown field 'colour'", "folder"),
        (FOLDER_GUID, {"name_template": "{csid.__class__}"}, "unknown field", "{csid}"),
        (FOLDER_GUID, {"name_template": "{job_id!r}"}, "conversions", "{csid}"),
        (FOLDER_GUID, {"format": "docx"}, "format", "tiff, pdf"),
        (
            EMAIL_GUID,
            {"to": "not an address", "from": "fax@example.com", "smtp_host": "mail.example.com"},
            "to",
            "user@example.com",
        ),
        (
            EMAIL_GUID,
            {"to": ["a@example.com"], "from": "fax@example.com", "smtp_host": "bad host!"},
            "smtp_host",
            "mail.example.com",
        ),
        (
            EMAIL_GUID,
            {
                "to": "a@example.com",
                "from": "fax@example.com",
                "smtp_host": "mail.example.com",
                "security": "none",
                "username": "u",
                "password": "p",
            },
            "unencrypted",
            "starttls",
        ),
        (EMAIL_GUID, {"to": "a@example.com"}, "'from' is required", "lanfax@example.com"),
        (WEBHOOK_GUID, {"url": "ftp://x.example.com/", "secret": "s" * 20}, "url", "https://"),
        (WEBHOOK_GUID, {"url": "https:///nohost", "secret": "s" * 20}, "no host", "https://"),
        (WEBHOOK_GUID, {"url": "https://h.example.com/", "secret": "short"}, "16", "openssl"),
        (PRINT_GUID, {"printer": "office printer"}, "printer", "lpstat"),
        (PRINT_GUID, {"printer": "p", "options": {"media": "A4\n-o x"}}, "media", "A4"),
    ],
)
def test_routing_info_validation(
    manager: RoutingManager, guid: str, info: dict[str, Any], in_message: str, in_hint: str
) -> None:
    with pytest.raises(ConfigError) as err:
        manager.set_routing_info(guid, 1, info)
    assert in_message in err.value.message
    assert err.value.hint and in_hint in err.value.hint


def test_folder_symlink_out_of_the_roots_is_refused(
    manager: RoutingManager, shared_root: Path, tmp_path: Path
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (shared_root / "sneaky").symlink_to(outside)
    with pytest.raises(ConfigError):
        manager.set_routing_info(FOLDER_GUID, 1, {"folder": str(shared_root / "sneaky")})
    ok = manager.set_routing_info(FOLDER_GUID, 1, {"folder": str(shared_root / "a" / ".." / "b")})
    assert ok["folder"] == str(shared_root / "b")


def test_secrets_are_redacted_and_kept(manager: RoutingManager) -> None:
    info = {"url": "https://hooks.example.com/fax", "secret": "0123456789abcdef0123"}
    saved = manager.set_routing_info(WEBHOOK_GUID, 1, info)
    assert saved["secret"] == info["secret"] and saved["timeout"] == 30.0
    shown = manager.get_routing_info(WEBHOOK_GUID, 1, redact=True)
    assert shown["secret"] == REDACTED
    shown["timeout"] = 5
    manager.set_routing_info(WEBHOOK_GUID, 1, shown)
    after = manager.get_routing_info(WEBHOOK_GUID, 1)
    assert after["secret"] == info["secret"] and after["timeout"] == 5.0


@pytest.mark.anyio
async def test_route_fax_reports_the_failing_methods_and_runs_the_others(
    manager: RoutingManager, fax_tiff: Path, data_dir: Path
) -> None:
    flaky = FlakyExtension()
    manager.register(flaky)
    manager.set_priority(FlakyExtension.FAIL, 1)  # the failure comes first, the rest still run
    await manager.callbacks.register_files(42, [fax_tiff])
    await manager.callbacks.modify_routing_data(42, FlakyExtension.FAIL, {"note": "hello"})
    outcome = await manager.route_fax(make_fax(42), [fax_tiff])
    assert [r.guid for r in outcome.results] == [
        FlakyExtension.FAIL,
        FOLDER_GUID,
        FlakyExtension.BOOM,
    ]
    assert outcome.succeeded == [FOLDER_GUID]
    assert not outcome.ok
    fail = outcome.result(FlakyExtension.FAIL)
    assert fail.reason == "the far end is down" and fail.retryable and fail.failure_data == {"n": 1}
    boom = outcome.result(FlakyExtension.BOOM)
    assert "RuntimeError" in boom.reason and "a bug in an extension" in boom.reason
    assert outcome.retry_guids == {FlakyExtension.FAIL, FlakyExtension.BOOM}
    assert flaky.seen[0] == (FlakyExtension.FAIL, 42, {"note": "hello"})
    stored = list((data_dir / "inbox").iterdir())
    assert [p.read_bytes() for p in stored] == [fax_tiff.read_bytes()]

    # The retry runs only the failed methods; the folder is not written twice.
    manager.enable_routing_method(FlakyExtension.BOOM, 1, False)
    retry = await manager.route_fax(make_fax(42), [fax_tiff], only=outcome.retry_guids)
    assert [r.guid for r in retry.results] == [FlakyExtension.FAIL]
    assert retry.skipped == (FlakyExtension.BOOM,)
    assert len(list((data_dir / "inbox").iterdir())) == 1


@pytest.mark.anyio
async def test_route_fax_only_with_a_method_no_longer_installed(
    manager: RoutingManager, fax_tiff: Path
) -> None:
    gone = "{99999999-2222-3333-4444-555555555555}"
    outcome = await manager.route_fax(make_fax(5), [fax_tiff], only={gone})
    assert outcome.result(gone).ok is False
    assert outcome.result(gone).retryable is False
    assert "no longer installed" in outcome.result(gone).reason


@pytest.mark.anyio
async def test_disabled_device_routes_nowhere(manager: RoutingManager, fax_tiff: Path) -> None:
    manager.enable_routing_method(FOLDER_GUID, 3, False)
    outcome = await manager.route_fax(make_fax(6, device_id=3), [fax_tiff])
    assert outcome.results == () and outcome.ok


@pytest.mark.anyio
async def test_file_set_callbacks_survive_a_restart(tmp_path: Path, fax_tiff: Path) -> None:
    cb = FileSetCallbacks(tmp_path / "m")
    await cb.register_files(9, [fax_tiff])
    extra = tmp_path / "extra.pdf"
    extra.write_bytes(b"%PDF-1.4\n")
    assert await cb.add_file(9, extra, FOLDER_GUID) == 1
    await cb.modify_routing_data(9, EMAIL_GUID, {"tries": 2})
    again = FileSetCallbacks(tmp_path / "m")
    assert await again.enum_files(9) == [fax_tiff, extra]
    assert await again.get_routing_data(9, EMAIL_GUID.upper()) == {"tries": 2}
    with pytest.raises(NotFound):
        await again.get_file(9, 2)
    await again.delete_file(9, extra)
    assert await again.enum_files(9) == [fax_tiff]
    again.forget(9)
    with pytest.raises(NotFound):
        await FileSetCallbacks(tmp_path / "m").enum_files(9)


def test_next_retry_backs_off_and_gives_up() -> None:
    clock = ManualClock(datetime(2026, 1, 1, tzinfo=UTC))
    now = clock.now()
    delays = [next_retry(n, now) for n in range(1, 11)]
    assert delays[0] == now + timedelta(minutes=1)
    assert delays[1] == now + timedelta(minutes=2)
    assert delays[6] == now + timedelta(hours=1)  # 64 min capped at an hour
    assert delays[9] is None
    steps = [d for d in delays if d is not None]
    assert steps == sorted(steps)
    with pytest.raises(ValueError):
        next_retry(0, now)

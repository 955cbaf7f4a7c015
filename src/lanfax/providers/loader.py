"""Finding and creating device providers (FaxRegisterServiceProvider and the service's loader).

A provider is named in the configuration by a *type string*, which is either

* the name of an entry point in the ``lanfax.providers`` group (``"virtual"``), which is how
  an installed package offers a provider::

      [project.entry-points."lanfax.providers"]
      virtual = "lanfax.providers.virtual:VirtualProvider"

* a name given to :func:`register_provider` (tests, embedding applications), or
* a ``"module.path:ClassName"`` reference, for a provider that is not packaged.

The registry is the list FaxRegisterServiceProvider builds on Windows: each entry carries the
provider's name, friendly name and image (here the ``module:Class`` it is loaded from), and it
can be listed without creating any provider.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from lanfax.model.errors import ConfigError
from lanfax.providers.api import ENTRY_POINT_GROUP, FaxProvider

__all__ = [
    "ProviderInfo",
    "ProviderRegistry",
    "ProviderSpec",
    "create_provider",
    "default_registry",
    "list_providers",
    "load_provider_class",
    "parse_provider_tables",
    "register_provider",
]

_REFERENCE = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


@dataclass(frozen=True, slots=True)
class ProviderInfo:
    """One registered provider (FAX_DEVICE_PROVIDER_INFO: name, friendly name, image).

    ``source`` says where the registration came from: ``"entry-point"`` or ``"registered"``.
    ``error`` is set (and the provider cannot be created) when its module failed to load.
    """

    name: str
    friendly_name: str
    image: str
    source: str
    error: str = ""

    @property
    def usable(self) -> bool:
        return not self.error


@dataclass(frozen=True, slots=True)
class ProviderSpec:
    """One ``[[providers]]`` table split into what the service needs.

    ``type`` is the type string, ``instance`` a name unique among the configured providers
    (the table's ``id``, else the type, suffixed ``#2``, ``#3``... on repeats) and ``config``
    the rest of the table, handed unchanged to :meth:`FaxProvider.initialize`.
    """

    type: str
    instance: str
    config: Mapping[str, Any]


def _image_of(cls: type[Any]) -> str:
    return f"{cls.__module__}:{cls.__qualname__}"


def _check_class(cls: object, where: str) -> type[FaxProvider]:
    if not (isinstance(cls, type) and issubclass(cls, FaxProvider)):
        raise ConfigError(
            f"{where} is not a FaxProvider subclass",
            hint="a provider is a class deriving from lanfax.providers.api.FaxProvider",
        )
    for attr in ("name", "friendly_name"):
        if not isinstance(getattr(cls, attr, None), str):
            raise ConfigError(
                f"{where} has no {attr!r} class attribute",
                hint="set the class attributes name and friendly_name (strings)",
            )
    return cls


def _import_reference(reference: str) -> type[FaxProvider]:
    module_name, _, attr_path = reference.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(
            f"cannot import provider module {module_name!r}: {exc}",
            hint="check the module path and that its package is installed in this environment",
        ) from exc
    obj: Any = module
    for part in attr_path.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise ConfigError(
                f"module {module_name!r} has no attribute {attr_path!r}",
                hint="write the type as 'module.path:ClassName'",
            ) from None
    return _check_class(obj, reference)


class ProviderRegistry:
    """Providers by name: the entry points of ``lanfax.providers`` plus explicit registrations.

    Explicit registrations win over entry points of the same name, so a test can stand in a
    provider for an installed one. The registry is safe to use from several threads.
    """

    def __init__(self, group: str = ENTRY_POINT_GROUP) -> None:
        self._group = group
        self._lock = threading.Lock()
        self._registered: dict[str, type[FaxProvider]] = {}
        self._entry_points: dict[str, importlib.metadata.EntryPoint] | None = None

    # -- registration ---------------------------------------------------------------------

    def register(self, cls: type[FaxProvider], *, name: str | None = None) -> ProviderInfo:
        """Register ``cls`` under ``name`` (default ``cls.name``); returns its registry entry.

        Registering the same class twice under one name is harmless; another class under a
        name already registered raises ConfigError.
        """
        _check_class(cls, repr(cls))
        key = name if name is not None else cls.name
        if not _NAME.match(key):
            raise ConfigError(
                f"{key!r} is not a valid provider name",
                hint="use letters, digits, '_', '-' or '.', at most 64 characters",
            )
        with self._lock:
            existing = self._registered.get(key)
            if existing is not None and existing is not cls:
                raise ConfigError(
                    f"a different provider is already registered as {key!r}",
                    hint="unregister it first or pick another name",
                )
            self._registered[key] = cls
        return ProviderInfo(key, cls.friendly_name, _image_of(cls), "registered")

    def unregister(self, name: str) -> None:
        """Forget an explicit registration (entry points cannot be unregistered)."""
        with self._lock:
            self._registered.pop(name, None)

    def refresh(self) -> None:
        """Re-read the entry points (after installing a package at run time)."""
        with self._lock:
            self._entry_points = None

    def _eps(self) -> dict[str, importlib.metadata.EntryPoint]:
        with self._lock:
            if self._entry_points is None:
                found = importlib.metadata.entry_points(group=self._group)
                self._entry_points = {ep.name: ep for ep in found}
            return dict(self._entry_points)

    # -- lookup ---------------------------------------------------------------------------

    def names(self) -> list[str]:
        """Every known provider name, sorted."""
        with self._lock:
            registered = set(self._registered)
        return sorted(registered | set(self._eps()))

    def list(self) -> list[ProviderInfo]:
        """Every known provider, loading entry points to read their friendly names.

        A provider whose module fails to import is listed with ``error`` set rather than
        hiding the others.
        """
        out: list[ProviderInfo] = []
        with self._lock:
            registered = dict(self._registered)
        eps = self._eps()
        for name in sorted(set(registered) | set(eps)):
            if name in registered:
                cls = registered[name]
                out.append(ProviderInfo(name, cls.friendly_name, _image_of(cls), "registered"))
                continue
            ep = eps[name]
            try:
                cls = _check_class(ep.load(), ep.value)
            except Exception as exc:  # any import-time failure is reported, not raised
                out.append(ProviderInfo(name, "", ep.value, "entry-point", error=str(exc)))
            else:
                out.append(ProviderInfo(name, cls.friendly_name, ep.value, "entry-point"))
        return out

    def resolve(self, type_string: str) -> type[FaxProvider]:
        """The provider class for a type string; ConfigError naming the known ones if none."""
        if not isinstance(type_string, str) or not type_string.strip():
            raise ConfigError(
                "a provider has no type",
                hint=f"set type = one of {', '.join(self.names()) or '(none)'}"
                " or 'module.path:ClassName'",
            )
        key = type_string.strip()
        with self._lock:
            cls = self._registered.get(key)
        if cls is not None:
            return cls
        ep = self._eps().get(key)
        if ep is not None:
            try:
                loaded = ep.load()
            except Exception as exc:
                raise ConfigError(
                    f"provider {key!r} ({ep.value}) failed to load: {exc}",
                    hint="reinstall the package that provides it, or remove it from the config",
                ) from exc
            return _check_class(loaded, ep.value)
        if ":" in key:
            if not _REFERENCE.match(key):
                raise ConfigError(
                    f"{key!r} is not a 'module.path:ClassName' reference",
                    hint="write the type as 'package.module:ClassName'",
                )
            return _import_reference(key)
        known = ", ".join(self.names()) or "(none installed)"
        raise ConfigError(
            f"unknown provider type {key!r}",
            hint=f"known providers: {known}; or give 'module.path:ClassName'",
        )

    def create(self, type_string: str) -> FaxProvider:
        """A new, uninitialised provider of the given type."""
        cls = self.resolve(type_string)
        try:
            return cls()
        except TypeError as exc:
            raise ConfigError(
                f"provider {type_string!r} cannot be created without arguments: {exc}",
                hint="a provider's constructor takes no arguments; configure it in initialize()",
            ) from exc


def parse_provider_tables(tables: object) -> list[ProviderSpec]:
    """Split the TOML ``[[providers]]`` array into :class:`ProviderSpec` values.

    Each table needs ``type``; an optional ``id`` names the instance. Everything else is
    the provider's own configuration. Raises ConfigError for a malformed list.
    """
    if not isinstance(tables, list):
        raise ConfigError(
            "providers must be a list of tables",
            hint="write each provider as a [[providers]] table",
        )
    specs: list[ProviderSpec] = []
    seen: dict[str, int] = {}
    for index, table in enumerate(tables):
        if not isinstance(table, Mapping):
            raise ConfigError(
                f"providers[{index}] is not a table",
                hint="write each provider as a [[providers]] table",
            )
        type_string = table.get("type")
        if not isinstance(type_string, str) or not type_string.strip():
            raise ConfigError(
                f"providers[{index}] has no type",
                hint="add type = \"virtual\" (or another provider name, or 'module:Class')",
            )
        instance = table.get("id")
        if instance is None:
            base = type_string.strip()
            seen[base] = seen.get(base, 0) + 1
            instance = base if seen[base] == 1 else f"{base}#{seen[base]}"
        elif not isinstance(instance, str) or not _NAME.match(instance):
            raise ConfigError(
                f"providers[{index}].id {instance!r} is not a valid name",
                hint="use letters, digits, '_', '-' or '.'",
            )
        if any(s.instance == instance for s in specs):
            raise ConfigError(
                f"two providers are named {instance!r}", hint="give each [[providers]] its own id"
            )
        config = {k: v for k, v in table.items() if k not in ("type", "id")}
        specs.append(ProviderSpec(type_string.strip(), instance, config))
    return specs


_DEFAULT = ProviderRegistry()


def default_registry() -> ProviderRegistry:
    """The process-wide registry the service uses."""
    return _DEFAULT


def register_provider(cls: type[FaxProvider], *, name: str | None = None) -> ProviderInfo:
    """Register a provider class in the default registry (FaxRegisterServiceProvider)."""
    return _DEFAULT.register(cls, name=name)


def list_providers() -> list[ProviderInfo]:
    """Every provider known to the default registry."""
    return _DEFAULT.list()


def load_provider_class(type_string: str) -> type[FaxProvider]:
    """Resolve a type string through the default registry."""
    return _DEFAULT.resolve(type_string)


def create_provider(type_string: str) -> FaxProvider:
    """Create an uninitialised provider through the default registry."""
    return _DEFAULT.create(type_string)

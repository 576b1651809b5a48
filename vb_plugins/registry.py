"""The plugin manager: built-ins and entry-point plugins, looked up by name."""

from __future__ import annotations

import importlib.metadata
import threading
from typing import Any

import pluggy

from vb_plugins import hookspecs
from vb_plugins.errors import RegistryError, UnknownNameError

BUILTIN_PLUGIN = "vb_plugins.builtin"

# kind (as users read it) -> hook name
KINDS = {
    "task": "vb_tasks",
    "colour scheme": "vb_color_schemes",
    "prompt dialect": "vb_prompt_dialects",
    "generator backend": "vb_generators",
    "rewriter backend": "vb_rewriters",
    "presence gate backend": "vb_presence_gates",
}


class Registry:
    """Collects tasks, colour schemes, prompt dialects and generator backends from all plugins.

    ``entry_points=False`` gives the built-ins alone (tests, or to rule out a broken plugin);
    ``plugins`` registers extra plugin objects directly (handy in tests and notebooks).
    """

    def __init__(self, entry_points: bool = True, plugins=()):
        from vb_plugins import builtin

        self.manager = pluggy.PluginManager(hookspecs.PROJECT)
        self.manager.add_hookspecs(hookspecs)
        self.origins: dict[str, str] = {}
        self.load_errors: list[str] = []
        self._register(builtin, BUILTIN_PLUGIN, "vb_plugins (built-in)")
        if entry_points:
            self._load_entry_points()
        for plugin in plugins:
            name = getattr(plugin, "__name__", None) or repr(plugin)
            self._register(plugin, name, repr(name))
        self._tables: dict[str, dict[str, tuple[Any, str]]] = {}
        self._lock = threading.Lock()

    def _register(self, plugin, name: str, origin: str) -> None:
        if self.manager.has_plugin(name):
            raise RegistryError(f"plugin name {name!r} is used by both {self.origins[name]} and {origin}")
        try:
            self.manager.register(plugin, name=name)
            self.manager.check_pending()
        except pluggy.PluginValidationError as error:
            self.manager.unregister(name=name)
            raise RegistryError(f"plugin {origin}: {error}") from None
        self.origins[name] = origin

    def _load_entry_points(self) -> None:
        for entry_point in importlib.metadata.entry_points(group=hookspecs.ENTRY_POINT_GROUP):
            dist = entry_point.dist
            origin = f"{entry_point.name!r} from {dist.name} {dist.version}" if dist else repr(entry_point.name)
            try:
                plugin = entry_point.load()
            except Exception as error:  # a broken third-party plugin must not take the core down with it
                self.load_errors.append(f"plugin {origin} failed to load: {type(error).__name__}: {error}")
                continue
            self._register(plugin, entry_point.name, origin)

    def table(self, kind: str) -> dict[str, tuple[Any, str]]:
        """name -> (object, origin) for one kind, in registration order (built-ins first)."""
        with self._lock:
            if kind not in self._tables:
                self._tables[kind] = self._collect(kind)
            return self._tables[kind]

    def _collect(self, kind: str) -> dict[str, tuple[Any, str]]:
        hook = getattr(self.manager.hook, KINDS[kind])
        table: dict[str, tuple[Any, str]] = {}
        for impl in hook.get_hookimpls():  # in registration order
            origin = self.origins.get(impl.plugin_name, repr(impl.plugin_name))
            for obj in impl.function() or []:
                name = getattr(obj, "name", None)
                if not isinstance(name, str) or not name:
                    raise RegistryError(f"plugin {origin} registered a {kind} without a name: {obj!r}")
                if name in table:
                    raise RegistryError(f"{kind} {name!r} is registered by both {table[name][1]} and {origin}")
                table[name] = (obj, origin)
        return table

    def get(self, kind: str, name: str):
        table = self.table(kind)
        if name not in table:
            known = ", ".join(table) or "none"
            hint = f" (some plugins failed to load: {'; '.join(self.load_errors)})" if self.load_errors else ""
            raise UnknownNameError(f"unknown {kind} {name!r}; registered: {known}{hint}")
        return table[name][0]

    def names(self, kind: str) -> list[str]:
        return list(self.table(kind))


_registry: Registry | None = None
_registry_lock = threading.Lock()


def get_registry() -> Registry:
    """The process-wide registry, built on first use."""
    global _registry
    with _registry_lock:
        if _registry is None:
            _registry = Registry()
        return _registry


def reset_registry(registry: Registry | None = None) -> None:
    """Drop (or replace) the process-wide registry, e.g. after installing a plugin at run time."""
    global _registry
    with _registry_lock:
        _registry = registry


def get_task(name: str):
    """The registered task called ``name``."""
    return get_registry().get("task", name)


def list_tasks() -> list[str]:
    """Names of the registered tasks, built-ins first."""
    return get_registry().names("task")


def get_scheme(name: str):
    """The registered colour scheme called ``name``."""
    return get_registry().get("colour scheme", name)


def list_schemes() -> list[str]:
    return get_registry().names("colour scheme")


def get_dialect(name: str):
    """The registered prompt dialect called ``name``."""
    return get_registry().get("prompt dialect", name)


def list_dialects() -> list[str]:
    return get_registry().names("prompt dialect")


def get_generator_backend(name: str):
    return get_registry().get("generator backend", name)


def list_generator_backends() -> list[str]:
    return get_registry().names("generator backend")

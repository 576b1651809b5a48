"""The plugin manager: built-ins and entry-point plugins, looked up by name."""

from __future__ import annotations

import importlib
import importlib.metadata
import threading
from typing import Any

import pluggy

from vb_plugins import hookspecs
from vb_plugins.builtin import BUILTIN_ORIGIN, DEFAULT_PLUGINS, builtin_modules
from vb_plugins.errors import RegistryError, UnknownNameError

# kind (as users read it) -> the hooks that fill its table (colour schemes: both spellings)
KINDS = {
    "task": ("vb_tasks",),
    "colour scheme": ("vb_colour_schemes", "vb_color_schemes"),
    "prompt dialect": ("vb_prompt_dialects",),
    "generator backend": ("vb_generators",),
    "command": ("vb_commands",),
    "data source": ("vb_data_sources",),
    "value kind": ("vb_value_kinds",),
}
# Kinds where a third-party plugin's mistake (its hook raising, a nameless object, a name taken) leaves out
# what it registered and is reported in ``load_errors`` instead of failing the whole table: a broken
# plugin command must not take `vb` itself down.
LENIENT_KINDS = frozenset({"command"})


class Registry:
    """Collects what every plugin registers (see :data:`KINDS`), built-ins first.

    The built-in modules (:data:`vb_plugins.builtin.DEFAULT_PLUGINS`) are imported and registered when a
    table of their hook is first needed; entry-point plugins when the registry is made.
    ``entry_points=False`` gives the built-ins alone (tests, or to rule out a broken plugin);
    ``plugins`` registers extra plugin objects directly (handy in tests and notebooks).
    """

    def __init__(self, entry_points: bool = True, plugins=()):
        self.manager = pluggy.PluginManager(hookspecs.PROJECT)
        self.manager.add_hookspecs(hookspecs)
        self.origins: dict[str, str] = {}
        self.load_errors: list[str] = []
        # plugin name -> its place in every listing: the built-ins' places are theirs from the start
        self._order: dict[str, int] = {name: index for index, name in enumerate(builtin_modules())}
        self._tables: dict[str, dict[str, tuple[Any, str]]] = {}
        self._lock = threading.RLock()
        if entry_points:
            self._load_entry_points()
        for plugin in plugins:
            name = getattr(plugin, "__name__", None) or repr(plugin)
            self._register(plugin, name, repr(name))

    def _register(self, plugin, name: str, origin: str) -> None:
        if self.manager.has_plugin(name) or (name in self._order and origin != BUILTIN_ORIGIN):
            first = self.origins.get(name, BUILTIN_ORIGIN)
            raise RegistryError(f"plugin name {name!r} is used by both {first} and {origin}")
        try:
            self.manager.register(plugin, name=name)
            self.manager.check_pending()
        except pluggy.PluginValidationError as error:
            self.manager.unregister(name=name)
            raise RegistryError(f"plugin {origin}: {error}") from None
        self.origins[name] = origin
        self._order.setdefault(name, len(self._order))

    def _load_builtins(self, kind: str) -> None:
        """Import and register the built-in modules that implement the hooks of ``kind``."""
        for hook_name in KINDS[kind]:
            for module_name in DEFAULT_PLUGINS.get(hook_name, ()):
                if self.manager.has_plugin(module_name):
                    continue
                try:
                    module = importlib.import_module(module_name)
                except ModuleNotFoundError as error:  # an optional part whose dependencies are not installed
                    if error.name and error.name.startswith("vb_plugins"):
                        raise
                    continue
                self._register(module, module_name, BUILTIN_ORIGIN)
                listed = {hook for hook, names in DEFAULT_PLUGINS.items() if module_name in names}
                implemented = {caller.name for caller in self.manager.get_hookcallers(module) or ()}
                if implemented - listed:
                    raise RegistryError(f"built-in module {module_name} implements "
                                        f"{', '.join(sorted(implemented - listed))} but DEFAULT_PLUGINS does not "
                                        "list it there")

    def _load_entry_points(self) -> None:
        for entry_point in importlib.metadata.entry_points(group=hookspecs.ENTRY_POINT_GROUP):
            dist = entry_point.dist
            origin = f"{entry_point.name!r} from {dist.name} {dist.version}" if dist else repr(entry_point.name)
            try:
                plugin = entry_point.load()
            except Exception as error:  # a broken third-party plugin must not take the core down with it
                self.load_errors.append(f"plugin {origin} failed to load: {type(error).__name__}: {error}")
                continue
            try:
                self._register(plugin, entry_point.name, origin)
            except RegistryError as error:  # a misspelled hook, a name taken: the same, named
                self.load_errors.append(f"{error} (not loaded)")

    def origin(self, plugin_name: str) -> str:
        """How messages name the plugin registered as ``plugin_name``."""
        return self.origins.get(plugin_name, repr(plugin_name))

    def table(self, kind: str) -> dict[str, tuple[Any, str]]:
        """name -> (object, origin) for one kind, in registration order (built-ins first)."""
        with self._lock:
            if kind not in self._tables:
                self._load_builtins(kind)
                self._tables[kind] = self._collect(kind)
            return self._tables[kind]

    def _implementations(self, kind: str) -> list[tuple[str, pluggy.HookImpl]]:
        """(hook name, implementation) of every hook of ``kind``, in plugin registration order."""
        found = []
        for hook_name in KINDS[kind]:
            for impl in getattr(self.manager.hook, hook_name).get_hookimpls():
                found.append((self._order.get(impl.plugin_name, len(self._order)), len(found), hook_name, impl))
        return [(hook_name, impl) for _, _, hook_name, impl in sorted(found, key=lambda row: row[:2])]

    def _collect(self, kind: str) -> dict[str, tuple[Any, str]]:
        table: dict[str, tuple[Any, str]] = {}
        for hook_name, impl in self._implementations(kind):
            origin = self.origin(impl.plugin_name)
            try:
                table.update(self._named(kind, hook_name, impl, origin, table))
            except RegistryError as error:
                if kind not in LENIENT_KINDS or origin == BUILTIN_ORIGIN:
                    raise
                self.load_errors.append(f"{error} (left out)")
        return table

    @staticmethod
    def _named(kind: str, hook_name: str, impl, origin: str, table: dict) -> dict[str, tuple[Any, str]]:
        """name -> (object, origin) of what one hook implementation returns, checked against ``table``."""
        try:
            objects = impl.function() or []
        except Exception as error:
            raise RegistryError(f"plugin {origin}: {hook_name}() failed: {type(error).__name__}: {error}") \
                from error
        named: dict[str, tuple[Any, str]] = {}
        for obj in objects:
            name = getattr(obj, "name", None)
            if not isinstance(name, str) or not name:
                raise RegistryError(f"plugin {origin} registered a {kind} without a name: {obj!r}")
            if name in table or name in named:
                first = table[name][1] if name in table else origin
                raise RegistryError(f"{kind} {name!r} is registered by both {first} and {origin}")
            named[name] = (obj, origin)
        return named

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


def _accessors(kind: str, get_name: str, list_name: str):
    """``get_X(name)`` and ``list_X()`` of the process-wide registry for one kind."""

    def get(name: str):
        return get_registry().get(kind, name)

    def names() -> list[str]:
        return get_registry().names(kind)

    get.__name__ = get.__qualname__ = get_name
    get.__doc__ = f"The registered {kind} called ``name``."
    names.__name__ = names.__qualname__ = list_name
    names.__doc__ = f"Names of the registered {kind}s, built-ins first."
    return get, names


get_task, list_tasks = _accessors("task", "get_task", "list_tasks")
get_colour_scheme, list_colour_schemes = _accessors("colour scheme", "get_colour_scheme", "list_colour_schemes")
get_dialect, list_dialects = _accessors("prompt dialect", "get_dialect", "list_dialects")
get_generator_backend, list_generator_backends = _accessors("generator backend", "get_generator_backend",
                                                            "list_generator_backends")
get_command, list_commands = _accessors("command", "get_command", "list_commands")
get_data_source, list_data_sources = _accessors("data source", "get_data_source", "list_data_sources")
get_value_kind, list_value_kinds = _accessors("value kind", "get_value_kind", "list_value_kinds")

# Earlier names and the American spelling, kept as aliases.
get_scheme, list_schemes = get_colour_scheme, list_colour_schemes
get_color_scheme, list_color_schemes = get_colour_scheme, list_colour_schemes

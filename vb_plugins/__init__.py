"""vb-plugins: image generators as generalist vision learners.

The core is importable without FiftyOne or ComfyUI; torch and diffusers load only when generation runs.

    >>> import vb_plugins
    >>> task = vb_plugins.get_task("depth")
    >>> rgb = task.codec.encode(depth_in_metres)          # H x W x 3 uint8
    >>> depth, residual = task.codec.decode(rgb)
"""

from vb_plugins import names as _names
from vb_plugins.errors import CancelledError, InputError, ModelError, RegistryError, VBError
from vb_plugins.hookspecs import hookimpl
from vb_plugins.registry import (
    get_colour_scheme,
    get_command,
    get_data_source,
    get_dialect,
    get_generator_backend,
    get_registry,
    get_scheme,
    get_task,
    get_value_kind,
    list_colour_schemes,
    list_commands,
    list_data_sources,
    list_dialects,
    list_generator_backends,
    list_schemes,
    list_tasks,
    list_value_kinds,
)

# Tasks and codecs look registered names up through vb_plugins.names (they cannot import the registry,
# which imports them); the process-wide registry answers.
_names.install(lambda kind, name: get_registry().get(kind, name), lambda kind: get_registry().names(kind))

__version__ = "0.1.0"

__all__ = [
    "__version__",
    "hookimpl",
    "get_task",
    "list_tasks",
    "get_colour_scheme",
    "list_colour_schemes",
    "get_scheme",
    "list_schemes",
    "get_dialect",
    "list_dialects",
    "get_generator_backend",
    "list_generator_backends",
    "get_command",
    "list_commands",
    "get_data_source",
    "list_data_sources",
    "get_value_kind",
    "list_value_kinds",
    "get_registry",
    "VBError",
    "InputError",
    "ModelError",
    "RegistryError",
    "CancelledError",
]

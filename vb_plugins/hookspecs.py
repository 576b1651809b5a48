"""The plugin hooks. vb-plugins' own tasks, colour schemes, prompt dialects, generator backends, `vb`
commands, training data sources and value kinds are registered through these same hooks (the modules
listed in :data:`vb_plugins.builtin.DEFAULT_PLUGINS`), so a third-party package drops in new ones with no
core change.

A plugin is a module (or object) with functions marked ``@vb_plugins.hookimpl`` and is found through the
entry-point group ``vb_plugins``::

    # pyproject.toml of a plugin package
    [project.entry-points.vb_plugins]
    my_plugin = "my_package.vb_plugin"

Each hook returns a list of objects, each with a ``name``; names must be unique across all plugins.
``vb_colour_schemes`` and ``vb_color_schemes`` fill the same table (one spelling each; both are honoured).
"""

import pluggy

PROJECT = "vb_plugins"
ENTRY_POINT_GROUP = "vb_plugins"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def vb_tasks() -> list:
    """Return :class:`vb_plugins.tasks.Task` instances to register."""


@hookspec
def vb_colour_schemes() -> list:
    """Return colour schemes (:class:`vb_plugins.codecs.ColorScheme`: scalar <-> colour, for depth-like tasks)."""


@hookspec
def vb_color_schemes() -> list:
    """Alias of :func:`vb_colour_schemes` in American spelling; both fill the one colour-scheme table."""


@hookspec
def vb_prompt_dialects() -> list:
    """Return :class:`vb_plugins.prompts.PromptDialect` instances."""


@hookspec
def vb_generators() -> list:
    """Return :class:`vb_plugins.generation.GeneratorBackend` instances (ways to load a generator)."""


@hookspec
def vb_commands() -> list:
    """Return `vb` sub-commands, each with ``name`` and ``register(subparsers)`` (:class:`vb_plugins.cli.Command`)."""


@hookspec
def vb_data_sources() -> list:
    """Return training data source types for `vb train` (:class:`vb_plugins.training.sources.DataSourceType`)."""


@hookspec
def vb_value_kinds() -> list:
    """Return value kinds (what a task's values are: depth, normals, labels, ...), each with a ``name``."""

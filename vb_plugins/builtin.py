"""The built-in plugins: vb-plugins' own modules, each ending in the ``@hookimpl`` functions that register
what it defines, through the same hooks a third-party plugin uses.

Listed by the hook they implement, in the order every listing shows them (``vb tasks``, ``vb --help``;
built-ins first, then entry-point plugins). The registry imports a module when a table of its hook is
first needed, so ``vb tasks`` or ``get_task`` does not import the generator backends or the training code;
a built-in module implementing a hook it is not listed under is an error.
"""

DEFAULT_PLUGINS: dict[str, tuple[str, ...]] = {
    "vb_tasks": ("vb_plugins.tasks.geometry", "vb_plugins.tasks.segmentation"),
    "vb_colour_schemes": ("vb_plugins.codecs.schemes",),
    "vb_prompt_dialects": ("vb_plugins.prompts",),
    "vb_value_kinds": ("vb_plugins.kinds",),
    "vb_generators": (
        "vb_plugins.generation.bundled",
        "vb_plugins.generation.diffusers_backend",
        "vb_plugins.generation.gemini",
    ),
    "vb_data_sources": ("vb_plugins.training.sources", "vb_plugins.fiftyone_tools.training_source"),
    "vb_commands": (
        "vb_plugins.cli.codec_commands",
        "vb_plugins.cli.predict_command",
        "vb_plugins.cli.train_command",
        "vb_plugins.cli.pointcloud_command",
        "vb_plugins.cli.demo_command",
        "vb_plugins.cli.eval_command",
        "vb_plugins.cli.fiftyone_command",
        "vb_plugins.cli.comfyui_command",
    ),
}

BUILTIN_ORIGIN = "vb_plugins (built-in)"  # how messages name a built-in plugin


def builtin_modules() -> list[str]:
    """Every built-in plugin module, once, in listing order."""
    return list(dict.fromkeys(name for names in DEFAULT_PLUGINS.values() for name in names))

"""The built-in plugin: vb-plugins' own tasks, colour schemes and prompt dialects, registered through
the same hooks a third-party plugin uses."""

from vb_plugins.hookspecs import hookimpl


@hookimpl
def vb_tasks():
    from vb_plugins.tasks import builtin_tasks

    return builtin_tasks()


@hookimpl
def vb_color_schemes():
    from vb_plugins.codecs.schemes import builtin_schemes

    return builtin_schemes()


@hookimpl
def vb_prompt_dialects():
    from vb_plugins.prompts import builtin_dialects

    return builtin_dialects()


@hookimpl
def vb_generators():
    from vb_plugins.generation.bundled import VBNetBackend
    from vb_plugins.generation.diffusers_backend import DiffusersBackend
    from vb_plugins.generation.gemini import GeminiBackend

    return [VBNetBackend(), DiffusersBackend(), GeminiBackend()]


@hookimpl
def vb_rewriters():
    from vb_plugins.reasoning.plugin import builtin_rewriters

    return builtin_rewriters()


@hookimpl
def vb_presence_gates():
    from vb_plugins.reasoning.plugin import builtin_presence_gates

    return builtin_presence_gates()

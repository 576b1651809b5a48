"""Prompt dialects: how a model family wants to be asked for each task.

``vision-banana`` holds the published Vision Banana wordings (the paper's figures and project page;
the paper does not publish its evaluation prompts), with JSON legends; ``vision-banana-sentences`` uses the
paper's sentence legends for semantic segmentation. Models instruction-tuned on these wordings (the
bundled model, a LoRA trained with `vb train`) follow them exactly. ``zero-shot`` spells the colour code
out in plain language for general image-editing models that were never tuned on it.
A dialect without a wording for a task returns None and the task's own default prompt is used.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING

from vb_plugins.codecs import instance, referring
from vb_plugins.codecs.colors import format_colour
from vb_plugins.codecs.depth import DEFAULT_SCHEME
from vb_plugins.codecs.referring import DEFAULT_COLOUR
from vb_plugins.errors import InputError
from vb_plugins.hookspecs import hookimpl

if TYPE_CHECKING:  # tasks render their prompts through this module: no import of tasks at run time
    from vb_plugins.tasks.base import TaskSpec

DEFAULT_DIALECT = "vision-banana"


class PromptDialect:
    """A named set of prompt templates: ``templates[task_name](spec) -> str``."""

    def __init__(self, name: str, description: str, templates: dict[str, Callable[[TaskSpec], str]]):
        self.name = name
        self.description = description
        self.templates = dict(templates)

    def render(self, task, spec: TaskSpec) -> str | None:
        template = self.templates.get(task.name)
        return None if template is None else template(spec)

    def __repr__(self) -> str:
        return f"<prompt dialect {self.name!r}>"


def _json(value) -> str:
    """JSON as a prompt embeds it: non-ASCII class names as the characters themselves ("猫", "Straße"),
    not ``\\uXXXX`` escapes a model would read as noise."""
    return json.dumps(value, ensure_ascii=False)


def colour_text(spec: TaskSpec, colour, style: str = "name") -> str:
    """A colour as the prompt writes it: in the ``name`` style the word it was given as ("light purple")
    where it was given as a word, else :func:`format_colour` (numbers stay numbers in the other styles)."""
    if style == "name":
        word = dict(getattr(spec, "colour_words", ())).get(tuple(int(v) for v in colour))
        if word is not None:
            return word
    return format_colour(colour, style)


def paper_legend(spec: TaskSpec) -> str:
    """The legend as the paper writes it: ``{"cat": "red", "cat ears": <255, 165, 0>}`` (named colours
    quoted, triplets bare)."""
    items = []
    for name, colour in spec.classes:
        named = colour_text(spec, colour, "name")
        value = _json(named) if not named.startswith("<") else named
        items.append(f"{_json(name)}: {value}")
    return "{" + ", ".join(items) + "}"


def json_legend(spec: TaskSpec, style: str = "name") -> str:
    """``{"cat": "red", "sky": "<135, 206, 235>"}``: names where the colour has a CSS name."""
    return _json({name: colour_text(spec, colour, style) for name, colour in spec.classes})


def sentence_legend(spec: TaskSpec, style: str = "name") -> str:
    """``cat in red, sky in <135, 206, 235>``."""
    return ", ".join(f"{name} in {colour_text(spec, colour, style)}" for name, colour in spec.classes)


def _require_expression(spec: TaskSpec) -> str:
    if not spec.expression:
        raise InputError("task 'referring': needs an expression (the phrase naming the object)")
    return spec.expression


def _scheme_clause(spec: TaskSpec) -> str:
    """Alternative depth colour schemes are named in the prompt (the default path is not)."""
    if not spec.scheme or spec.scheme == DEFAULT_SCHEME:
        return ""
    return f" Visualized in the {spec.scheme} color palette."


def _instance_subject(spec: TaskSpec) -> str:
    return spec.class_names[0] if spec.classes else "object"


def _referring_colour(spec: TaskSpec) -> str:
    return colour_text(spec, spec.colour or DEFAULT_COLOUR, "name")


def _background(spec: TaskSpec, task: str) -> str:
    default = instance.DEFAULT_BACKGROUND if task == "instance" else referring.DEFAULT_BACKGROUND
    return colour_text(spec, spec.background or default, "name")


def _capitalised(text: str) -> str:
    return text[:1].upper() + text[1:]


def _with_article(name: str) -> str:
    return name if name.lower().startswith(("the ", "a ", "an ")) else f"the {name}"


VISION_BANANA = PromptDialect(
    "vision-banana",
    "the published Vision Banana wordings (paper figures and project page); JSON colour legends",
    {
        "depth": lambda spec: "Generate a metric depth map of the input image." + _scheme_clause(spec),
        "normals": lambda spec: "Generate a surface normal map of the input image.",
        "semantic": lambda spec: (
            "Generate a semantic segmentation visualization image, using this color mapping: "
            f"{paper_legend(spec)}."
        ),
        "instance": lambda spec: (
            f"Generate an instance segmentation visualization of this image. Each {_instance_subject(spec)} "
            f"is colored differently. The background is set to {_background(spec, 'instance')} color."
        ),
        "referring": lambda spec: (
            "This image shows segmentation masks from the given image. The background is "
            f"{_background(spec, 'referring')} color. {_capitalised(_require_expression(spec))} is "
            f"represented by a solid {_referring_colour(spec)}."
        ),
    },
)

VISION_BANANA_SENTENCES = PromptDialect(
    "vision-banana-sentences",
    "the published Vision Banana sentence legends: 'The cat is represented by (255, 0, 0).'",
    {
        "semantic": lambda spec: "This image is a per-pixel class labeling of the input. " + " ".join(
            f"{_capitalised(_with_article(name))} is represented by {format_colour(colour, 'paren')}."
            for name, colour in spec.classes
        ),
    },
)

ZERO_SHOT = PromptDialect(
    "zero-shot",
    "short plain-language instructions for image-editing models never tuned on the colour codes "
    "(kept under CLIP's 77 tokens)",
    {
        "depth": lambda spec: (
            "Turn this photo into a false-color depth map, same layout: nearest surfaces black, then red, "
            "yellow, green, cyan, blue, magenta with distance, farthest and sky white. Flat colors, no text."
            if not _scheme_clause(spec) else
            f"Turn this photo into a depth map in the {spec.scheme} color map, same layout: nearest surfaces "
            "at its dark end, farthest and sky at its bright end. No text."
        ),
        "normals": lambda spec: (
            "Turn this photo into a surface normal map, same layout: surfaces facing left pinkish red, facing "
            "up light green, facing the camera light blue, smooth shading between. No text."
        ),
        "semantic": lambda spec: (
            f"Turn this photo into a flat-color segmentation map, same layout: {sentence_legend(spec)}. "
            "Solid colors only, no outlines, no text."
        ),
        "instance": lambda spec: (
            f"Paint each {_instance_subject(spec)} in this photo a different solid color and everything else "
            f"solid {_background(spec, 'instance')}. Same layout, no outlines, no text."
        ),
        "referring": lambda spec: (
            f"Paint {_require_expression(spec)} in this photo solid {_referring_colour(spec)} and everything "
            f"else solid {_background(spec, 'referring')}. Same layout, no outlines, no text."
        ),
    },
)


def builtin_dialects() -> list[PromptDialect]:
    return [VISION_BANANA, VISION_BANANA_SENTENCES, ZERO_SHOT]


# Registration through the plugin hooks (this module is listed in vb_plugins.builtin.DEFAULT_PLUGINS).


@hookimpl
def vb_prompt_dialects():
    return builtin_dialects()

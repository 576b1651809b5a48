"""Prompt dialects: how a model family wants to be asked for each task.

``vision-banana`` holds the published Vision Banana wordings (models instruction-tuned on them, like the
bundled model or an Open Vision Banana LoRA, follow them exactly). ``zero-shot`` spells the colour code
out in plain language for general image-editing models that were never tuned on it.
A dialect without a wording for a task returns None and the task's own default prompt is used.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from vb_plugins.codecs.colors import format_colour
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


def json_legend(spec: TaskSpec, style: str = "name") -> str:
    """``{"cat": "red", "sky": "<135, 206, 235>"}``: names where the colour has a CSS name."""
    return json.dumps({name: format_colour(colour, style) for name, colour in spec.classes})


def sentence_legend(spec: TaskSpec, style: str = "name") -> str:
    """``cat in red, sky in <135, 206, 235>``."""
    return ", ".join(f"{name} in {format_colour(colour, style)}" for name, colour in spec.classes)


def _require_expression(spec: TaskSpec) -> str:
    from vb_plugins.errors import InputError

    if not spec.expression:
        raise InputError("task 'referring': needs an expression (the phrase naming the object)")
    return spec.expression


def _instance_subject(spec: TaskSpec) -> str:
    return spec.class_names[0] if spec.classes else "object"


def _referring_colour(spec: TaskSpec) -> str:
    from vb_plugins.codecs.referring import DEFAULT_COLOUR

    return format_colour(spec.colour or DEFAULT_COLOUR, "name")


VISION_BANANA = PromptDialect(
    "vision-banana",
    "the published Vision Banana wordings",
    {
        "depth": lambda spec: "Generate a metric depth map of the input image.",
        "normals": lambda spec: "Generate a surface normal map of the input image.",
        "semantic": lambda spec: (
            f"Generate a semantic segmentation map of the input image using the color legend {json_legend(spec)}."
        ),
        "instance": lambda spec: (
            f"Generate an instance segmentation map of the input image. Each {_instance_subject(spec)} is "
            "colored differently, and everything else is rendered solid white."
        ),
        "referring": lambda spec: (
            f"Segment {_require_expression(spec)} in the input image: color it {_referring_colour(spec)}, "
            "and everything else is rendered solid white."
        ),
    },
)

ZERO_SHOT = PromptDialect(
    "zero-shot",
    "plain-language instructions for image-editing models never tuned on the colour codes",
    {
        "depth": lambda spec: (
            "Turn this photo into a false-color depth map with the same layout: the nearest surfaces black, "
            "then with growing distance red, yellow, green, cyan, blue and magenta, and the far distance and "
            "sky white. Smooth gradients, no text, no shading, no texture."
        ),
        "normals": lambda spec: (
            "Turn this photo into a surface normal map with the same layout: surfaces facing left pinkish "
            "red, surfaces facing up light green, surfaces facing the camera light blue, smooth shading "
            "between them. No text, no texture."
        ),
        "semantic": lambda spec: (
            f"Turn this photo into a flat-color segmentation map with the same layout: paint "
            f"{sentence_legend(spec)}. Flat solid colors only, no outlines, no text, no shading."
        ),
        "instance": lambda spec: (
            f"Paint each {_instance_subject(spec)} in this photo with its own distinct flat solid color and "
            "paint everything else solid white. Same layout, no outlines, no text, no shading."
        ),
        "referring": lambda spec: (
            f"Paint {_require_expression(spec)} in this photo solid {_referring_colour(spec)} and paint "
            "everything else solid white. Same layout, no outlines, no text, no shading."
        ),
    },
)


def builtin_dialects() -> list[PromptDialect]:
    return [VISION_BANANA, ZERO_SHOT]

"""VB Rewrite and VB Presence Gate (schema API): a vision-language model asked about the image before anything is
painted. Imported only inside ComfyUI; the logic is in :mod:`.vlm`."""

from __future__ import annotations

import os

import folder_paths
from comfy_api.latest import io, ui

from vb_plugins.settings import SETTINGS

from . import vlm
from .schema_common import CATEGORY, checked

THRESHOLD = SETTINGS["gate_threshold"]  # the run setting's bounds and help, as `vb predict --gate-threshold`

# Local vision-language models (Qwen2.5-VL, Qwen3-VL, ... folders with config.json + safetensors) live here.
if "vlm" not in folder_paths.folder_names_and_paths:
    folder_paths.add_model_folder_path("vlm", os.path.join(folder_paths.models_dir, "vlm"))


def _folders() -> list[str]:
    try:
        return folder_paths.get_folder_paths("vlm")
    except KeyError:
        return []


class VBRewrite(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="VBRewrite",
            display_name="VB Rewrite",
            category=CATEGORY,
            description="Asks a vision-language model to turn a reasoning query ('the object that keeps food "
                        "cold') into a plain referring expression for this image ('the white refrigerator'). "
                        "Link the expression into VB Prompt's expression; 'absent' is true (and the expression "
                        "empty) when nothing in the image fits. One image at a time.",
            is_output_node=True,
            inputs=[
                io.Image.Input("image"),
                io.String.Input("query", multiline=True, default="",
                                tooltip="the reasoning query, e.g. 'the object that keeps food cold'"),
                io.Combo.Input("model", options=vlm.model_choices(_folders()),
                               tooltip="gemini:... (needs GEMINI_API_KEY) or a VLM folder in models/vlm"),
            ],
            outputs=[
                io.String.Output(display_name="expression"),
                io.Boolean.Output(display_name="absent"),
                io.String.Output(display_name="json"),
            ],
        )

    @classmethod
    def validate_inputs(cls, query=None, model=None):
        if model is None:
            return True
        return checked(vlm.resolve_model, model, _folders())

    @classmethod
    def execute(cls, image, query, model) -> io.NodeOutput:
        expression, absent, record = vlm.rewrite(image, query, model, _folders())
        return io.NodeOutput(expression, absent, record, ui=ui.PreviewText(expression or "absent"))


class VBPresenceGate(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="VBPresenceGate",
            display_name="VB Presence Gate",
            category=CATEGORY,
            description="Asks a vision-language model which classes are in this image. Outputs the present "
                        "classes in VB Prompt's format (link into its classes, so absent classes are never "
                        "painted), how many, and a JSON record of every class's score. One image at a time.",
            is_output_node=True,
            inputs=[
                io.Image.Input("image"),
                io.String.Input("classes", multiline=True, default="",
                                tooltip="as in VB Prompt: JSON {\"cat\": \"red\"} or lines 'cat: red', bare names"),
                io.Combo.Input("model", options=vlm.model_choices(_folders()),
                               tooltip="gemini:... (needs GEMINI_API_KEY) or a VLM folder in models/vlm"),
                io.Float.Input("threshold", default=0.5, min=THRESHOLD.low, max=THRESHOLD.high, step=0.05,
                               tooltip=THRESHOLD.help),
            ],
            outputs=[
                io.String.Output(display_name="classes"),
                io.Int.Output(display_name="count"),
                io.String.Output(display_name="json"),
            ],
        )

    @classmethod
    def validate_inputs(cls, classes=None, model=None, threshold=None):
        def check():
            if model is not None:
                vlm.resolve_model(model, _folders())
            if threshold is not None:
                vlm.check_threshold(threshold)
        return checked(check)

    @classmethod
    def execute(cls, image, classes, model, threshold) -> io.NodeOutput:
        present, count, record = vlm.gate(image, classes, model, _folders(), threshold)
        return io.NodeOutput(present, count, record, ui=ui.PreviewText(record))


NODES = [VBRewrite, VBPresenceGate]

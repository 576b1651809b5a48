"""The ComfyUI nodes (schema API): thin wrappers over the ComfyUI-free modules of this pack. VB Prompt, VB Encode,
VB Load Generator and VB Generate are here; the VB Decode nodes in :mod:`.decoder_nodes`.

Imported only inside ComfyUI. Each node checks its widgets in ``validate_inputs`` (so bad settings
are refused at queue time with HTTP 400 and a message) and again in ``execute``, where connected
tensors are known; errors are one-line messages from the core.
"""

from __future__ import annotations

import logging
import os

import folder_paths
from comfy_api.latest import ComfyExtension, io, ui

from vb_plugins.errors import CancelledError
from vb_plugins.profiles import list_profiles
from vb_plugins.settings import widget_default, widget_options, widget_settings

from . import generating, models, operations, prompting
from .decoder_nodes import (
    VBDecode,
    VBDecodeDepth,
    VBDecodeInstances,
    VBDecodeMatting,
    VBDecodeNormals,
    VBDecodeReferring,
    VBDecodeRelativeDepth,
    VBDecodeSemantic,
)
from .schema_common import CATEGORY, VBDepth, VBGenerator, VBLabels, VBNormals, VBSpec, checked
from .vlm_nodes import NODES as VLM_NODES

log = logging.getLogger("vb_plugins.comfyui")

# VBNet models trained with `vb train` live in models/vision_banana (diffusers pipelines may too).
if "vision_banana" not in folder_paths.folder_names_and_paths:
    folder_paths.add_model_folder_path("vision_banana", os.path.join(folder_paths.models_dir, "vision_banana"))


def _folders(name: str) -> list[str]:
    try:
        return folder_paths.get_folder_paths(name)
    except KeyError:
        return []


def _model_folders() -> list[str]:
    return _folders("diffusers") + _folders("vision_banana")


def _setting_inputs(node: str, choices: dict[str, list]) -> list:
    """The widgets of the run settings ``node`` ("load" or "generate") shows, in declaration order, with the
    ranges, defaults and tooltips :mod:`vb_plugins.settings` declares; ``choices``: combo options that come
    from ComfyUI's folders or the registry."""
    widgets = []
    for name, declared in widget_settings(node).items():
        widget = declared.comfy
        common = {"tooltip": widget.tooltip} if widget.tooltip else {}
        if widget.optional:
            common["optional"] = True
        default = widget_default(name)
        if default is not None:
            common["default"] = default
        if declared.type is str:
            widgets.append(io.Combo.Input(name, options=widget_options(name, choices.get(name)), **common))
        elif declared.type is bool:
            widgets.append(io.Boolean.Input(name, **common))
        elif declared.type is int:
            widgets.append(io.Int.Input(name, min=int(widget.low), max=int(widget.high), **common,
                                        **dict(widget.extra)))
        else:
            widgets.append(io.Float.Input(name, min=widget.low, max=widget.high, step=widget.step, **common))
    return widgets


def _known(*values) -> bool:
    """Linked inputs arrive as None while validating: only check what is known."""
    return all(value is not None for value in values)


# -- VB Prompt ---------------------------------------------------------------------------------------

class VBPrompt(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="VBPrompt",
            display_name="VB Prompt",
            category=CATEGORY,
            description="Builds the prompt that asks an image-editing model for a decodable visualization "
                        "(depth, normals, segmentation), and the task spec the VB decoders read it with.",
            inputs=[
                io.Combo.Input("task", options=prompting.task_choices(), default="depth"),
                io.String.Input("classes", multiline=True, default="",
                                tooltip="semantic / instance: JSON {\"cat\": \"red\"} or lines 'cat: red', "
                                        "'sky: #87ceeb', 'road: (128, 64, 128)'; a bare name gets a colour"),
                io.String.Input("expression", default="", tooltip="referring: the phrase naming the object"),
                io.Combo.Input("dialect", options=prompting.dialect_choices(), default="vision-banana",
                               tooltip="vision-banana for tuned models; zero-shot for general edit models"),
                io.Combo.Input("scheme", options=prompting.scheme_choices(), default=prompting.DEFAULT,
                               tooltip="depth colour scheme"),
                io.String.Input("options", multiline=True, default="",
                                tooltip='more spec fields as JSON, e.g. {"tolerance": 40, "colour": "yellow"}'),
            ],
            outputs=[
                io.String.Output(display_name="prompt"),
                VBSpec.Output(display_name="spec"),
                io.String.Output(display_name="spec_json"),
            ],
        )

    @classmethod
    def validate_inputs(cls, task=None, classes=None, expression=None, dialect=None, scheme=None, options=None):
        if not _known(task, classes, expression, dialect, scheme, options):
            return True
        return checked(prompting.make_prompt, task, classes, expression, dialect, scheme, options)

    @classmethod
    def execute(cls, task, classes, expression, dialect, scheme, options) -> io.NodeOutput:
        outputs, _ = operations.prompt(task, classes, expression, dialect, scheme, options)
        return io.NodeOutput(*outputs, ui=ui.PreviewText(outputs[0]))


# -- VB Encode ---------------------------------------------------------------------------------------

class VBEncode(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="VBEncode",
            display_name="VB Encode",
            category=CATEGORY,
            description="Paints depth, normals, labels or a mask as the visualization a generator should "
                        "make (training targets, visual checks). Connect exactly one of them.",
            inputs=[
                VBDepth.Input("depth", optional=True),
                VBNormals.Input("normals", optional=True),
                VBLabels.Input("labels", optional=True),
                io.Mask.Input("mask", optional=True, tooltip="referring: painted in the spec's colours"),
                VBSpec.Input("spec", optional=True, tooltip="colours to use (default: those decoded with)"),
            ],
            outputs=[io.Image.Output(display_name="image")],
        )

    @classmethod
    def execute(cls, depth=None, normals=None, labels=None, mask=None, spec=None) -> io.NodeOutput:
        outputs, _ = operations.encode(depth, normals, labels, mask, spec)
        return io.NodeOutput(*outputs)


# -- generation --------------------------------------------------------------------------------------

class VBLoadGenerator(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="VBLoadGenerator",
            display_name="VB Load Generator",
            category=CATEGORY,
            description="Loads an image-editing pipeline for VB Generate: a diffusers folder from "
                        "models/diffusers, a pipeline already in the Hugging Face cache (hf:...), or the "
                        "bundled model. Safetensors only; nothing is downloaded.",
            inputs=_setting_inputs("load", {
                "model": models.model_choices(_model_folders(), models.hf_cache_dir()),
                "lora": list(models.find_loras(_folders("loras"))),
                "profile": list_profiles()}),
            outputs=[VBGenerator.Output(display_name="generator")],
        )

    @classmethod
    def validate_inputs(cls, model=None, lora=None, device=None, dtype=None, profile=None):
        def check():
            generating.check_load_options(device, dtype, profile)
            if model is not None:
                models.resolve_model(model, _model_folders(), models.hf_cache_dir())
            if lora is not None:
                models.resolve_lora(lora, _folders("loras"))
        return checked(check)

    @classmethod
    def execute(cls, model, lora, device, dtype, cpu_offload, profile="auto") -> io.NodeOutput:
        import comfy.model_management as mm

        auto_device = str(mm.get_torch_device())
        target = auto_device if device == "auto" else device
        if not target.startswith("cpu") and not cpu_offload:
            mm.unload_all_models()  # make room: ComfyUI's own models are managed apart from this one
            mm.soft_empty_cache()
        loaded = generating.load(model, lora, _model_folders(), _folders("loras"), models.hf_cache_dir(),
                                 device, dtype, auto_device, cpu_offload, profile)
        log.info("vb-plugins: loaded %s", loaded.describe())
        return io.NodeOutput(loaded)


class VBGenerate(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="VBGenerate",
            display_name="VB Generate",
            category=CATEGORY,
            description="Runs the vb-plugins engine: every pass of the spec, ensemble samples per image, "
                        "prompts encoded once. Outputs images at the generation size (decode them, then "
                        "let the decoder resize to the input with its reference input), the group size "
                        "to give the decoders, the prompt, and the spec to decode with (the generator's "
                        "profile may paint a task in another encoding: Open Vision Banana's depth is "
                        "relative-depth).",
            inputs=[
                VBGenerator.Input("generator"),
                io.Image.Input("image"),
                VBSpec.Input("spec"),
                *_setting_inputs("generate", {"dialect": prompting.dialect_choices()}),
                io.String.Input("prompt", optional=True, force_input=True,
                                tooltip="replaces the spec's prompt (single-pass specs only)"),
            ],
            outputs=[
                io.Image.Output(display_name="images"),
                io.Int.Output(display_name="group"),
                io.String.Output(display_name="prompt"),
                VBSpec.Output(display_name="decode_spec"),
            ],
        )

    @classmethod
    def validate_inputs(cls, seed=None, steps=None, guidance=None, megapixels=None, ensemble=None,
                        batch_size=None, dialect=None):
        return checked(generating.check_generate_options, steps, guidance, megapixels, ensemble, batch_size,
                        seed, dialect)

    @classmethod
    def execute(cls, generator, image, spec, seed, steps, guidance, megapixels, ensemble, batch_size, dialect,
                prompt=None) -> io.NodeOutput:
        import comfy.model_management as mm
        import comfy.utils

        bar = {}

        def progress(done: int, total: int) -> None:
            if "bar" not in bar:
                bar["bar"] = comfy.utils.ProgressBar(total)
            bar["bar"].update_absolute(done, total)  # also raises if ComfyUI was interrupted

        try:
            outputs, _ = operations.generate(
                generator, image, spec, seed=seed, steps=steps, guidance=guidance, megapixels=megapixels,
                ensemble=ensemble, batch_size=batch_size, dialect=dialect, prompt=prompt,
                progress=progress, should_stop=mm.processing_interrupted, with_spec=True)
        except CancelledError:
            mm.throw_exception_if_processing_interrupted()  # ComfyUI's own "interrupted" outcome
            raise
        return io.NodeOutput(*outputs)


NODES = [VBPrompt, VBEncode, VBLoadGenerator, VBGenerate, VBDecodeDepth, VBDecodeNormals, VBDecodeRelativeDepth,
         VBDecodeMatting, VBDecodeSemantic, VBDecodeInstances, VBDecodeReferring, VBDecode]


class VBExtension(ComfyExtension):
    async def get_node_list(self) -> list[type[io.ComfyNode]]:
        log.info("vb-plugins: %d nodes registered through comfy_entrypoint, and %d for vision-language models (%s)",
                 len(NODES), len(VLM_NODES), ", ".join(node.__name__ for node in VLM_NODES))
        return [*NODES, *VLM_NODES]


async def comfy_entrypoint() -> VBExtension:
    return VBExtension()

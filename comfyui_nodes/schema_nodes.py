"""The ComfyUI nodes (schema API): thin wrappers over the ComfyUI-free modules of this pack.

Imported only inside ComfyUI. Each node checks its widgets in ``validate_inputs`` (so bad settings
are refused at queue time with HTTP 400 and a message) and again in ``execute``, where connected
tensors are known; errors are one-line messages from the core.
"""

from __future__ import annotations

import logging
import os

import folder_paths
from comfy_api.latest import ComfyExtension, io, ui

from vb_plugins.errors import CancelledError, InputError, VBError
from vb_plugins.placement import FITS, MAX_SIDE
from vb_plugins.profiles import list_profiles
from vb_plugins.settings import widget_default, widget_options, widget_settings

from . import decoding, files, generating, models, operations, prompting
from .vlm_nodes import NODES as VLM_NODES

log = logging.getLogger("vb_plugins.comfyui")
CATEGORY = "vb-plugins"

VBSpec = io.Custom("VB_SPEC")
VBDepth = io.Custom("VB_DEPTH")
VBNormals = io.Custom("VB_NORMALS")
VBLabels = io.Custom("VB_LABELS")
VBValues = io.Custom("VB_VALUES")
VBRelativeDepth = io.Custom("VB_RELATIVE_DEPTH")
VBGenerator = io.Custom("VB_GENERATOR")

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


def _checked(check, *args, **kwargs):
    """Run a check for ``validate_inputs``: True, or the error's one-line message."""
    try:
        check(*args, **kwargs)
    except VBError as error:
        return str(error)
    return True


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
        return _checked(prompting.make_prompt, task, classes, expression, dialect, scheme, options)

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
        return _checked(check)

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
        return _checked(generating.check_generate_options, steps, guidance, megapixels, ensemble, batch_size,
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


# -- decoders ----------------------------------------------------------------------------------------

def _decode_inputs(spec_optional: bool = True) -> list:
    return [
        io.Image.Input("image", tooltip="generated visualizations (any model: VB Generate, or a native "
                                        "Qwen-Image-Edit / FLUX.2 klein / Kontext graph)"),
        VBSpec.Input("spec", optional=spec_optional, tooltip="from VB Prompt: task options and colours"),
        io.Combo.Input("mode", options=list(decoding.decode_modes()), default="auto",
                       tooltip="exact: lossless images; robust: JPEG / noisy generator output; auto: per image"),
        io.Int.Input("group", default=1, min=1, max=4096,
                     tooltip="consecutive images per input image (passes x samples): link VB Generate's group"),
        io.Combo.Input("fit", options=list(FITS), default="stretch",
                       tooltip="how the generated view maps onto the reference: stretch (the graph rescaled "
                               "the input) or crop (it centre-cropped it)"),
        io.Int.Input("width", default=0, min=0, max=MAX_SIDE, tooltip="output width; 0: reference or generated"),
        io.Int.Input("height", default=0, min=0, max=MAX_SIDE, tooltip="output height; 0: reference or generated"),
        io.Image.Input("reference", optional=True, tooltip="the original input: outputs take its size"),
    ]


def _save_inputs(prefix: str) -> list:
    return [
        io.Combo.Input("save", options=list(files.SAVE_FORMATS), default="none",
                       tooltip="write float values into ComfyUI's output folder"),
        io.String.Input("filename_prefix", default=prefix),
    ]


def _check_save(save, filename_prefix):
    if save is not None:
        files.check_save_format(save)
    if filename_prefix is not None and save not in (None, "none"):
        files.check_prefix(filename_prefix)


def _ui(cls, preview, saved=None) -> dict:
    result = ui.PreviewImage(preview, cls=cls).as_dict()
    if saved:
        result["vb_saved"] = saved
    return result


def _check_confidence(value):
    if value is not None and (not isinstance(value, (int, float)) or isinstance(value, bool)
                              or not 0.0 <= float(value) <= 1.0):
        raise InputError(f"min_confidence={value!r}: must be a number from 0 to 1")


def _check_choice(value, choices, name):
    if value is not None and value not in choices:
        raise InputError(f"{name} {value!r}: expected one of {', '.join(choices)}")


class _Decoder(io.ComfyNode):
    """The one implementation of the VB Decode nodes (made by :func:`_decoder`): the common decode inputs
    and checks, and the run; each node adds its schema (its own widgets and outputs) and its operation."""

    saves = False  # writes files: the operation gets ComfyUI's output folder
    decode = None  # the node's operation: (image, spec, mode, group, fit, width, height, reference, **extras)

    prompt_task = None  # the task a typed prompt is checked against at queue time (None: known only at run time)

    @classmethod
    def validate_inputs(cls, mode=None, group=None, fit=None, width=None, height=None, min_confidence=None,
                        preview=None, colormap=None, save=None, filename_prefix=None, threshold=None, prompt=None):
        """The widgets every decoder has, and those of the decoders that have them (None: absent or linked)."""
        def check():
            decoding.check_decode_options(mode, group, fit, width, height)
            decoding.check_prompt(prompt, cls.prompt_task)
            _check_confidence(min_confidence)
            if threshold is not None and not (isinstance(threshold, int | float) and 0.0 <= threshold < 1.0):
                raise InputError(f"threshold={threshold!r}: must be a number from 0 up to (not including) 1")
            _check_choice(preview, decoding.PREVIEW_NORMALISATION, "preview")
            _check_choice(colormap, decoding.COLORMAPS, "colormap")
            _check_save(save, filename_prefix)
        return _checked(check)

    @classmethod
    def execute(cls, image, mode, group, fit, width, height, spec=None, reference=None, **extras) -> io.NodeOutput:
        if cls.saves:
            extras["output_dir"] = folder_paths.get_output_directory()
        outputs, picture, *saved = cls.decode(image, spec, mode, group, fit, width, height, reference, **extras)
        return io.NodeOutput(*outputs, ui=_ui(cls, picture, saved[0] if saved else None))


def _prompt_input():
    """Last of the inputs, so workflows saved before it existed keep their widget values in place."""
    return io.String.Input("prompt", optional=True, multiline=True, default="",
                           tooltip="the prompt the images were painted with (optional): the legend (classes and "
                                   "colours, background, referring objects, depth scheme) is read from it instead "
                                   "of the spec's; the spec's other options still apply")


def _decoder(name: str, decode, *, saves: bool = False, spec_optional: bool = True, extra_inputs=(),
             prompt_task: str | None = None, **schema):
    """A VB Decode node class: the common decode inputs, then ``extra_inputs``, then the prompt; ``schema``
    names the node (``node_id``, ``display_name``, ``description``, ``outputs``); ``decode`` is its operation;
    a typed prompt is checked for ``prompt_task`` when queued."""
    def define_schema(cls):
        return io.Schema(category=CATEGORY, is_output_node=True,
                         inputs=[*_decode_inputs(spec_optional), *extra_inputs, _prompt_input()], **schema)

    return type(name, (_Decoder,), {"__doc__": schema["description"], "define_schema": classmethod(define_schema),
                                    "decode": staticmethod(decode), "saves": saves, "prompt_task": prompt_task})


def _decoder_nodes() -> tuple:
    """The VB Decode nodes, one per kind of output: one implementation (:class:`_Decoder`), declared here."""
    return (
        _decoder(
            "VBDecodeDepth",
            lambda *inputs, **extras: decoding.with_expected_error(operations.decode_depth(*inputs, **extras)),
            saves=True, prompt_task="depth",
            node_id="VBDecodeDepth", display_name="VB Decode Depth",
            description="Reads metric depth (metres) from a depth visualization in the Vision Banana colours (or the "
                        "spec's colour scheme). Outputs float depth, a preview, the valid pixels (reliability at least "
                        "min_confidence), the uncertainty (1 - reliability, raised to the ensemble spread relative to "
                        "depth) and the expected error in metres.",
            extra_inputs=[
                io.Float.Input("min_confidence", default=0.5, min=0.0, max=1.0, step=0.01,
                               tooltip="pixels whose reliability (the calibrated probability that the depth was read "
                                       "within its tolerance) is lower are left out of the valid mask"),
                io.Combo.Input("preview", options=list(decoding.PREVIEW_NORMALISATION), default="batch",
                               tooltip="batch: inverse depth scaled once for the whole batch; fixed: a fixed metric "
                                       "mapping, the same in every run"),
                io.Combo.Input("colormap", options=list(decoding.COLORMAPS), default="inferno"),
                *_save_inputs("vb/depth")],
            outputs=[VBDepth.Output(display_name="depth"), io.Image.Output(display_name="preview"),
                     io.Mask.Output(display_name="valid"), io.Image.Output(display_name="uncertainty"),
                     io.Mask.Output(display_name="expected_error")]),
        _decoder(
            "VBDecodeNormals",
            lambda *inputs, **extras: decoding.with_expected_error(operations.decode_normals(*inputs, **extras)),
            saves=True, prompt_task="normals",
            node_id="VBDecodeNormals", display_name="VB Decode Normals",
            description="Reads unit surface normals (camera frame: x right, y up, z towards the camera, or the spec's "
                        "convention) from a normal-map visualization; the expected error is in degrees.",
            extra_inputs=_save_inputs("vb/normals"),
            outputs=[VBNormals.Output(display_name="normals"), io.Image.Output(display_name="preview"),
                     io.Mask.Output(display_name="valid"), io.Image.Output(display_name="uncertainty"),
                     io.Mask.Output(display_name="expected_error")]),
        _decoder(
            "VBDecodeRelativeDepth", lambda *inputs, **extras: operations.decode_relative_depth(*inputs, **extras),
            saves=True, node_id="VBDecodeRelativeDepth", display_name="VB Decode Relative Depth",
            description="Reads grayscale relative depth (unitless, not metres: inverse depth near bright by default, "
                        "or the spec's encodes=depth) from 8- or 16-bit gray or gray-as-RGB pictures. Outputs the "
                        "float values, the same values as a float gray IMAGE, a preview, the valid pixels and the "
                        "uncertainty (channel disagreement, ensemble spread).",
            extra_inputs=[
                io.Float.Input("min_confidence", default=0.1, min=0.0, max=1.0, step=0.01,
                               tooltip="pixels decoded with less confidence are left out of the valid mask"),
                io.Combo.Input("colormap", options=list(decoding.COLORMAPS), default="inferno"),
                *_save_inputs("vb/relative_depth")],
            outputs=[VBRelativeDepth.Output(display_name="relative_depth"), io.Image.Output(display_name="values"),
                     io.Image.Output(display_name="preview"), io.Mask.Output(display_name="valid"),
                     io.Image.Output(display_name="uncertainty")]),
        _decoder(
            "VBDecodeMatting", lambda *inputs, **extras: operations.decode_matting(*inputs, **extras),
            node_id="VBDecodeMatting", display_name="VB Decode Matting",
            description="Reads an alpha matte (white = foreground) as a MASK in 0..1, and the foreground above a "
                        "threshold as a second MASK.",
            extra_inputs=[io.Float.Input("threshold", default=0.5, min=0.0, max=0.999, step=0.01,
                                         tooltip="alpha above this is foreground in the 'foreground' mask")],
            outputs=[io.Mask.Output(display_name="alpha"), io.Mask.Output(display_name="foreground"),
                     io.Image.Output(display_name="preview"), io.Image.Output(display_name="uncertainty")]),
        _decoder(
            "VBDecodeSemantic", lambda *inputs, **extras: operations.decode_semantic(*inputs, **extras),
            spec_optional=False, prompt_task="semantic", node_id="VBDecodeSemantic",
            display_name="VB Decode Semantic",
            description="Reads a semantic segmentation painted in the legend's colours: one MASK per class "
                        "(image-major: image 0's classes, then image 1's), the mask of one selected class, labels "
                        "for VB Encode, a preview in the legend colours and the uncertainty.",
            extra_inputs=[io.String.Input("select", default="", tooltip="class for the 'selected' mask; empty: all")],
            outputs=[io.Mask.Output(display_name="masks"), io.Mask.Output(display_name="selected"),
                     VBLabels.Output(display_name="labels"), io.Image.Output(display_name="preview"),
                     io.Image.Output(display_name="uncertainty"), io.String.Output(display_name="class_names")]),
        _decoder(
            "VBDecodeInstances", lambda *inputs, **extras: operations.decode_instances(*inputs, **extras),
            prompt_task="instance",
            node_id="VBDecodeInstances", display_name="VB Decode Instances",
            description="Finds the instances a generator painted in colours of its own on the background colour: "
                        "a MASK per instance (image-major), their count and a JSON record per instance (image, id, "
                        "class, colour, area).",
            outputs=[io.Mask.Output(display_name="masks"), io.Int.Output(display_name="count"),
                     VBLabels.Output(display_name="labels"), io.Image.Output(display_name="preview"),
                     io.Image.Output(display_name="uncertainty"), io.String.Output(display_name="instances")]),
        _decoder(
            "VBDecodeReferring", lambda *inputs, **extras: operations.decode_referring(*inputs, **extras),
            prompt_task="referring",
            node_id="VBDecodeReferring", display_name="VB Decode Referring",
            description="Reads the mask of the object a referring prompt named (target colour on the background colour "
                        "of the spec; white on black by default); a prompt naming several objects gives one mask per "
                        "object (image-major).",
            outputs=[io.Mask.Output(display_name="mask"), io.Image.Output(display_name="preview"),
                     io.Image.Output(display_name="uncertainty")]),
        _decoder(
            "VBDecode", lambda *inputs, **extras: operations.decode_any(*inputs, **extras),
            spec_optional=False, node_id="VBDecode", display_name="VB Decode (any task)",
            description="Decodes any registered task, including tasks from plugins, with the spec from VB Prompt: the "
                        "task's own preview, the decoded values (VB_VALUES), the confidence as a MASK and the "
                        "uncertainty.",
            outputs=[VBValues.Output(display_name="values"), io.Image.Output(display_name="preview"),
                     io.Mask.Output(display_name="confidence"), io.Image.Output(display_name="uncertainty")]),
    )


(VBDecodeDepth, VBDecodeNormals, VBDecodeRelativeDepth, VBDecodeMatting, VBDecodeSemantic, VBDecodeInstances,
 VBDecodeReferring, VBDecode) = _decoder_nodes()


NODES = [VBPrompt, VBEncode, VBLoadGenerator, VBGenerate, VBDecodeDepth, VBDecodeNormals, VBDecodeRelativeDepth,
         VBDecodeMatting, VBDecodeSemantic, VBDecodeInstances, VBDecodeReferring, VBDecode]


class VBExtension(ComfyExtension):
    async def get_node_list(self) -> list[type[io.ComfyNode]]:
        log.info("vb-plugins: %d nodes registered through comfy_entrypoint, and %d for vision-language models (%s)",
                 len(NODES), len(VLM_NODES), ", ".join(node.__name__ for node in VLM_NODES))
        return [*NODES, *VLM_NODES]


async def comfy_entrypoint() -> VBExtension:
    return VBExtension()

"""The VB Decode nodes (schema API): one implementation (:class:`_Decoder`) and one declaration per node.

Imported only inside ComfyUI. Outputs are only ever appended (saved workflows link outputs by index), and the
prompt input stays last (they store widget values by position).
"""

from __future__ import annotations

import folder_paths
from comfy_api.latest import io, ui

from vb_plugins.errors import InputError
from vb_plugins.placement import FITS, MAX_SIDE

from . import decoding, files, operations
from .schema_common import CATEGORY, VBDepth, VBLabels, VBNormals, VBRelativeDepth, VBSpec, VBValues, checked


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
        return checked(check)

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

"""Built-in grayscale tasks: relative depth and alpha mattes (what the open checkpoints paint).

``relative-depth``: grayscale relative (affine-invariant) depth, values in [0, 1] as painted, unitless.
The option ``encodes`` says what the gray holds: ``inverse`` (default; Open Vision Banana: "near points
bright, far points dark", the value is relative inverse depth, 1 = nearest) or ``depth`` (Edit2Perceive's
affine-invariant depth, the value is relative depth, 0 = nearest). ``near`` (``bright`` / ``dark``;
default: bright for inverse, dark for depth) says which end of the gray is near; a picture painted the
other way round is read flipped, so the values always mean what ``encodes`` says. A per-image scale and
shift to metres comes from sparse metric points (:mod:`vb_plugins.metric_points`).

``matting``: an alpha matte in [0, 1], white = foreground. ``threshold`` (0 = none) also makes a binary
foreground mask where the adapters store one (a FiftyOne Segmentation).

Both read 8- and 16-bit gray pictures and RGB pictures whose channels are (nearly) equal
(:mod:`vb_plugins.codecs.gray`); ``bits`` (8 or 16) is the depth ``vb encode`` writes.
"""

from __future__ import annotations

import numpy as np

from vb_plugins.codecs.gray import GrayCodec, GrayDecoding, check_bits
from vb_plugins.errors import InputError
from vb_plugins.hookspecs import hookimpl
from vb_plugins.metric_points import ENCODINGS
from vb_plugins.prompts import VISION_BANANA
from vb_plugins.tasks.base import Task, TaskSpec

NEAR = ("bright", "dark")


class GrayTask(Task):
    """A task whose values are one gray level per pixel in [0, 1]."""

    flips = False  # overridden per spec: the picture's gray is 1 - value

    def codec_for(self, spec: TaskSpec | None) -> GrayCodec:
        return GrayCodec(self.name)

    @property
    def codec(self) -> GrayCodec:
        return self.codec_for(None)

    def check_option(self, key, value):
        if key == "bits":
            return check_bits(value)
        return super().check_option(key, value)

    def default_prompt(self, spec: TaskSpec) -> str:
        return VISION_BANANA.render(self, spec)

    def flipped(self, spec: TaskSpec | None) -> bool:
        """Whether the gray painted is ``1 - value``."""
        return False

    def encode(self, values, spec=None) -> np.ndarray:
        """Values -> H x W gray levels (uint8, or uint16 with the option ``bits=16``)."""
        spec = spec if spec is not None else self.make_spec()
        values = np.asarray(values)
        if self.flipped(spec) and np.issubdtype(values.dtype, np.number):
            values = 1.0 - values.astype(np.float64)
        return self.codec_for(spec).encode(values, spec.option("bits", 8))

    def decode(self, image, spec=None, mode=None) -> GrayDecoding:
        decoding = self.codec_for(spec).decode(image, mode=mode)
        if self.flipped(spec):
            return GrayDecoding((1.0 - decoding.gray).astype(np.float32), decoding.residual, decoding.confidence,
                                decoding.mode, decoding.bits)
        return decoding

    def preview(self, decoding, spec=None) -> np.ndarray:
        values = np.asarray(decoding.values if hasattr(decoding, "values") else decoding, dtype=np.float32)
        shown = np.nan_to_num(1.0 - values if self.flipped(spec) else values, nan=0.0)
        gray = np.rint(np.clip(shown, 0.0, 1.0) * 255).astype(np.uint8)
        return np.repeat(gray[..., None], 3, axis=2)


class RelativeDepthTask(GrayTask):
    name = "relative-depth"
    description = ("grayscale relative depth, unitless in [0, 1]: relative inverse depth, near bright (encodes="
                   "inverse, Open Vision Banana) or affine-invariant depth, near dark (encodes=depth, Edit2Perceive)")
    value_kind = "relative-depth"
    options = {"encodes": "inverse", "near": "", "bits": 8}
    # Checkpoints known to paint it (named when a model that cannot is refused).
    painted_by = ("Open Vision Banana (FunAILab/Open-Vision-Banana)", "Edit2Perceive's depth LoRA")

    def check_option(self, key, value):
        if key == "encodes" and value not in ENCODINGS:
            raise InputError(f"task 'relative-depth': encodes {value!r} is not one of {', '.join(ENCODINGS)}")
        if key == "near" and value not in ("", *NEAR):
            raise InputError(f"task 'relative-depth': near {value!r} is not one of {', '.join(NEAR)}")
        return super().check_option(key, value)

    def near_end(self, spec: TaskSpec | None) -> str:
        """``bright`` or ``dark``: the end of the gray that is near (the option, else the encoding's)."""
        encodes = spec.option("encodes", "inverse") if spec else "inverse"
        near = spec.option("near", "") if spec else ""
        return near or ("bright" if encodes == "inverse" else "dark")

    def flipped(self, spec) -> bool:
        encodes = spec.option("encodes", "inverse") if spec else "inverse"
        # inverse depth is largest near; depth is smallest near: either way the value as painted unless the
        # picture has its near end the other way round
        return (self.near_end(spec) == "bright") != (encodes == "inverse")

    def meaning(self, spec: TaskSpec | None) -> str:
        """What the values are, as labels and previews say it."""
        if (spec.option("encodes", "inverse") if spec else "inverse") == "inverse":
            return "relative inverse depth, 1 = nearest (unitless, not metres)"
        return "relative depth, 0 = nearest (unitless, not metres)"


class MattingTask(GrayTask):
    name = "matting"
    description = "alpha matte in [0, 1]: white = foreground, black = background"
    value_kind = "alpha"
    options = {"threshold": 0.0, "bits": 8}
    painted_by = ("Edit2Perceive's matting LoRA",)

    def check_option(self, key, value):
        value = super().check_option(key, value)
        if key == "threshold" and not 0.0 <= value < 1.0:
            raise InputError(f"task 'matting': threshold={value:g} must be in [0, 1) (0: no binary mask)")
        return value

    def foreground(self, values, spec: TaskSpec | None) -> np.ndarray | None:
        """The binary foreground (alpha above the spec's threshold), or None without a threshold."""
        threshold = spec.option("threshold", 0.0) if spec else 0.0
        if not threshold:
            return None
        return np.asarray(values, dtype=np.float32) > threshold


# Registration through the plugin hooks (this module is listed in vb_plugins.builtin.DEFAULT_PLUGINS).


@hookimpl
def vb_tasks():
    return [RelativeDepthTask(), MattingTask()]

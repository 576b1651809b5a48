"""An example vb-plugins plugin: one task and one colour scheme, registered through the hooks."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vb_plugins import hookimpl
from vb_plugins.codecs import colormap_scheme
from vb_plugins.codecs._arrays import as_rgb, to_float
from vb_plugins.tasks import Task


@dataclass(frozen=True, eq=False)
class EdgesDecoding:
    mask: np.ndarray
    confidence: np.ndarray

    @property
    def values(self) -> np.ndarray:
        return self.mask


class EdgesCodec:
    """White lines on black: a pixel is an edge when its brightness passes ``threshold`` (0..1)."""

    def __init__(self, threshold: float = 0.5):
        self.threshold = threshold

    def encode(self, mask) -> np.ndarray:
        mask = np.asarray(mask, dtype=bool)
        return np.repeat((mask * 255).astype(np.uint8)[..., None], 3, axis=2)

    def decode(self, image) -> EdgesDecoding:
        brightness = to_float(as_rgb(image, "edge image", allow_gray=True)).mean(axis=2)
        return EdgesDecoding(brightness >= self.threshold, np.abs(brightness - self.threshold) * 2)


class EdgesTask(Task):
    name = "edges"
    description = "object boundaries as white lines on black (example plugin)"
    value_kind = "mask"
    options = {"threshold": 0.5}
    value_suffixes = (".png",)

    @property
    def codec(self) -> EdgesCodec:
        return EdgesCodec()

    def default_prompt(self, spec) -> str:
        return "Draw the object boundaries of the input image as thin white lines on a black background."

    def encode(self, values, spec=None):
        return self.codec.encode(values)

    def decode(self, image, spec=None):
        return EdgesCodec(spec.option("threshold", 0.5) if spec else 0.5).decode(image)

    def preview(self, decoding, spec=None):
        return self.codec.encode(decoding.mask)

    def load_values(self, path, spec):
        from vb_plugins.io import read_rgb

        return read_rgb(path).mean(axis=2) >= 128

    def save_values(self, decoding, path, spec, overwrite=True):
        from vb_plugins.io import write_png

        return write_png(path, (decoding.mask * 255).astype(np.uint8), overwrite)


@hookimpl
def vb_tasks():
    return [EdgesTask()]


@hookimpl
def vb_color_schemes():
    return [colormap_scheme("turbo")]

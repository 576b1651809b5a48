"""An example vb-plugins plugin: a task, a colour scheme and a `vb` command, registered through the hooks."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from vb_plugins import hookimpl
from vb_plugins.cli import Command
from vb_plugins.codecs import colormap_scheme
from vb_plugins.codecs._arrays import as_rgb, to_float
from vb_plugins.errors import InputError
from vb_plugins.io import read_rgb, write_png
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
        return read_rgb(path).mean(axis=2) >= 128

    def save_values(self, decoding, path, spec, overwrite=True):
        return write_png(path, (decoding.mask * 255).astype(np.uint8), overwrite)


def register_edges_target(subparsers) -> None:
    """`vb edges-target IMAGE OUTPUT`: the edges task's training target for a photo (Canny edges)."""
    parser = subparsers.add_parser("edges-target", help="paint a photo's edges as the edges task's target (example "
                                                        "plugin)")
    parser.add_argument("image", type=Path)
    parser.add_argument("output", type=Path, help="PNG to write: white edges on black")
    parser.add_argument("--low", type=int, default=100, help="Canny's lower threshold (0..255)")
    parser.add_argument("--high", type=int, default=200, help="Canny's upper threshold (0..255)")
    parser.add_argument("--overwrite", action="store_true")
    parser.set_defaults(handler=run_edges_target)


def run_edges_target(args) -> int:
    if not 0 <= args.low <= args.high <= 255:
        raise InputError(f"--low {args.low} --high {args.high}: expected 0 <= low <= high <= 255")
    gray = cv2.cvtColor(read_rgb(args.image), cv2.COLOR_RGB2GRAY)
    edges = cv2.Canny(gray, args.low, args.high) > 0
    write_png(args.output, EdgesTask().encode(edges), args.overwrite)
    print(f"{int(edges.sum())} edge pixels written to {args.output}", file=sys.stderr)
    return 0


@hookimpl
def vb_tasks():
    return [EdgesTask()]


@hookimpl
def vb_colour_schemes():
    return [colormap_scheme("turbo")]


@hookimpl
def vb_commands():
    return [Command("edges-target", register_edges_target)]

"""Built-in geometry tasks: metric depth and surface normals."""

from __future__ import annotations

import functools

import numpy as np

from vb_plugins.codecs.depth import DEFAULT_SCHEME, DepthCodec
from vb_plugins.codecs.normals import CONVENTIONS, NormalsCodec
from vb_plugins.errors import InputError
from vb_plugins.hookspecs import hookimpl
from vb_plugins.prompts import VISION_BANANA
from vb_plugins.tasks.base import Task, TaskSpec


class DepthTask(Task):
    name = "depth"
    description = "metric depth in metres (Vision Banana power curve and colour path)"
    value_kind = "depth"
    uses = frozenset({"scheme"})
    options = {"lam": -3.0, "c": 10.0 / 3.0}

    @property
    def codec(self) -> DepthCodec:
        return self.codec_for(None)

    def codec_for(self, spec: TaskSpec | None) -> DepthCodec:
        if spec is None:
            return _depth_codec(DEFAULT_SCHEME, -3.0, 10.0 / 3.0)
        return _depth_codec(spec.scheme or DEFAULT_SCHEME, spec.option("lam", -3.0), spec.option("c", 10.0 / 3.0))

    def validate_spec(self, spec: TaskSpec) -> None:
        self.codec_for(spec)  # checks lam and c

    def default_prompt(self, spec: TaskSpec) -> str:
        return VISION_BANANA.render(self, spec)

    def encode(self, values, spec=None) -> np.ndarray:
        return self.codec_for(spec).encode(values)

    def decode(self, image, spec=None, mode=None):
        return self.codec_for(spec).decode(image, mode=mode)

    def preview(self, decoding, spec=None) -> np.ndarray:
        return depth_preview(np.asarray(decoding.values if hasattr(decoding, "values") else decoding))


@functools.lru_cache(maxsize=16)
def _depth_codec(scheme: str, lam: float, c: float) -> DepthCodec:
    # Cached: the exact lookup table behind a codec is built once per process.
    return DepthCodec(scheme, lam, c)


def depth_preview(depth: np.ndarray, cmap: str = "inferno") -> np.ndarray:
    """Viewable picture of metric depth: inverse depth between the 2nd and 98th percentiles, near bright."""
    import matplotlib

    depth = np.asarray(depth, dtype=np.float32)
    finite = np.isfinite(depth) & (depth > 0)
    inverse = np.zeros_like(depth)
    inverse[finite] = 1.0 / depth[finite]
    if finite.any():
        low, high = np.percentile(inverse[finite], [2, 98])
        scaled = np.clip((inverse - low) / max(high - low, 1e-9), 0, 1)
    else:
        scaled = inverse
    scaled[~finite] = 0.0
    return (matplotlib.colormaps[cmap](scaled)[..., :3] * 255 + 0.5).astype(np.uint8)


class NormalsTask(Task):
    name = "normals"
    description = "surface normals, camera frame x right / y up / z towards the camera (LUB colours)"
    value_kind = "normals"
    options = {"convention": "camera"}

    @property
    def codec(self) -> NormalsCodec:
        return NormalsCodec()

    def check_option(self, key, value):
        if key == "convention" and value not in CONVENTIONS:
            raise InputError(f"task 'normals': convention {value!r} is not one of {', '.join(CONVENTIONS)}")
        return super().check_option(key, value)

    def default_prompt(self, spec: TaskSpec) -> str:
        return VISION_BANANA.render(self, spec)

    def encode(self, values, spec=None) -> np.ndarray:
        convention = spec.option("convention", "camera") if spec else "camera"
        return self.codec.encode(values, convention=convention)

    def decode(self, image, spec=None, mode=None):
        convention = spec.option("convention", "camera") if spec else "camera"
        return self.codec.decode(image, convention=convention, mode=mode)

    def preview(self, decoding, spec=None) -> np.ndarray:
        convention = spec.option("convention", "camera") if spec else "camera"
        normals = np.asarray(decoding.values, dtype=np.float32)
        valid = np.linalg.norm(normals, axis=2) > 0.5
        return self.codec.encode(np.where(valid[..., None], normals, [0, 0, 1]), convention=convention) * \
            valid[..., None].astype(np.uint8)


# Registration through the plugin hooks (this module is listed in vb_plugins.builtin.DEFAULT_PLUGINS).


@hookimpl
def vb_tasks():
    return [DepthTask(), NormalsTask()]

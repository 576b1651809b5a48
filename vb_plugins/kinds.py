"""Value kinds: what a task's decoded values are, and how they are combined, resized and filled.

A task names its kind (``Task.value_kind = "depth"``); the kind object does what used to be spelled out
by string comparisons in each module:

==========  ============================  ===========================  =================  =================
kind        values                        combining samples            resizing           no data
==========  ============================  ===========================  =================  =================
depth       H x W float32 metres          median; spread = robust σ    area / bilinear    NaN
normals     H x W x 3 unit vectors        mean, renormalised; angle    smooth, renormed   zero vector
labels      H x W class ids (0 = none)    majority; disagreement       nearest            0
instances   H x W instance ids            medoid sample per pass       nearest            0
mask        H x W bool                    majority; disagreement       nearest            False
relative-   H x W float32 in [0, 1],      median; standard deviation   area / bilinear    NaN
  depth     unitless (not metres)
alpha       H x W float32 in [0, 1]       median; standard deviation   area / bilinear    0
image       H x W (x C) float             median; standard deviation   area / bilinear    0
==========  ============================  ===========================  =================  =================

``stored_as`` tells adapters which of their storage forms holds the values (a FiftyOne heatmap, a
segmentation, detections, or files for arrays); a plugin kind picks the nearest built-in one.

Kinds are looked up by name with :func:`get_value_kind`; an unknown name is a one-line error, never a
silent "image". The built-ins are :func:`builtin_value_kinds` (registered through the ``vb_value_kinds``
hook, like tasks).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from vb_plugins import ensemble, names
from vb_plugins.ensemble import Combined, resize_nearest, resize_smooth
from vb_plugins.errors import InputError, UnknownNameError
from vb_plugins.hookspecs import hookimpl


@dataclass(frozen=True)
class ValueKind:
    """A kind of decoded values. The base class is the ``image`` kind's behaviour: any float array,
    combined by the median, resized smoothly."""

    name: str
    description: str
    units: str  # of the values
    spread_units: str  # of the disagreement between samples ("m", "deg", "fraction", ...)
    fill: Any  # the value of pixels nothing was decoded for
    stored_as: str = ""  # the adapters' storage form (default: the kind's own name)

    def __post_init__(self):
        if not self.stored_as:
            object.__setattr__(self, "stored_as", self.name)

    def combine(self, decodings: list[list], class_names: list | None = None) -> Combined:
        """``decodings[pass][sample]`` -> one :class:`Combined` (values, confidence, spread between samples);
        ``class_names``: the class each pass asks for (instance passes)."""
        flat = [d for per_pass in decodings for d in per_pass]
        values = np.stack([np.asarray(d.values, dtype=np.float32) for d in flat])
        spread = values.std(axis=0).mean(axis=-1) if values.ndim == 4 else values.std(axis=0)
        return Combined(np.median(values, axis=0), ensemble.mean_confidence(flat),
                        spread.astype(np.float32) if len(flat) > 1 else None,
                        expected_error=ensemble.mean_expected_error(flat))

    def resize_values(self, values: np.ndarray, size: tuple[int, int]) -> np.ndarray:
        """Values at ``size`` = (height, width)."""
        return resize_smooth(values, size)

    def resize(self, combined: Combined, size: tuple[int, int]) -> Combined:
        """Combined values and their confidence / spread at ``size``."""
        if combined.values.shape[:2] == tuple(size):
            return combined
        error = combined.expected_error
        return Combined(self.resize_values(combined.values, size), resize_smooth(combined.confidence, size),
                        None if combined.uncertainty is None else resize_smooth(combined.uncertainty, size),
                        combined.extras, None if error is None else resize_smooth(error, size))


class DepthKind(ValueKind):
    def combine(self, decodings, class_names=None) -> Combined:
        return ensemble.combine_depth([d for per_pass in decodings for d in per_pass])


class NormalsKind(ValueKind):
    def combine(self, decodings, class_names=None) -> Combined:
        return ensemble.combine_normals([d for per_pass in decodings for d in per_pass])

    def resize_values(self, values, size) -> np.ndarray:
        resized = resize_smooth(values, size)
        length = np.linalg.norm(resized, axis=-1, keepdims=True)
        valid = resize_nearest(np.linalg.norm(values, axis=-1) > 0.5, size)
        return np.where(valid[..., None] & (length > 1e-6), resized / np.maximum(length, 1e-6), 0.0).astype(np.float32)


class LabelsKind(ValueKind):
    def combine(self, decodings, class_names=None) -> Combined:
        return ensemble.combine_labels([d for per_pass in decodings for d in per_pass])

    def resize_values(self, values, size) -> np.ndarray:
        return resize_nearest(values, size)


class MaskKind(LabelsKind):
    def combine(self, decodings, class_names=None) -> Combined:
        return ensemble.combine_masks([d for per_pass in decodings for d in per_pass])


class InstancesKind(LabelsKind):
    def combine(self, decodings, class_names=None) -> Combined:
        return ensemble.combine_instances(decodings, class_names)


def builtin_value_kinds() -> list[ValueKind]:
    """The value kinds of the built-in tasks (and ``image``, for tasks whose values are any array)."""
    return [
        DepthKind("depth", "metric depth", "m", "m", np.nan),
        NormalsKind("normals", "unit surface normals", "unit vector", "deg", 0.0),
        LabelsKind("labels", "class ids, 0 = unlabeled", "class id", "fraction", 0),
        InstancesKind("instances", "instance ids, 0 = background", "instance id", "fraction", 0),
        MaskKind("mask", "a binary mask", "bool", "fraction", False),
        ValueKind("relative-depth", "relative (affine-invariant) depth or inverse depth in [0, 1], not metres",
                  "relative", "relative", np.nan),
        ValueKind("alpha", "an alpha matte in [0, 1], 1 = foreground", "alpha", "alpha", 0.0),
        ValueKind("image", "any per-pixel array", "", "", 0.0),
    ]


_BUILTIN = {kind.name: kind for kind in builtin_value_kinds()}


def get_value_kind(name) -> ValueKind:
    """The value kind called ``name`` (a kind object is returned as it is); unknown names are refused."""
    if isinstance(name, ValueKind):
        return name
    kind = _BUILTIN.get(name)
    if kind is not None:
        return kind
    try:  # a plugin's kind (the vb_value_kinds hook)
        return names.lookup("value kind", name)
    except UnknownNameError:
        raise InputError(f"unknown value kind {name!r}; known: {', '.join(names.listing('value kind'))}") from None


def resize_combined(combined: Combined, kind, size: tuple[int, int]) -> Combined:
    """``combined`` at ``size`` by the rules of ``kind`` (a :class:`ValueKind` or its name)."""
    return get_value_kind(kind).resize(combined, size)


__all__ = ["resize_combined", "ValueKind", "DepthKind", "NormalsKind", "LabelsKind", "MaskKind", "InstancesKind",
           "builtin_value_kinds", "get_value_kind"]


@hookimpl
def vb_value_kinds():
    return builtin_value_kinds()

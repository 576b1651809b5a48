"""Reliability and expected error of decoded pixels, calibrated on rendered scenes with generator noise.

Two numbers per pixel, kept apart on purpose:

- **reliability** in [0, 1]: the calibrated probability that the decoded value is within the task's
  tolerance of the value the picture was painted to show —
  depth: ``|decoded - true| <= max(1 % of the true depth, one step of the colour path there)`` (half a
  step is what 8-bit colours can hold, the other half is a margin for generator noise; one step is
  0.2 % of the depth at 1 m, 0.9 % at 40 m, 3.7 % at 100 m; a true infinite depth counts when decoded
  within a step of the far end); normals: within 5 degrees (about ten 8-bit steps of the encoding, well
  inside the 11.25 degrees of the tightest published accuracy threshold); labels: the right class.
  A far pixel read as well as the encoding allows is reliable, however coarse a path step is there.
- **expected error** in the task's units: metres for depth (inf where the decoding is the far end of
  the path), degrees for normals (180 where the colour is not a normal); labels have none.

Reliability says whether the *picture* was read right, not whether the generator's estimate is right:
its ground truth is the depth, normal or class the picture encodes. It is fitted on rendered scenes
(:func:`vb_plugins.training.synthetic.render_scene`) encoded, degraded with a generator-noise model
(:mod:`vb_plugins.reliability.noise`) and compressed (JPEG q 95/75/50, WebP), and read back; see
``benchmarks/calibration.py`` for the fit, the held-out reliability diagrams and how to refit on the
outputs of another generator.

    >>> decoding = task.codec.decode(rgb)
    >>> result = depth_reliability(task.codec, rgb, decoding)
    >>> result.reliability, result.expected_error   # H x W float32, metres
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vb_plugins.errors import InputError
from vb_plugins.reliability.features import (
    NORMALS_TOLERANCE_DEGREES,
    Features,
    depth_features,
    normals_features,
    semantic_features,
)
from vb_plugins.reliability.model import Calibration, load_calibrations

__all__ = ["Reliability", "depth_reliability", "normals_reliability", "semantic_reliability", "label_reliability",
           "load_calibration", "CALIBRATION_FILE", "NORMALS_TOLERANCE_DEGREES"]

CALIBRATION_FILE = Path(__file__).with_name("calibration.json")


@dataclass(frozen=True, eq=False)
class Reliability:
    """``reliability``: float32 H x W in [0, 1]; ``expected_error``: float32 H x W in ``unit`` (None for
    labels); ``unit``: "m", "deg" or ""."""

    reliability: np.ndarray
    expected_error: np.ndarray | None
    unit: str


@functools.lru_cache(maxsize=4)
def _tables(path: str) -> dict:
    return load_calibrations(path)


def load_calibration(task: str, mode: str, path=None) -> Calibration:
    """The calibration table of ``task`` ("depth", "normals", "semantic") for decode ``mode`` ("exact",
    "robust"); ``path``: a JSON file of tables (default: the one shipped in the package)."""
    tables = _tables(str(Path(path) if path is not None else CALIBRATION_FILE))
    key = f"{task}/{mode}"
    if key not in tables:
        raise InputError(f"calibration tables: none for {key} (have {', '.join(sorted(tables))})")
    return tables[key]


def _apply(task: str, mode: str, features: Features, path) -> tuple[np.ndarray, np.ndarray]:
    table = load_calibration(task, "robust" if mode == "robust" else "exact", path)
    table.check(features.names)
    reliability = np.where(features.usable, table.reliability(features.columns), 0.0).astype(np.float32)
    with np.errstate(divide="ignore"):
        log_unit = np.log(np.where(np.isfinite(features.scale), features.scale, 1.0)).astype(np.float32)
    error = table.expected_error(features.columns, log_unit)
    return reliability, np.where(np.isfinite(features.scale), error, np.inf).astype(np.float32)


def depth_reliability(codec, image, decoding, s0=None, calibration=None) -> Reliability:
    """Reliability and expected error (metres) of a :class:`~vb_plugins.codecs.DepthDecoding` of ``image``.

    ``s0``: exact path positions if the caller already has them; ``calibration``: another tables file."""
    features = depth_features(codec, image, decoding, s0)
    reliability, metres = _apply("depth", decoding.mode, features, calibration)
    return Reliability(reliability, metres, "m")


def normals_reliability(codec, image, decoding, convention: str = "camera", calibration=None) -> Reliability:
    """Reliability and expected angular error (degrees) of a :class:`~vb_plugins.codecs.NormalsDecoding`;
    ``convention``: the frame ``decoding.normals`` is in."""
    features = normals_features(codec, image, decoding, convention)
    reliability, degrees = _apply("normals", decoding.mode, features, calibration)
    return Reliability(reliability, np.where(features.usable, degrees, 180.0).astype(np.float32), "deg")


def semantic_reliability(codec, image, decoding, classes, nearest=None, calibration=None) -> Reliability:
    """Reliability (probability of the right class) of a :class:`~vb_plugins.codecs.SemanticDecoding`;
    0 where the pixel is unlabeled. ``nearest``: the decoder's (index, d1, d2) if it has them."""
    features = semantic_features(codec, image, decoding, classes, nearest)
    reliability, _ = _apply("semantic", decoding.mode, features, calibration)
    return Reliability(reliability, None, "")


@dataclass(frozen=True)
class _LabelView:
    """What the label features read of a codec and a decoding, for decodings that are not semantic ones."""

    labels: np.ndarray
    distance: np.ndarray
    mode: str
    tolerance: float
    space: str = "rgb"


def label_reliability(image, labels, distance, colours, tolerance: float, mode: str = "exact",
                      calibration=None) -> Reliability:
    """Reliability of labels read as "nearest of these colours" by a decoder other than the semantic one
    (instances: the background and each instance's colour; referring: target and background), with the
    semantic table. ``labels``: H x W ints, k = the k-th of ``colours`` (K x 3), 0 = none; ``distance``: to
    the chosen colour; ``tolerance``: the decoder's. Repeated colours (separate instances painted alike)
    count once."""
    colours = np.asarray(colours, np.float64).reshape(-1, 3)
    unique, index = np.unique(colours, axis=0, return_inverse=True)
    remap = np.concatenate([[0], index.ravel() + 1]).astype(np.int32)
    view = _LabelView(remap[np.asarray(labels, np.int64)], np.asarray(distance, np.float32),
                      "robust" if mode == "robust" else "exact", float(tolerance))
    return semantic_reliability(view, image, view, unique, calibration=calibration)

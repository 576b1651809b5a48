"""Alpha-matting errors, as the matting benchmarks report them (Rhemann et al. 2009, alphamatting.com;
Deep Image Matting's evaluation code, Xu et al. 2017). Alpha ``p`` (prediction) and ``g`` (ground truth)
in [0, 1]; the region ``R`` is every pixel, or the pixels a mask marks (e.g. a trimap's unknown band):

- ``sad`` = sum over R of ``|p - g|``, divided by 1000 (thousands, as the papers print it),
- ``mse`` = mean over R of ``(p - g)**2`` (the papers often print it times 1000),
- ``gradient`` = sum over R of ``(|∇p| - |∇g|)**2`` / 1000, gradients by first-derivative-of-Gaussian
  filters with σ = 1.4 (scipy.ndimage.gaussian_filter, order 1 along each axis),
- ``connectivity`` = sum over R of ``|φ(p) - φ(g)|`` / 1000 with thresholds 0, 0.1, ..., 1: ``l`` is, per
  pixel, the last threshold at which it still belongs to the largest 8-connected component of
  ``(p >= t) & (g >= t)`` (1 if it always does), ``d = α - l``, ``φ = 1 - d * (d >= 0.15)``.

Per image, then the mean over images.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from vb_plugins.errors import InputError
from vb_plugins.evaluation.arrays import as_map

METRICS = ("sad", "mse", "gradient", "connectivity")
GRADIENT_SIGMA = 1.4
CONNECTIVITY_STEP = 0.1


def _gradient_magnitude(alpha: np.ndarray) -> np.ndarray:
    dy = ndimage.gaussian_filter(alpha, GRADIENT_SIGMA, order=(1, 0))
    dx = ndimage.gaussian_filter(alpha, GRADIENT_SIGMA, order=(0, 1))
    return np.hypot(dx, dy)


def _largest_component(mask: np.ndarray) -> np.ndarray:
    labels, count = ndimage.label(mask, structure=np.ones((3, 3), bool))
    if count == 0:
        return np.zeros_like(mask)
    sizes = np.bincount(labels.ravel())[1:]
    return labels == (int(np.argmax(sizes)) + 1)


def _phi(alpha: np.ndarray, level: np.ndarray) -> np.ndarray:
    d = alpha - level
    return 1.0 - d * (d >= 0.15)


def matting_errors(pred, gt, region=None) -> dict[str, float]:
    """The four errors above for one image (``region``: bool H x W, None = every pixel)."""
    p = np.asarray(pred, dtype=np.float64)
    g = np.asarray(gt, dtype=np.float64)
    region = np.ones(g.shape, bool) if region is None else np.asarray(region, bool)
    diff = p - g
    gradient = (_gradient_magnitude(p) - _gradient_magnitude(g)) ** 2
    level = np.full(g.shape, -1.0)
    thresholds = np.arange(0.0, 1.0 + 1e-9, CONNECTIVITY_STEP)
    for previous, threshold in zip(thresholds[:-1], thresholds[1:]):
        omega = _largest_component((p >= threshold) & (g >= threshold))
        level[(level == -1) & ~omega] = previous
    level[level == -1] = 1.0
    return {
        "sad": float(np.abs(diff)[region].sum() / 1000.0),
        "mse": float(np.mean(diff[region] ** 2)),
        "gradient": float(gradient[region].sum() / 1000.0),
        "connectivity": float(np.abs(_phi(p, level) - _phi(g, level))[region].sum() / 1000.0),
    }


def alpha_values(array, name: str) -> np.ndarray:
    """An alpha map as 0..1 floats: uint8 / 255, uint16 / 65535, floats as they are (checked)."""
    array = as_map(array, name, "alpha matte")
    if array.dtype == np.uint8:
        return array.astype(np.float64) / 255.0
    if array.dtype == np.uint16:
        return array.astype(np.float64) / 65535.0
    if array.dtype == np.bool_:
        return array.astype(np.float64)
    if array.dtype.kind != "f":
        raise InputError(f"{name}: expected alpha as uint8, uint16 or 0..1 floats, got dtype {array.dtype}")
    array = array.astype(np.float64)
    if not np.isfinite(array).all() or array.min() < -1e-3 or array.max() > 1.0 + 1e-3:
        raise InputError(f"{name}: alpha values must be finite and in 0..1")
    return np.clip(array, 0.0, 1.0)


class MattingAccumulator:
    """Accumulates per-image matting errors (arrays in; see the module docstring)."""

    task = "matting"

    def __init__(self):
        self.records: list[dict] = []
        self.skipped: list[dict] = []

    def settings(self) -> dict:
        return {"metrics": "SAD/1000, MSE, gradient/1000 (Gaussian derivative sigma 1.4), connectivity/1000 "
                           "(step 0.1); sums over the scored region, per image, then the mean over images",
                "gradient_sigma": GRADIENT_SIGMA, "connectivity_step": CONNECTIVITY_STEP}

    def add(self, pred, gt, mask=None, key=None) -> dict | None:
        """``pred``, ``gt``: H x W alpha (uint8, uint16 or 0..1 floats); ``mask``: nonzero = scored
        (default every pixel). Returns the image's record, or None when the mask scores nothing."""
        name = "image" if key is None else str(key)
        p = alpha_values(pred, f"{name}: prediction")
        g = alpha_values(gt, f"{name}: ground truth")
        if p.shape != g.shape:
            raise InputError(f"{name}: prediction is {p.shape[0]} x {p.shape[1]} but ground truth is "
                             f"{g.shape[0]} x {g.shape[1]}")
        region = None
        if mask is not None:
            region = as_map(mask, f"{name}: mask", "mask") != 0
            if region.shape != g.shape:
                raise InputError(f"{name}: mask is {region.shape} but ground truth is {g.shape}")
            if not region.any():
                self.skipped.append({"key": key, "reason": "the mask scores no pixel"})
                return None
        record = {"key": key, "pixels": int(g.size if region is None else region.sum()),
                  **matting_errors(p, g, region)}
        self.records.append(record)
        return record

    def result(self) -> dict:
        metrics = {m: (float(np.mean([r[m] for r in self.records])) if self.records else None) for m in METRICS}
        return {"images": len(self.records), "skipped": len(self.skipped), "metrics": metrics}


__all__ = ["MattingAccumulator", "matting_errors", "alpha_values", "METRICS"]

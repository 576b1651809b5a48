"""Relative depth -> metres from a few known depths: a per-image scale and shift fitted by least squares.

Relative depth is right up to an affine map in the domain the model paints: inverse depth for
``encodes="inverse"`` (Open Vision Banana's "near bright"), depth for ``encodes="depth"``. Given sparse
metric points (an H x W array of metres, NaN, inf or <= 0 where unknown: LiDAR returns, a few taped
distances), :func:`fit_scale_shift` solves ``s * relative + t ≈ target`` with ``numpy.linalg.lstsq`` over
the known pixels (``target`` = 1 / metres for inverse depth, metres for depth) and :func:`to_metres`
applies it: metres = 1 / (s r + t) or s r + t. Pixels whose fitted inverse depth or depth is not positive
(beyond the points' reach) are NaN, never a negative distance.

    >>> metres, fit = metres_from_points(relative, known, encodes="inverse")
    >>> fit.scale, fit.shift, fit.points
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vb_plugins.errors import InputError

ENCODINGS = ("inverse", "depth")


@dataclass(frozen=True)
class ScaleShift:
    """A fitted map ``s * relative + t`` into ``space`` (``"inverse-depth"`` in 1/m, or ``"depth"`` in m),
    the number of known points it used and their RMS residual in that space."""

    scale: float
    shift: float
    space: str
    points: int
    rms: float

    def to_dict(self) -> dict:
        return {"scale": self.scale, "shift": self.shift, "space": self.space, "points": self.points,
                "rms": self.rms}


def _check_encodes(encodes: str) -> str:
    if encodes not in ENCODINGS:
        raise InputError(f"encodes={encodes!r}: expected one of {', '.join(ENCODINGS)}")
    return encodes


def fit_scale_shift(relative, known, encodes: str = "inverse", name: str = "known depth") -> ScaleShift:
    """The least-squares scale and shift from ``relative`` (H x W, [0, 1]) to the metres in ``known``
    (H x W; NaN, inf or <= 0 = unknown). Fewer than 2 known points, or known points that all sit at one
    relative value, are a one-line :class:`InputError` naming ``name``."""
    encodes = _check_encodes(encodes)
    relative = np.asarray(relative, dtype=np.float64)
    known = np.asarray(known)
    if known.ndim == 3 and known.shape[2] == 1:
        known = known[..., 0]
    if not np.issubdtype(known.dtype, np.number):
        raise InputError(f"{name}: expected numbers in metres, got dtype {known.dtype}")
    known = known.astype(np.float64)
    if known.shape != relative.shape:
        raise InputError(f"{name}: shape {known.shape} does not match the relative depth's {relative.shape}")
    usable = np.isfinite(known) & (known > 0) & np.isfinite(relative)
    count = int(usable.sum())
    if count < 2:
        raise InputError(f"{name}: {count} known point(s); a scale and shift need at least 2 (NaN marks unknown)")
    r = relative[usable]
    if float(np.ptp(r)) == 0.0:
        raise InputError(f"{name}: all {count} known points have the same relative depth; no scale can be fitted")
    target = 1.0 / known[usable] if encodes == "inverse" else known[usable]
    design = np.stack([r, np.ones_like(r)], axis=1)
    (scale, shift), *_ = np.linalg.lstsq(design, target, rcond=None)
    rms = float(np.sqrt(np.mean((design @ np.array([scale, shift]) - target) ** 2)))
    return ScaleShift(float(scale), float(shift), "inverse-depth" if encodes == "inverse" else "depth", count, rms)


def to_metres(relative, fit: ScaleShift) -> np.ndarray:
    """``relative`` through ``fit`` -> float32 metres; NaN where the fitted value is not positive."""
    fitted = fit.scale * np.asarray(relative, dtype=np.float64) + fit.shift
    with np.errstate(divide="ignore", invalid="ignore"):
        metres = np.where(fitted > 0, 1.0 / fitted if fit.space == "inverse-depth" else fitted, np.nan)
    return metres.astype(np.float32)


def metres_from_points(relative, known, encodes: str = "inverse",
                       name: str = "known depth") -> tuple[np.ndarray, ScaleShift]:
    """:func:`fit_scale_shift` then :func:`to_metres`: (metres H x W float32, the fit)."""
    fit = fit_scale_shift(relative, known, encodes, name)
    return to_metres(relative, fit), fit


__all__ = ["ScaleShift", "ENCODINGS", "fit_scale_shift", "to_metres", "metres_from_points"]

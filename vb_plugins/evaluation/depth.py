"""Depth metrics with the published protocols.

Metrics, per image over its valid pixels (``p`` prediction, ``g`` ground truth, metres), then averaged
over images — as BTS (``compute_errors`` in ``bts_eval.py``) and Marigold (``src/util/metric.py``):

- ``delta1``, ``delta2``, ``delta3``: fraction of pixels with ``max(p/g, g/p) < 1.25**k`` (k = 1, 2, 3),
- ``abs_rel`` = mean(|p - g| / g), ``sq_rel`` = mean((p - g)**2 / g),
- ``rmse`` = sqrt(mean((p - g)**2)) in metres, ``rmse_log`` = sqrt(mean((ln p - ln g)**2)),
- ``log10`` = mean(|log10 p - log10 g|),
- ``silog`` = 100 * sqrt(mean(d**2) - mean(d)**2) with d = ln p - ln g: the square root, times 100, as the
  KITTI depth-prediction benchmark reports it and as BTS / AdaBins / Marigold (``silog_rmse``) compute it.

Valid pixels: ground truth inside the protocol's range (strict ``min < g < max``), inside its crop, and
inside the dataset's validity mask if there is one. Predictions are clipped to ``[min, max]`` after
alignment (non-finite values: NaN -> min, +inf -> max), as BTS and Marigold do; where a protocol has no
upper cap, predictions are clipped at :data:`UNCAPPED_LIMIT` metres (the depth codec decodes white as
infinitely far).

Alignments (per image, fitted on the valid pixels only):

- ``none``: metric predictions as they are (Vision Banana's zero-shot metric evaluation).
- ``scale``: least-squares scale in depth, ``s = sum(p g) / sum(p**2)``.
- ``scale-shift``: least-squares scale and shift in depth (Marigold ``least_square``: its
  ``align_depth_least_square`` fits on every valid ground-truth pixel, whatever the prediction there, so a
  prediction of 0 — the saturated near end of a relative [0, 1] map — takes part; only non-finite
  predictions, which no least-squares fit can use, are left out).
- ``scale-shift-disparity``: least-squares scale and shift in inverse depth, the aligned disparity clipped
  at 1e-3 before inverting (Marigold ``least_square_disparity``; the MiDaS / Depth Anything protocol). Here,
  as in Marigold, only pixels with a positive prediction are fitted.
- ``median``: ``s = median(g) / median(p)`` (Eigen et al.; monodepth2's median scaling).
- ``log-scale``: least squares in log depth with a free offset, ``s = exp(mean(ln g - ln p))``.
- ``log-scale-shift``: least-squares affine fit in log depth, ``ln d = a ln p + b``.

Open Vision Banana reports relative depth with a "per-image log-depth alignment" and publishes no
formula; ``log-scale`` (a shift in log depth, i.e. one scale per image) is our reading of it.

Predictions may be depth (``pred_kind="depth"``, what ``vb predict depth`` writes) or inverse depth
(``pred_kind="disparity"``, e.g. Open Vision Banana's relative inverse depth): disparity-space alignment
uses inverse depth directly, every other mode first inverts it to depth.
"""

from __future__ import annotations

import math

import numpy as np

from vb_plugins.errors import InputError
from vb_plugins.evaluation.arrays import as_map, drop_channel
from vb_plugins.evaluation.protocols import DepthProtocol, depth_protocol

ALIGNMENTS: dict[str, str] = {
    "none": "no alignment: metric predictions as they are (Vision Banana)",
    "scale": "per-image least-squares scale in depth",
    "scale-shift": "per-image least-squares scale and shift in depth (Marigold least_square)",
    "scale-shift-disparity": "per-image least-squares scale and shift in inverse depth "
                             "(Marigold least_square_disparity; MiDaS, Depth Anything)",
    "median": "per-image median scaling median(gt)/median(pred) (Eigen; monodepth2)",
    "log-scale": "per-image least squares in log depth: scale exp(mean(ln gt - ln pred))",
    "log-scale-shift": "per-image least-squares affine fit in log depth: ln d = a ln pred + b",
}
PRED_KINDS = ("depth", "disparity")
METRICS = ("delta1", "delta2", "delta3", "abs_rel", "sq_rel", "rmse", "rmse_log", "log10", "silog")
HIGHER_IS_BETTER = {"delta1", "delta2", "delta3"}
UNCAPPED_LIMIT = 1000.0  # metres; the clip for predictions where the protocol has no upper cap
MIN_DISPARITY = 1e-3  # Marigold's clip of aligned disparity before inverting it


class SkipImage(Exception):
    """An image that cannot be evaluated (no valid pixel); recorded in the report, not an error."""


def depth_metrics(pred, gt) -> dict[str, float]:
    """The metrics above on matching 1-D arrays of valid pixels (metres, all positive and finite)."""
    p = np.asarray(pred, dtype=np.float64).ravel()
    g = np.asarray(gt, dtype=np.float64).ravel()
    if p.shape != g.shape or p.size == 0:
        raise InputError(f"depth metrics need equal, non-empty pixel sets, got {p.size} and {g.size}")
    ratio = np.maximum(p / g, g / p)
    diff = p - g
    log_diff = np.log(p) - np.log(g)
    silog_sq = max(float(np.mean(log_diff ** 2) - np.mean(log_diff) ** 2), 0.0)  # rounding can go below 0
    return {
        "delta1": float(np.mean(ratio < 1.25)),
        "delta2": float(np.mean(ratio < 1.25 ** 2)),
        "delta3": float(np.mean(ratio < 1.25 ** 3)),
        "abs_rel": float(np.mean(np.abs(diff) / g)),
        "sq_rel": float(np.mean(diff ** 2 / g)),
        "rmse": float(np.sqrt(np.mean(diff ** 2))),
        "rmse_log": float(np.sqrt(np.mean(log_diff ** 2))),
        "log10": float(np.mean(np.abs(np.log10(p) - np.log10(g)))),
        "silog": 100.0 * math.sqrt(silog_sq),
    }


def _least_squares(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Scale and shift minimising sum((s x + t - y)**2) (the solution of Marigold's np.linalg.lstsq).

    Centred sums keep it exact in float64 without building the N x 2 design matrix. A constant ``x``
    has no unique scale: it gets s = 0 and t = mean(y).
    """
    x_mean, y_mean = float(x.mean()), float(y.mean())
    xc = x - x_mean
    denominator = float(np.dot(xc, xc))
    scale = float(np.dot(xc, y - y_mean)) / denominator if denominator > 0 else 0.0
    return scale, y_mean - scale * x_mean


def align_depth(pred, gt, valid, mode: str = "none", pred_kind: str = "depth") -> tuple[np.ndarray, dict]:
    """Align a prediction to ground truth on ``valid`` pixels; returns (depth in metres, fitted parameters).

    The returned depth is not clipped yet (see :func:`clip_prediction`). Raises :class:`SkipImage` when no
    valid pixel has a usable prediction.
    """
    if mode not in ALIGNMENTS:
        raise InputError(f"alignment {mode!r}: expected one of {', '.join(ALIGNMENTS)}")
    if pred_kind not in PRED_KINDS:
        raise InputError(f"prediction kind {pred_kind!r}: expected one of {', '.join(PRED_KINDS)}")
    pred = np.asarray(pred, dtype=np.float64)
    gt = np.asarray(gt, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        if mode == "scale-shift-disparity":
            disparity = pred if pred_kind == "disparity" else np.where(pred > 0, 1.0 / pred, np.nan)
            usable = valid & np.isfinite(disparity) & (disparity > 0)
            _require(usable)
            scale, shift = _least_squares(disparity[usable], 1.0 / gt[usable])
            aligned = np.maximum(scale * disparity + shift, MIN_DISPARITY)
            return 1.0 / aligned, {"scale": scale, "shift": shift, "space": "disparity"}
        depth = pred if pred_kind == "depth" else np.where(pred > 0, 1.0 / pred, np.inf)
        if mode == "none":
            return depth, {}
        if mode == "scale-shift":  # Marigold: every valid pixel, predictions of 0 (or below) included
            usable = valid & np.isfinite(depth)
            _require(usable, "a finite")
            scale, shift = _least_squares(depth[usable], gt[usable])
            return depth * scale + shift, {"scale": scale, "shift": shift, "space": "depth"}
        usable = valid & np.isfinite(depth) & (depth > 0)
        _require(usable)
        p, g = depth[usable], gt[usable]
        if mode == "scale":
            scale = float(np.dot(p, g) / np.dot(p, p))
            return depth * scale, {"scale": scale, "space": "depth"}
        if mode == "median":
            scale = float(np.median(g) / np.median(p))
            return depth * scale, {"scale": scale, "space": "depth"}
        log_depth = np.log(depth)  # 0 -> -inf, inf -> inf: they end up clipped to the range
        log_p, log_g = log_depth[usable], np.log(g)
        if mode == "log-scale":
            scale = float(np.exp(np.mean(log_g - log_p)))
            return depth * scale, {"scale": scale, "space": "log-depth"}
        slope, offset = _least_squares(log_p, log_g)  # log-scale-shift
        return np.exp(slope * log_depth + offset), {"scale": slope, "shift": offset, "space": "log-depth"}


def _require(usable: np.ndarray, what: str = "a positive, finite") -> None:
    if not usable.any():
        raise SkipImage(f"no valid pixel has {what} prediction to align")


def clip_prediction(depth: np.ndarray, protocol: DepthProtocol) -> np.ndarray:
    """Clip into the protocol's range; NaN -> min, +inf -> max (BTS's handling of non-finite values)."""
    low = max(protocol.min_depth, 1e-9)  # log metrics need positive depth even with a 0 minimum
    high = protocol.max_depth if math.isfinite(protocol.max_depth) else UNCAPPED_LIMIT
    depth = np.nan_to_num(np.asarray(depth, dtype=np.float64), nan=low, posinf=high, neginf=low)
    return np.clip(depth, low, high)


def depth_bin_edges(protocol: DepthProtocol) -> np.ndarray:
    """Ground-truth depth bins (metres) for the error-by-depth summary and plot."""
    if math.isfinite(protocol.max_depth):
        return np.linspace(0.0, protocol.max_depth, 21)
    return np.array([0.0, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, math.inf])


def _squeeze(array, name: str) -> np.ndarray:
    array = as_map(array, name, "depth map")
    if array.dtype.kind not in "fiu":
        raise InputError(f"{name}: expected numbers, got dtype {array.dtype}")
    return array


class DepthAccumulator:
    """Accumulates per-image depth metrics over a dataset.

    >>> acc = DepthAccumulator("nyu", alignment="none")
    >>> acc.add(pred_metres, gt_metres)        # per-image record, or None if the image was skipped
    >>> acc.result()["metrics"]["delta1"]      # mean over images
    """

    task = "depth"

    def __init__(self, protocol: str | DepthProtocol = "none", alignment: str = "none",
                 pred_kind: str = "depth", **protocol_overrides):
        self.protocol = depth_protocol(protocol, **protocol_overrides)
        if alignment not in ALIGNMENTS:
            raise InputError(f"alignment {alignment!r}: expected one of {', '.join(ALIGNMENTS)}")
        if pred_kind not in PRED_KINDS:
            raise InputError(f"prediction kind {pred_kind!r}: expected one of {', '.join(PRED_KINDS)}")
        self.alignment = alignment
        self.pred_kind = pred_kind
        self.records: list[dict] = []
        self.skipped: list[dict] = []
        self.edges = depth_bin_edges(self.protocol)
        self._bin_pixels = np.zeros(len(self.edges) - 1, dtype=np.int64)
        self._bin_abs_rel = np.zeros(len(self.edges) - 1, dtype=np.float64)

    def settings(self) -> dict:
        """The protocol settings, recorded in every report."""
        high = self.protocol.max_depth if math.isfinite(self.protocol.max_depth) else UNCAPPED_LIMIT
        return {"dataset": self.protocol.to_dict(), "alignment": self.alignment,
                "alignment_description": ALIGNMENTS[self.alignment], "prediction_kind": self.pred_kind,
                "prediction_clip_m": [self.protocol.min_depth, high],
                "averaging": "metrics per image over its valid pixels, then the mean over images",
                "silog": "100 * sqrt(mean(d^2) - mean(d)^2), d = ln(pred) - ln(gt)"}

    def add(self, pred, gt, mask=None, key=None) -> dict | None:
        """Evaluate one image. ``pred``: H x W (metres, or inverse depth with ``pred_kind='disparity'``),
        ``gt``: H x W metres (non-finite or out-of-range = no measurement), ``mask``: optional H x W,
        nonzero = valid (e.g. DIODE's depth mask). With a ``kitti-benchmark`` crop ``gt`` is the full frame
        and ``pred`` either the full frame or the 352 x 1216 window. Returns the image's record, or None if
        skipped."""
        name = "image" if key is None else str(key)
        pred = _squeeze(pred, f"{name}: prediction")
        gt = _squeeze(gt, f"{name}: ground truth").astype(np.float64)
        if mask is not None:
            mask = drop_channel(mask)
        try:
            gt, pred, mask = self.protocol.cut_to_window(gt, pred, mask)  # the KITTI benchmark window
        except InputError as error:
            raise InputError(f"{name}: {error}") from None
        if pred.shape != gt.shape:
            raise InputError(f"{name}: prediction is {pred.shape[0]} x {pred.shape[1]} but ground truth is "
                             f"{gt.shape[0]} x {gt.shape[1]}")
        valid = self.protocol.valid_mask(gt)
        if mask is not None:
            if mask.shape != gt.shape:
                raise InputError(f"{name}: validity mask is {mask.shape} but ground truth is {gt.shape}")
            valid &= mask.astype(bool)
        try:
            if not valid.any():
                raise SkipImage("no valid ground-truth pixel")
            aligned, parameters = align_depth(pred, gt, valid, self.alignment, self.pred_kind)
        except SkipImage as reason:
            self.skipped.append({"key": key, "reason": str(reason)})
            return None
        depth = clip_prediction(aligned, self.protocol)
        p, g = depth[valid], gt[valid]
        record = {"key": key, "valid_pixels": int(valid.sum()), **depth_metrics(p, g)}
        record.update({f"align_{k}": v for k, v in parameters.items()})
        self._add_bins(p, g)
        self.records.append(record)
        return record

    def _add_bins(self, p: np.ndarray, g: np.ndarray) -> None:
        index = np.searchsorted(self.edges, g, side="right") - 1
        inside = (index >= 0) & (index < len(self._bin_pixels))
        self._bin_pixels += np.bincount(index[inside], minlength=len(self._bin_pixels))
        self._bin_abs_rel += np.bincount(index[inside], weights=(np.abs(p - g) / g)[inside],
                                         minlength=len(self._bin_pixels))

    def result(self) -> dict:
        """Means over evaluated images, counts, and AbsRel pooled per ground-truth depth bin."""
        metrics = {name: (float(np.mean([r[name] for r in self.records])) if self.records else None)
                   for name in METRICS}
        bins = [{"from_m": float(low), "to_m": None if math.isinf(high) else float(high), "pixels": int(n),
                 "abs_rel": float(total / n) if n else None}
                for low, high, n, total in zip(self.edges[:-1], self.edges[1:], self._bin_pixels,
                                               self._bin_abs_rel)]
        return {"images": len(self.records), "skipped": len(self.skipped), "metrics": metrics,
                "abs_rel_by_depth": bins}

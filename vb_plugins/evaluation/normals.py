"""Surface-normal metrics: angular error in degrees.

Per pixel, the error is ``degrees(arccos(clip(cos, -1, 1)))`` with ``cos`` the cosine similarity of the
predicted and ground-truth vectors (DSINE's ``compute_normal_error``). A zero prediction vector (the
normals decoder found no normal colour there) has cosine 0 with anything, so it counts as 90 degrees —
what that formula gives — and the report counts such pixels.

Summaries of a set of errors ``e`` (degrees): ``mean``, ``median``, ``rmse = sqrt(mean(e**2))`` and
``within_T`` = 100 * fraction of ``e < T`` (strict) for T in 5, 7.5, 11.25, 22.5, 30 (DSINE's a1..a5).

Two poolings are reported:

- ``pooled``: over all valid pixels of all images at once (DSINE ``compute_normal_metrics``; the usual
  "NYUv2 mean / median" tables),
- ``per_image``: each image summarised alone, then the mean over images (Marigold's metric tracker).

Both vectors are first expressed in the LUB frame with :func:`vb_plugins.codecs.normals.to_lub` from
their declared conventions, so a ground truth stored in the OpenCV / Omnidata convention is compared
correctly with a prediction in the codec's camera frame. Ground-truth pixels that are zero-length,
non-finite, or outside the optional mask are excluded.

The pooled median is exact while the pooled pixel count stays under ``exact_median_limit``; beyond it
(hundreds of millions of pixels would not fit in memory) it is read from a histogram of 0.001-degree
bins, interpolated within the bin, which keeps it within 0.001 degrees.
"""

from __future__ import annotations

import numpy as np

from vb_plugins.errors import InputError

THRESHOLDS = (5.0, 7.5, 11.25, 22.5, 30.0)
HISTOGRAM_BIN = 1e-3  # degrees
DEFAULT_EXACT_MEDIAN_LIMIT = 20_000_000  # pooled pixels kept for an exact median (80 MB of float32)


def threshold_key(threshold: float) -> str:
    return f"within_{threshold:g}"


def angular_errors(pred, gt) -> np.ndarray:
    """Angle in degrees between corresponding vectors (... x 3); zero vectors give 90 degrees."""
    pred = np.asarray(pred, dtype=np.float64)
    gt = np.asarray(gt, dtype=np.float64)
    dot = np.sum(pred * gt, axis=-1)
    norms = np.linalg.norm(pred, axis=-1) * np.linalg.norm(gt, axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        cosine = np.where(norms > 0, dot / np.where(norms > 0, norms, 1.0), 0.0)
    return np.degrees(np.arccos(np.clip(cosine, -1.0, 1.0)))


def normal_metrics(errors) -> dict[str, float]:
    """Mean, median, RMSE (degrees) and the percentage of errors under each threshold."""
    errors = np.asarray(errors, dtype=np.float64).ravel()
    if errors.size == 0:
        raise InputError("normal metrics need at least one valid pixel")
    metrics = {"mean": float(errors.mean()), "median": float(np.median(errors)),
               "rmse": float(np.sqrt(np.mean(errors ** 2)))}
    for threshold in THRESHOLDS:
        metrics[threshold_key(threshold)] = float(100.0 * np.mean(errors < threshold))
    return metrics


def _check_normals(array, name: str) -> np.ndarray:
    array = np.asarray(array)
    if array.ndim != 3 or array.shape[2] != 3:
        raise InputError(f"{name}: expected H x W x 3 normals, got shape {array.shape}")
    if array.dtype.kind not in "fiu":
        raise InputError(f"{name}: expected numbers, got dtype {array.dtype}")
    return array


class NormalsAccumulator:
    """Accumulates angular errors over a dataset, pooled (DSINE) and per image (Marigold).

    >>> acc = NormalsAccumulator(gt_convention="opencv")
    >>> acc.add(pred_normals, gt_normals, mask=None, key="0001")
    >>> acc.result()["pooled"]["mean"], acc.result()["per_image"]["mean"]
    """

    task = "normals"

    def __init__(self, gt_convention: str = "camera", pred_convention: str = "camera",
                 exact_median_limit: int = DEFAULT_EXACT_MEDIAN_LIMIT):
        from vb_plugins.codecs.normals import CONVENTIONS  # the codecs import matplotlib; evaluation does not

        for label, convention in (("ground-truth", gt_convention), ("prediction", pred_convention)):
            if convention not in CONVENTIONS:
                raise InputError(f"{label} normal convention {convention!r}: expected one of "
                                 f"{', '.join(CONVENTIONS)}")
        self.gt_convention = gt_convention
        self.pred_convention = pred_convention
        self.exact_median_limit = int(exact_median_limit)
        self.records: list[dict] = []
        self.skipped: list[dict] = []
        self._errors: list[np.ndarray] | None = []
        self._histogram = np.zeros(int(round(180.0 / HISTOGRAM_BIN)) + 1, dtype=np.int64)
        self._count = 0
        self._sum = 0.0
        self._sum_squares = 0.0
        self._below = np.zeros(len(THRESHOLDS), dtype=np.int64)
        self._invalid_predictions = 0

    def settings(self) -> dict:
        return {"gt_convention": self.gt_convention, "pred_convention": self.pred_convention,
                "frame": "both converted to LUB (x left, y up, z towards the camera) before comparing",
                "error": "degrees(arccos(cosine similarity)); zero prediction vectors count as 90 degrees",
                "thresholds_deg": list(THRESHOLDS),
                "pooled": "over all valid pixels of all images (DSINE)",
                "per_image": "per image, then the mean over images (Marigold)"}

    def add(self, pred, gt, mask=None, key=None, pred_convention: str | None = None) -> dict | None:
        """Evaluate one image. ``pred``, ``gt``: H x W x 3 (any length; GT zero vectors are invalid);
        ``mask``: optional H x W, nonzero = valid; ``pred_convention`` overrides the accumulator's for
        this image (e.g. from the prediction's record). Returns the record, or None if skipped."""
        from vb_plugins.codecs.normals import CONVENTIONS, to_lub
        name = "image" if key is None else str(key)
        pred = _check_normals(pred, f"{name}: prediction")
        gt = _check_normals(gt, f"{name}: ground truth")
        if pred.shape != gt.shape:
            raise InputError(f"{name}: prediction is {pred.shape[0]} x {pred.shape[1]} but ground truth is "
                             f"{gt.shape[0]} x {gt.shape[1]}")
        gt_length = np.linalg.norm(gt.astype(np.float64), axis=2)
        valid = np.isfinite(gt_length) & (gt_length > 1e-6)
        if mask is not None:
            mask = np.asarray(mask)
            if mask.shape != gt.shape[:2]:
                raise InputError(f"{name}: validity mask is {mask.shape} but ground truth is {gt.shape[:2]}")
            valid &= mask.astype(bool)
        if not valid.any():
            self.skipped.append({"key": key, "reason": "no valid ground-truth pixel"})
            return None
        convention = pred_convention or self.pred_convention
        if convention not in CONVENTIONS:
            raise InputError(f"{name}: prediction normal convention {convention!r} is unknown")
        pred_lub = to_lub(np.nan_to_num(pred[valid].astype(np.float32), nan=0.0, posinf=0.0, neginf=0.0),
                          convention)
        gt_lub = to_lub(gt[valid].astype(np.float32), self.gt_convention)
        errors = angular_errors(pred_lub, gt_lub)
        invalid_predictions = int(np.sum(np.linalg.norm(pred_lub, axis=1) < 1e-6))
        self._pool(errors)
        self._invalid_predictions += invalid_predictions
        record = {"key": key, "valid_pixels": int(errors.size), "invalid_prediction_pixels": invalid_predictions,
                  **normal_metrics(errors)}
        self.records.append(record)
        return record

    def _pool(self, errors: np.ndarray) -> None:
        self._count += errors.size
        self._sum += float(errors.sum())
        self._sum_squares += float(np.dot(errors, errors))
        self._below += np.array([np.count_nonzero(errors < t) for t in THRESHOLDS])
        index = np.minimum((errors / HISTOGRAM_BIN).astype(np.int64), len(self._histogram) - 1)
        self._histogram += np.bincount(index, minlength=len(self._histogram))
        if self._errors is not None:
            if self._count <= self.exact_median_limit:
                self._errors.append(errors.astype(np.float32))
            else:
                self._errors = None  # too many pixels: fall back to the histogram

    def _pooled_median(self) -> tuple[float, str]:
        if self._errors is not None:
            return float(np.median(np.concatenate(self._errors).astype(np.float64))), "exact"
        # np.median's definition: the mean of the values at ranks floor and ceil of (n - 1) / 2, each
        # placed inside its bin as if the bin's values were evenly spread (so within one bin of the truth).
        cumulative = np.cumsum(self._histogram)

        def value_at(rank: int) -> float:
            b = int(np.searchsorted(cumulative, rank, side="right"))
            before = cumulative[b - 1] if b > 0 else 0
            return (b + (rank - before + 0.5) / self._histogram[b]) * HISTOGRAM_BIN

        middle = (self._count - 1) / 2.0
        median = (value_at(int(np.floor(middle))) + value_at(int(np.ceil(middle)))) / 2.0
        return float(median), f"histogram of {HISTOGRAM_BIN:g}-degree bins"

    def result(self) -> dict:
        out: dict = {"images": len(self.records), "skipped": len(self.skipped),
                     "invalid_prediction_pixels": self._invalid_predictions, "pooled": None, "per_image": None}
        if not self.records:
            return out
        median, method = self._pooled_median()
        pooled = {"mean": self._sum / self._count, "median": median,
                  "rmse": float(np.sqrt(self._sum_squares / self._count))}
        for threshold, below in zip(THRESHOLDS, self._below):
            pooled[threshold_key(threshold)] = float(100.0 * below / self._count)
        out["pooled"] = pooled
        out["pooled_pixels"] = self._count
        out["pooled_median_method"] = method
        out["per_image"] = {k: float(np.mean([r[k] for r in self.records])) for k in pooled}
        return out

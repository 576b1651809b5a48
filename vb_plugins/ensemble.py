"""Combining several decoded samples of one image, and resizing arrays.

Samples are combined at the generated size, then resized (by their value kind, :mod:`vb_plugins.kinds`):
values are never read from resized colours.

- depth: per-pixel median; uncertainty = 1.4826 * median absolute deviation (metres, a robust sigma),
- normals: mean of unit vectors, renormalised; uncertainty = mean angle to that mean (degrees),
- labels / masks: per-pixel majority; uncertainty = 1 - the fraction of samples that agree,
- instances: the medoid sample (best mean foreground IoU with the others) per pass; uncertainty =
  1 - agreement on foreground; passes (one per class) are merged with instance ids offset.
Reliability (from the colour decoding; ``confidence`` is its older name) and the expected error (depth and
normals) are averaged over samples; the spread between samples stays the separate ``uncertainty``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

MAD_TO_SIGMA = 1.4826


@dataclass
class Combined:
    """Values combined over samples (and passes), with per-pixel reliability (``confidence``, its older
    name), ensemble spread (``uncertainty``) and expected error (task units; None for labels)."""

    values: np.ndarray
    confidence: np.ndarray
    uncertainty: np.ndarray | None = None
    extras: dict = field(default_factory=dict)
    expected_error: np.ndarray | None = None

    @property
    def reliability(self) -> np.ndarray:
        return self.confidence


def mean_confidence(decodings) -> np.ndarray:
    """The decodings' reliability (``confidence``), averaged."""
    if len(decodings) == 1:  # the common single-sample case: no stack, no mean
        return np.array(decodings[0].confidence, dtype=np.float32)
    return np.mean([np.asarray(d.confidence, dtype=np.float32) for d in decodings], axis=0).astype(np.float32)


def mean_expected_error(decodings) -> np.ndarray | None:
    """The decodings' expected error, averaged (inf stays inf: far on any sample); None if one has none."""
    errors = [getattr(d, "expected_error", None) for d in decodings]
    if any(e is None for e in errors):
        return None
    if len(errors) == 1:
        return np.array(errors[0], dtype=np.float32)
    return np.mean([np.asarray(e, dtype=np.float32) for e in errors], axis=0).astype(np.float32)


def combine_depth(decodings) -> Combined:
    if len(decodings) == 1:
        return Combined(np.array(decodings[0].values, dtype=np.float32), mean_confidence(decodings),
                        expected_error=mean_expected_error(decodings))
    depths = np.stack([np.asarray(d.values, dtype=np.float32) for d in decodings])
    median = np.median(depths, axis=0)
    uncertainty = None
    if len(depths) > 1:
        with np.errstate(invalid="ignore"):
            deviation = np.abs(depths - median)
        deviation = np.where(np.isnan(deviation), 0.0, deviation)  # inf - inf: all agree on "far"
        uncertainty = (MAD_TO_SIGMA * np.median(deviation, axis=0)).astype(np.float32)
    return Combined(median.astype(np.float32), mean_confidence(decodings), uncertainty,
                    expected_error=mean_expected_error(decodings))


def combine_normals(decodings) -> Combined:
    normals = np.stack([np.asarray(d.values, dtype=np.float32) for d in decodings])
    valid = np.linalg.norm(normals, axis=-1) > 0.5
    mean = normals.sum(axis=0)
    length = np.linalg.norm(mean, axis=-1, keepdims=True)
    keep = (valid.sum(axis=0) * 2 > len(normals)) & (length[..., 0] > 1e-6)
    unit = np.where(keep[..., None], mean / np.maximum(length, 1e-6), 0.0).astype(np.float32)
    uncertainty = None
    if len(normals) > 1:
        cosine = np.clip((normals * unit).sum(axis=-1), -1.0, 1.0)
        angles = np.degrees(np.arccos(cosine))
        counted = np.maximum(valid.sum(axis=0), 1)
        uncertainty = np.where(keep, (angles * valid).sum(axis=0) / counted, 0.0).astype(np.float32)
    error = mean_expected_error(decodings)
    if error is not None:
        error = np.where(keep, error, np.float32(180.0)).astype(np.float32)  # as an invalid pixel's
    return Combined(unit, mean_confidence(decodings) * keep, uncertainty, expected_error=error)


def majority(maps, num_labels: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Per-pixel most frequent value (ties to the smaller value) and the fraction that voted for it."""
    stack = np.stack([np.asarray(m) for m in maps])
    values = np.unique(stack) if num_labels is None else np.arange(num_labels + 1)
    best = np.zeros(stack.shape[1:], dtype=stack.dtype)
    best_count = np.zeros(stack.shape[1:], dtype=np.int32)
    for value in values:
        count = (stack == value).sum(axis=0, dtype=np.int32)
        better = count > best_count
        best[better] = value
        best_count[better] = count[better]
    return best, (best_count / len(stack)).astype(np.float32)


def combine_labels(decodings) -> Combined:
    labels, agreement = majority([d.values for d in decodings])
    extras = {"names": list(getattr(decodings[0], "names", []))}
    return Combined(labels, mean_confidence(decodings), (1.0 - agreement) if len(decodings) > 1 else None, extras)


def combine_masks(decodings) -> Combined:
    stack = np.stack([np.asarray(d.values, dtype=bool) for d in decodings])
    votes = stack.sum(axis=0)
    mask = votes * 2 > len(stack)
    agreement = np.where(mask, votes, len(stack) - votes) / len(stack)
    return Combined(mask, mean_confidence(decodings), (1.0 - agreement).astype(np.float32) if len(stack) > 1 else None)


def _medoid(decodings) -> int:
    if len(decodings) <= 2:
        return 0
    foreground = [np.asarray(d.values) > 0 for d in decodings]
    scores = []
    for i, a in enumerate(foreground):
        ious = [np.logical_and(a, b).sum() / max(np.logical_or(a, b).sum(), 1)
                for j, b in enumerate(foreground) if j != i]
        scores.append(np.mean(ious))
    return int(np.argmax(scores))


def combine_instances(passes, class_names=None) -> Combined:
    """``passes``: per pass (one class each) a list of instance decodings (samples)."""
    ids = None
    colours, classes, confidences, uncertainties = [], [], [], []
    for p, decodings in enumerate(passes):
        chosen = decodings[_medoid(decodings)]
        pass_ids = np.asarray(chosen.values, dtype=np.int32)
        if ids is None:
            ids = np.zeros_like(pass_ids)
        offset = int(ids.max())
        free = ids == 0  # an earlier pass keeps pixels claimed twice
        ids = np.where(free & (pass_ids > 0), pass_ids + offset, ids)
        present = np.unique(ids[ids > offset]) - offset
        colours += [chosen.colours[k - 1] for k in present]
        name = class_names[p] if class_names and p < len(class_names) else None
        classes += [name] * len(present)
        ids = _renumber(ids, offset, present)
        confidences.append(np.asarray(chosen.confidence, np.float32))
        if len(decodings) > 1:
            foreground = np.stack([np.asarray(d.values) > 0 for d in decodings])
            votes = foreground.sum(axis=0)
            uncertainties.append(1.0 - np.maximum(votes, len(decodings) - votes) / len(decodings))
    extras = {"colours": np.array(colours, np.uint8).reshape(-1, 3), "classes": classes}
    uncertainty = np.max(uncertainties, axis=0).astype(np.float32) if uncertainties else None
    return Combined(ids, np.mean(confidences, axis=0).astype(np.float32), uncertainty, extras)


def _renumber(ids: np.ndarray, offset: int, present: np.ndarray) -> np.ndarray:
    """Make the ids above ``offset`` consecutive (a later pass can lose instances to earlier ones)."""
    remap = np.arange(int(ids.max()) + 1)
    for new, old in enumerate(present, start=offset + 1):
        remap[old + offset] = new
    return remap[ids].astype(np.int32)


# -- resizing -----------------------------------------------------------------------------------------

def resize_nearest(array: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    import cv2

    height, width = size
    if array.shape[:2] == (height, width):
        return array
    if array.dtype == np.bool_:
        return cv2.resize(array.astype(np.uint8), (width, height), interpolation=cv2.INTER_NEAREST).astype(bool)
    if array.dtype in (np.int64, np.uint32, np.int32) and array.ndim == 2:
        resized = cv2.resize(array.astype(np.float64), (width, height), interpolation=cv2.INTER_NEAREST)
        return resized.astype(array.dtype)
    return cv2.resize(array, (width, height), interpolation=cv2.INTER_NEAREST)


def resize_smooth(array: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Area averaging when shrinking, bilinear when growing; non-finite pixels stay nearest-neighbour."""
    import cv2

    height, width = size
    if array.shape[:2] == (height, width):
        return array
    array = np.asarray(array, dtype=np.float32)
    shrinking = height * width < array.shape[0] * array.shape[1]
    interpolation = cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR
    finite = np.isfinite(array)
    if finite.all():
        return cv2.resize(array, (width, height), interpolation=interpolation)
    filled = cv2.resize(np.where(finite, array, 0.0).astype(np.float32), (width, height), interpolation=interpolation)
    weight = cv2.resize(finite.astype(np.float32), (width, height), interpolation=interpolation)
    nearest = resize_nearest(array, size)
    with np.errstate(invalid="ignore", divide="ignore"):
        smooth = filled / weight
    return np.where(np.isfinite(nearest) & (weight > 0.999), smooth, nearest).astype(np.float32)

"""Semantic and referring segmentation metrics.

Semantic (confusion matrix over the whole dataset, as cityscapesScripts and mmsegmentation):

- rows are ground-truth classes ``0..C-1``; ground-truth pixels equal to ``ignore_index`` are left out;
- columns are predicted classes, plus one column for "no class" (a prediction outside ``0..C-1``, e.g. a
  pixel the decoder left unlabeled), which counts against recall and towards no class's false positives;
- ``IoU_c = TP_c / (TP_c + FP_c + FN_c)``; classes whose union is empty over the dataset have no IoU and
  are left out of ``miou`` (mmsegmentation's ``nanmean``; cityscapesScripts does the same);
- ``pixel_accuracy = sum_c TP_c / (ground-truth pixels not ignored)`` (mmsegmentation's ``aAcc``).

Referring (LISA's ``validate``):

- ``ciou = sum_i I_i / sum_i U_i`` over all samples (cumulative IoU; None while the total union is 0),
- ``giou = mean_i (I_i / U_i)`` with a sample whose union is empty (nothing to find, nothing predicted)
  counting as 1. LISA adds 1e-5 to each union; we do not, which changes no result by more than 1e-5.
"""

from __future__ import annotations

import numpy as np

from vb_plugins.errors import InputError
from vb_plugins.evaluation.arrays import as_map


def _labels(array, name: str) -> np.ndarray:
    array = as_map(array, name, "label map")
    if array.dtype == np.bool_:
        return array.astype(np.int64)
    if array.dtype.kind not in "iu":
        if array.dtype.kind != "f" or not np.all(np.isfinite(array)) or np.any(array != np.round(array)):
            raise InputError(f"{name}: labels must be whole numbers, got dtype {array.dtype}")
    return array.astype(np.int64)


def confusion_matrix(pred, gt, num_classes: int, ignore_index: int | None = 255) -> np.ndarray:
    """C x (C + 1) counts: row = ground-truth class, column = predicted class, last column = no class.

    ``pred`` and ``gt`` are H x W class indices starting at 0. Ground-truth values outside ``0..C-1``
    other than ``ignore_index`` are an error (they usually mean a wrong class list or label offset).
    """
    pred = _labels(pred, "prediction")
    gt = _labels(gt, "ground truth")
    if pred.shape != gt.shape:
        raise InputError(f"prediction is {pred.shape[0]} x {pred.shape[1]} but ground truth is "
                         f"{gt.shape[0]} x {gt.shape[1]}")
    keep = np.ones(gt.shape, dtype=bool) if ignore_index is None else gt != ignore_index
    gt_kept = gt[keep]
    outside = (gt_kept < 0) | (gt_kept >= num_classes)
    if outside.any():
        bad = int(gt_kept[outside][0])
        ignore = "" if ignore_index is None else f" and is not the ignore index {ignore_index}"
        raise InputError(f"ground-truth label {bad} is outside the {num_classes} classes{ignore} "
                         "(check --classes, --gt-first-label and --ignore-index)")
    pred_kept = pred[keep]
    pred_kept = np.where((pred_kept >= 0) & (pred_kept < num_classes), pred_kept, num_classes)
    counts = np.bincount(gt_kept * (num_classes + 1) + pred_kept, minlength=num_classes * (num_classes + 1))
    return counts.reshape(num_classes, num_classes + 1)


def iou_from_confusion(matrix: np.ndarray) -> dict:
    """Per-class IoU (None where the union is empty), mIoU over classes with a union, pixel accuracy."""
    matrix = np.asarray(matrix, dtype=np.int64)
    classes = matrix.shape[0]
    tp = np.diag(matrix[:, :classes]).astype(np.float64)
    fn = matrix.sum(axis=1) - tp
    fp = matrix[:, :classes].sum(axis=0) - tp
    union = tp + fp + fn
    iou = [float(t / u) if u > 0 else None for t, u in zip(tp, union)]
    present = [v for v in iou if v is not None]
    total = matrix.sum()
    return {"miou": float(np.mean(present)) if present else None,
            "pixel_accuracy": float(tp.sum() / total) if total else None,
            "iou": iou, "classes_with_union": len(present)}


class SemanticAccumulator:
    """Accumulates a confusion matrix over a dataset.

    Predictions and ground truth are class indices from 0 (adapters shift ``vb predict`` labels, which
    are 1-based with 0 = unlabeled, before calling :meth:`add`).
    """

    task = "semantic"

    def __init__(self, classes, ignore_index: int | None = 255):
        if isinstance(classes, int):
            classes = [f"class {i}" for i in range(classes)]
        self.class_names = [str(name) for name in classes]
        if not self.class_names:
            raise InputError("semantic evaluation needs at least one class")
        self.ignore_index = ignore_index
        self.matrix = np.zeros((len(self.class_names), len(self.class_names) + 1), dtype=np.int64)
        self.records: list[dict] = []
        self.skipped: list[dict] = []

    def settings(self) -> dict:
        return {"classes": self.class_names, "ignore_index": self.ignore_index,
                "miou": "per-class IoU from one confusion matrix over the dataset, mean over classes "
                        "with a non-empty union", "pixel_accuracy": "correct / ground-truth pixels not ignored"}

    def add(self, pred, gt, key=None) -> dict | None:
        """Add one image (0-based class indices; predictions outside the classes count as no class)."""
        name = "image" if key is None else str(key)
        try:
            matrix = confusion_matrix(pred, gt, len(self.class_names), self.ignore_index)
        except InputError as error:
            raise InputError(f"{name}: {error}") from None
        pixels = int(matrix.sum())
        if pixels == 0:
            self.skipped.append({"key": key, "reason": "every ground-truth pixel is ignored"})
            return None
        self.matrix += matrix
        image = iou_from_confusion(matrix)
        record = {"key": key, "valid_pixels": pixels, "pixel_accuracy": image["pixel_accuracy"],
                  "miou_present_classes": image["miou"]}
        self.records.append(record)
        return record

    def result(self) -> dict:
        summary = iou_from_confusion(self.matrix)
        return {"images": len(self.records), "skipped": len(self.skipped),
                "metrics": {"miou": summary["miou"], "pixel_accuracy": summary["pixel_accuracy"]},
                "per_class_iou": dict(zip(self.class_names, summary["iou"])),
                "classes_with_union": summary["classes_with_union"],
                "unlabeled_prediction_pixels": int(self.matrix[:, -1].sum()),
                "confusion_matrix": self.matrix.tolist()}


def intersection_union(pred, gt, ignore=None) -> tuple[int, int]:
    """Foreground intersection and union of two masks (nonzero = object), leaving out ``ignore`` pixels."""
    pred = as_map(pred, "prediction", "mask").astype(bool)
    gt = as_map(gt, "ground truth", "mask").astype(bool)
    if pred.shape != gt.shape:
        raise InputError(f"prediction is {pred.shape[0]} x {pred.shape[1]} but ground truth is "
                         f"{gt.shape[0]} x {gt.shape[1]}")
    if ignore is not None:
        keep = ~as_map(ignore, "ignore mask", "mask").astype(bool)
        pred, gt = pred & keep, gt & keep
    return int(np.count_nonzero(pred & gt)), int(np.count_nonzero(pred | gt))


class ReferringAccumulator:
    """cIoU and gIoU over referring-segmentation samples (one mask per expression), as LISA."""

    task = "referring"

    def __init__(self):
        self.records: list[dict] = []
        self.skipped: list[dict] = []
        self._intersection = 0
        self._union = 0

    def settings(self) -> dict:
        return {"ciou": "sum of intersections / sum of unions over samples (LISA)",
                "giou": "mean per-sample IoU; a sample with an empty union counts as 1 (LISA)"}

    def add(self, pred, gt, ignore=None, key=None) -> dict:
        """Add one sample: masks H x W, nonzero = the referred object; ``ignore``: optional H x W, nonzero
        = pixels left out (LISA's ignore index 255)."""
        name = "sample" if key is None else str(key)
        try:
            intersection, union = intersection_union(pred, gt, ignore)
        except InputError as error:
            raise InputError(f"{name}: {error}") from None
        self._intersection += intersection
        self._union += union
        record = {"key": key, "intersection": intersection, "union": union,
                  "iou": intersection / union if union else 1.0}
        self.records.append(record)
        return record

    def result(self) -> dict:
        giou = float(np.mean([r["iou"] for r in self.records])) if self.records else None
        ciou = self._intersection / self._union if self._union else None
        return {"images": len(self.records), "skipped": 0, "metrics": {"ciou": ciou, "giou": giou},
                "empty_union_samples": sum(1 for r in self.records if r["union"] == 0)}

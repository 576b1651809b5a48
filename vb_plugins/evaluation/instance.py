"""Instance segmentation with the SA-Co metrics of SAM 3: pmF1, IL_MCC and cgF1.

What is implemented, following the SAM 3 paper (Carion et al. 2025, arXiv 2511.16719: the "Metrics"
paragraph of section 5, ``cgF1 = 100 * pmF1 * IL_MCC``) and its official evaluator
(facebookresearch/sam3, ``sam3/eval/cgf1_eval.py``: ``CGF1Eval.evaluateImg`` / ``accumulate``):

A *sample* is one (image, noun phrase) pair: all predicted instances of the phrase against all of its
ground-truth instances, regardless of class. Per sample:

1. mask IoU between every prediction and every ground-truth instance;
2. one Hungarian matching maximising the total IoU (``scipy.optimize.linear_sum_assignment`` on
   ``-IoU``), made once and used at every threshold;
3. at each IoU threshold t in 0.50, 0.55, ..., 0.95: ``TP_t`` = matched pairs with IoU >= t,
   ``FP_t = #pred - TP_t``, ``FN_t = #gt - TP_t``;
4. image level: TP if both the prediction and the ground truth have instances, FP if only the
   prediction does, FN if only the ground truth does, TN if neither.

Over the dataset, at each threshold: ``precision = TP / (TP + FP_pos)`` where ``FP_pos`` counts false
positives only in samples with ground truth *and* predictions (the official "positive micro" precision),
``recall = TP / (TP + FN)``, ``pmF1_t = 2 P R / (P + R)`` (0 when P + R = 0);
``pmF1 = mean_t pmF1_t``;
``IL_MCC = (TP TN - FP FN) / sqrt((TP+FP)(TP+FN)(TN+FP)(TN+FN))`` over samples (0 when undefined, e.g.
with no negative samples, as the official code's epsilon gives);
``cgF1 = 100 * pmF1 * IL_MCC`` (the paper's definition; the official code's per-threshold product
averaged over thresholds is the same number).

Differences from the official evaluator, on purpose: no confidence threshold (generated instances have
no scores; the official code keeps predictions with score >= 0.5), and no 1e-4 / 1e-6 guards in the
denominators (they move results by less than 1e-4). SA-Co/Gold's three annotations per sample are
supported: pass several ground truths and the best one is chosen per sample as the official "oracle"
(highest mean local F1 over thresholds; a ground truth giving a true negative wins).
"""

from __future__ import annotations

import math

import numpy as np

from vb_plugins.errors import InputError

IOU_THRESHOLDS = tuple(round(0.5 + 0.05 * k, 2) for k in range(10))


def _instances(instances, name: str):
    """-> ("ids", H x W int64 map with ids 1..N, N) or ("masks", bool N x H x W, N)."""
    array = np.asarray(instances)
    if array.ndim == 3 and array.shape[2] == 1 and array.dtype != np.bool_:
        array = array[..., 0]
    if array.ndim == 2:
        if array.dtype.kind not in "iub":
            raise InputError(f"{name}: an instance-id map must hold whole numbers, got dtype {array.dtype}")
        ids, inverse = np.unique(array, return_inverse=True)
        if ids.size and ids[0] < 0:
            raise InputError(f"{name}: instance ids must be 0 (background) or positive, found {ids[0]}")
        if ids.size and ids[0] != 0:  # make 0 the background slot even when no pixel is background
            ids, inverse = np.concatenate([[0], ids]), inverse + 1
        return "ids", inverse.reshape(array.shape).astype(np.int64), max(len(ids) - 1, 0)
    if array.ndim == 3:
        return "masks", array.astype(bool), array.shape[0]
    raise InputError(f"{name}: expected an H x W id map or N x H x W masks, got shape {array.shape}")


def as_instance_masks(instances, name: str = "instances") -> np.ndarray:
    """An H x W id map (0 = background, each other value one instance) or an N x H x W stack of masks
    -> bool N x H x W (id order ascending)."""
    kind, data, count = _instances(instances, name)
    if kind == "masks":
        return data
    return data[None, :, :] == np.arange(1, count + 1)[:, None, None]


def _shape(kind: str, data: np.ndarray) -> tuple[int, int]:
    return data.shape if kind == "ids" else data.shape[1:]


def mask_iou_matrix(pred, gt) -> np.ndarray:
    """IoU of every predicted instance (rows) with every ground-truth instance (columns); each argument is
    an id map or a mask stack (see :func:`as_instance_masks`). Exact integer counts either way."""
    pred_kind, pred_data, n_pred = _instances(pred, "prediction")
    gt_kind, gt_data, n_gt = _instances(gt, "ground truth")
    pred_shape, gt_shape = _shape(pred_kind, pred_data), _shape(gt_kind, gt_data)
    if pred_shape != gt_shape:
        raise InputError(f"prediction is {pred_shape[0]} x {pred_shape[1]} but ground truth is "
                         f"{gt_shape[0]} x {gt_shape[1]}")
    if n_pred == 0 or n_gt == 0:
        return np.zeros((n_pred, n_gt))
    if pred_kind == gt_kind == "ids":  # disjoint instances: one contingency table
        table = np.bincount((pred_data * (n_gt + 1) + gt_data).ravel(), minlength=(n_pred + 1) * (n_gt + 1))
        table = table.reshape(n_pred + 1, n_gt + 1)
        intersection = table[1:, 1:]
        pred_area, gt_area = table[1:, :].sum(1), table[:, 1:].sum(0)
    else:
        p = as_instance_masks(pred, "prediction").reshape(n_pred, -1)
        g = as_instance_masks(gt, "ground truth").reshape(n_gt, -1)
        intersection = np.zeros((n_pred, n_gt), dtype=np.int64)
        chunk = 1 << 22  # float32 products stay exact integers below 2**24 per chunk
        for start in range(0, p.shape[1], chunk):
            part_p = p[:, start:start + chunk].astype(np.float32)
            part_g = g[:, start:start + chunk].astype(np.float32)
            intersection += np.rint(part_p @ part_g.T).astype(np.int64)
        pred_area, gt_area = p.sum(1), g.sum(1)
    union = pred_area[:, None] + gt_area[None, :] - intersection
    return np.where(union > 0, intersection / np.maximum(union, 1), 0.0)


def match_instances(iou: np.ndarray) -> np.ndarray:
    """IoUs of the matched pairs of the assignment maximising total IoU (Hungarian)."""
    from scipy.optimize import linear_sum_assignment  # 0.8 s to import: only when instances are matched

    if iou.size == 0:
        return np.zeros(0)
    rows, cols = linear_sum_assignment(-iou)
    return iou[rows, cols]


def sample_counts(pred, gt, thresholds=IOU_THRESHOLDS) -> dict:
    """Per-sample counts: TP/FP/FN per threshold, image-level outcome, local F1 (None for a true negative)."""
    iou = mask_iou_matrix(pred, gt)
    n_pred, n_gt = iou.shape
    matched = match_instances(iou)
    tp = np.array([int(np.count_nonzero(matched >= t)) for t in thresholds], dtype=np.int64)
    fp, fn = n_pred - tp, n_gt - tp
    outcome = ("TP" if n_gt else "FP") if n_pred else ("FN" if n_gt else "TN")
    local_f1 = None
    if outcome != "TN":
        local_f1 = [2 * t / (2 * t + p + n) if (2 * t + p + n) else 0.0 for t, p, n in zip(tp, fp, fn)]
    return {"n_pred": n_pred, "n_gt": n_gt, "tp": tp, "fp": fp, "fn": fn, "outcome": outcome,
            "local_f1": local_f1, "matched_iou": matched}


def select_oracle(candidates: list[dict]) -> int:
    """Index of the ground truth the official oracle keeps (``CGF1Evaluator._select_best_scoring``)."""
    best = 0
    for index in range(1, len(candidates)):
        current, chosen = candidates[index]["local_f1"], candidates[best]["local_f1"]
        if chosen is not None and current is not None:
            if np.mean(current) > np.mean(chosen):
                best = index
        elif current is None:
            best = index
    return best


def _f1(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray) -> np.ndarray:
    tp, fp, fn = (np.asarray(x, dtype=np.float64) for x in (tp, fp, fn))
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = np.where(tp + fp > 0, tp / (tp + fp), 0.0)
        recall = np.where(tp + fn > 0, tp / (tp + fn), 0.0)
        return np.where(precision + recall > 0, 2 * precision * recall / (precision + recall), 0.0)


def matthews(tp: int, fp: int, tn: int, fn: int) -> float:
    """Matthews correlation coefficient; 0 when a marginal is empty (as the official code's epsilon)."""
    denominator = math.sqrt(float(tp + fp) * float(tp + fn) * float(tn + fp) * float(tn + fn))
    return (tp * tn - fp * fn) / denominator if denominator > 0 else 0.0


class InstanceAccumulator:
    """SA-Co pmF1 / IL_MCC / cgF1 over (image, phrase) samples.

    >>> acc = InstanceAccumulator()
    >>> acc.add(pred_ids, gt_ids, key="img1:dog")          # id maps or N x H x W mask stacks
    >>> acc.add(pred_ids, [gt_a, gt_b, gt_c], key="img2")  # SA-Co/Gold: oracle over three annotations
    >>> acc.result()["metrics"]["cgF1"]
    """

    task = "instance"

    def __init__(self, thresholds=IOU_THRESHOLDS):
        self.thresholds = tuple(float(t) for t in thresholds)
        size = len(self.thresholds)
        self.tp = np.zeros(size, dtype=np.int64)
        self.fn = np.zeros(size, dtype=np.int64)
        self.fp_positive = np.zeros(size, dtype=np.int64)  # FPs of samples with both GT and predictions
        self.fp_all = np.zeros(size, dtype=np.int64)
        self.outcomes = {"TP": 0, "FP": 0, "TN": 0, "FN": 0}
        self.records: list[dict] = []
        self.skipped: list[dict] = []

    def settings(self) -> dict:
        return {"iou_thresholds": list(self.thresholds),
                "matching": "one Hungarian assignment per sample maximising total mask IoU",
                "pmF1": "positive micro F1 per threshold, mean over thresholds (SAM 3)",
                "IL_MCC": "Matthews correlation of 'has instances' between prediction and ground truth",
                "cgF1": "100 * pmF1 * IL_MCC (SAM 3)",
                "confidence_threshold": None, "oracle": "best of several ground truths per sample"}

    def add(self, pred, gt, key=None) -> dict:
        """Add one sample. ``gt`` may be a list of alternative annotations (oracle evaluation)."""
        name = "sample" if key is None else str(key)
        alternatives = gt if isinstance(gt, list | tuple) else [gt]
        if not alternatives:
            raise InputError(f"{name}: no ground truth given")
        try:
            candidates = [sample_counts(pred, g, self.thresholds) for g in alternatives]
        except InputError as error:
            raise InputError(f"{name}: {error}") from None
        chosen_index = select_oracle(candidates)
        chosen = candidates[chosen_index]
        self.outcomes[chosen["outcome"]] += 1
        if chosen["outcome"] != "TN":
            self.tp += chosen["tp"]
            self.fn += chosen["fn"]
            self.fp_all += chosen["fp"]
            if chosen["outcome"] == "TP":
                self.fp_positive += chosen["fp"]
        record = {"key": key, "predicted_instances": chosen["n_pred"], "gt_instances": chosen["n_gt"],
                  "image_level": chosen["outcome"], "tp_at_50": int(chosen["tp"][0]),
                  "local_f1": None if chosen["local_f1"] is None else float(np.mean(chosen["local_f1"])),
                  "matched_iou": [float(v) for v in chosen["matched_iou"]]}
        if len(alternatives) > 1:
            record["oracle_choice"] = chosen_index
        self.records.append(record)
        return record

    def result(self) -> dict:
        pm_f1 = _f1(self.tp, self.fp_positive, self.fn)
        outcomes = self.outcomes
        mcc = matthews(outcomes["TP"], outcomes["FP"], outcomes["TN"], outcomes["FN"])
        with np.errstate(invalid="ignore", divide="ignore"):
            precision = np.where(self.tp + self.fp_positive > 0, self.tp / (self.tp + self.fp_positive), 0.0)
            recall = np.where(self.tp + self.fn > 0, self.tp / (self.tp + self.fn), 0.0)
        at = {t: i for i, t in enumerate(self.thresholds)}
        metrics = {"cgF1": 100.0 * float(pm_f1.mean()) * mcc, "pmF1": float(pm_f1.mean()), "IL_MCC": mcc,
                   "positive_micro_precision": float(precision.mean()), "recall": float(recall.mean())}
        for threshold, label in ((0.5, "50"), (0.75, "75")):
            if threshold in at:
                metrics[f"pmF1_{label}"] = float(pm_f1[at[threshold]])
                metrics[f"cgF1_{label}"] = 100.0 * float(pm_f1[at[threshold]]) * mcc
        negatives = outcomes["TN"] + outcomes["FP"]
        return {"images": len(self.records), "skipped": 0, "metrics": metrics,
                "image_level": dict(outcomes), "il_mcc_defined": bool(
                    (outcomes["TP"] + outcomes["FP"]) and (outcomes["TP"] + outcomes["FN"]) and negatives
                    and (outcomes["TN"] + outcomes["FN"])),
                "pmF1_by_threshold": {f"{t:.2f}": float(v) for t, v in zip(self.thresholds, pm_f1)}}

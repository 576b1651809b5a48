"""Evaluation reports: a JSON-ready dict (protocol, aggregate, per image, skipped) and a readable table."""

from __future__ import annotations

import json
import math

import numpy as np

from vb_plugins import __version__
from vb_plugins.io import write_text

# Paper-style labels and the direction that is better, per task and metric key.
_LABELS = {
    "depth": [("delta1", "δ1 (<1.25)", "↑"), ("delta2", "δ2 (<1.25²)", "↑"), ("delta3", "δ3 (<1.25³)", "↑"),
              ("abs_rel", "AbsRel", "↓"), ("sq_rel", "SqRel", "↓"), ("rmse", "RMSE (m)", "↓"),
              ("rmse_log", "RMSE log", "↓"), ("log10", "log10", "↓"), ("silog", "SILog (x100)", "↓")],
    "normals": [("mean", "mean (deg)", "↓"), ("median", "median (deg)", "↓"), ("rmse", "RMSE (deg)", "↓"),
                ("within_5", "% < 5°", "↑"), ("within_7.5", "% < 7.5°", "↑"),
                ("within_11.25", "% < 11.25°", "↑"), ("within_22.5", "% < 22.5°", "↑"), ("within_30", "% < 30°", "↑")],
    "semantic": [("miou", "mIoU", "↑"), ("pixel_accuracy", "pixel accuracy", "↑")],
    "referring": [("ciou", "cIoU", "↑"), ("giou", "gIoU", "↑")],
    "instance": [("cgF1", "cgF1 (x100)", "↑"), ("pmF1", "pmF1", "↑"), ("IL_MCC", "IL_MCC", "↑"),
                 ("pmF1_50", "pmF1 @ IoU 0.50", "↑"), ("pmF1_75", "pmF1 @ IoU 0.75", "↑"),
                 ("positive_micro_precision", "precision (positives)", "↑"), ("recall", "recall", "↑")],
}


def json_safe(value):
    """Plain JSON types: numpy scalars and arrays converted, NaN and infinities -> None."""
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if isinstance(value, np.ndarray):
        return json_safe(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def build_report(task: str, accumulator, settings: dict | None = None, inputs: dict | None = None) -> dict:
    """The report of a finished accumulator: protocol settings, aggregate, per-image records, skipped."""
    protocol = {**accumulator.settings(), **(settings or {})}
    report = {
        "task": task,
        "vb_plugins_version": __version__,
        "protocol": protocol,
        "aggregate": accumulator.result(),
        "per_image": accumulator.records,
        "skipped": accumulator.skipped,
    }
    if inputs:
        report["inputs"] = inputs
    return json_safe(report)


def write_report(path, report: dict, overwrite: bool = True):
    return write_text(path, json.dumps(report, indent=2, ensure_ascii=False) + "\n", overwrite=overwrite)


def _number(value) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, int):
        return str(value)
    return f"{value:.4f}"


def format_table(report: dict) -> str:
    """A readable summary: header with counts and protocol, one metric per line (+ per class IoU)."""
    task = report["task"]
    aggregate = report["aggregate"]
    protocol = report["protocol"]
    lines = [_header(report)]
    if task == "depth":
        dataset = protocol["dataset"]
        cap = "inf" if dataset["max_depth"] is None else f"{dataset['max_depth']:g}"
        lines.append(f"dataset {dataset['name']} ({dataset['min_depth']:g}..{cap} m, crop {dataset['crop']}), "
                     f"alignment {protocol['alignment']}, prediction {protocol['prediction_kind']}")
    elif task == "semantic":
        lines.append(f"{len(protocol['classes'])} classes, ignore index {protocol.get('ignore_index')}")
    if task == "normals":
        lines.append(f"{'metric':<16}{'pooled (DSINE)':>16}{'per image (Marigold)':>22}")
        for key, label, better in _LABELS[task]:
            pooled = (aggregate.get("pooled") or {}).get(key)
            per_image = (aggregate.get("per_image") or {}).get(key)
            lines.append(f"{label:<16}{_number(pooled):>16}{_number(per_image):>22}  {better}")
        if aggregate.get("invalid_prediction_pixels"):
            lines.append(f"({aggregate['invalid_prediction_pixels']} valid pixels had no predicted normal: "
                         "counted as 90°)")
        return "\n".join(lines)
    metrics = aggregate.get("metrics", {})
    lines.append(f"{'metric':<24}{'value':>10}")
    for key, label, better in _LABELS[task]:
        if key in metrics:
            lines.append(f"{label:<24}{_number(metrics[key]):>10}  {better}")
    if task == "semantic":
        lines.append("")
        lines.append(f"{'class':<24}{'IoU':>10}")
        for name, iou in aggregate["per_class_iou"].items():
            lines.append(f"{name:<24}{_number(iou):>10}")
    if task == "instance":
        counts = aggregate["image_level"]
        lines.append(f"image level: {counts['TP']} TP, {counts['FP']} FP, {counts['TN']} TN, {counts['FN']} FN"
                     + ("" if aggregate["il_mcc_defined"] else " (IL_MCC undefined without both classes: 0)"))
    return "\n".join(lines)


def _header(report: dict) -> str:
    aggregate = report["aggregate"]
    unit = "sample" if report["task"] in ("referring", "instance") else "image"
    count = aggregate["images"]
    text = f"vb eval {report['task']}: {count} {unit}{'' if count == 1 else 's'}"
    extras = []
    if aggregate.get("skipped"):
        reasons = sorted({s["reason"] for s in report["skipped"]})
        extras.append(f"{aggregate['skipped']} skipped: {'; '.join(reasons)}")
    if report.get("missing_ground_truth"):
        extras.append(f"{len(report['missing_ground_truth'])} without ground truth")
    return text + (f" ({', '.join(extras)})" if extras else "")

"""Score a prediction field against a ground-truth field with the project's published protocols.

Arrays are read from the labels (the storage of the task's value kind,
:func:`vb_plugins.fiftyone_tools.labels.storage_for`) and fed to :func:`vb_plugins.evaluation.make_accumulator`,
so numbers match ``vb eval`` exactly. Predictions are resized to the ground truth's size by their value kind,
as ``vb eval --resize`` does (nearest for labels, area / bilinear for depth, renormalised for normals).

Semantic classes: the prediction field's ``mask_targets`` (value i + 1 = class i) name the classes;
ground-truth values are matched by name through the ground-truth field's ``mask_targets`` (values
whose name is not a predicted class are ignored), or, without ground-truth mask targets, are taken to
use the prediction's numbering (0 ignored).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from vb_plugins.errors import InputError
from vb_plugins.evaluation import EvalSettings, build_report, make_accumulator
from vb_plugins.fiftyone_tools.labels import storage_for
from vb_plugins.fiftyone_tools.runner import INFO_KEY, check_field_name
from vb_plugins.io import read_image
from vb_plugins.registry import get_task

EVALUATED_TASKS = ("depth", "normals", "semantic", "referring", "instance")  # the published protocols
IGNORE = 255


def infer_task(dataset, pred_field: str) -> str:
    """The task behind a prediction field: from the vb-plugins run record, else from the label type."""
    record = (dataset.info or {}).get(INFO_KEY, {}).get(pred_field)
    if record:
        return record["signature"]["task"]
    field = dataset.get_field(pred_field)
    if field is None:
        raise InputError(f"prediction field {pred_field!r}: no such field")
    name = getattr(getattr(field, "document_type", None), "__name__", type(field).__name__)
    tasks = {"Heatmap": "depth", "Segmentation": "semantic", "Detections": "instance", "StringField": "normals"}
    if name not in tasks:
        raise InputError(f"prediction field {pred_field!r} holds {name}; cannot tell which task it is")
    return tasks[name]


def _semantic_maps(dataset, pred_field, gt_field):
    pred_targets = (dataset.mask_targets or {}).get(pred_field) or dataset.default_mask_targets or {}
    if not pred_targets:
        raise InputError(f"prediction field {pred_field!r} has no mask_targets naming its classes")
    classes = [pred_targets[k] for k in sorted(pred_targets) if int(k) > 0]
    index = {name: i for i, name in enumerate(classes)}
    pred_lut = np.full(65536, len(classes), np.int64)  # 0 / unknown -> "no class"
    for value, name in pred_targets.items():
        if int(value) > 0:
            pred_lut[int(value)] = index[name]
    gt_targets = (dataset.mask_targets or {}).get(gt_field)
    gt_lut = np.full(65536, IGNORE, np.int64)
    if gt_targets:
        for value, name in gt_targets.items():
            if name in index:
                gt_lut[int(value)] = index[name]
    else:
        gt_lut[1:len(classes) + 1] = np.arange(len(classes))
    return classes, pred_lut, gt_lut


def evaluate_fields(samples, pred_field: str, gt_field: str, task: str | None = None, *, eval_key: str | None = None,
                    settings=None, gt_depth_scale: float | None = None,
                    progress: Callable[[int, int, str], None] | None = None) -> dict:
    """Evaluate ``pred_field`` against ``gt_field`` on ``samples``; returns the report (JSON-ready dict,
    as :func:`vb_plugins.evaluation.evaluate_pairs`). ``settings``: an
    :class:`vb_plugins.evaluation.EvalSettings` (dataset preset, alignment, ...). ``gt_depth_scale``:
    PNG units per metre of integer ground-truth depth maps. With ``eval_key`` each sample gets its
    numeric per-image metrics as fields ``<eval_key>_<metric>`` and the report is kept in
    ``dataset.info["vb_plugins_eval"][eval_key]``.
    """
    dataset = samples._dataset
    schema = dataset.get_field_schema()
    for name, role in ((pred_field, "prediction"), (gt_field, "ground-truth")):
        if name not in schema:
            raise InputError(f"{role} field {name!r}: no such field on dataset {dataset.name!r}")
    task = task or infer_task(dataset, pred_field)
    if task not in EVALUATED_TASKS:
        raise InputError(f"task {task!r} has no evaluation; expected one of {', '.join(EVALUATED_TASKS)}")
    kind = get_task(task).kind
    storage = storage_for(kind)
    settings = settings or EvalSettings()
    if task == "semantic":
        classes, pred_lut, gt_lut = _semantic_maps(dataset, pred_field, gt_field)
        accumulator = make_accumulator(task, settings, classes=classes, ignore_index=IGNORE)
    else:
        accumulator = make_accumulator(task, settings)
    pred_values_field = f"{pred_field}_values_path" if storage.path_valued and \
        f"{pred_field}_values_path" in schema else pred_field
    view = samples.exists(pred_field).exists(gt_field)
    ids, preds, gts, paths = view.values(["id", pred_values_field, gt_field, "filepath"])
    skipped = []
    for done, (sample_id, pred_label, gt_label, filepath) in enumerate(zip(ids, preds, gts, paths), 1):
        try:
            if kind.name == "instances":  # masks of the image's size
                shape = read_image(filepath).shape[:2]
                accumulator.add(storage.read(pred_label, shape), storage.read(gt_label, shape), key=sample_id)
            else:
                gt = storage.read(gt_label, gt_depth_scale if kind.name == "depth" else None)
                pred = storage.read(pred_label)
                if task == "semantic":  # classes matched by name through the fields' mask targets
                    gt = gt_lut[gt.astype(np.int64)]
                    pred = pred_lut[pred.astype(np.int64)]
                elif kind.name == "mask":
                    gt, pred = gt > 0, pred > 0
                accumulator.add(kind.resize_values(pred, gt.shape[:2]), gt, key=sample_id)
        except InputError as error:
            skipped.append({"key": sample_id, "reason": str(error)})
        if progress and (done % 50 == 0 or done == len(ids)):
            progress(done, len(ids), f"{done}/{len(ids)} samples scored")
    report = build_report(task, accumulator, {"options": settings.to_dict()},
                          {"prediction_field": pred_field, "ground_truth_field": gt_field, "samples": len(ids)})
    report["skipped"] = list(report.get("skipped") or []) + skipped
    if eval_key:
        check_field_name(eval_key)
        per_metric: dict[str, dict] = {}
        for record in report["per_image"]:
            for metric, value in record.items():
                if metric != "key" and isinstance(value, int | float) and not isinstance(value, bool):
                    per_metric.setdefault(metric, {})[record["key"]] = value
        for metric, values in per_metric.items():
            dataset.set_values(f"{eval_key}_{metric}", values, key_field="id", progress=False)
        info = dict(dataset.info or {})
        evals = dict(info.get("vb_plugins_eval", {}))
        evals[eval_key] = {k: report[k] for k in ("task", "protocol", "aggregate", "inputs") if k in report}
        info["vb_plugins_eval"] = evals
        dataset.info = info
        dataset.save()
    return report

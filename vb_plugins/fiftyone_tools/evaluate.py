"""Score a prediction field against a ground-truth field with the project's published protocols.

Arrays are read from the labels (:func:`vb_plugins.fiftyone_tools.labels.read_label_values`) and fed to
:func:`vb_plugins.evaluation.make_accumulator`, so numbers match ``vb eval`` exactly. Predictions are
resized to the ground truth's size (nearest for labels, bilinear for depth, renormalised for normals).

Semantic classes: the prediction field's ``mask_targets`` (value i + 1 = class i) name the classes;
ground-truth values are matched by name through the ground-truth field's ``mask_targets`` (values
whose name is not a predicted class are ignored), or, without ground-truth mask targets, are taken to
use the prediction's numbering (0 ignored).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from vb_plugins.errors import InputError

KIND_OF_TASK = {"depth": "depth", "normals": "normals", "semantic": "labels", "referring": "mask",
                "instance": "instances"}
IGNORE = 255


def infer_task(dataset, pred_field: str) -> str:
    """The task behind a prediction field: from the vb-plugins run record, else from the label type."""
    from vb_plugins.fiftyone_tools.runner import INFO_KEY

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


def _resize(array: np.ndarray, shape, kind: str) -> np.ndarray:
    import cv2

    if array.shape[:2] == tuple(shape):
        return array
    height, width = shape
    if kind in ("labels", "mask"):
        return cv2.resize(array.astype(np.int32) if array.dtype == bool else array, (width, height),
                          interpolation=cv2.INTER_NEAREST).astype(array.dtype)
    if kind == "instances":
        return np.stack([_resize(m, shape, "mask") for m in array]) if len(array) else \
            np.zeros((0, height, width), bool)
    resized = cv2.resize(array.astype(np.float32), (width, height), interpolation=cv2.INTER_LINEAR)
    if kind == "normals":
        resized /= np.maximum(np.linalg.norm(resized, axis=-1, keepdims=True), 1e-6)
    return resized


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
    from vb_plugins.evaluation import EvalSettings, build_report, make_accumulator
    from vb_plugins.fiftyone_tools.labels import read_label_values

    dataset = samples._dataset
    schema = dataset.get_field_schema()
    for name, role in ((pred_field, "prediction"), (gt_field, "ground-truth")):
        if name not in schema:
            raise InputError(f"{role} field {name!r}: no such field on dataset {dataset.name!r}")
    task = task or infer_task(dataset, pred_field)
    if task not in KIND_OF_TASK:
        raise InputError(f"task {task!r} has no evaluation; expected one of {', '.join(KIND_OF_TASK)}")
    kind = KIND_OF_TASK[task]
    settings = settings or EvalSettings()
    if task == "semantic":
        classes, pred_lut, gt_lut = _semantic_maps(dataset, pred_field, gt_field)
        accumulator = make_accumulator(task, settings, classes=classes, ignore_index=IGNORE)
    else:
        accumulator = make_accumulator(task, settings)
    pred_values_field = f"{pred_field}_values_path" if kind == "normals" and \
        f"{pred_field}_values_path" in schema else pred_field
    view = samples.exists(pred_field).exists(gt_field)
    ids, preds, gts, paths = view.values(["id", pred_values_field, gt_field, "filepath"])
    skipped = []
    for done, (sample_id, pred_label, gt_label, filepath) in enumerate(zip(ids, preds, gts, paths), 1):
        try:
            if kind == "depth":
                gt = read_label_values(gt_label, "depth", gt_depth_scale)
                pred = _resize(read_label_values(pred_label, "depth"), gt.shape, kind)
                accumulator.add(pred, gt, key=sample_id)
            elif kind == "normals":
                gt = read_label_values(gt_label, "normals")
                pred = _resize(read_label_values(pred_label, "normals"), gt.shape[:2], kind)
                accumulator.add(pred, gt, key=sample_id)
            elif kind == "labels":
                gt = gt_lut[read_label_values(gt_label, "labels").astype(np.int64)]
                pred = pred_lut[_resize(read_label_values(pred_label, "labels"), gt.shape, kind).astype(np.int64)]
                accumulator.add(pred, gt, key=sample_id)
            elif kind == "mask":
                gt = read_label_values(gt_label, "mask") > 0
                pred = _resize(read_label_values(pred_label, "mask") > 0, gt.shape, kind)
                accumulator.add(pred, gt, key=sample_id)
            else:
                from vb_plugins.io import read_image

                shape = read_image(filepath).shape[:2]
                accumulator.add(read_label_values(pred_label, "instances", shape),
                                read_label_values(gt_label, "instances", shape), key=sample_id)
        except InputError as error:
            skipped.append({"key": sample_id, "reason": str(error)})
        if progress and (done % 50 == 0 or done == len(ids)):
            progress(done, len(ids), f"{done}/{len(ids)} samples scored")
    report = build_report(task, accumulator, {"options": settings.to_dict()},
                          {"prediction_field": pred_field, "ground_truth_field": gt_field, "samples": len(ids)})
    report["skipped"] = list(report.get("skipped") or []) + skipped
    if eval_key:
        from vb_plugins.fiftyone_tools.runner import check_field_name

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

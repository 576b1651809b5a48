"""Evaluate a directory of predictions against a directory of ground truth: what ``vb eval`` runs.

Files are found and read by :mod:`vb_plugins.evaluation.files`; the scoring is the accumulators'
(:func:`vb_plugins.evaluation.runner.make_accumulator`), so numbers match ``evaluate_pairs``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np

from vb_plugins.ensemble import resize_nearest, resize_smooth
from vb_plugins.errors import InputError
from vb_plugins.evaluation import conventions
from vb_plugins.evaluation import files as evalfiles
from vb_plugins.evaluation.matting import alpha_values
from vb_plugins.evaluation.protocols import DEFAULT_MASK_PATTERNS, SEMANTIC_PRESETS, depth_protocol
from vb_plugins.evaluation.report import build_report
from vb_plugins.evaluation.runner import (
    DEFAULT,
    EvalSettings,
    check_task_settings,
    make_accumulator,
    relative_depth_kind,
    semantic_class_names,
    semantic_ignore_index,
)


def _patterns(task: str, settings: EvalSettings) -> tuple[str, ...]:
    if settings.gt_patterns:
        evalfiles.check_patterns(settings.gt_patterns, "--gt-pattern")
        return tuple(settings.gt_patterns)
    preset: tuple[str, ...] = ()
    if task == "depth":
        preset = depth_protocol(settings.dataset).gt_patterns
    elif task == "semantic":
        preset = SEMANTIC_PRESETS[settings.dataset].gt_patterns
    return tuple(dict.fromkeys(preset + evalfiles.GT_PATTERNS[task]))


def _fit(pred: np.ndarray, shape: tuple[int, int], task: str, resize: bool, name: str) -> np.ndarray:
    """The prediction at the ground truth's size: as it is, resized (``resize``), or an error."""
    if pred.shape[:2] == tuple(shape):
        return pred
    if not resize:
        raise InputError(f"{name}: prediction is {pred.shape[0]} x {pred.shape[1]} but ground truth is "
                         f"{shape[0]} x {shape[1]} (pass --resize to resize predictions to the ground truth)")
    if task in ("depth", "matting"):
        return resize_smooth(pred.astype(np.float32), shape)
    if task == "normals":
        values = resize_smooth(pred.astype(np.float32), shape)
        length = np.linalg.norm(values, axis=-1, keepdims=True)
        valid = resize_nearest(np.linalg.norm(pred, axis=-1) > 0.5, shape)
        return np.where(valid[..., None] & (length > 1e-6), values / np.maximum(length, 1e-6), 0.0)
    return resize_nearest(pred, shape)


def evaluate_directory(task: str, pred_dir, gt_dirs, settings: EvalSettings | None = None,
                       progress: Callable[[int, int], None] | None = None, ray=None) -> dict:
    """Pair ``pred_dir``'s predictions with ground truth by stem, evaluate, and return the report.

    ``gt_dirs``: a directory, or several for instance segmentation (alternative annotations, scored as
    SA-Co's oracle). Raises :class:`InputError` for missing ground truth (unless ``skip_missing``),
    unreadable files, size mismatches (unless ``resize``) and when no image could be evaluated.
    ``ray``: a :class:`vb_plugins.distributed.options.RayOptions`: score the images on Ray's workers
    (:mod:`vb_plugins.distributed.evaluate`); the report is the same.
    """
    settings = settings or EvalSettings()
    check_task_settings(task, settings)
    gt_dirs = [gt_dirs] if isinstance(gt_dirs, str | Path) else list(gt_dirs)
    if not gt_dirs:
        raise InputError("no ground-truth directory given")
    if len(gt_dirs) > 1 and task != "instance":
        raise InputError(f"several ground-truth directories are only for instance (oracle), not {task}")
    predictions = evalfiles.find_predictions(pred_dir, task)
    indexes = [evalfiles.FileIndex(d) for d in gt_dirs]
    patterns = _patterns(task, settings)
    if settings.mask_patterns:
        evalfiles.check_patterns(settings.mask_patterns, "--mask-pattern")
    strip = settings.strip_suffixes
    if strip is None:
        strip = SEMANTIC_PRESETS[settings.dataset].strip_suffixes if task == "semantic" else ()
    prefixes = tuple(settings.strip_prefixes or ())

    pairs, missing = [], []
    for stem, pred_path in predictions.items():
        lookup = evalfiles.pairing_key(stem, prefixes, strip)
        found = [index.find(patterns, lookup) for index in indexes]
        if any(path is None for path in found):
            missing.append(stem)
        else:
            pairs.append((stem, pred_path, found))
    if missing and not settings.skip_missing:
        shown = ", ".join(missing[:3]) + (", ..." if len(missing) > 3 else "")
        raise InputError(f"{len(missing)} of {len(predictions)} predictions have no ground truth in "
                         f"{', '.join(str(d) for d in gt_dirs)} ({shown}; looked for {', '.join(patterns)}); "
                         "pass --skip-missing to evaluate the rest")

    first_record = evalfiles.read_record(pairs[0][1], pairs[0][0]) if pairs else None
    if task == "depth" and (first_record or {}).get("task") == "relative-depth":
        settings = replace(settings, pred_kind=relative_depth_kind(first_record.get("spec"), settings))
    file_settings: dict = {"gt_patterns": list(patterns), "strip_prefixes": list(prefixes),
                           "strip_suffixes": list(strip)}
    classes = None
    if task == "semantic":
        classes = semantic_class_names(settings, first_record)
        if classes is None:
            raise InputError("semantic evaluation needs the class list: pass --classes (or --dataset cityscapes)")
    accumulator = make_accumulator(task, settings, classes=classes,
                                   ignore_index=-1 if task == "semantic" else DEFAULT)
    zero_shares: list[float] = []  # label-0 share of semantic predictions read without a vb predict record
    evaluate_one = _directory_evaluator(task, settings, accumulator, classes, file_settings, zero_shares)
    if ray is not None:
        from vb_plugins.distributed.evaluate import score_pairs

        score_pairs(task, settings, classes, file_settings, zero_shares, accumulator, pairs, indexes, progress,
                    ray=ray, quiet=progress is None)
        pairs = []  # scored
    for done, (stem, pred_path, gt_paths) in enumerate(pairs, start=1):
        record = evaluate_one(stem, pred_path, gt_paths, indexes)
        if record is not None:
            record["prediction"] = str(pred_path)
            record["ground_truth"] = [str(p) for p in gt_paths] if len(gt_paths) > 1 else str(gt_paths[0])
        if progress:
            progress(done, len(pairs))
    if not accumulator.records:
        reasons = sorted({s["reason"] for s in accumulator.skipped}) or ["no prediction had ground truth"]
        raise InputError(f"no image could be evaluated ({len(accumulator.skipped)} skipped: {'; '.join(reasons)})")
    protocol = {"options": settings.to_dict(), "files": file_settings}
    if "ignore_index" in file_settings:  # the value in the files, not the internal one
        protocol["ignore_index"] = file_settings["ignore_index"]
    report = build_report(task, accumulator, protocol,
                          inputs={"predictions": str(pred_dir), "ground_truth": [str(d) for d in gt_dirs]})
    report["missing_ground_truth"] = missing
    warning = conventions.zero_share_warning(zero_shares)
    if warning:
        report["warnings"] = [warning]
        conventions.warn(warning)
    return report


def _directory_evaluator(task, settings: EvalSettings, accumulator, classes, file_settings: dict,
                         zero_shares: list[float]):
    """A function (stem, prediction path, ground-truth paths, indexes) -> record, for ``task``; semantic
    predictions read without a record and without ``pred_first_label`` add their label-0 share to
    ``zero_shares``."""
    if task == "depth":
        protocol = accumulator.protocol
        depth_scale = settings.depth_scale or protocol.depth_scale
        pred_scale = settings.pred_depth_scale or depth_scale
        mask_patterns = tuple(settings.mask_patterns or protocol.mask_patterns)
        file_settings.update({"depth_scale": depth_scale, "pred_depth_scale": pred_scale,
                              "mask_patterns": list(mask_patterns), "mask_required": protocol.mask_required})

        def evaluate_depth(stem, pred_path, gt_paths, indexes):
            gt = evalfiles.load_depth(gt_paths[0], depth_scale, "ground-truth depth")
            pred = evalfiles.load_depth(pred_path, pred_scale, "predicted depth", "--pred-depth-scale")
            mask = _find_mask(indexes[0], mask_patterns, stem, settings, protocol.mask_required, gt_paths[0])
            try:  # a prediction of the KITTI benchmark window pairs with the window of the ground truth
                gt, pred, mask = protocol.cut_to_window(gt, pred, mask)
            except InputError as error:
                raise InputError(f"{gt_paths[0]}: {error}") from None
            pred = _fit(pred, gt.shape, task, settings.resize, stem)
            return accumulator.add(pred, gt, mask=mask, key=stem)

        return evaluate_depth
    if task == "normals":
        mask_patterns = tuple(settings.mask_patterns or DEFAULT_MASK_PATTERNS)
        file_settings["mask_patterns"] = list(mask_patterns)

        def evaluate_normals(stem, pred_path, gt_paths, indexes):
            gt = evalfiles.load_normals(gt_paths[0])
            pred = evalfiles.load_normals(pred_path)
            convention = settings.pred_convention
            if convention is None:
                record = evalfiles.read_record(pred_path, stem) or {}
                convention = ((record.get("spec") or {}).get("options") or {}).get("convention", "camera")
            mask = _find_mask(indexes[0], mask_patterns, stem, settings, False, gt_paths[0])
            pred = _fit(pred, gt.shape[:2], task, settings.resize, stem)
            record = accumulator.add(pred, gt, mask=mask, key=stem, pred_convention=convention)
            if record is not None:
                record["pred_convention"] = convention
            return record

        return evaluate_normals
    if task == "semantic":
        ignore = semantic_ignore_index(settings)
        gt_first = settings.gt_first_label if settings.gt_first_label is not None \
            else SEMANTIC_PRESETS[settings.dataset].gt_first_label
        pred_first = conventions.VB_PREDICT_FIRST_LABEL if settings.pred_first_label is None \
            else settings.pred_first_label
        file_settings.update({"ignore_index": ignore, "gt_first_label": gt_first, "pred_first_label": pred_first,
                              "predictions_without_record": 0})

        def evaluate_semantic(stem, pred_path, gt_paths, indexes):
            record = evalfiles.read_record(pred_path, stem)
            if not conventions.is_vb_semantic_record(record):
                file_settings["predictions_without_record"] += 1
            predicted = ((record or {}).get("spec") or {}).get("classes")
            if isinstance(predicted, dict) and predicted and list(predicted) != classes:
                raise InputError(f"{pred_path}: predicted with classes {list(predicted)} but evaluated with "
                                 f"{classes}; evaluate with the prediction's class list and order")
            gt = evalfiles.load_labels(gt_paths[0], "label map")
            pred = evalfiles.load_labels(pred_path, "label map")
            pred = _fit(pred, gt.shape, task, settings.resize, stem)
            ignored = np.zeros(gt.shape, bool) if ignore is None else gt == ignore
            outside = ~ignored & ((gt < gt_first) | (gt >= gt_first + len(classes)))
            if outside.any():
                raise InputError(f"{gt_paths[0]}: label {int(gt[outside][0])} is not one of the {len(classes)} "
                                 f"classes ({gt_first}..{gt_first + len(classes) - 1}) nor the ignore index "
                                 f"{ignore} (check --classes, --gt-first-label, --ignore-index)")
            gt_index = np.where(ignored, -1, gt - gt_first)
            if settings.pred_first_label is None and not conventions.is_vb_semantic_record(record):
                zero_shares.append(float(np.mean(pred == 0)))
            return accumulator.add(pred - pred_first, gt_index, key=stem)

        return evaluate_semantic
    if task == "referring":
        ignore = None if settings.ignore_index is DEFAULT else settings.ignore_index
        file_settings["ignore_index"] = ignore

        def evaluate_referring(stem, pred_path, gt_paths, indexes):
            gt = evalfiles.load_labels(gt_paths[0], "mask")
            pred = evalfiles.load_labels(pred_path, "mask")
            pred = _fit(pred, gt.shape, task, settings.resize, stem)
            ignored = None if ignore is None else gt == ignore
            target = gt != 0 if ignored is None else (gt != 0) & ~ignored
            return accumulator.add(pred != 0, target, ignore=ignored, key=stem)

        return evaluate_referring
    if task == "matting":
        mask_patterns = tuple(settings.mask_patterns or DEFAULT_MASK_PATTERNS)
        file_settings["mask_patterns"] = list(mask_patterns)

        def evaluate_matting(stem, pred_path, gt_paths, indexes):
            gt = alpha_values(evalfiles.load_alpha(gt_paths[0]), str(gt_paths[0]))
            pred = alpha_values(evalfiles.load_alpha(pred_path), str(pred_path))
            pred = _fit(pred, gt.shape, task, settings.resize, stem)
            mask = _find_mask(indexes[0], mask_patterns, stem, settings, False, gt_paths[0])
            return accumulator.add(pred, gt, mask=mask, key=stem)

        return evaluate_matting

    def evaluate_instance(stem, pred_path, gt_paths, indexes):
        gts = [evalfiles.load_labels(path, "instance-id map") for path in gt_paths]
        pred = evalfiles.load_labels(pred_path, "instance-id map")
        pred = _fit(pred, gts[0].shape, task, settings.resize, stem)
        return accumulator.add(pred, gts if len(gts) > 1 else gts[0], key=stem)

    return evaluate_instance


def _find_mask(index, patterns, stem: str, settings: EvalSettings, required: bool, gt_path: Path):
    lookup = evalfiles.pairing_key(stem, settings.strip_prefixes or (), settings.strip_suffixes or ())
    path = index.find(patterns, lookup)
    if path is None or path == gt_path:
        if required:
            raise InputError(f"{stem}: this dataset needs its validity mask ({', '.join(patterns)}) beside the "
                             "ground truth")
        return None
    return evalfiles.load_labels(path, "validity mask") != 0

"""Evaluate a directory of predictions against a directory of ground truth, or pairs of arrays.

``evaluate_directory`` is what ``vb eval`` runs; ``evaluate_pairs`` is the same evaluation for arrays
from any source (a FiftyOne view, a data loader), so adapters need no files.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from vb_plugins.errors import InputError
from vb_plugins.evaluation import files as evalfiles
from vb_plugins.evaluation.depth import ALIGNMENTS, DepthAccumulator
from vb_plugins.evaluation.instance import InstanceAccumulator
from vb_plugins.evaluation.normals import NormalsAccumulator
from vb_plugins.evaluation.protocols import DATASETS_BY_TASK, DEFAULT_MASK_PATTERNS, SEMANTIC_PRESETS, depth_protocol
from vb_plugins.evaluation.report import build_report
from vb_plugins.evaluation.segmentation import ReferringAccumulator, SemanticAccumulator

TASKS = tuple(DATASETS_BY_TASK)
DEFAULT = "default"  # "use the dataset preset's value" for options where None is a meaningful choice


@dataclass
class EvalSettings:
    """Everything that decides how predictions are scored; recorded in the report.

    Depth: ``dataset`` preset, ``alignment``, ``pred_kind`` ("depth" | "disparity"), overrides of
    ``min_depth`` / ``max_depth`` / ``crop``, and PNG scales (PNG units per metre). Normals:
    ``gt_convention``, ``pred_convention`` (None: each prediction's record, else "camera"). Semantic:
    ``classes``, ``ignore_index`` (ground-truth value left out; None for none), ``gt_first_label`` (the
    ground-truth value of the first class), ``pred_first_label`` (``vb predict`` writes class i as i + 1).
    Referring: ``ignore_index`` (a ground-truth value left out, default none). Files: ``gt_patterns``,
    ``mask_patterns`` (``{key}`` = the prediction stem after stripping; shell wildcards allowed),
    ``strip_prefixes``, ``strip_suffixes``; ``resize`` predictions to the ground truth's size (else a
    size mismatch is an error); ``skip_missing`` predictions without ground truth (else an error).
    """

    dataset: str = "none"
    alignment: str = "none"
    pred_kind: str = "depth"
    min_depth: float | None = None
    max_depth: float | None = None
    crop: str | None = None
    depth_scale: float | None = None
    pred_depth_scale: float | None = None
    gt_convention: str = "camera"
    pred_convention: str | None = None
    classes: object = None
    ignore_index: object = DEFAULT
    gt_first_label: int | None = None
    pred_first_label: int = 1
    gt_patterns: tuple[str, ...] | None = None
    mask_patterns: tuple[str, ...] | None = None
    strip_suffixes: tuple[str, ...] | None = None
    strip_prefixes: tuple[str, ...] | None = None
    resize: bool = False
    skip_missing: bool = False
    extra: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        data = asdict(self)
        if self.classes is not None and not isinstance(self.classes, str | int):
            data["classes"] = [str(c) for c in self.classes] if isinstance(self.classes, list | tuple) \
                else str(self.classes)
        data["ignore_index"] = None if self.ignore_index is DEFAULT else self.ignore_index
        data.update(data.pop("extra"))
        return data


def check_task_settings(task: str, settings: EvalSettings) -> None:
    """Reject options that do not apply to ``task`` (a silently ignored option would mislead)."""
    if task not in TASKS:
        raise InputError(f"task {task!r} has no evaluation; expected one of {', '.join(TASKS)}")
    if settings.dataset not in DATASETS_BY_TASK[task]:
        raise InputError(f"dataset {settings.dataset!r} does not apply to {task}; expected one of "
                         f"{', '.join(DATASETS_BY_TASK[task])}")
    if settings.alignment not in ALIGNMENTS:
        raise InputError(f"alignment {settings.alignment!r}: expected one of {', '.join(ALIGNMENTS)}")
    if task != "depth":
        depth_only = {"alignment": settings.alignment != "none", "prediction kind": settings.pred_kind != "depth",
                      "min/max depth": settings.min_depth is not None or settings.max_depth is not None,
                      "crop": settings.crop is not None}
        used = [name for name, given in depth_only.items() if given]
        if used:
            raise InputError(f"{', '.join(used)}: only for depth evaluation, not {task}")
    if task != "semantic" and settings.classes is not None:
        raise InputError(f"--classes: only for semantic evaluation, not {task}")


def make_accumulator(task: str, settings: EvalSettings | None = None, classes=None, ignore_index=DEFAULT):
    """The accumulator for ``task`` configured by ``settings`` (arrays in, see each accumulator's ``add``)."""
    settings = settings or EvalSettings()
    check_task_settings(task, settings)
    if task == "depth":
        return DepthAccumulator(depth_protocol(settings.dataset, min_depth=settings.min_depth,
                                               max_depth=settings.max_depth, crop=settings.crop),
                                settings.alignment, settings.pred_kind)
    if task == "normals":
        return NormalsAccumulator(settings.gt_convention, settings.pred_convention or "camera")
    if task == "semantic":
        names = classes if classes is not None else semantic_class_names(settings, None)
        if names is None:
            raise InputError("semantic evaluation needs the class list: pass classes (--classes)")
        ignore = ignore_index if ignore_index is not DEFAULT else _semantic_ignore(settings)
        return SemanticAccumulator(names, ignore)
    if task == "referring":
        return ReferringAccumulator()
    return InstanceAccumulator()


def evaluate_pairs(task: str, pairs: Iterable, settings: EvalSettings | None = None, **kwargs) -> dict:
    """Evaluate ``(key, pred, gt)`` or ``(key, pred, gt, extra)`` tuples of arrays; returns the report.

    ``extra`` is the validity mask (depth, normals) or ignore mask (referring). Semantic labels are
    0-based class indices on both sides (pass ``classes=[...]``); instance ``gt`` may be a list of
    annotations (oracle). Keyword arguments are :class:`EvalSettings` fields.
    """
    settings = settings or EvalSettings(**kwargs)
    accumulator = make_accumulator(task, settings, classes=_class_names(settings.classes))
    for entry in pairs:
        key, pred, gt, *rest = entry
        extra = rest[0] if rest else None
        if task in ("depth", "normals"):
            accumulator.add(pred, gt, mask=extra, key=key)
        elif task == "referring":
            accumulator.add(pred, gt, ignore=extra, key=key)
        else:
            accumulator.add(pred, gt, key=key)
    return build_report(task, accumulator, {"options": settings.to_dict()})


# -- directories -------------------------------------------------------------------------------------------

def _class_names(classes) -> list[str] | None:
    if classes is None:
        return None
    if isinstance(classes, int):
        return [f"class {i}" for i in range(classes)]
    from vb_plugins.codecs.colors import parse_class_colours

    return [name for name, _ in parse_class_colours(classes, "--classes")]


def semantic_class_names(settings: EvalSettings, record: dict | None) -> list[str] | None:
    """Class names: given, else the dataset preset's, else those a prediction was made with."""
    names = _class_names(settings.classes)
    if names is None and SEMANTIC_PRESETS[settings.dataset].classes:
        names = list(SEMANTIC_PRESETS[settings.dataset].classes)
    if names is None and record:
        spec_classes = (record.get("spec") or {}).get("classes")
        if isinstance(spec_classes, dict) and spec_classes:
            names = list(spec_classes)
    return names


def _semantic_ignore(settings: EvalSettings):
    return SEMANTIC_PRESETS[settings.dataset].ignore_index if settings.ignore_index is DEFAULT \
        else settings.ignore_index


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
    from vb_plugins.ensemble import resize_nearest, resize_smooth

    if pred.shape[:2] == tuple(shape):
        return pred
    if not resize:
        raise InputError(f"{name}: prediction is {pred.shape[0]} x {pred.shape[1]} but ground truth is "
                         f"{shape[0]} x {shape[1]} (pass --resize to resize predictions to the ground truth)")
    if task == "depth":
        return resize_smooth(pred.astype(np.float32), shape)
    if task == "normals":
        values = resize_smooth(pred.astype(np.float32), shape)
        length = np.linalg.norm(values, axis=-1, keepdims=True)
        valid = resize_nearest(np.linalg.norm(pred, axis=-1) > 0.5, shape)
        return np.where(valid[..., None] & (length > 1e-6), values / np.maximum(length, 1e-6), 0.0)
    return resize_nearest(pred, shape)


def evaluate_directory(task: str, pred_dir, gt_dirs, settings: EvalSettings | None = None,
                       progress: Callable[[int, int], None] | None = None) -> dict:
    """Pair ``pred_dir``'s predictions with ground truth by stem, evaluate, and return the report.

    ``gt_dirs``: a directory, or several for instance segmentation (alternative annotations, scored as
    SA-Co's oracle). Raises :class:`InputError` for missing ground truth (unless ``skip_missing``),
    unreadable files, size mismatches (unless ``resize``) and when no image could be evaluated.
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
    file_settings: dict = {"gt_patterns": list(patterns), "strip_prefixes": list(prefixes),
                           "strip_suffixes": list(strip)}
    classes = None
    if task == "semantic":
        classes = semantic_class_names(settings, first_record)
        if classes is None:
            raise InputError("semantic evaluation needs the class list: pass --classes (or --dataset cityscapes)")
    accumulator = make_accumulator(task, settings, classes=classes,
                                   ignore_index=-1 if task == "semantic" else DEFAULT)
    evaluate_one = _directory_evaluator(task, settings, accumulator, classes, file_settings)
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
    return report


def _directory_evaluator(task, settings: EvalSettings, accumulator, classes, file_settings: dict):
    """A function (stem, prediction path, ground-truth paths, indexes) -> record, for ``task``."""
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
        ignore = _semantic_ignore(settings)
        gt_first = settings.gt_first_label if settings.gt_first_label is not None \
            else SEMANTIC_PRESETS[settings.dataset].gt_first_label
        file_settings.update({"ignore_index": ignore, "gt_first_label": gt_first,
                              "pred_first_label": settings.pred_first_label})

        def evaluate_semantic(stem, pred_path, gt_paths, indexes):
            record = evalfiles.read_record(pred_path, stem)
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
            return accumulator.add(pred - settings.pred_first_label, gt_index, key=stem)

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

"""Evaluation settings, the accumulator for a task, and the evaluation of pairs of arrays.

``evaluate_pairs`` scores arrays (or ``Prediction`` objects) from any source (a FiftyOne view, a data
loader), so adapters need no files; :func:`vb_plugins.evaluation.directory.evaluate_directory`, what
``vb eval`` runs, is the same evaluation for directories of files.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field

import numpy as np

from vb_plugins.errors import InputError
from vb_plugins.evaluation import conventions
from vb_plugins.evaluation.depth import ALIGNMENTS, DepthAccumulator
from vb_plugins.evaluation.instance import InstanceAccumulator
from vb_plugins.evaluation.normals import NormalsAccumulator
from vb_plugins.evaluation.protocols import DATASETS_BY_TASK, SEMANTIC_PRESETS, depth_protocol
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
    ground-truth value of the first class), ``pred_first_label`` (the predictions' value of the first class;
    None: ``vb predict``'s 1 for files, 0 for arrays; see :mod:`vb_plugins.evaluation.conventions`).
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
    pred_first_label: int | None = None
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
        ignore = ignore_index if ignore_index is not DEFAULT else semantic_ignore_index(settings)
        return SemanticAccumulator(names, ignore)
    if task == "referring":
        return ReferringAccumulator()
    return InstanceAccumulator()


def evaluate_pairs(task: str, pairs: Iterable, settings: EvalSettings | None = None, **kwargs) -> dict:
    """Evaluate ``(key, pred, gt)`` or ``(key, pred, gt, extra)`` tuples; returns the report.

    ``pred``: an array, or a :class:`vb_plugins.predict.Prediction` as ``Predictor`` returns it, which
    brings its own conventions (semantic: labels 1..N with 0 = unlabeled, and its class list when
    ``classes`` is not given; normals: its convention unless ``pred_convention`` is given). ``extra`` is
    the validity mask (depth, normals) or ignore mask (referring). Semantic arrays hold 0-based class
    indices on both sides unless ``pred_first_label`` says otherwise (``pred_first_label=1`` for
    ``Prediction.values`` or ``vb predict`` label files; see :mod:`vb_plugins.evaluation.conventions`);
    instance ``gt`` may be a list of annotations (oracle). Keyword arguments are :class:`EvalSettings` fields.
    """
    settings = settings or EvalSettings(**kwargs)
    check_task_settings(task, settings)
    entries = iter(pairs)
    first = next(entries, None)
    classes = _class_names(settings.classes)
    first_prediction = conventions.as_prediction(first[1]) if first is not None else None
    if task == "semantic" and classes is None and first_prediction is not None:
        classes = first_prediction.spec.class_names or None
    accumulator = make_accumulator(task, settings, classes=classes)
    array_first_label = settings.pred_first_label or 0
    one_past = False  # a 0-based array holding label N: probably vb predict labels
    for entry in itertools.chain([first] if first is not None else [], entries):
        key, pred, gt, *rest = entry
        extra = rest[0] if rest else None
        prediction = conventions.as_prediction(pred)
        convention = settings.pred_convention
        first_label = array_first_label
        if prediction is not None:
            if prediction.task != task:
                raise InputError(f"{key}: a {prediction.task} prediction cannot be evaluated as {task}")
            names = prediction.spec.class_names
            if task == "semantic" and names and names != accumulator.class_names:
                raise InputError(f"{key}: predicted with classes {names} but evaluated with "
                                 f"{accumulator.class_names}; evaluate with the prediction's class list and order")
            convention = convention or prediction.spec.option("convention", "camera")
            first_label = conventions.VB_PREDICT_FIRST_LABEL
            pred = prediction.values
        if task == "depth":
            accumulator.add(pred, gt, mask=extra, key=key)
        elif task == "normals":
            accumulator.add(pred, gt, mask=extra, key=key, pred_convention=convention)
        elif task == "referring":
            accumulator.add(pred, gt, ignore=extra, key=key)
        elif task == "semantic":
            if prediction is None and settings.pred_first_label is None and not one_past:
                one_past = bool(np.any(np.asarray(pred) == len(accumulator.class_names)))
            accumulator.add(conventions.shift_labels(pred, first_label), gt, key=key)
        else:
            accumulator.add(pred, gt, key=key)
    report = build_report(task, accumulator, {"options": settings.to_dict()})
    if one_past:
        report["warnings"] = [conventions.one_past_warning(len(accumulator.class_names))]
        conventions.warn(report["warnings"][0])
    return report


def _class_names(classes) -> list[str] | None:
    if classes is None:
        return None
    if isinstance(classes, int):
        return [f"class {i}" for i in range(classes)]
    from vb_plugins.codecs.colors import parse_class_colours  # the codecs import matplotlib; evaluation does not

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


def semantic_ignore_index(settings: EvalSettings):
    return SEMANTIC_PRESETS[settings.dataset].ignore_index if settings.ignore_index is DEFAULT \
        else settings.ignore_index

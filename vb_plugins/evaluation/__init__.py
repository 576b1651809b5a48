"""Evaluation with the published protocols: depth, normals, semantic, referring and instance segmentation.

Arrays in, numbers out, so the CLI, the FiftyOne plugin and notebooks score the same way:

    >>> from vb_plugins.evaluation import DepthAccumulator
    >>> acc = DepthAccumulator("nyu", alignment="none")       # NYUv2 range and Eigen crop
    >>> for pred, gt in pairs:
    ...     acc.add(pred, gt)
    >>> acc.result()["metrics"]["delta1"]

or a whole report (JSON-ready dict) from pairs or from directories:

    >>> from vb_plugins.evaluation import evaluate_pairs, evaluate_directory, EvalSettings
    >>> report = evaluate_pairs("semantic", [(key, pred, gt), ...], classes=["road", "car"])  # 0-based arrays
    >>> report = evaluate_pairs("semantic", [(key, prediction, gt), ...])   # a Predictor's output, as it is
    >>> report = evaluate_directory("depth", "preds/", "nyu_gt/", EvalSettings(dataset="nyu"))

Each metric module's docstring states its formula and the reference implementation it follows.
"""

from vb_plugins.evaluation.conventions import EvalWarning
from vb_plugins.evaluation.depth import ALIGNMENTS, DepthAccumulator, align_depth, depth_metrics
from vb_plugins.evaluation.directory import evaluate_directory
from vb_plugins.evaluation.instance import (
    IOU_THRESHOLDS,
    InstanceAccumulator,
    mask_iou_matrix,
    match_instances,
    matthews,
)
from vb_plugins.evaluation.normals import NormalsAccumulator, angular_errors, normal_metrics
from vb_plugins.evaluation.plots import plot_report  # matplotlib loads when a plot is drawn
from vb_plugins.evaluation.protocols import (
    CITYSCAPES_CLASSES,
    DEPTH_PRESETS,
    SEMANTIC_PRESETS,
    DepthProtocol,
    SemanticProtocol,
    crop_mask,
    depth_protocol,
)
from vb_plugins.evaluation.report import build_report, format_table, write_report
from vb_plugins.evaluation.runner import EvalSettings, evaluate_pairs, make_accumulator
from vb_plugins.evaluation.segmentation import (
    ReferringAccumulator,
    SemanticAccumulator,
    confusion_matrix,
    intersection_union,
    iou_from_confusion,
)

__all__ = [
    "ALIGNMENTS", "DepthAccumulator", "align_depth", "depth_metrics",
    "IOU_THRESHOLDS", "InstanceAccumulator", "mask_iou_matrix", "match_instances", "matthews",
    "NormalsAccumulator", "angular_errors", "normal_metrics",
    "CITYSCAPES_CLASSES", "DEPTH_PRESETS", "SEMANTIC_PRESETS", "DepthProtocol", "SemanticProtocol", "crop_mask",
    "depth_protocol",
    "build_report", "format_table", "write_report", "plot_report",
    "EvalSettings", "EvalWarning", "evaluate_directory", "evaluate_pairs", "make_accumulator",
    "ReferringAccumulator", "SemanticAccumulator", "confusion_matrix", "intersection_union",
    "iou_from_confusion",
]

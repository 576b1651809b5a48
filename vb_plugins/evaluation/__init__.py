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

import importlib

# name -> the module that defines it; loaded on first use, so that `vb` (whose `eval` command needs only the
# presets' names to build its options) does not load every metric at start-up.
_EXPORTS = {
    **dict.fromkeys(("ALIGNMENTS", "DepthAccumulator", "align_depth", "depth_metrics"), "depth"),
    **dict.fromkeys(("IOU_THRESHOLDS", "InstanceAccumulator", "mask_iou_matrix", "match_instances", "matthews"),
                    "instance"),
    **dict.fromkeys(("NormalsAccumulator", "angular_errors", "normal_metrics"), "normals"),
    **dict.fromkeys(("CITYSCAPES_CLASSES", "DEPTH_PRESETS", "SEMANTIC_PRESETS", "DepthProtocol", "SemanticProtocol",
                     "crop_mask", "depth_protocol"), "protocols"),
    **dict.fromkeys(("build_report", "format_table", "write_report"), "report"),
    "plot_report": "plots",  # matplotlib loads when a plot is drawn
    **dict.fromkeys(("EvalSettings", "evaluate_pairs", "make_accumulator"), "runner"),
    "EvalWarning": "conventions",
    "evaluate_directory": "directory",
    **dict.fromkeys(("ReferringAccumulator", "SemanticAccumulator", "confusion_matrix", "intersection_union",
                     "iou_from_confusion"), "segmentation"),
}


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})


__all__ = list(_EXPORTS)

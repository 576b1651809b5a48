"""Report plots (matplotlib, Agg backend: no display needed).

- depth: AbsRel pooled per ground-truth depth bin, with the pixel count of each bin,
- semantic: per-class IoU bars (classes never seen are marked),
- normals: % of pixels under each angular threshold, pooled and per image,
- referring: histogram of per-sample IoU with cIoU / gIoU marked,
- instance: pmF1 at each IoU threshold.
"""

from __future__ import annotations

from pathlib import Path

from vb_plugins.errors import InputError
from vb_plugins.evaluation.normals import THRESHOLDS, threshold_key
from vb_plugins.io import atomic_path

PLOT_SUFFIXES = (".png", ".pdf", ".svg")


def plot_report(report: dict, path, overwrite: bool = True) -> Path:
    """Draw the task's plot of ``report`` to ``path`` (.png, .pdf or .svg), atomically."""
    import matplotlib  # not on import: `import vb_plugins.evaluation` stays free of matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    path = Path(path)
    if path.suffix.lower() not in PLOT_SUFFIXES:
        raise InputError(f"{path}: plots are written as {', '.join(PLOT_SUFFIXES)}")
    draw = {"depth": _depth, "semantic": _semantic, "normals": _normals, "referring": _referring,
            "instance": _instance}[report["task"]]
    figure = draw(plt, report)
    try:
        figure.tight_layout()
        with atomic_path(path, overwrite) as temp:
            figure.savefig(temp, dpi=120, format=path.suffix.lower().lstrip("."))
    finally:
        plt.close(figure)
    return path


def _title(report: dict) -> str:
    unit = "samples" if report["task"] in ("referring", "instance") else "images"
    return f"vb eval {report['task']} ({report['aggregate']['images']} {unit})"


def _depth(plt, report):
    bins = [b for b in report["aggregate"]["abs_rel_by_depth"] if b["pixels"]]
    figure, axis = plt.subplots(figsize=(8, 4.5))
    labels = [f"{b['from_m']:g}-{'inf' if b['to_m'] is None else format(b['to_m'], 'g')}" for b in bins]
    positions = range(len(bins))
    axis.bar(positions, [b["abs_rel"] for b in bins], color="#d1495b")
    axis.set_xticks(list(positions), labels, rotation=45, ha="right")
    axis.set_xlabel("ground-truth depth (m)")
    axis.set_ylabel("AbsRel (pooled over pixels in the bin)")
    counts = axis.twinx()
    counts.plot(list(positions), [b["pixels"] for b in bins], color="#30638e", marker="o", linewidth=1)
    counts.set_ylabel("pixels", color="#30638e")
    counts.set_ylim(bottom=0)
    protocol = report["protocol"]
    axis.set_title(f"{_title(report)}: {protocol['dataset']['name']}, alignment {protocol['alignment']}")
    return figure


def _semantic(plt, report):
    per_class = report["aggregate"]["per_class_iou"]
    names = list(per_class)
    figure, axis = plt.subplots(figsize=(8, max(3.0, 0.3 * len(names) + 1.2)))
    values = [per_class[n] if per_class[n] is not None else 0.0 for n in names]
    bars = axis.barh(range(len(names)), values, color="#00798c")
    for bar, name in zip(bars, names):
        if per_class[name] is None:
            axis.text(0.01, bar.get_y() + bar.get_height() / 2, "not present", va="center", fontsize=8)
    axis.set_yticks(range(len(names)), names)
    axis.invert_yaxis()
    axis.set_xlim(0, 1)
    miou = report["aggregate"]["metrics"]["miou"]
    if miou is not None:
        axis.axvline(miou, color="#d1495b", linestyle="--", label=f"mIoU {miou:.3f}")
        axis.legend(loc="lower right")
    axis.set_xlabel("IoU")
    axis.set_title(_title(report))
    return figure


def _normals(plt, report):
    aggregate = report["aggregate"]
    figure, axis = plt.subplots(figsize=(7, 4))
    keys = [threshold_key(t) for t in THRESHOLDS]
    width = 0.4
    for offset, (pooling, colour) in zip((-width / 2, width / 2), (("pooled", "#00798c"), ("per_image", "#edae49"))):
        values = [aggregate[pooling][k] for k in keys]
        axis.bar([i + offset for i in range(len(keys))], values, width, label=pooling.replace("_", " "),
                 color=colour)
    axis.set_xticks(range(len(keys)), [f"< {t:g}°" for t in THRESHOLDS])
    axis.set_ylim(0, 100)
    axis.set_ylabel("% of pixels")
    axis.legend()
    axis.set_title(f"{_title(report)}: mean {aggregate['pooled']['mean']:.2f}°, "
                   f"median {aggregate['pooled']['median']:.2f}° (pooled)")
    return figure


def _referring(plt, report):
    ious = [r["iou"] for r in report["per_image"]]
    metrics = report["aggregate"]["metrics"]
    figure, axis = plt.subplots(figsize=(7, 4))
    axis.hist(ious, bins=20, range=(0, 1), color="#00798c")
    for key, colour in (("ciou", "#d1495b"), ("giou", "#edae49")):
        if metrics[key] is not None:
            axis.axvline(metrics[key], color=colour, linestyle="--", label=f"{key} {metrics[key]:.3f}")
    axis.set_xlabel("per-sample IoU")
    axis.set_ylabel("samples")
    axis.legend()
    axis.set_title(_title(report))
    return figure


def _instance(plt, report):
    by_threshold = report["aggregate"]["pmF1_by_threshold"]
    metrics = report["aggregate"]["metrics"]
    figure, axis = plt.subplots(figsize=(7, 4))
    axis.plot([float(t) for t in by_threshold], list(by_threshold.values()), marker="o", color="#00798c")
    axis.set_ylim(0, 1)
    axis.set_xlabel("IoU threshold")
    axis.set_ylabel("pmF1")
    axis.set_title(f"{_title(report)}: cgF1 {metrics['cgF1']:.1f}, IL_MCC {metrics['IL_MCC']:.2f}")
    return figure

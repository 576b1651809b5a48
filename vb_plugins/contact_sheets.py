"""One picture per scene that shows a prediction against its ground truth (what `vb demo` writes).

Rows: depth (input photo, ground truth, prediction, AbsRel error) and surface normals (key sphere, ground
truth, prediction, angular error). Ground truth and prediction share one depth scale (the ground truth's
2nd-98th percentile, 1/depth spacing, inferno, near bright) with its colour bar in metres; errors have
their own colour bars (AbsRel 0..0.5, angle 0..60 degrees, viridis). Gray: no ground truth (sky, nothing
hit) or no prediction.
"""

from __future__ import annotations

import numpy as np

from vb_plugins.codecs.normals import NormalsCodec
from vb_plugins.previews import (
    MISSING_GRAY,
    Preview,
    _box,
    _figure,
    _pixels,
    add_depth_colour_bar,
    add_normals_key,
    depth_colours,
    depth_range,
)

ERROR_CMAP = "viridis"
ABS_REL_MAX = 0.5
ANGLE_MAX = 60.0
_PANEL = 220  # pixels per image panel


def _error_colours(error: np.ndarray, valid: np.ndarray, top: float) -> np.ndarray:
    import matplotlib

    scaled = np.clip(np.nan_to_num(error, nan=0.0, posinf=top) / top, 0, 1)
    rgb = (matplotlib.colormaps[ERROR_CMAP](scaled)[..., :3] * 255 + 0.5).astype(np.uint8)
    rgb[~valid] = MISSING_GRAY
    return rgb


def _error_bar(figure, rect, top: float, label: str):
    import matplotlib

    axes = figure.add_axes(rect)
    axes.imshow(matplotlib.colormaps[ERROR_CMAP](np.linspace(0, 1, 256))[::-1, None, :3], aspect="auto",
                extent=(0, 1, 0, top), interpolation="nearest")
    axes.set_xticks([])
    axes.yaxis.tick_right()
    axes.tick_params(labelsize=7)
    axes.set_title(label, fontsize=8)
    return axes


def _normals_picture(normals: np.ndarray) -> np.ndarray:
    valid = np.linalg.norm(normals, axis=-1) > 0.5
    rgb = NormalsCodec().encode(np.where(valid[..., None], normals, [0.0, 0.0, 1.0]))
    rgb[~valid] = 0
    return rgb


def contact_sheet(image, depth_truth, depth_predicted, normals_truth, normals_predicted, title: str = "") -> Preview:
    """The sheet of one scene (see the module docstring); ``regions`` names the boxes of ``depth bar``,
    ``abs rel bar``, ``angle bar`` and ``normals key``; ``key`` is the depth bar."""
    depth_truth = np.asarray(depth_truth, np.float64)
    depth_predicted = np.asarray(depth_predicted, np.float64)
    near, far = depth_range(depth_truth)
    bar_w, gap, margin, title_h, label_h = 34, 46, 12, 34, 18
    width = margin + 4 * _PANEL + 3 * gap + 2 * (bar_w + gap) + margin
    height = title_h + 2 * (_PANEL + label_h) + gap + margin
    figure = _figure(width, height)
    figure.text(margin / width, 1 - 8 / height, title, ha="left", va="top", fontsize=10)

    def panel(row: int, column: int, picture, label: str):
        x = margin + column * (_PANEL + gap) + (bar_w + gap if column >= 3 else 0)
        y = height - title_h - label_h - row * (_PANEL + label_h + gap) - _PANEL
        axes = figure.add_axes([x / width, y / height, _PANEL / width, _PANEL / height])
        axes.set_axis_off()
        if picture is not None:
            axes.imshow(picture, interpolation="nearest")
        axes.set_title(label, fontsize=9)
        return axes, x, y

    def bar_rect(x: float, y: float) -> list[float]:
        return [(x + _PANEL + 8) / width, (y + 10) / height, bar_w / 2 / width, (_PANEL - 20) / height]

    truth_valid = np.isfinite(depth_truth) & (depth_truth > 0)
    predicted_valid = np.isfinite(depth_predicted) & (depth_predicted > 0)
    panel(0, 0, image, "input")
    panel(0, 1, depth_colours(depth_truth, near, far), "ground truth depth")
    _, x, y = panel(0, 2, depth_colours(depth_predicted, near, far), "predicted depth")
    depth_bar = add_depth_colour_bar(figure, bar_rect(x, y), near, far)
    valid = truth_valid & predicted_valid
    with np.errstate(divide="ignore", invalid="ignore"):
        abs_rel = np.abs(depth_predicted - depth_truth) / depth_truth
    _, x, y = panel(0, 3, _error_colours(abs_rel, valid, ABS_REL_MAX), "depth error (AbsRel)")
    abs_rel_bar = _error_bar(figure, bar_rect(x, y), ABS_REL_MAX, "AbsRel")

    truth_normals = np.asarray(normals_truth, np.float64)
    predicted_normals = np.asarray(normals_predicted, np.float64)
    key_axes, x, y = panel(1, 0, None, "")
    key_axes.remove()
    inset = 40
    key = add_normals_key(figure, [(x + inset) / width, (y + inset / 2) / height, (_PANEL - 2 * inset) / width,
                                   (_PANEL - 2 * inset) / height])
    panel(1, 1, _normals_picture(truth_normals), "ground truth normals")
    panel(1, 2, _normals_picture(predicted_normals), "predicted normals")
    normal_valid = (np.linalg.norm(truth_normals, axis=-1) > 0.5) & (np.linalg.norm(predicted_normals, axis=-1) > 0.5)
    cosine = np.clip((truth_normals * predicted_normals).sum(-1), -1.0, 1.0)
    _, x, y = panel(1, 3, _error_colours(np.degrees(np.arccos(cosine)), normal_valid, ANGLE_MAX),
                    "normals error (degrees)")
    angle_bar = _error_bar(figure, bar_rect(x, y), ANGLE_MAX, "degrees")
    pixels = _pixels(figure)
    regions = {"depth bar": _box(figure, depth_bar), "abs rel bar": _box(figure, abs_rel_bar),
               "angle bar": _box(figure, angle_bar), "normals key": _box(figure, key)}
    return Preview(pixels, regions["depth bar"], regions)

"""Pictures of decoded values that people can read (matplotlib, Agg: no display needed).

- depth: the depth colour-mapped with ``inferno`` on a 1/depth scale (near bright, far dark: near
  structure stays visible), with a colour bar labelled in metres. The range is this image's 2nd to 98th
  percentile of finite depth unless a fixed ``depth_range`` is given (fix it to compare images); sky and
  depths beyond the range take the far colour, pixels without depth are gray;
- normals: the normals in their LUB colours beside a key: a sphere painted with the same colours, marked
  left / right / up / down / towards the camera;
- semantic: the labels painted in the legend's colours, with a legend of class names (and each class's
  share of the image); unlabeled pixels are black;
- instance: each instance in its colour, with a legend of instance numbers and classes;
- referring: the mask (or one colour per object), with a legend naming the object(s).

Every picture is a :class:`Preview`: ``pixels`` (uint8 H x W x 3) and ``key``, the box (x0, y0, x1, y1) that
holds its colour bar, legend or key.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from vb_plugins.codecs.normals import NormalsCodec, convert_normals
from vb_plugins.codecs.semantic import paint_labels
from vb_plugins.io import write_png

DEPTH_CMAP = "inferno"
MISSING_GRAY = (128, 128, 128)
_TARGET = (320, 768)  # the image panel's longer side is scaled into this range (pixels)
_DPI = 100
_MAX_LEGEND_ROWS = 24


@dataclass(frozen=True)
class Preview:
    pixels: np.ndarray
    key: tuple[int, int, int, int]  # x0, y0, x1, y1 of the colour bar / legend / key region
    regions: dict = field(default_factory=dict)  # further named boxes (contact sheets: every bar and key)

    def save(self, path, overwrite: bool = True) -> Path:
        return write_png(path, self.pixels, overwrite)


def _panel_scale(height: int, width: int) -> float:
    longer = max(height, width)
    return float(np.clip(longer, *_TARGET)) / longer


def _figure(width_px: int, height_px: int):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width_px / _DPI, height_px / _DPI), dpi=_DPI, facecolor="white")
    FigureCanvasAgg(figure)
    return figure


def _pixels(figure) -> np.ndarray:
    figure.canvas.draw()
    return np.asarray(figure.canvas.buffer_rgba())[..., :3].copy()


def _box(figure, axes) -> tuple[int, int, int, int]:
    """An axes' pixel box in the rendered picture (y from the top)."""
    x0, y0, x1, y1 = axes.get_window_extent().extents
    height = figure.bbox.height
    return int(np.floor(x0)), int(np.floor(height - y1)), int(np.ceil(x1)), int(np.ceil(height - y0))


def _layout(image_hw, side_px: int, title: str, min_height: int = 0):
    """A figure with the image panel on the left and a side panel; returns (figure, image axes, side box in
    figure fractions)."""
    scale = _panel_scale(*image_hw)
    panel_h, panel_w = int(round(image_hw[0] * scale)), int(round(image_hw[1] * scale))
    margin, title_h = 12, 16 + 14 * (title.count("\n") + 1)
    width = margin + panel_w + margin + side_px + margin
    height = max(title_h + panel_h + margin, title_h + min_height + margin)
    figure = _figure(width, height)
    image_axes = figure.add_axes([margin / width, (height - title_h - panel_h) / height, panel_w / width,
                                  panel_h / height])
    image_axes.set_axis_off()
    figure.text(margin / width, 1 - 8 / height, title, ha="left", va="top", fontsize=10)
    side = ((2 * margin + panel_w) / width, margin / height, side_px / width, (height - title_h - margin) / height)
    return figure, image_axes, side


# -- depth --------------------------------------------------------------------------------------------------

def depth_range(depth, percentiles=(2.0, 98.0)) -> tuple[float, float]:
    """(near, far) metres: the given percentiles of the finite positive depths (1, 10 when there are none)."""
    depth = np.asarray(depth, dtype=np.float64)
    finite = depth[np.isfinite(depth) & (depth > 0)]
    if not finite.size:
        return 1.0, 10.0
    near, far = np.percentile(finite, percentiles)
    if far <= near * 1.01:
        near, far = near / 1.1, far * 1.1
    return float(near), float(far)


def _fraction(depth, near: float, far: float) -> np.ndarray:
    """Position on the colour scale: 1 at ``near``, 0 at ``far`` and beyond (1/depth spacing)."""
    depth = np.asarray(depth, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        inverse = np.where(depth > 0, 1.0 / depth, np.inf)
    return np.clip((inverse - 1.0 / far) / (1.0 / near - 1.0 / far), 0.0, 1.0)


def depth_colours(depth, near: float, far: float, cmap: str = DEPTH_CMAP) -> np.ndarray:
    """Depth -> uint8 RGB on the preview's scale; NaN / non-positive depth gray, sky (inf) the far colour."""
    import matplotlib

    depth = np.asarray(depth, dtype=np.float64)
    rgb = (matplotlib.colormaps[cmap](_fraction(depth, near, far))[..., :3] * 255 + 0.5).astype(np.uint8)
    missing = np.isnan(depth) | (depth <= 0)
    rgb[missing] = MISSING_GRAY
    return rgb


def _depth_ticks(near: float, far: float) -> list[float]:
    candidates = [v * 10.0**e for e in range(-2, 4) for v in (1, 1.5, 2, 3, 5, 7)]
    inside = [v for v in candidates if near <= v <= far]
    ticks = sorted({round(near, 2 if near < 10 else 0), *inside, round(far, 2 if far < 10 else 0)})
    kept = [ticks[0]]
    for tick in ticks[1:-1]:  # keep labels apart on the 1/depth scale; both ends stay
        if abs(_fraction(tick, near, far) - _fraction(kept[-1], near, far)) >= 0.07:
            kept.append(tick)
    if len(kept) > 1 and abs(_fraction(ticks[-1], near, far) - _fraction(kept[-1], near, far)) < 0.07:
        kept.pop()
    return kept + [ticks[-1]]


def add_depth_colour_bar(figure, rect, near: float, far: float, cmap: str = DEPTH_CMAP, label: str = "depth, m"):
    """A vertical colour bar for :func:`depth_colours` in ``rect`` (figure fractions), ticks in metres."""
    import matplotlib

    axes = figure.add_axes(rect)
    levels = np.linspace(0.0, 1.0, 64)  # a few pixels per level: the ends are drawn too
    axes.imshow(matplotlib.colormaps[cmap](levels)[::-1, None, :3], aspect="auto", extent=(0, 1, 0, 1),
                interpolation="nearest")
    ticks = _depth_ticks(near, far)
    # The ends hold everything beyond them (nearer than near, farther than far: sky).
    labels = [f"≤ {t:g}" if i == 0 else f"≥ {t:g}" if i == len(ticks) - 1 else f"{t:g}" for i, t in enumerate(ticks)]
    axes.set_yticks([float(_fraction(t, near, far)) for t in ticks], labels, fontsize=8)
    axes.set_xticks([])
    axes.yaxis.tick_right()
    axes.set_ylim(0, 1)
    axes.set_title(label, fontsize=9)
    return axes


def depth_preview(depth, depth_range_m: tuple[float, float] | None = None, title: str | None = None) -> Preview:
    """Depth in metres -> a :class:`Preview` with a colour bar in metres (see the module docstring)."""
    depth = np.asarray(depth, dtype=np.float64)
    near, far = depth_range_m if depth_range_m is not None else depth_range(depth)
    span = (f"fixed range {near:g}-{far:g} m" if depth_range_m is not None else
            "range: 2nd-98th percentile of this image")
    figure, axes, side = _layout(depth.shape, 90, title or f"depth, m: {DEPTH_CMAP}, 1/depth scale\n{span}",
                                 min_height=200)
    axes.imshow(depth_colours(depth, near, far), interpolation="nearest")
    x, y, w, h = side
    bar = add_depth_colour_bar(figure, [x + 0.1 * w, y + 0.05 * h, 0.25 * w, 0.85 * h], near, far)
    return Preview(_pixels(figure), _box(figure, bar))


# -- normals ------------------------------------------------------------------------------------------------

def normals_key(size: int = 128, convention: str = "camera") -> np.ndarray:
    """A sphere seen from the camera, painted with the normal-map colours: uint8 size x size x 3, white
    outside the sphere."""
    axis = (np.arange(size) + 0.5) / size * 2.0 - 1.0
    x, y = np.meshgrid(axis, -axis)  # y up
    inside = x**2 + y**2 < 1.0
    z = np.sqrt(np.clip(1.0 - x**2 - y**2, 0.0, 1.0))
    normals = np.stack([x, y, z], axis=-1)
    normals = np.where(inside[..., None], normals, [0.0, 0.0, 1.0])
    rgb = NormalsCodec().encode(convert_normals(normals, "camera", convention), convention=convention)
    rgb[~inside] = 255
    return rgb


def add_normals_key(figure, rect, convention: str = "camera"):
    axes = figure.add_axes(rect)
    axes.imshow(normals_key(128, convention), interpolation="nearest", extent=(-1, 1, -1, 1))
    axes.set_axis_off()
    for text, (x, y, ha, va) in {"left": (-1.02, 0, "right", "center"), "right": (1.02, 0, "left", "center"),
                                 "up": (0, 1.04, "center", "bottom"), "down": (0, -1.04, "center", "top")}.items():
        axes.text(x, y, text, ha=ha, va=va, fontsize=8, clip_on=False)
    axes.text(0, 0, "towards\ncamera", ha="center", va="center", fontsize=7)
    axes.set_title("normals key", fontsize=9, pad=14)
    return axes


def normals_preview(picture: np.ndarray, convention: str = "camera", title: str = "surface normals") -> Preview:
    """The normal map's colours (``picture``, uint8 RGB) beside a key sphere."""
    figure, axes, side = _layout(picture.shape[:2], 200, f"{title} ({convention} frame)\nblack: no normal",
                                 min_height=220)
    axes.imshow(picture, interpolation="nearest")
    x, y, w, h = side
    height_px = figure.bbox.height
    size = min(0.6 * w * figure.bbox.width, 0.7 * h * height_px)
    key = add_normals_key(figure, [x + 0.2 * w, y + h - (size + 30) / height_px, size / figure.bbox.width,
                                   size / height_px], convention)
    return Preview(_pixels(figure), _box(figure, key))


# -- labels -------------------------------------------------------------------------------------------------

def labels_preview(labels, names: list[str], colours, title: str, unlabeled=(0, 0, 0),
                   unlabeled_name: str = "unlabeled") -> Preview:
    """Labels (0 = unlabeled, i = the i-th entry) painted in ``colours``, with a legend of ``names``."""
    from matplotlib.patches import Patch

    labels = np.asarray(labels)
    colours = np.asarray(colours, np.uint8).reshape(-1, 3)
    counts = np.bincount(labels.ravel().astype(np.int64), minlength=len(colours) + 1)
    total = max(labels.size, 1)
    entries = [(f"{unlabeled_name} ({100 * counts[0] / total:.0f} %)", unlabeled)] if counts[0] else []
    entries += [(f"{name} ({100 * counts[i + 1] / total:.0f} %)", tuple(colours[i])) for i, name in enumerate(names)]
    hidden = max(0, len(entries) - _MAX_LEGEND_ROWS)
    entries = entries[:_MAX_LEGEND_ROWS]
    longest = max((len(text) for text, _ in entries), default=10)
    side_px = int(np.clip(40 + 6.5 * longest, 140, 360))
    figure, axes, side = _layout(labels.shape, side_px, title, min_height=22 * (len(entries) + 2))
    axes.imshow(paint_labels(labels, colours, unlabeled), interpolation="nearest")
    legend_axes = figure.add_axes(side)
    legend_axes.set_axis_off()
    handles = [Patch(facecolor=np.array(colour) / 255.0, edgecolor="0.3", label=text) for text, colour in entries]
    if hidden:
        handles.append(Patch(facecolor="white", edgecolor="white", label=f"... {hidden} more"))
    legend = legend_axes.legend(handles=handles, loc="upper left", frameon=False, fontsize=8, handlelength=2.2,
                                handleheight=1.4, borderaxespad=0.0)
    figure.canvas.draw()
    box = legend.get_window_extent()
    height = figure.bbox.height
    key = (int(box.x0), int(height - box.y1), int(np.ceil(box.x1)), int(np.ceil(height - box.y0)))
    return Preview(_pixels(figure), key)


def _as_decoded(decoding, spec) -> tuple[list[str], list]:
    """Legend names and colours; an entry given as a colour word is shown in the colour it was matched to
    and named with its word ("cat: green")."""
    matched = getattr(decoding, "matched", None) or {}
    names, colours = [], []
    for name, colour in spec.classes:
        match = matched.get(name)
        given = match.get("given") if match else None
        names.append(f"{name}: {given}" if isinstance(given, str) else name)
        colours.append(tuple(match["decoded_as"]) if match else tuple(colour))
    return names, colours


# -- dispatch -----------------------------------------------------------------------------------------------

def _depth_picture(task, decoding, spec, values, depth_range_m):
    return depth_preview(values, depth_range_m)


def _normals_picture(task, decoding, spec, values, depth_range_m):
    convention = spec.option("convention", "camera") if spec is not None else "camera"
    return normals_preview(task.preview(decoding, spec), convention)


def _labels_picture(task, decoding, spec, values, depth_range_m):
    names, colours = _as_decoded(decoding, spec)
    return labels_preview(values, names, colours, f"{task.name}: labels 1..N")


def _instances_picture(task, decoding, spec, values, depth_range_m):
    colours = np.asarray(getattr(decoding, "colours", np.zeros((0, 3))), np.uint8).reshape(-1, 3)
    classes = list(getattr(decoding, "classes", None) or [])
    default = spec.class_names[0] if spec is not None and spec.classes else "object"
    names = [f"{k} {classes[k - 1] if k - 1 < len(classes) and classes[k - 1] else default}"
             for k in range(1, len(colours) + 1)]
    return labels_preview(values, names, colours, f"{task.name}: {len(colours)} instance(s)",
                          unlabeled_name="background")


def _mask_picture(task, decoding, spec, values, depth_range_m):
    if spec is not None and spec.classes:
        names, colours = _as_decoded(decoding, spec)
        return labels_preview(values, names, colours, f"{task.name}: {len(spec.classes)} objects",
                              unlabeled_name="background")
    name = (spec.expression if spec is not None and spec.expression else "object")
    return labels_preview(values.astype(np.uint8), [name], [(255, 255, 255)], f"{task.name}: mask",
                          unlabeled_name="background")


def _task_picture(task, decoding, spec, values, depth_range_m):
    """Any other kind: the task's own picture, framed and titled."""
    picture = task.preview(decoding, spec)
    figure, axes, _ = _layout(picture.shape[:2], 10, task.name)
    axes.imshow(picture, interpolation="nearest")
    return Preview(_pixels(figure), (0, 0, 0, 0))


# The readable picture of each storage form of value kinds (vb_plugins.kinds.ValueKind.stored_as).
PICTURES = {"depth": _depth_picture, "normals": _normals_picture, "labels": _labels_picture,
            "instances": _instances_picture, "mask": _mask_picture}


def preview_for(task, decoding, spec=None, depth_range_m: tuple[float, float] | None = None) -> Preview:
    """The readable picture of a decoding (from ``task.decode`` or a prediction) for ``task``."""
    picture = PICTURES.get(task.kind.stored_as, _task_picture)
    return picture(task, decoding, spec, np.asarray(decoding.values), depth_range_m)

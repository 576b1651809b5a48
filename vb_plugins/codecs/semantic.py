"""Semantic segmentation <-> RGB: each class painted in the colour its legend gives it.

Decoding assigns each pixel the nearest legend colour; pixels farther than ``tolerance`` from every
legend colour stay unlabeled (0). Label value ``i + 1`` is the i-th class of the legend.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from vb_plugins.codecs._arrays import as_rgb, check_hw
from vb_plugins.codecs._modes import resolve_mode
from vb_plugins.codecs._nearest import nearest_colours
from vb_plugins.codecs._robust import robust_labels
from vb_plugins.codecs.base import Computed, Decoding, compute_later
from vb_plugins.codecs.colors import RGB, check_distinct_colours, parse_class_colours, parse_colour
from vb_plugins.errors import InputError

# Euclidean distance in 8-bit RGB levels beyond which a pixel matches no legend colour.
DEFAULT_TOLERANCE = 80.0


def legend_colours(classes) -> tuple[list[str], np.ndarray]:
    """(names, K x 3 uint8 colours) from a legend; every class must have a colour."""
    legend = parse_class_colours(classes)
    missing = [name for name, colour in legend if colour is None]
    if missing:
        raise InputError(f"classes: no colour given for {', '.join(map(repr, missing))}")
    check_distinct_colours(legend)
    colours = np.array([colour for _, colour in legend], dtype=np.uint8)
    return [name for name, _ in legend], colours


def label_dtype(num_classes: int):
    return np.uint8 if num_classes < 255 else np.uint16


@dataclass(frozen=True, eq=False)
class SemanticDecoding(Decoding):
    """Decoded labels. Unpacks as ``labels, distance = codec.decode(image, classes)``.

    - ``labels``: H x W (uint8, uint16 beyond 254 classes), i + 1 for the i-th class, 0 = unlabeled,
    - ``distance``: float32 H x W distance to the chosen colour (8-bit RGB levels or CIELAB units),
    - ``reliability`` (also readable as ``confidence``, its older name): float32 H x W in [0, 1], the
      calibrated probability that the pixel has the class its colour was painted to show
      (:func:`vb_plugins.reliability.semantic_reliability`: distance to the nearest legend colour against
      the second nearest, agreement with the neighbours); 0 where unlabeled,
    - ``names``: the class names, index i for label i + 1,
    - ``mode``: ``"exact"`` or ``"robust"``,
    - ``matched``: for legends with colour words, how each entry was matched to the painted colours
      (:mod:`vb_plugins.codecs.legend_matching`; set by the task, {} otherwise).
    """

    labels: np.ndarray
    distance: np.ndarray
    confidence: np.ndarray = Computed()  # type: ignore[assignment]
    names: list[str] = field(default_factory=list)
    mode: str = "exact"
    matched: dict = field(default_factory=dict)
    values_field = "labels"
    unpacks = ("labels", "distance")


class SemanticCodec:
    """Paint labels with legend colours and read them back."""

    def __init__(self, tolerance: float = DEFAULT_TOLERANCE, space: str = "rgb"):
        if not tolerance > 0:
            raise InputError(f"tolerance={tolerance!r}: must be positive")
        if space not in ("rgb", "lab"):
            raise InputError(f"space={space!r}: expected 'rgb' or 'lab'")
        self.tolerance = float(tolerance)
        self.space = space

    def __repr__(self) -> str:
        return f"SemanticCodec(tolerance={self.tolerance:g}, space={self.space!r})"

    def encode(self, labels, classes, unlabeled=(0, 0, 0)) -> np.ndarray:
        """Labels (H x W ints, i + 1 = i-th class, 0 = unlabeled) -> RGB uint8 painted with the legend."""
        labels = np.asarray(labels)
        check_hw(labels, "labels", 2)
        if not np.issubdtype(labels.dtype, np.integer):
            raise InputError(f"labels: expected integer class labels, got dtype {labels.dtype}")
        _, colours = legend_colours(classes)
        if labels.min() < 0 or labels.max() > len(colours):
            raise InputError(f"labels: values must lie in 0..{len(colours)} for {len(colours)} classes, "
                             f"found {labels.min()}..{labels.max()}")
        table = np.vstack([np.array(parse_colour(unlabeled, "unlabeled colour"), np.uint8), colours])
        return table[labels]

    def decode(self, image, classes, tolerance: float | None = None, mode: str | None = None) -> SemanticDecoding:
        """RGB -> :class:`SemanticDecoding` for the legend ``classes`` (mapping name -> colour).

        ``mode``: ``"exact"`` gives each pixel the nearest legend colour on its own; ``"robust"``
        (and ``"auto"``, the default) also relabels pixels that sit between legend colours (anti-aliased
        or compressed edges) from their decisively coloured neighbours. Pixels with an exact legend
        colour decode the same in every mode.
        """
        mode = resolve_mode(mode)
        names, colours = legend_colours(classes)
        rgb = as_rgb(image, "segmentation image")
        tolerance = self.tolerance if tolerance is None else float(tolerance)
        index, d1, d2 = nearest_colours(rgb, colours, self.space)
        if mode != "exact" and self.space == "rgb":
            labels = robust_labels(rgb, colours, index, d1, d2, tolerance)
            chosen = np.asarray(colours, np.float64)[np.maximum(labels - 1, 0)]
            pixels = rgb.astype(np.float64) * (1.0 if rgb.dtype == np.uint8 else 255.0)
            distance = np.linalg.norm(pixels - chosen, axis=2).astype(np.float32)
            decoding = SemanticDecoding(labels.astype(label_dtype(len(names))), np.where(labels > 0, distance, d1),
                                        names=names, mode="robust")
        else:
            labels = np.where(d1 <= tolerance, index + 1, 0).astype(label_dtype(len(names)))
            decoding = SemanticDecoding(labels, d1.astype(np.float32), names=names)
        codec = self if tolerance == self.tolerance else SemanticCodec(tolerance, self.space)
        return compute_later(decoding, lambda: codec._reliability(rgb, decoding, colours, (index, d1, d2)))

    def _reliability(self, rgb, decoding: SemanticDecoding, colours: np.ndarray, nearest):
        from vb_plugins.reliability import semantic_reliability

        return semantic_reliability(self, rgb, decoding, colours, nearest).reliability, None


def permuted_legends(classes, passes: int, seed: int = 0) -> list[list[tuple[str, RGB]]]:
    """``passes`` legends over the same classes and colours, with colours reassigned among the classes
    (the first is the legend as given). Voting over passes corrects a model's colour-binding mistakes."""
    names, colours = legend_colours(classes)
    rng = np.random.default_rng(seed)
    legends = []
    for p in range(passes):
        order = np.arange(len(names)) if p == 0 else rng.permutation(len(names))
        legends.append([(name, tuple(int(v) for v in colours[order[i]])) for i, name in enumerate(names)])
    return legends


def vote_labels(label_maps, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-pixel majority over label maps (same class order, 0 = unlabeled; ties go to the smaller label).

    Returns (labels, agreement): agreement is the fraction of maps that voted for the winner.
    """
    maps = [np.asarray(m) for m in label_maps]
    if not maps:
        raise InputError("label maps: need at least one map to vote")
    shape = maps[0].shape
    if any(m.shape != shape for m in maps):
        raise InputError(f"label maps: shapes differ ({sorted({m.shape for m in maps})})")
    best = np.zeros(shape, dtype=label_dtype(num_classes))
    best_count = np.zeros(shape, dtype=np.int32)
    for label in range(num_classes + 1):
        count = sum((m == label).astype(np.int32) for m in maps)
        better = count > best_count
        best[better] = label
        best_count[better] = count[better]
    return best, (best_count / len(maps)).astype(np.float32)


def paint_labels(labels, colours, unlabeled=(0, 0, 0)) -> np.ndarray:
    """Preview: labels (0 = unlabeled) -> RGB uint8 with ``colours`` (K x 3)."""
    table = np.vstack([np.array(unlabeled, np.uint8)[None], np.asarray(colours, np.uint8).reshape(-1, 3)])
    return table[np.asarray(labels)]



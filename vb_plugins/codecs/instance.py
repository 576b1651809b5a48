"""Instance segmentation <-> RGB: every instance in a colour of its own, background in one known colour.

The model picks the instance colours, so decoding finds them: colours within ``tolerance`` (Euclidean,
8-bit levels; default 30) of each other are one instance, clusters smaller than ``min_area`` pixels are
dropped, and the cluster of the background colour is removed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vb_plugins.codecs._arrays import as_rgb, check_hw
from vb_plugins.codecs._instances import cluster_instances
from vb_plugins.codecs._modes import resolve_mode
from vb_plugins.codecs._nearest import nearest_colours
from vb_plugins.codecs.base import Computed, Decoding, compute_later
from vb_plugins.codecs.colors import palette, parse_colour
from vb_plugins.errors import InputError

DEFAULT_TOLERANCE = 30.0
DEFAULT_MIN_AREA = 100
DEFAULT_BACKGROUND = (0, 0, 0)  # "leave the background black" (Open Vision Banana; one of the paper's)
_BIN = 8  # histogram bin width (8-bit levels) for finding colour modes


@dataclass(frozen=True, eq=False)
class InstanceDecoding(Decoding):
    """Decoded instances. Unpacks as ``ids, masks = codec.decode(image)``.

    - ``ids``: int32 H x W, 0 = background / unassigned, 1..N instances in raster order of first pixel,
    - ``masks``: bool N x H x W, one mask per instance,
    - ``colours``: uint8 N x 3, the mean colour of each instance,
    - ``distance``: float32 H x W distance to the assigned cluster colour (8-bit levels),
    - ``reliability`` (also readable as ``confidence``, its older name): float32 H x W in [0, 1], the
      calibrated probability that the pixel belongs where it was put, background included, read as labels
      are against the background and instance colours (:func:`vb_plugins.reliability.label_reliability`);
      0 where a pixel matches no colour,
    - ``mode``: ``"exact"`` or ``"robust"``.
    """

    ids: np.ndarray
    masks: np.ndarray
    colours: np.ndarray
    distance: np.ndarray
    confidence: np.ndarray = Computed()  # type: ignore[assignment]
    mode: str = "exact"
    values_field = "ids"
    unpacks = ("ids", "masks")

    @property
    def count(self) -> int:
        return len(self.masks)


class InstanceCodec:
    """Paint instance ids with distinct colours and cluster them back."""

    def __init__(self, tolerance: float = DEFAULT_TOLERANCE, min_area: int = DEFAULT_MIN_AREA,
                 background=DEFAULT_BACKGROUND):
        if not tolerance > 0:
            raise InputError(f"tolerance={tolerance!r}: must be positive")
        if int(min_area) < 1:
            raise InputError(f"min_area={min_area!r}: must be at least 1 pixel")
        self.tolerance = float(tolerance)
        self.min_area = int(min_area)
        self.background = parse_colour(background, "background colour")

    def __repr__(self) -> str:
        return (f"InstanceCodec(tolerance={self.tolerance:g}, min_area={self.min_area}, "
                f"background={self.background})")

    def encode(self, instance_ids, colours=None, background=None) -> np.ndarray:
        """Instance ids (H x W ints, 0 = background) -> RGB uint8. Ids get ``colours`` (N x 3) in order of
        their value, or a well-separated palette that avoids the background colour."""
        ids = np.asarray(instance_ids)
        check_hw(ids, "instance ids", 2)
        if not np.issubdtype(ids.dtype, np.integer) or ids.min() < 0:
            raise InputError("instance ids: expected non-negative integers (0 = background)")
        background = self.background if background is None else parse_colour(background, "background colour")
        values = np.unique(ids[ids > 0])
        if colours is None:
            colours = palette(len(values), avoid=[background], named=len(values) <= 16)
        colours = np.asarray([parse_colour(c, "instance colour") for c in colours], dtype=np.uint8).reshape(-1, 3)
        if len(colours) < len(values):
            raise InputError(f"colours: {len(values)} instances need {len(values)} colours, got {len(colours)}")
        rgb = np.empty(ids.shape + (3,), dtype=np.uint8)
        rgb[:] = background
        for value, colour in zip(values, colours):
            rgb[ids == value] = colour
        return rgb

    def decode(self, image, background=None, tolerance: float | None = None,
               min_area: int | None = None, mode: str | None = None) -> InstanceDecoding:
        """RGB -> :class:`InstanceDecoding`.

        ``mode``: ``"robust"`` (and ``"auto"``, the default) groups connected regions of similar colour
        (:func:`vb_plugins.codecs._instances.cluster_instances`): touching regions within ``tolerance``
        are one instance, separate regions only when their mean colours match within
        ``SAME_COLOUR`` levels — so instances in close but distinct colours stay apart;
        ``"exact"`` clusters colours globally (every colour within ``tolerance`` of a histogram mode is
        one instance, wherever it lies).
        """
        mode = resolve_mode(mode)
        rgb = as_rgb(image, "instance image")
        if rgb.dtype != np.uint8:
            rgb = np.rint(rgb * 255.0).astype(np.uint8)
        background = self.background if background is None else parse_colour(background, "background colour")
        tolerance = self.tolerance if tolerance is None else float(tolerance)
        min_area = self.min_area if min_area is None else int(min_area)
        if mode != "exact":
            labels, colours, distance = cluster_instances(rgb, background, tolerance, min_area)
            decoding = _instances_from_assignment(labels, colours, distance, tolerance, min_area, mode="robust")
        else:
            centres = find_colour_clusters(rgb, background, tolerance, min_area)
            index, d1, _ = nearest_colours(rgb, centres)
            assigned = (d1 <= tolerance) & (index > 0)  # centre 0 is the background
            decoding = _instances_from_assignment(np.where(assigned, index, 0), centres, d1, tolerance, min_area)
        return compute_later(decoding, lambda: _reliability(rgb, decoding, background, tolerance))


def _reliability(rgb: np.ndarray, decoding: InstanceDecoding, background, tolerance: float):
    """Label reliability with the background as label 1 and instance k as label k + 1."""
    from vb_plugins.reliability import label_reliability

    to_background = np.linalg.norm(rgb.astype(np.float32) - np.asarray(background, np.float32), axis=2)
    ids = np.asarray(decoding.ids)
    labels = np.where(ids > 0, ids + 1, np.where(to_background <= tolerance, 1, 0))
    distance = np.where(ids > 0, decoding.distance, to_background)
    colours = np.vstack([np.asarray(background, np.uint8)[None], decoding.colours])
    return label_reliability(rgb, labels, distance, colours, tolerance, decoding.mode).reliability, None


def find_colour_clusters(rgb: np.ndarray, background, tolerance: float, min_area: int) -> np.ndarray:
    """Colour centres (K x 3 float, row 0 = background) found as modes of the colour histogram.

    Bins are visited by decreasing count; a bin farther than ``tolerance`` from every centre so far starts
    a new cluster. Two rounds of mean refinement move centres to the mean of their pixels.
    """
    quantised = (rgb // _BIN).astype(np.int32)
    keys = (quantised[..., 0] << 10) | (quantised[..., 1] << 5) | quantised[..., 2]
    counts = np.bincount(keys.ravel(), minlength=1 << 15)
    sums = np.stack([np.bincount(keys.ravel(), weights=rgb[..., c].ravel(), minlength=1 << 15) for c in range(3)], 1)
    seed_min = max(1, min_area // 4)
    order = np.argsort(-counts, kind="stable")
    centres = [np.asarray(background, dtype=np.float64)]
    for key in order:
        if counts[key] < seed_min:
            break
        colour = sums[key] / counts[key]
        if min(np.linalg.norm(colour - c) for c in centres) > tolerance:
            centres.append(colour)
    centres_array = np.array(centres)
    pixels = rgb.reshape(-1, 3)
    for _ in range(2):
        index, d1, _ = nearest_colours(rgb, centres_array)
        members = np.where(d1.ravel() <= tolerance, index.ravel(), -1) + 1  # 0 = outside every cluster
        counts = np.bincount(members, minlength=len(centres_array) + 1)[1:]
        for c in range(3):
            sums = np.bincount(members, weights=pixels[:, c], minlength=len(centres_array) + 1)[1:]
            moved = (counts > 0) & (np.arange(len(centres_array)) > 0)  # the background centre stays put
            centres_array[moved, c] = sums[moved] / counts[moved]
    return centres_array


def _instances_from_assignment(labels: np.ndarray, centres: np.ndarray, distance: np.ndarray,
                               tolerance: float, min_area: int, mode: str = "exact") -> InstanceDecoding:
    areas = np.bincount(labels.ravel(), minlength=len(centres))
    keep = [k for k in range(1, len(centres)) if areas[k] >= min_area]
    # Raster order of first pixel: stable, and matches how people read an image.
    flat = labels.ravel()
    first_pixel = {k: int(np.argmax(flat == k)) for k in keep}
    keep.sort(key=first_pixel.__getitem__)
    remap = np.zeros(len(centres), dtype=np.int32)
    for new_id, k in enumerate(keep, start=1):
        remap[k] = new_id
    ids = remap[labels]
    masks = np.stack([ids == i for i in range(1, len(keep) + 1)]) if keep else np.zeros((0,) + ids.shape, bool)
    colours = np.rint(centres[keep]).astype(np.uint8).reshape(-1, 3)
    return InstanceDecoding(ids, masks, colours, distance.astype(np.float32), mode=mode)

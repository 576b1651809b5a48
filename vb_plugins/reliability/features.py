"""Per-pixel features behind reliability: what a decoder can see about how well a pixel was read.

Each ``*_features`` function takes the picture and its decoding and returns a :class:`Features`: a matrix
of model inputs (one row per pixel, columns named in ``names``), the pixels that carry a value at all
(``usable``; the others get reliability 0), and the quantities the expected error is scaled by. Every
input is either a global image measure (the noise level the robust decoder estimates, the typical
off-path residual) or a local one relative to it, so the same calibration serves clean and noisy
generators. Inputs that grow with the residual all enter with a non-positive weight (see
:data:`SIGNS`), which keeps reliability monotone in the residual.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vb_plugins.codecs._arrays import as_rgb, to_float

NORMALS_TOLERANCE_DEGREES = 5.0


@dataclass
class Features:
    """``columns``: one float32 H x W array per name; ``usable``: bool H x W; ``scale``: float32 H x W
    (depth: metres per path step at the decoded depth, inf at the far end; normals and labels: 1)."""

    names: tuple
    columns: list
    usable: np.ndarray
    scale: np.ndarray

    @property
    def matrix(self) -> np.ndarray:
        """float32 (H * W) x F, one row per pixel (for fitting)."""
        return np.stack([c.ravel() for c in self.columns], axis=1)


def _box(x: np.ndarray, size: int) -> np.ndarray:
    import cv2

    return cv2.boxFilter(x, -1, (size, size), normalize=True, borderType=cv2.BORDER_REFLECT)


def _neighbour_mean(x: np.ndarray) -> np.ndarray:
    import cv2

    total = cv2.boxFilter(x, -1, (3, 3), normalize=False, borderType=cv2.BORDER_REFLECT)
    return (total - x) / np.float32(8.0)


def _spread(x: np.ndarray, size: int) -> np.ndarray:
    """max - min over each size x size neighbourhood."""
    import cv2

    kernel = np.ones((size, size), np.uint8)
    return cv2.dilate(x, kernel) - cv2.erode(x, kernel)


def _grow(x: np.ndarray, size: int) -> np.ndarray:
    import cv2

    return cv2.dilate(x, np.ones((size, size), np.uint8))


def blockiness(rgb: np.ndarray) -> float:
    """log of how much larger luma steps are across 8 x 8 block borders than inside blocks: about 0 for
    a lossless picture, larger the harder JPEG compressed it (WebP's 4 x 4 blocks show less)."""
    x = rgb.astype(np.float32)
    luma = x @ np.array([0.299, 0.587, 0.114], np.float32) * (np.float32(255.0) if rgb.dtype != np.uint8 else 1)
    ratios = []
    for diff in (np.abs(np.diff(luma, axis=1)), np.abs(np.diff(luma, axis=0).T)):
        if diff.shape[1] < 16:
            continue
        border = np.arange(diff.shape[1]) % 8 == 7
        ratios.append((float(diff[:, border].mean()) + 0.05) / (float(diff[:, ~border].mean()) + 0.05))
    return float(np.log(np.mean(ratios))) if ratios else 0.0


def _float32(columns: list, shape) -> list:
    return [np.broadcast_to(np.asarray(c, np.float32), shape) for c in columns]


def _one_hot(index: np.ndarray, count: int) -> list:
    return [(index == k).astype(np.float32) for k in range(count)]


# -- depth --------------------------------------------------------------------------------------------------
DEPTH_NAMES = ("log_tolerance", "log_noise", "residual", "local_residual", "local_along", "bend", "range",
               "moved", "corner", "repaired", "log_residual_level", "far_end", "far_gap", "noise_correlation",
               "sky", "sky_noise", "sky_along", "sky_moved", "sky_range", "sky_residual", "decoder_error") + tuple(
    f"segment{k}" for k in range(7))

# +1: the weight may not be negative, -1: may not be positive, 0: free. Anything that grows with the
# colour's residual or with disagreement among neighbours only lowers reliability.
SIGNS = {
    "depth": {"log_tolerance": 1, "log_noise": -1, "residual": -1, "local_residual": -1, "local_along": -1,
              "bend": -1, "range": -1, "moved": -1, "corner": -1, "repaired": -1, "log_residual_level": -1,
              "noise_correlation": -1, "sky_residual": -1, "decoder_error": -1},
    "normals": {"log_noise": -1, "length": -1, "local_length": -1, "local_angle": -1, "bend": -1,
                "range": -1, "moved": -1, "near_invalid": -1, "log_length_spread": -1},
    "semantic": {"distance": -1, "margin": 1, "gap": 1, "relabelled": -1, "agreement": 1,
                 "agreement5": 1, "log_noise": -1, "separation": 1, "overruled": -1, "beyond": -1},
}


def depth_tolerance_steps(path, s: np.ndarray) -> np.ndarray:
    """The depth tolerance ``max(1 % of the depth, one path step)`` at positions ``s``, in path steps
    (1 at the far end of the path)."""
    depth = path.depth(s)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        per_step = path.depth(s + np.float32(1.0)) - depth
        steps = np.where(np.isfinite(per_step) & (per_step > 0), 0.01 * depth / per_step, 1.0)
    return np.maximum(np.nan_to_num(steps, nan=1.0, posinf=1.0), 1.0).astype(np.float32)


def metres_per_step(path, s: np.ndarray) -> np.ndarray:
    """Metres between neighbouring path steps around ``s`` (inf at the far end)."""
    with np.errstate(invalid="ignore", over="ignore"):
        lower = path.depth(np.maximum(s - np.float32(0.5), 0.0))
        upper = path.depth(s + np.float32(0.5))
        return np.where(np.isfinite(upper), upper - lower, np.inf).astype(np.float32)


def depth_positions(codec, rgb: np.ndarray):
    """(exact positions s0 in path steps, residual in levels) of a depth picture."""
    from vb_plugins.codecs.schemes import PolylineScheme

    cube = rgb.dtype == np.uint8 and isinstance(codec.scheme, PolylineScheme) and codec.scheme.is_cube_walk
    if cube:
        code, d2 = codec.scheme.cube_codes(rgb)
        return code.astype(np.float32), np.sqrt(d2.astype(np.float32))
    from vb_plugins.codecs._robust import _Path

    f, residual = codec.scheme.decode(rgb)
    return (f * _Path(codec).steps).astype(np.float32), residual.astype(np.float32)


def depth_features(codec, image, decoding, s0: np.ndarray | None = None) -> Features:
    """Features of a depth decoding (``decoding.depth``, ``.residual``, ``.repaired``) of ``image``.

    ``s0``: the exact positions along the path if the caller has them (else recomputed)."""
    import cv2

    from vb_plugins.codecs._robust import _Path

    rgb = as_rgb(image, "depth image", allow_gray=codec.is_grayscale)
    path = _Path(codec)
    residual = np.asarray(decoding.residual, np.float32)
    if s0 is None:
        s0, _ = depth_positions(codec, rgb)
    s0 = np.asarray(s0, np.float32)
    depth = np.asarray(decoding.depth, np.float32)
    with np.errstate(divide="ignore"):
        q = np.where(np.isfinite(depth) & (depth > 0), 1.0 / np.maximum(depth, 1e-6), 0.0).astype(np.float32)
    s = np.where(depth > 0, path.to_s(q), 0.0).astype(np.float32)
    q0 = path.to_q(s0)
    tolerance = depth_tolerance_steps(path, s)
    noise, correlation = _noise_levels(path, q0, s0)
    sample = residual.ravel()[:: max(1, residual.size // 250_000)]
    level = max(float(np.median(sample)), 1.0)
    local_residual = np.sqrt(_box(residual * residual, 7))
    along = _box(np.abs(s0 - path.to_s(_neighbour_mean(q0))), 7) * np.float32(1.25)
    smooth = cv2.medianBlur(s0, 5)
    bend = _grow(np.abs(smooth - path.to_s(_neighbour_mean(path.to_q(smooth)))), 5)
    segment_length = path.steps / path.segments
    # Distance to the nearest inner vertex, where a colour off the path may belong to either segment
    # (the two ends of the path are no such corners).
    nearest = np.clip(np.rint(s0 / np.float32(segment_length)), 1, path.segments - 1)
    corner = np.abs(s0 - nearest * np.float32(segment_length))
    repaired = decoding.repaired if getattr(decoding, "repaired", None) is not None else np.zeros(s.shape, bool)
    segment = np.clip((s0 // np.float32(segment_length)).astype(np.int32), 0, path.segments - 1)
    columns = [
        np.log(tolerance),
        np.float32(np.log(noise)),
        np.log1p(residual / np.float32(level)),
        np.log1p(local_residual / np.float32(level)),
        np.log1p(along / tolerance),
        np.log1p(bend / tolerance),
        np.log1p(_spread(s, 5) / tolerance),
        np.log1p(np.abs(s - s0) / tolerance),
        np.log1p(residual / (np.float32(1.0) + corner)),
        repaired.astype(np.float32),
        np.float32(np.log(level)),
        (s >= path.steps - 0.5).astype(np.float32),
        np.log1p(np.maximum(np.float32(path.steps) - s, 0.0)),  # white sky: noise there can only go inward
        np.float32(correlation),
    ]
    # Within a few steps of the far end (white, sky) noise can only move a colour inward: errors there
    # behave differently, so the main inputs get their own weights (as interactions).
    sky = (s >= path.steps - 8.0).astype(np.float32)
    columns += [sky] + [sky * columns[DEPTH_NAMES.index(name)]
                        for name in ("log_noise", "local_along", "moved", "range", "residual")]
    # The robust decoder's own error estimate (in steps): largest where it could only average over a
    # small window, as beside depth edges where JPEG rings; 0 for an exact decoding (the residual says it).
    own = getattr(decoding, "decoder_error", None)
    columns.append(np.log1p(np.asarray(own, np.float32) / tolerance) if own is not None else np.float32(0.0))
    columns += _one_hot(np.minimum(segment, 6), 7)
    return Features(DEPTH_NAMES, _float32(columns, s.shape), np.ones(s.shape, bool), metres_per_step(path, s))


def _noise_levels(path, q0: np.ndarray, s0: np.ndarray) -> tuple[float, float]:
    """(noise in path steps as the robust decoder measures it, log of the 9 x 9 to 3 x 3 estimate ratio):
    the ratio grows with how far the noise is correlated (smoothing removes less of it)."""
    from vb_plugins.codecs._robust import QUANTISATION_SIGMA, box

    step = max(1, q0.size // 250_000)
    estimates = []
    for size in (3, 9):
        mean = (box(q0, size) * (size * size) - q0) / (size * size - 1)
        deviation = np.abs(s0.ravel()[::step] - path.to_s(mean.ravel()[::step]))
        estimates.append(max(1.4826 * float(np.median(deviation)) / np.sqrt(1.0 + 1.0 / (size * size - 1)),
                             QUANTISATION_SIGMA))
    return max(min(estimates[1], 2.0 * estimates[0]), QUANTISATION_SIGMA), float(np.log(estimates[1] / estimates[0]))


def depth_within_tolerance(codec, decoded: np.ndarray, truth: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(within tolerance, absolute error in metres) of decoded against true depths (metres).

    Within tolerance: ``|decoded - truth| <= max(1 % of truth, one path step at truth)``; a true infinite
    depth counts as read when the decoded depth lies within one step of the far end of the path. The
    error is inf where either depth is."""
    from vb_plugins.codecs._robust import _Path

    path = _Path(codec)
    decoded = np.asarray(decoded, np.float64)
    truth = np.asarray(truth, np.float64)
    s_true = codec.path_position(truth).astype(np.float32)
    with np.errstate(invalid="ignore", over="ignore"):
        step = path.depth(s_true + np.float32(1.0)).astype(np.float64) - truth
        tolerance = np.maximum(0.01 * truth, np.where(np.isfinite(step), step, np.inf))
        error = np.abs(decoded - truth)
        ok = error <= tolerance
    far = ~np.isfinite(truth)
    ok = np.where(far, codec.path_position(decoded) >= path.steps - 1.0, ok)
    finite = np.isfinite(truth) & np.isfinite(decoded)
    return ok, np.where(finite, error, np.inf).astype(np.float32)


# -- normals ------------------------------------------------------------------------------------------------
NORMALS_NAMES = ("log_noise", "length", "local_length", "local_angle", "bend", "range", "moved", "near_invalid",
                 "log_length_spread", "tolerance_length", "blockiness")


def _dot(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per-pixel dot product of H x W x 3 arrays (OpenCV sums the channels: 4x faster than numpy views)."""
    import cv2

    product = np.multiply(a, b, dtype=np.float32)
    return cv2.transform(product, np.ones((1, 3), np.float32)).reshape(a.shape[:-1])


def _angle(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    cos = _dot(a, b) / np.maximum(np.sqrt(_dot(a, a) * _dot(b, b)), 1e-12)
    return np.degrees(np.arccos(np.clip(cos, -1.0, 1.0))).astype(np.float32)


def normals_features(codec, image, decoding, convention: str = "camera") -> Features:
    """Features of a normals decoding (``decoding.normals`` in ``convention``, ``.valid``) of ``image``."""
    import cv2

    from vb_plugins.codecs.normals import to_lub

    rgb = to_float(as_rgb(image, "normals image"))
    lub = (2.0 * rgb - 1.0).astype(np.float32)
    length = np.sqrt(_dot(lub, lub))
    valid = np.asarray(decoding.valid, bool)
    unit = np.where(valid[..., None], lub / np.maximum(length, 1e-6)[..., None], 0.0).astype(np.float32)
    decoded = to_lub(decoding.normals, convention).astype(np.float32)
    neighbours = np.stack([_neighbour_mean(np.ascontiguousarray(unit[..., c])) for c in range(3)], axis=2)
    angle = np.where(valid, _angle(unit, neighbours), 0.0)
    if valid.any():
        step = max(1, int(valid.sum()) // 250_000)  # a subsample keeps the medians cheap on large pictures
        inside = length[valid][::step]
        median = float(np.median(inside))
        spread = max(1.4826 * float(np.median(np.abs(inside - median))), 0.004)
        noise = max(float(np.median(angle[valid][::step])), 0.2)
    else:
        median, spread, noise = 1.0, 0.004, 0.2
    deviation = np.where(valid, np.abs(length - median), 0.0).astype(np.float32)
    weight = _box(valid.astype(np.float32), 7)
    local_length = np.sqrt(_box(deviation * deviation, 7) / np.maximum(weight, 1e-3))
    local_angle = _box(angle, 7) / np.maximum(weight, 1e-3)
    smooth = np.stack([cv2.medianBlur(np.ascontiguousarray(unit[..., c]), 5) for c in range(3)], axis=2)
    smooth_mean = np.stack([_neighbour_mean(np.ascontiguousarray(smooth[..., c])) for c in range(3)], axis=2)
    bend = _grow(np.where(valid, _angle(smooth, smooth_mean), 0.0), 5)
    spread_decoded = np.zeros(valid.shape, np.float32)
    for c in range(3):
        spread_decoded = np.maximum(spread_decoded, _spread(np.ascontiguousarray(decoded[..., c]), 3))
    moved = np.where(valid, _angle(unit, decoded), 0.0)
    near_invalid = _grow((~valid).astype(np.uint8), 5).astype(np.float32)
    scale = np.float32(NORMALS_TOLERANCE_DEGREES)
    columns = [
        np.float32(np.log(noise)),
        np.log1p(deviation / np.float32(spread)),
        np.log1p(local_length / np.float32(spread)),
        np.log1p(local_angle / scale),
        np.log1p(bend / scale),
        np.log1p(np.degrees(spread_decoded) / scale),
        np.log1p(moved / scale),
        near_invalid,
        np.float32(np.log(spread)),
        np.abs(length - 1.0) / np.float32(codec.length_tolerance),
        np.float32(blockiness(rgb)),
    ]
    return Features(NORMALS_NAMES, _float32(columns, valid.shape), valid, np.ones(valid.shape, np.float32))


# -- labels -------------------------------------------------------------------------------------------------
SEMANTIC_NAMES = ("distance", "margin", "gap", "relabelled", "agreement", "agreement5", "log_noise", "separation",
                  "overruled", "beyond")


def semantic_features(codec, image, decoding, classes, nearest=None) -> Features:
    """Features of a semantic decoding (``decoding.labels``, ``.distance``) of ``image`` for legend ``classes``;
    ``nearest``: the decoder's (index, d1, d2) of the nearest legend colours if it has them."""
    from vb_plugins.codecs._nearest import nearest_colours
    from vb_plugins.codecs.semantic import legend_colours

    rgb = as_rgb(image, "segmentation image")
    # ``classes``: a legend, or the K x 3 colours themselves (instance and referring decodings)
    colours = classes if isinstance(classes, np.ndarray) else legend_colours(classes)[1]
    index, d1, d2 = nearest if nearest is not None else nearest_colours(rgb, colours, codec.space)
    labels = np.asarray(decoding.labels).astype(np.int32)
    usable = labels > 0
    tolerance = codec.tolerance
    relabelled = usable & (labels != np.where(d1 <= tolerance, index + 1, 0))
    distance = np.asarray(decoding.distance, np.float32)
    with np.errstate(invalid="ignore"):
        d2 = np.where(np.isfinite(d2), d2, 2.0 * tolerance + d1).astype(np.float32)
    sample = d1[usable][:: max(1, int(usable.sum()) // 250_000)] if usable.any() else np.ones(1)
    noise = max(float(np.median(sample)), 1.0)
    legend = np.asarray(colours, np.float64)
    pairwise = np.linalg.norm(legend[:, None] - legend[None], axis=2) + np.eye(len(legend)) * 1e9
    separation = float(pairwise.min()) if len(legend) > 1 else 2.0 * tolerance
    columns = [
        np.log1p(distance / np.float32(noise)),
        (d2 - d1) / np.maximum(d2, 1e-6),
        np.log1p(np.maximum(d2 - d1, 0.0) / np.float32(noise)),
        relabelled.astype(np.float32),
        _agreement(labels, 3),
        _agreement(labels, 5),
        np.float32(np.log(noise)),
        np.float32(np.log(separation / noise)),
        # The decoder's own evidence against a relabelling: how much farther the chosen colour is than the
        # nearest one (a thin structure taken over by its surroundings), and how far beyond the tolerance.
        np.log1p(np.maximum(distance - d1, 0.0) / np.float32(noise)),
        np.log1p(np.maximum(distance - np.float32(tolerance), 0.0) / np.float32(noise)),
    ]
    return Features(SEMANTIC_NAMES, _float32(columns, labels.shape), usable, np.ones(labels.shape, np.float32))


def _agreement(labels: np.ndarray, size: int) -> np.ndarray:
    """Share of each pixel's size x size neighbourhood that carries its label (edges replicated). Only
    pixels whose neighbourhood holds two labels (found by a max/min filter) are counted: 1 elsewhere."""
    import cv2

    radius = size // 2
    kernel = np.ones((size, size), np.uint8)
    as_float = labels.astype(np.float32)  # exact for the label counts decoders produce (< 2**24)
    mixed = (cv2.dilate(as_float, kernel, borderType=cv2.BORDER_REPLICATE)
             != cv2.erode(as_float, kernel, borderType=cv2.BORDER_REPLICATE))
    agree = np.ones(labels.shape, np.float32)
    rows, cols = np.nonzero(mixed)
    if rows.size:
        padded = np.pad(labels, radius, mode="edge")
        own = labels[rows, cols]
        count = np.zeros(rows.size, np.float32)
        for dy in range(size):
            for dx in range(size):
                count += padded[rows + dy, cols + dx] == own
        agree[rows, cols] = count / np.float32(size * size)
    return agree

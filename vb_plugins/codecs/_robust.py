"""Robust decoding of visualizations that went through lossy compression, noise or a colour cast.

Generators and image APIs hand back JPEG/WebP images: chroma is stored at half resolution and
quantised coarsely, luma at full resolution and finely. The exact decoders read every pixel on its
own and so read what the compressor left; the helpers here read what the image most likely meant.

Depth (:func:`robust_depth`), with positions ``s`` along the colour path in 8-bit steps:

1. The exact projection ``s0`` and its residual (distance to the path) are the starting point.
2. The noise level ``sigma`` (steps) is measured from the image (:func:`noise_sigma`). A clean image
   (almost no pixel off the path beyond 8-bit rounding) gets the rounding noise only, which keeps the
   result within half a step of ``s0``.
3. Smooth regions: multi-scale means of inverse depth (planes are linear in inverse depth, so a
   symmetric mean is unbiased on them) over 3, 5, 9 and 17 px windows; each pixel keeps the largest
   window whose mean agrees with every smaller one (intersection of confidence intervals, ICI), so
   windows stop at depth edges. Off-path pixels do not vote. The result stays within
   ``0.5 + GAMMA * noise`` steps of ``s0``.
4. Edges: a pixel whose colour lies far off the path, or whose value agrees with none of the settled
   neighbours' planes extended to it, is an outlier (chroma smeared across a depth edge). It takes the
   value, among its neighbours' extended planes, whose path colour best explains its own colour in a
   luma-weighted YCbCr metric (chroma is the smeared part), unless its own value explains it much
   better. An isolated white (infinitely far) pixel among finite ones never keeps its value, and the
   result is infinitely far only where the colour itself is at the far end of the path.

Confidence: ``exp(-r / 0.01)`` of the expected relative depth error ``r`` (:func:`depth_confidence`).
Normals (:func:`robust_normals`) and labels (:func:`robust_labels`) have their own sections below.
"""

from __future__ import annotations

import numpy as np

# Full-range BT.601 RGB -> YCbCr (what JPEG and WebP store), rows Y, Cb, Cr.
YCBCR = np.array([[0.299, 0.587, 0.114], [-0.168736, -0.331264, 0.5], [0.5, -0.418688, -0.081312]],
                 dtype=np.float32)

SCALES = (3, 5, 9, 17)
# Spread of a k x k mean of JPEG-type (block-correlated) noise relative to one pixel's, measured on
# JPEG q = 50..95 depth maps; i.i.d. noise falls faster (1/k), so these intervals are conservative.
SCALE_SPREAD = {3: 0.78, 5: 0.65, 9: 0.48, 17: 0.35}
GAMMA = 1.5  # interval half-width in spreads
QUANTISATION_SIGMA = 0.29  # std of 8-bit rounding, in steps (1/sqrt(12))
CLEAN_RESIDUAL = 1.5  # levels: beyond the 8-bit rounding bound of an on-path colour
CLEAN_SHARE = 0.002  # an image with fewer off-path pixels than this is clean (lossless)
NEIGHBOURS = 3  # radius of the neighbourhood that repairs an outlier
CHROMA_WEIGHT = 0.05  # weight of Cb and Cr against Y when matching a neighbour's colour to a pixel
DISTANCE_COST = 0.3  # per squared pixel of distance between a pixel and the neighbour it borrows from
OWN_COST = 300.0  # what keeping its own value costs an outlier (squared weighted levels)
EDGE_WEIGHT = 0.2  # error estimate per step of local depth range (pixels next to edges err more)
RELATIVE_ERROR_SCALE = 0.01  # expected relative error at which confidence falls to 1/e


def box(array: np.ndarray, size: int) -> np.ndarray:
    import cv2

    return cv2.boxFilter(array, -1, (size, size), normalize=True, borderType=cv2.BORDER_REFLECT)


def off_path_share(residual: np.ndarray) -> float:
    """Share of pixels whose colour is off the path by more than 8-bit rounding explains."""
    return float(np.count_nonzero(residual > CLEAN_RESIDUAL)) / max(residual.size, 1)


def looks_lossy(residual: np.ndarray) -> bool:
    """True for an image that is a path visualization with compression/noise damage: a non-negligible
    share of pixels off the path, yet most pixels near it (an image far off the path everywhere is not
    a depth visualization, and robust decoding would only invent structure)."""
    if off_path_share(residual) <= CLEAN_SHARE:
        return False
    sample = residual.ravel()[:: max(1, residual.size // 200_000)]
    return float(np.median(sample)) <= 12.0


class _Path:
    """Position <-> colour and position <-> inverse depth for one depth codec, in 8-bit path steps."""

    def __init__(self, codec):
        scheme = codec.scheme
        vertices = np.asarray(scheme.vertices, dtype=np.float64)
        self.segments = len(vertices) - 1
        # 8-bit steps along the path: 255 per unit of the largest channel change of each segment.
        self.steps = float(255.0 * np.abs(np.diff(vertices, axis=0)).max(axis=1).sum())
        self.vertices = (vertices * 255.0).astype(np.float32)
        self.ycc_vertices = self.vertices @ YCBCR.T
        self.curve = codec.curve
        self.scale = float(-codec.curve.lam * codec.curve.c)  # f = 1 - (a q / (a q + 1)) ** e
        self.power = float(-(codec.curve.lam + 1.0))
        self._table: np.ndarray | None = None

    def to_s(self, q: np.ndarray) -> np.ndarray:
        """Inverse depth (1/m, 0 = infinitely far) -> position in steps."""
        aq = np.float32(self.scale) * q
        ratio = aq / (aq + np.float32(1.0))
        kept = ratio * ratio if self.power == 2.0 else ratio ** np.float32(self.power)
        return np.float32(self.steps) * (np.float32(1.0) - kept)

    def _roots(self, s: np.ndarray):
        """(r, 1 - r) with r = (1 - f) ** (1 / e), the second without cancellation near f = 0."""
        f = np.clip(np.asarray(s, dtype=np.float32) / np.float32(self.steps), 0.0, 1.0 - 1e-7)
        if self.power == 2.0:
            root = np.sqrt(np.float32(1.0) - f)
            return root, f / (np.float32(1.0) + root)
        gap = -np.expm1(np.log1p(-f) / np.float32(self.power))
        return np.float32(1.0) - gap, gap

    def to_q(self, s: np.ndarray) -> np.ndarray:
        """Position in steps -> inverse depth (1/m); the far end maps to 0."""
        root, gap = self._roots(s)  # 1 - f = (a q / (a q + 1)) ** e  =>  a q = r / (1 - r)
        q = root / (np.float32(self.scale) * np.maximum(gap, np.float32(1e-12)))
        return np.minimum(q, np.float32(1e4)).astype(np.float32, copy=False)

    def depth(self, s: np.ndarray) -> np.ndarray:
        """Position in steps -> depth in metres (float32; the far end is inf)."""
        root, gap = self._roots(s)
        depth = np.float32(self.scale) * gap / root
        return np.where(s >= self.steps - 0.5, np.float32(np.inf), depth).astype(np.float32, copy=False)

    def ycc(self, s: np.ndarray) -> np.ndarray:
        """Position in steps -> YCbCr (levels, chroma centred on 0) of the path colour, shape s.shape + (3,)."""
        x = np.clip(s * np.float32(self.segments / self.steps), 0.0, self.segments)
        k = np.minimum(x.astype(np.int32), self.segments - 1)
        t = (x - k)[..., None]
        return self.ycc_vertices[k] * (1.0 - t) + self.ycc_vertices[k + 1] * t

    def colour_cost(self, s: np.ndarray, observed: np.ndarray, channel_weight: np.ndarray) -> np.ndarray:
        """Weighted squared YCbCr distance between the path colour at ``s`` and ``observed`` (N x 3)."""
        if self._table is None:  # path colours every quarter step: a lookup instead of interpolation
            self._table = self.ycc(np.arange(int(self.steps * 4) + 2, dtype=np.float32) / np.float32(4.0))
        index = np.clip((s * np.float32(4.0) + np.float32(0.5)).astype(np.int32), 0, len(self._table) - 1)
        diff = self._table[index] - observed
        diff *= diff
        return diff @ channel_weight


def noise_sigma(path: _Path, q: np.ndarray, s: np.ndarray) -> float:
    """Robust noise level of positions ``s`` (steps).

    MAD of ``s`` against the mean of its k x k neighbours in inverse depth (planes do not count as
    noise). A 9 x 9 window sees block-correlated compression noise that a 3 x 3 one misses (about half of
    it at JPEG q75), a 3 x 3 window is less disturbed by nearby edges: the estimate is the smaller of
    the 9 x 9 value and twice the 3 x 3 value."""
    step = max(1, q.size // 250_000)  # a subsample keeps the median cheap on large images
    estimates = []
    for size in (3, 9):
        mean = (box(q, size) * (size * size) - q) / (size * size - 1)
        deviation = np.abs(s.ravel()[::step] - path.to_s(mean.ravel()[::step]))
        estimates.append(1.4826 * float(np.median(deviation)) / np.sqrt(1.0 + 1.0 / (size * size - 1)))
    return min(estimates[1], 2.0 * estimates[0])


def multiscale_mean(path: _Path, q: np.ndarray, weight: np.ndarray, sigma: float):
    """ICI choice among windowed means of inverse depth: (estimate q, chosen level 0..len(SCALES)).

    Level 0: no window agreed with the pixel's surroundings (the pixel keeps its own value)."""
    estimate = q.copy()
    low = np.full(q.shape, -np.inf, dtype=np.float32)
    high = np.full(q.shape, np.inf, dtype=np.float32)
    alive = np.ones(q.shape, dtype=bool)
    level = np.zeros(q.shape, dtype=np.int8)
    weighted = weight * q
    for index, size in enumerate(SCALES, start=1):
        share = box(weight, size)
        mean = box(weighted, size) / np.maximum(share, 1e-6)
        centre = path.to_s(mean)
        half = (GAMMA * sigma * SCALE_SPREAD[size]) / np.sqrt(np.maximum(share, 0.25))
        new_low = np.maximum(low, centre - half)
        new_high = np.minimum(high, centre + half)
        alive &= (share > 0.25) & (new_low <= new_high)
        np.copyto(estimate, mean, where=alive)
        np.copyto(low, new_low, where=alive)
        np.copyto(high, new_high, where=alive)
        level[alive] = index
    return estimate, level


def _offsets(radius: int):
    return [(dy, dx) for dy in range(-radius, radius + 1) for dx in range(-radius, radius + 1) if dy or dx]


def robust_depth(codec, rgb: np.ndarray, s0: np.ndarray, residual: np.ndarray):
    """Robust positions along the path for a damaged depth visualization.

    ``rgb``: H x W x 3 (uint8 or float 0..1), ``s0``: exact positions (steps, float32),
    ``residual``: distance of each colour to the path (8-bit levels). Returns
    ``(s, error, repaired)``: positions (steps, float32), the error estimate ``e`` (steps) behind the
    confidence, and the mask of outliers that took a neighbour's value.

    Error estimate ``e`` (steps): the spread of the chosen mean (``sigma * spread(window)``, ``sigma``
    where no window agreed) + ``residual / 4`` + ``|s - s0|`` (how far the decoding moved away from what
    the colour says) + ``0.2 *`` the 3 x 3 range of ``s`` (edges); repaired pixels add ``sigma`` plus a
    quarter of the distance moved (a repair is a decision between surfaces).
    """
    path = _Path(codec)
    s0 = s0.astype(np.float32, copy=False)
    q0 = path.to_q(s0)
    clean = not off_path_share(residual) > CLEAN_SHARE
    if clean:
        sigma, noise = QUANTISATION_SIGMA, 0.0
    else:
        sigma = max(noise_sigma(path, q0, s0), QUANTISATION_SIGMA)
        noise = float(np.sqrt(max(sigma**2 - QUANTISATION_SIGMA**2, 0.0)))
    sample = residual.ravel()[:: max(1, residual.size // 250_000)]
    reliable_residual = max(3.0, 2.5 * float(np.percentile(sample, 75)))  # off-path pixels do not vote
    weight = (residual <= reliable_residual).astype(np.float32)
    q, level = multiscale_mean(path, q0, weight, sigma)
    bound = 0.5 + GAMMA * noise
    s = np.clip(path.to_s(q), s0 - bound, s0 + bound)
    spread = np.array([1.0] + [SCALE_SPREAD[k] for k in SCALES], dtype=np.float32)
    error = sigma * spread[level] + residual / 4.0
    repaired = np.zeros(s0.shape, dtype=bool)
    if not clean:
        repaired = _repair_edges(path, rgb, s, s0, level, weight, sigma, error)
    error += np.abs(s - s0) + EDGE_WEIGHT * local_range(s)
    # The far end (infinite depth) only where the colour itself is at the far end of the path.
    far = s >= path.steps - 0.5
    s[far & (s0 < path.steps - 1.5)] = path.steps - 0.5 - 1e-3
    return s, error.astype(np.float32), repaired


def local_range(s: np.ndarray) -> np.ndarray:
    """max - min of s over each 3 x 3 neighbourhood: large next to depth edges."""
    import cv2

    kernel = np.ones((3, 3), np.uint8)
    return cv2.dilate(s, kernel) - cv2.erode(s, kernel)


def depth_confidence(path: _Path, s: np.ndarray, error_steps: np.ndarray) -> np.ndarray:
    """Confidence ``exp(-r / 0.01)`` from the expected relative depth error ``r`` = error in steps times
    the relative depth change of one step at ``s`` (about 0.2-0.3 % indoors, more far away)."""
    depth = path.depth(s)
    with np.errstate(invalid="ignore", divide="ignore"):
        per_step = np.where(np.isfinite(depth) & (depth > 0), path.depth(s + 1.0) / depth - 1.0, 1.0)
    per_step = np.where(np.isfinite(per_step), per_step, 1.0)
    return np.exp(-error_steps * per_step / RELATIVE_ERROR_SCALE).astype(np.float32)


def _repair_edges(path: _Path, rgb, s, s0, level, weight, sigma, error) -> np.ndarray:
    """Find outliers and give each the neighbouring plane that explains its colour best (in place)."""
    import cv2

    width = s.shape[1]
    pad = NEIGHBOURS
    stride = width + 2 * pad
    q = path.to_q(s)
    settled = (level >= 1) & (weight > 0)
    grad_x = cv2.Sobel(q, -1, 1, 0, ksize=3, borderType=cv2.BORDER_REFLECT) / np.float32(8.0)
    grad_y = cv2.Sobel(q, -1, 0, 1, ksize=3, borderType=cv2.BORDER_REFLECT) / np.float32(8.0)
    # Flat, padded copies: a neighbour is one index offset away and the border is never "present".
    flat = {
        "q": np.pad(q, pad).ravel(),
        "gx": np.pad(np.where(settled, grad_x, 0.0).astype(np.float32), pad).ravel(),
        "gy": np.pad(np.where(settled, grad_y, 0.0).astype(np.float32), pad).ravel(),
        "settled": np.pad(settled, pad).ravel(),
    }

    def neighbour_values(index, dy, dx, pool):
        """Planes of the neighbours at (row - dy, col - dx) extended to each pixel, and which exist."""
        n = index - (dy * stride + dx)
        base = flat["q"][n]
        extended = base + flat["gx"][n] * np.float32(dx) + flat["gy"][n] * np.float32(dy)
        # A plane extended a few pixels must not run off to infinity: at most a factor 2 in depth.
        extended = np.clip(extended, np.float32(0.5) * base, np.float32(2.0) * base)
        return path.to_s(extended), pool[n]

    def padded_index(rows, cols):
        return (rows + pad) * stride + (cols + pad)

    # Outliers: off the path, or (near an edge) in agreement with no settled neighbour's plane.
    outlier = weight == 0
    rows, cols = np.nonzero((level <= 1) & (weight > 0))
    if len(rows):
        index = padded_index(rows, cols)
        tolerance = GAMMA * sigma + 1.0
        agrees = np.zeros(len(rows), dtype=bool)
        seen = np.zeros(len(rows), dtype=bool)
        own = s[rows, cols]
        # The agreement band in steps, as inverse depth (q falls as s grows): no conversion per neighbour.
        q_high, q_low = path.to_q(own - tolerance), path.to_q(own + tolerance)
        for dy, dx in _offsets(2):
            n = index - (dy * stride + dx)
            present = flat["settled"][n]
            extended = flat["q"][n] + flat["gx"][n] * np.float32(dx) + flat["gy"][n] * np.float32(dy)
            seen |= present
            agrees |= present & (extended >= q_low) & (extended <= q_high)
        outlier[rows[seen & ~agrees], cols[seen & ~agrees]] = True

    pool = np.pad((weight > 0) & ~outlier, pad).ravel()
    ycc = rgb.astype(np.float32) @ YCBCR.T
    if rgb.dtype != np.uint8:
        ycc *= np.float32(255.0)
    channel_weight = np.array([1.0, CHROMA_WEIGHT, CHROMA_WEIGHT], dtype=np.float32)
    todo = outlier.copy()
    repaired = np.zeros(s.shape, dtype=bool)
    for _ in range(3):  # outliers deep inside a smeared band borrow from repaired ones next round
        rows, cols = np.nonzero(todo)
        if not len(rows):
            break
        index = padded_index(rows, cols)
        observed = ycc[rows, cols]
        best_cost = np.full(len(rows), np.inf, dtype=np.float32)
        best_value = s[rows, cols].copy()
        for dy, dx in _offsets(NEIGHBOURS):
            value, present = neighbour_values(index, dy, dx, pool)
            cost = path.colour_cost(value, observed, channel_weight) + np.float32(DISTANCE_COST * (dy * dy + dx * dx))
            better = present & (cost < best_cost)
            best_cost[better] = cost[better]
            best_value[better] = value[better]
        own_cost = path.colour_cost(s[rows, cols], observed, channel_weight) + np.float32(OWN_COST)
        # An isolated far-end (white) pixel among finite ones is smear, not sky: it may not keep its value.
        own_cost[s[rows, cols] >= path.steps - 0.5] = np.inf
        take = best_cost < own_cost
        rows, cols, index, value = rows[take], cols[take], index[take], best_value[take]
        error[rows, cols] += sigma + np.abs(value - s0[rows, cols]) / 4.0
        s[rows, cols] = value
        flat["q"][index] = path.to_q(value)
        flat["gx"][index] = 0.0
        flat["gy"][index] = 0.0
        pool[index] = True
        todo[rows, cols] = False
        repaired[rows, cols] = True
    return repaired


# -- normals -------------------------------------------------------------------------------------------
NORMAL_RESIDUAL = 0.012  # | |2 rgb - 1| - 1 | beyond 8-bit rounding of a unit vector (max ~0.007)


def normals_look_lossy(residual: np.ndarray, valid: np.ndarray) -> bool:
    """True when a non-negligible share of the valid normals is off the unit sphere beyond 8-bit rounding."""
    count = int(np.count_nonzero(valid))
    return count > 0 and np.count_nonzero((residual > NORMAL_RESIDUAL) & valid) > CLEAN_SHARE * count


def robust_normals(lub: np.ndarray, valid: np.ndarray, clean: bool = False):
    """Edge-aware smoothing of LUB vectors (H x W x 3 float32, any length) within the valid pixels.

    A bilateral filter (9 x 9, spatial sigma 4.5 px, range sigma 8x the measured noise clipped to
    0.15..0.3 in vector units, 0.1 on a clean image) averages neighbours that point the same way and
    leaves creases alone; invalid pixels never take part.
    Returns (unit vectors, error estimate in degrees): the error estimate is the angle between the
    smoothed and the observed vector plus the angular range of the neighbourhood (creases) plus the
    residual noise after smoothing.
    """
    import cv2

    lub = lub.astype(np.float32, copy=False)
    noise = _vector_noise(lub, valid)
    range_sigma = 0.1 if clean else float(np.clip(8.0 * noise, 0.15, 0.3))
    # Invalid pixels sit far outside the colour range, so the range kernel gives them no weight.
    masked = np.where(valid[..., None], lub, np.float32(10.0)).astype(np.float32)
    smoothed = cv2.bilateralFilter(masked, 9, range_sigma, 4.5, borderType=cv2.BORDER_REFLECT)
    length = np.linalg.norm(smoothed, axis=2, keepdims=True)
    unit = np.where(valid[..., None], smoothed / np.maximum(length, 1e-6), 0.0).astype(np.float32)
    observed = lub / np.maximum(np.linalg.norm(lub, axis=2, keepdims=True), 1e-6)
    moved = np.degrees(np.arccos(np.clip((unit * observed).sum(axis=2), -1.0, 1.0)))
    spread = np.zeros(valid.shape, np.float32)
    kernel = np.ones((3, 3), np.uint8)
    for c in range(3):
        channel = np.where(valid, unit[..., c], 0.0).astype(np.float32)
        spread = np.maximum(spread, cv2.dilate(channel, kernel) - cv2.erode(channel, kernel))
    error = moved + np.degrees(spread) * 0.5 + np.degrees(noise) / 3.0
    return unit, np.where(valid, error, 180.0).astype(np.float32)


def _vector_noise(lub: np.ndarray, valid: np.ndarray) -> float:
    """Robust per-channel noise of the vectors (MAD of each channel against its 3 x 3 mean, inner pixels)."""
    inner = box(valid.astype(np.float32), 3) > 0.999
    if not inner.any():
        return 0.0
    deviation = np.abs(lub - np.stack([box(lub[..., c], 3) for c in range(3)], axis=2))[inner]
    step = max(1, len(deviation) // 250_000)
    return 1.4826 * float(np.median(deviation[::step])) * 1.06  # 1.06: the mean includes the centre


# -- segmentation ----------------------------------------------------------------------------------------
LABEL_MARGIN = 0.6  # (d2 - d1) / d2 at or above which a pixel's nearest legend colour is trusted as is
LABEL_CHROMA_WEIGHT = 0.25  # Cb and Cr weight when an edge pixel picks among its neighbours' classes


def robust_labels(rgb: np.ndarray, colours: np.ndarray, index: np.ndarray, d1: np.ndarray, d2: np.ndarray,
                  tolerance: float, radius: int = 2, passes: int = 2) -> np.ndarray:
    """Relabel anti-aliased and compressed edge pixels from their neighbourhood.

    ``index, d1, d2``: nearest legend colour per pixel and the distances to the nearest two (8-bit RGB).
    A pixel is trusted when it is within ``tolerance`` and decisively nearest one colour (margin
    ``(d2 - d1) / d2 >= 0.6``). Every other pixel within ``1.5 * tolerance`` picks, among the classes of the
    trusted pixels within ``radius``, the legend colour nearest to its own colour in a luma-weighted
    YCbCr metric (chroma is what 4:2:0 compression and anti-aliasing smear); a pixel with no trusted
    neighbour (a structure thinner than the smear) takes the legend colour nearest in that metric.
    Returns labels
    (0 = unlabeled, i + 1 = class i), int32.
    """
    margin = (d2 - d1) / np.maximum(d2, 1e-6)
    labels = np.where(d1 <= tolerance, index + 1, 0).astype(np.int32)
    trusted = (margin >= LABEL_MARGIN) & (d1 <= tolerance)
    undecided = ~trusted & (d1 <= 1.5 * tolerance)
    if not undecided.any():
        return labels
    width = labels.shape[1]
    weights = np.array([1.0, LABEL_CHROMA_WEIGHT, LABEL_CHROMA_WEIGHT], np.float32)
    legend = np.asarray(colours, np.float32) @ YCBCR.T
    pixels = rgb.astype(np.float32) @ YCBCR.T
    if rgb.dtype != np.uint8:
        pixels *= np.float32(255.0)
    stride = width + 2 * radius
    for _ in range(passes):
        rows, cols = np.nonzero(undecided)
        if not len(rows):
            break
        flat_labels = np.pad(np.where(trusted, labels, 0), radius).ravel()
        index_flat = (rows + radius) * stride + (cols + radius)
        observed = pixels[rows, cols]
        best = np.full(len(rows), np.inf, np.float32)
        chosen = np.zeros(len(rows), np.int32)
        for dy, dx in _offsets(radius):
            candidate = flat_labels[index_flat - (dy * stride + dx)]
            cost = (((legend[np.maximum(candidate - 1, 0)] - observed) ** 2) @ weights)
            better = (candidate > 0) & (cost < best)
            best[better] = cost[better]
            chosen[better] = candidate[better]
        # No decisive neighbour (a structure thinner than the smear): the nearest class in the same metric.
        alone = chosen == 0
        everywhere = ((legend[None, :, :] - observed[alone][:, None, :]) ** 2) @ weights
        chosen[alone] = np.argmin(everywhere, axis=1) + 1
        found = chosen > 0
        labels[rows[found], cols[found]] = chosen[found]
        trusted[rows[found], cols[found]] = True
        undecided[rows[found], cols[found]] = False
    return labels


def label_agreement(labels: np.ndarray) -> np.ndarray:
    """Share of each pixel's 3 x 3 neighbourhood (itself included) that carries its label."""
    agree = np.zeros(labels.shape, np.float32)
    padded = np.pad(labels, 1, mode="edge")
    height, width = labels.shape
    for dy in range(3):
        for dx in range(3):
            agree += padded[dy:dy + height, dx:dx + width] == labels
    return agree / 9.0

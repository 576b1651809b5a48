"""Instance colours -> instances, robust to compression and exact for close but distinct colours.

A generator paints each instance in a colour of its own; JPEG, noise and anti-aliasing blur those
colours. Global colour clustering (one tolerance for the whole image) must choose between merging
instances whose colours are close and splitting one instance whose pixels are noisy. Space decides
instead, in the spirit of Vision Banana's multi-stage decoder (paper, Appendix A):

1. Background: pixels within ``tolerance`` of the background colour and nearer it than any colour
   mode; colour modes within ``tolerance`` of the background are shades of it.
2. Colour modes: peaks of the colour histogram, at least ``fine`` levels apart (``tolerance / 2``, or
   3 sqrt(3) x the measured per-channel noise when larger, at most 0.8 ``tolerance``); every pixel within
   ``tolerance`` of a mode takes the nearest one. Modes only shape regions: whether two regions are
   one instance is decided from their mean colours below.
3. Components: connected (8-neighbour) regions of one mode. Regions smaller than ``min_area / 4`` or
   that (almost) vanish under a soft 5 x 5 erosion (less than 10 % of their pixels have 80 % of their
   5 x 5 neighbourhood in the region: anti-aliased rims and the 2-3 px chroma smear of 4:2:0
   compression fail, noise-speckled regions pass; the paper erodes 3 x 3) are *fragments*; the rest
   are *solid*.
4. Touching solid regions whose mean colours are within ``tolerance`` are one instance (shading).
5. Separate instances whose mean colours match within ``SAME_COLOUR`` levels and whose joint bounding
   box is at most ``GAMMA`` times their summed areas are one instance (an object split by an occluder).
   Means of many pixels are steady under compression, so two instances 12 levels apart stay two.
6. Fragment pixels join the instance of their nearest solid pixel (at most ``FRAGMENT_REACH`` px away)
   when their colour is within ``tolerance`` of its mean colour, else background; instances smaller
   than ``min_area`` are dropped.
"""

from __future__ import annotations

import numpy as np

from vb_plugins.codecs._nearest import nearest_colours

SAME_COLOUR = 8.0  # levels: separate regions closer than this in mean colour are the same instance
GAMMA = 5.0  # joint bounding-box area / summed areas allowed when joining separate regions (paper)
EROSION_KEEP = 0.1  # share of a region that must survive a 3 x 3 erosion to count as solid (paper)
FINE_MIN = 6.0  # levels: the closest two colour modes may be
FRAGMENT_REACH = 6.0  # px: how far a fragment pixel may be from the instance it joins


def cluster_instances(rgb: np.ndarray, background, tolerance: float, min_area: int):
    """uint8 H x W x 3 -> (labels int32 H x W: 0 = background, k = instance k; colours (K+1) x 3 float with
    row 0 the background; distance float32 H x W from each pixel to its instance's mean colour)."""
    import cv2
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    height, width = rgb.shape[:2]
    pixels = rgb.reshape(-1, 3).astype(np.float64)
    background = np.asarray(background, dtype=np.float64)
    fine = float(np.clip(max(tolerance / 2.0, 3.0 * np.sqrt(3.0) * _colour_noise(rgb)), FINE_MIN, 0.8 * tolerance))
    modes = _colour_modes(rgb, fine, max(1, min_area // 8))
    if len(modes):  # shades of the background are background
        modes = modes[np.linalg.norm(modes - background, axis=1) > tolerance]
    centres = np.vstack([background[None], modes]) if len(modes) else background[None]
    index, d1, _ = nearest_colours(rgb, centres)
    mode_map = np.where((d1 <= tolerance) & (index > 0), index, 0).astype(np.int32)

    # Components of each mode (8-connected); component 0 is background / unassigned.
    component = np.zeros((height, width), np.int32)
    count = 1
    box_rows = [np.zeros((1, 4))]  # row0, col0, row1, col1 (inclusive) per component
    # Label each mode inside its own bounding box: most modes cover a small part of the image.
    order = np.argsort(mode_map.ravel(), kind="stable")
    starts = np.searchsorted(mode_map.ravel()[order], np.arange(len(centres) + 1))
    for k in range(1, len(centres)):
        members = order[starts[k]:starts[k + 1]]
        if not len(members):
            continue
        rows, cols = np.divmod(members, width)
        r0, r1, c0, c1 = rows.min(), rows.max() + 1, cols.min(), cols.max() + 1
        mask = (mode_map[r0:r1, c0:c1] == k).astype(np.uint8)
        n, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8, ltype=cv2.CV_32S)
        inside = labels > 0
        component[r0:r1, c0:c1][inside] = labels[inside] + (count - 1)
        x, y, w, h = (stats[1:, i].astype(np.float64) for i in range(4))
        box_rows.append(np.stack([y + r0, x + c0, y + r0 + h - 1, x + c0 + w - 1], axis=1))
        count += n - 1
    boxes = np.concatenate(box_rows)
    flat = component.ravel()
    area = np.bincount(flat, minlength=count).astype(np.float64)
    sums = np.stack([np.bincount(flat, weights=pixels[:, c], minlength=count) for c in range(3)], axis=1)
    means = sums / np.maximum(area, 1)[:, None]
    survived = np.bincount(flat[_interior(component).ravel()], minlength=count)
    solid = (area >= max(1, min_area // 4)) & (survived >= EROSION_KEEP * area)
    solid[0] = False

    # Touching solid components within tolerance: one instance.
    first, second = _touching_pairs(component)
    near = np.linalg.norm(means[first] - means[second], axis=1) <= tolerance
    join = solid[first] & solid[second] & near
    group = _union(count, first[join], second[join], connected_components, coo_matrix)

    # Separate groups of the same mean colour and compact joint extent: one instance (occlusion).
    group_area, group_means, group_boxes = _group_stats(group, area, sums, boxes, solid)
    members = np.flatnonzero(group_area > 0)
    if len(members) > 1:
        diff = np.linalg.norm(group_means[members, None] - group_means[None, members], axis=2)
        a, b = np.nonzero(np.triu(diff <= SAME_COLOUR, 1))
        a, b = members[a], members[b]
        joint = _box_area(np.minimum(group_boxes[a, :2], group_boxes[b, :2]),
                          np.maximum(group_boxes[a, 2:], group_boxes[b, 2:]))
        keep = joint <= GAMMA * (group_area[a] + group_area[b])
        regroup = _union(len(group_area), a[keep], b[keep], connected_components, coo_matrix)
        group = regroup[group]
        group_area, group_means, group_boxes = _group_stats(group, area, sums, boxes, solid)

    # Fragments: each pixel joins the instance of its nearest solid pixel (within FRAGMENT_REACH px)
    # when its colour is within tolerance of that instance's mean colour; otherwise background.
    owner = np.where(solid, group, -1)
    owner[0] = -1
    pixel_owner = owner[component]
    loose = (component > 0) & (pixel_owner < 0)
    if loose.any() and (pixel_owner >= 0).any():
        distance_map, nearest = cv2.distanceTransformWithLabels((pixel_owner < 0).astype(np.uint8), cv2.DIST_L2, 3,
                                                                labelType=cv2.DIST_LABEL_PIXEL)
        seeds = np.flatnonzero((pixel_owner >= 0).ravel())  # label i + 1 = i-th solid pixel in raster order
        host = pixel_owner.ravel()[seeds][np.maximum(nearest.ravel() - 1, 0)].reshape(height, width)
        close = np.linalg.norm(rgb.astype(np.float64) - group_means[host], axis=2) <= tolerance
        take = loose & close & (distance_map <= FRAGMENT_REACH)
        pixel_owner = np.where(take, host, pixel_owner)

    # Relabel: instances 1..K by group; colours are the members' mean colours.
    valid_groups = np.unique(pixel_owner[pixel_owner >= 0])
    remap = np.zeros(int(pixel_owner.max()) + 2 if len(valid_groups) else 1, np.int32)
    remap[valid_groups] = np.arange(1, len(valid_groups) + 1)
    labels = np.where(pixel_owner >= 0, remap[np.maximum(pixel_owner, 0)], 0)
    final_flat = labels.ravel()
    k = len(valid_groups) + 1
    final_area = np.bincount(final_flat, minlength=k).astype(np.float64)
    final_sums = np.stack([np.bincount(final_flat, weights=pixels[:, c], minlength=k) for c in range(3)], 1)
    colours = final_sums / np.maximum(final_area, 1)[:, None]
    colours[0] = background
    distance = np.linalg.norm(pixels - colours[final_flat], axis=1).reshape(height, width).astype(np.float32)
    return labels.astype(np.int32), colours, distance


def _colour_noise(rgb: np.ndarray) -> float:
    """Robust per-channel noise (levels): median absolute deviation from the 3 x 3 mean, flat pixels."""
    import cv2

    image = rgb.astype(np.float32)
    deviation = np.abs(image - cv2.blur(image, (3, 3), borderType=cv2.BORDER_REFLECT)).max(axis=2).ravel()
    step = max(1, deviation.size // 250_000)
    return 1.4826 * float(np.median(deviation[::step])) * 1.06


def _colour_modes(rgb: np.ndarray, fine: float, seed_min: int) -> np.ndarray:
    """Histogram peaks at least ``fine`` apart, visited by decreasing count, each the mean of its bin
    and the bins around it (a 3 x 3 x 3 neighbourhood of bins ``fine / 2`` wide)."""
    bin_width = max(2, int(fine // 2))
    bins = 256 // bin_width + 1
    quantised = (rgb // bin_width).astype(np.int64)
    keys = (quantised[..., 0] * bins + quantised[..., 1]) * bins + quantised[..., 2]
    counts = np.bincount(keys.ravel(), minlength=bins**3).reshape(bins, bins, bins).astype(np.float64)
    sums = [np.bincount(keys.ravel(), weights=rgb[..., c].ravel().astype(np.float64), minlength=bins**3)
            .reshape(bins, bins, bins) for c in range(3)]
    from scipy.ndimage import uniform_filter

    # Pooled over neighbouring bins: a noisy instance spreads over several bins but still forms one peak.
    pooled = uniform_filter(counts, 3, mode="constant") * 27
    pooled_sums = [uniform_filter(s, 3, mode="constant") * 27 for s in sums]
    order = np.argsort(-pooled.ravel(), kind="stable")
    modes: list[np.ndarray] = []
    for key in order:
        if pooled.flat[key] < seed_min:
            break
        if counts.flat[key] == 0:
            continue
        colour = np.array([s.flat[key] for s in pooled_sums]) / pooled.flat[key]
        if not modes or np.min(np.linalg.norm(np.asarray(modes) - colour, axis=1)) > fine:
            modes.append(colour)
        if len(modes) >= 4096:
            break
    return np.asarray(modes, dtype=np.float64).reshape(-1, 3)


def _interior(component: np.ndarray, radius: int = 2, share: float = 0.8) -> np.ndarray:
    """Pixels with at least ``share`` of their (2 radius + 1)^2 neighbourhood in their own (non-zero)
    component: a soft erosion that thin rims fail and noise-speckled regions pass."""
    padded = np.pad(component, radius, mode="constant", constant_values=-1)
    height, width = component.shape
    same = np.zeros(component.shape, np.int16)
    for dy in range(2 * radius + 1):
        for dx in range(2 * radius + 1):
            same += padded[dy:dy + height, dx:dx + width] == component
    return (component > 0) & (same >= share * (2 * radius + 1) ** 2)


def _touching_pairs(component: np.ndarray):
    """Unique pairs (a, b), a < b, of different non-zero components that touch (8-neighbourhood)."""
    pairs = []
    for a, b in ((component[:, :-1], component[:, 1:]), (component[:-1, :], component[1:, :]),
                 (component[:-1, :-1], component[1:, 1:]), (component[:-1, 1:], component[1:, :-1])):
        differ = (a != b) & (a > 0) & (b > 0)
        pairs.append(np.stack([np.minimum(a[differ], b[differ]), np.maximum(a[differ], b[differ])], 1))
    pairs = np.unique(np.concatenate(pairs), axis=0) if pairs else np.zeros((0, 2), np.int64)
    return pairs[:, 0].astype(np.int64), pairs[:, 1].astype(np.int64)


def _union(size: int, a: np.ndarray, b: np.ndarray, connected_components, coo_matrix) -> np.ndarray:
    graph = coo_matrix((np.ones(len(a)), (a, b)), shape=(size, size))
    return connected_components(graph, directed=False)[1]


def _box_area(low: np.ndarray, high: np.ndarray) -> np.ndarray:
    return (high[:, 0] - low[:, 0] + 1) * (high[:, 1] - low[:, 1] + 1)


def _group_stats(group, area, sums, boxes, solid):
    """Area, mean colour and bounding box of each group, over its solid components only."""
    size = int(group.max()) + 1
    weight = np.where(solid, area, 0.0)
    group_area = np.bincount(group, weights=weight, minlength=size)
    group_sums = np.stack([np.bincount(group, weights=np.where(solid, sums[:, c], 0.0), minlength=size)
                           for c in range(3)], 1)
    group_means = group_sums / np.maximum(group_area, 1)[:, None]
    group_boxes = np.zeros((size, 4))
    group_boxes[:, :2] = np.inf
    sel = solid
    np.minimum.at(group_boxes[:, 0], group[sel], boxes[sel, 0])
    np.minimum.at(group_boxes[:, 1], group[sel], boxes[sel, 1])
    np.maximum.at(group_boxes[:, 2], group[sel], boxes[sel, 2])
    np.maximum.at(group_boxes[:, 3], group[sel], boxes[sel, 3])
    return group_area, group_means, group_boxes

"""Nearest-colour assignment shared by the segmentation codecs."""

from __future__ import annotations

import numpy as np

from vb_plugins.codecs.colors import rgb_to_lab
from vb_plugins.codecs.schemes import pack_rgb

_CHUNK = 1 << 18


def nearest_colours(rgb: np.ndarray, colours, space: str = "rgb") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each pixel of ``rgb`` (H x W x 3 uint8 or float 0..1) find the nearest of ``colours`` (K x 3, 0..255).

    Returns (index int32 H x W, distance to the nearest, distance to the second nearest), distances in
    8-bit RGB levels (``space="rgb"``) or CIELAB units (``space="lab"``). With one colour the second
    distance is ``inf``. Ties go to the earlier colour.
    """
    shape = rgb.shape[:2]
    if rgb.dtype == np.uint8:
        # Generated images reuse few colours (even after JPEG, far fewer than pixels): solve each once.
        packed, inverse = np.unique(pack_rgb(rgb).ravel(), return_inverse=True)
        points = np.stack([(packed >> 16) & 255, (packed >> 8) & 255, packed & 255], axis=1).astype(np.float64)
        index, first, second = nearest_points(points, colours, space)
        return tuple(a[inverse].reshape(shape) for a in (index, first, second))  # type: ignore[return-value]
    index, first, second = nearest_points(rgb.reshape(-1, 3).astype(np.float64) * 255.0, colours, space)
    return index.reshape(shape), first.reshape(shape), second.reshape(shape)


def nearest_points(points: np.ndarray, colours, space: str = "rgb") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`nearest_colours` for N x 3 points in 0..255 (float64)."""
    colours = np.asarray(colours, dtype=np.float64).reshape(-1, 3)
    if space == "lab":
        colours = rgb_to_lab(colours / 255.0).astype(np.float64)
    elif space != "rgb":
        raise ValueError(f"space={space!r}")
    count = len(points)
    index = np.zeros(count, dtype=np.int32)
    first = np.empty(count, dtype=np.float32)
    second = np.full(count, np.inf, dtype=np.float32)
    colour_sq = (colours**2).sum(axis=1)
    rows = np.arange(min(count, _CHUNK))
    for start in range(0, count, _CHUNK):
        chunk = points[start : start + _CHUNK]
        if space == "lab":
            chunk = rgb_to_lab(chunk / 255.0).astype(np.float64)
        # |x - c|^2 = |x|^2 - 2 x.c + |c|^2: one matrix product instead of K passes (float64 keeps exact
        # matches at distance 0).
        d2 = (chunk**2).sum(axis=1, keepdims=True) - 2.0 * chunk @ colours.T + colour_sq
        np.maximum(d2, 0.0, out=d2)
        span = slice(start, start + len(chunk))
        best = np.argmin(d2, axis=1)
        r = rows[: len(chunk)]
        first[span] = np.sqrt(d2[r, best])
        index[span] = best
        if len(colours) > 1:
            d2[r, best] = np.inf
            second[span] = np.sqrt(d2.min(axis=1))
    return index, first, second

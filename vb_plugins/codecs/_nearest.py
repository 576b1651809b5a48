"""Nearest-colour assignment shared by the segmentation codecs."""

from __future__ import annotations

import numpy as np

_CHUNK = 1 << 18


def nearest_colours(rgb: np.ndarray, colours: np.ndarray, space: str = "rgb") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each pixel of ``rgb`` (H x W x 3 uint8 or float 0..1) find the nearest of ``colours`` (K x 3, 0..255).

    Returns (index int32 H x W, distance to the nearest, distance to the second nearest), distances in
    8-bit RGB levels (``space="rgb"``) or CIELAB units (``space="lab"``). With one colour the second
    distance is ``inf``.
    """
    from vb_plugins.codecs.colors import rgb_to_lab

    colours = np.asarray(colours, dtype=np.float64).reshape(-1, 3)
    pixels = rgb.reshape(-1, 3)
    pixels = pixels.astype(np.float32) if rgb.dtype == np.uint8 else pixels.astype(np.float32) * 255.0
    if space == "lab":
        colours = rgb_to_lab(colours / 255.0).astype(np.float64)
    elif space != "rgb":
        raise ValueError(f"space={space!r}")
    count = len(pixels)
    index = np.empty(count, dtype=np.int32)
    first = np.empty(count, dtype=np.float32)
    second = np.full(count, np.inf, dtype=np.float32)
    colour_sq = (colours**2).sum(axis=1)
    for start in range(0, count, _CHUNK):
        chunk = pixels[start : start + _CHUNK]
        if space == "lab":
            chunk = rgb_to_lab(chunk / 255.0)
        # |x - c|^2 = |x|^2 - 2 x.c + |c|^2: one matrix product instead of K passes.
        chunk = chunk.astype(np.float64)  # float64: exact matches must come out at distance 0
        d2 = (chunk**2).sum(axis=1, keepdims=True) - 2.0 * chunk @ colours.T + colour_sq
        np.maximum(d2, 0.0, out=d2)
        if len(colours) == 1:
            index[start : start + len(chunk)] = 0
            first[start : start + len(chunk)] = d2[:, 0]
            continue
        order = np.argpartition(d2, 1, axis=1)[:, :2]
        rows = np.arange(len(chunk))
        a, b = d2[rows, order[:, 0]], d2[rows, order[:, 1]]
        swap = b < a
        index[start : start + len(chunk)] = np.where(swap, order[:, 1], order[:, 0])
        first[start : start + len(chunk)] = np.where(swap, b, a)
        second[start : start + len(chunk)] = np.where(swap, a, b)
    shape = rgb.shape[:2]
    return index.reshape(shape), np.sqrt(first).reshape(shape), np.sqrt(second).reshape(shape)

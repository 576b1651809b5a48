"""Label PNGs people can look at: palette PNGs whose pixel values are the labels (0..N) and whose palette
holds the legend's colours, so an image viewer shows the classes in their colours while every program
that reads the values (Pillow's ``np.asarray``, :func:`read_labels`, ``vb eval``) gets 0..N back.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from vb_plugins.errors import InputError
from vb_plugins.io import atomic_path, read_image, write_png

UNLABELED_COLOUR = (0, 0, 0)


def write_label_png(path, labels, colours, overwrite: bool = True, unlabeled=UNLABELED_COLOUR) -> Path:
    """Write uint8 ``labels`` (0 = unlabeled, i = the i-th of ``colours``) as a palette PNG, atomically.
    More than 255 classes do not fit a palette: those are written as 16-bit gray PNGs."""
    labels = np.asarray(labels)
    colours = np.asarray(colours, dtype=np.uint8).reshape(-1, 3)
    if labels.ndim != 2 or not np.issubdtype(labels.dtype, np.integer):
        raise InputError(f"{path}: labels must be an H x W integer array, got {labels.dtype} {labels.shape}")
    if len(colours) > 255 or (labels.size and int(labels.max()) > 255):
        return write_png(path, labels.astype(np.uint16), overwrite)
    if labels.size and (labels.min() < 0 or int(labels.max()) > len(colours)):
        raise InputError(f"{path}: labels {labels.min()}..{labels.max()} exceed the {len(colours)} legend colours")
    image = Image.frombytes("P", (labels.shape[1], labels.shape[0]), np.ascontiguousarray(labels, np.uint8).tobytes())
    table = np.zeros((256, 3), np.uint8)
    table[0] = unlabeled
    table[1:len(colours) + 1] = colours
    image.putpalette(table.ravel().tolist())
    with atomic_path(path, overwrite) as temp:
        image.save(temp, format="PNG")
    return Path(path)


def palette_indices(path) -> np.ndarray | None:
    """The pixel values (palette indices) of a palette image, or None for any other file."""
    try:
        with Image.open(path) as image:
            return np.asarray(image).copy() if image.mode == "P" else None
    except OSError:  # not an image (or unreadable): the caller's reader says why
        return None


def read_labels(path, what: str = "label") -> np.ndarray:
    """Label values from a PNG: a palette PNG gives its indices, a gray one its values (8 or 16 bit); an
    RGB one only when it is gray (all channels equal)."""
    path = Path(path)
    if path.is_file() and (indices := palette_indices(path)) is not None:
        return indices
    array = read_image(path)
    if array.ndim == 3:
        if not (np.array_equal(array[..., 0], array[..., 1]) and np.array_equal(array[..., 0], array[..., 2])):
            raise InputError(f"{path}: expected a single-channel {what} image, got colour channels")
        array = array[..., 0]
    return array

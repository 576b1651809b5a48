"""The shape check every metric makes on an H x W map (depth, labels, masks)."""

from __future__ import annotations

import numpy as np

from vb_plugins.errors import InputError


def drop_channel(array) -> np.ndarray:
    """``array`` as a numpy array, an H x W x 1 one without its channel."""
    array = np.asarray(array)
    return array[..., 0] if array.ndim == 3 and array.shape[2] == 1 else array


def as_map(array, name: str, what: str) -> np.ndarray:
    """``array`` as an H x W map (a trailing channel of one dropped); any other shape is an
    :class:`InputError` naming ``name`` and the ``what`` expected ("depth map", "mask", ...)."""
    array = drop_channel(array)
    if array.ndim != 2:
        raise InputError(f"{name}: expected an H x W {what}, got shape {array.shape}")
    return array

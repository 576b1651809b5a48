"""Grayscale values <-> gray pictures: relative depth and alpha mattes, 8- or 16-bit.

A value ``v`` in [0, 1] is painted as the gray level ``round(v * 255)`` (8-bit) or ``round(v * 65535)``
(16-bit); decoding gives the level divided by the same number, so values on those grids round-trip
bit-exactly. Generators paint gray as RGB with three (nearly) equal channels: the value read is the mean
of the channels, and their disagreement (max - min, in 8-bit levels) is the per-pixel residual; the
confidence falls with it as ``exp(-(residual / 8)**2 / 2)`` (the depth codec's scale: JPEG's chroma noise
on a gray picture stays at a few levels, a coloured pixel is far off).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from vb_plugins.codecs._arrays import check_hw
from vb_plugins.codecs._modes import resolve_mode
from vb_plugins.codecs.base import Decoding
from vb_plugins.codecs.depth import CONFIDENCE_SCALE, residual_confidence
from vb_plugins.errors import InputError

BITS = (8, 16)
_LEVELS = {8: 255, 16: 65535}


@dataclass(frozen=True, eq=False)
class GrayDecoding(Decoding):
    """Decoded gray values. Unpacks as ``values, residual = codec.decode(image)``.

    - ``gray``: float32 H x W in [0, 1], the mean of the channels (what was painted),
    - ``residual``: float32 H x W, max - min of the channels in 8-bit levels (0 for a gray file),
    - ``confidence``: float32 H x W in (0, 1], ``exp(-(residual / 8)**2 / 2)``,
    - ``mode``: ``"exact"`` (every pixel on its own; gray decoding has no other reading),
    - ``bits``: 8 or 16, the depth of the picture decoded.
    """

    gray: np.ndarray
    residual: np.ndarray
    confidence: np.ndarray = field(default=None)  # type: ignore[assignment]
    mode: str = "exact"
    bits: int = 8
    values_field = "gray"
    unpacks = ("gray", "residual")

    def __post_init__(self):
        if self.confidence is None:
            object.__setattr__(self, "confidence", residual_confidence(self.residual, CONFIDENCE_SCALE))


def check_bits(bits) -> int:
    try:
        bits = int(bits)
    except (TypeError, ValueError):
        bits = None
    if bits not in BITS:
        raise InputError(f"bits={bits!r}: gray pictures are 8 or 16 bit")
    return bits


class GrayCodec:
    """Values in [0, 1] <-> gray pictures (``name`` names the values in messages)."""

    def __init__(self, name: str = "values"):
        self.name = name

    def encode(self, values, bits: int = 8) -> np.ndarray:
        """H x W values in [0, 1] -> H x W uint8 (``bits=8``) or uint16 (``bits=16``) gray levels.
        NaN, infinite and out-of-range values are refused (mask them first)."""
        bits = check_bits(bits)
        values = np.asarray(values)
        if values.ndim == 3 and values.shape[2] == 1:
            values = values[..., 0]
        check_hw(values, self.name, 2)
        if values.dtype == np.bool_:
            values = values.astype(np.float64)
        if not np.issubdtype(values.dtype, np.number) or np.issubdtype(values.dtype, np.complexfloating):
            raise InputError(f"{self.name}: expected real numbers in 0..1, got dtype {values.dtype}")
        values = values.astype(np.float64)
        if not np.isfinite(values).all():
            raise InputError(f"{self.name}: {int((~np.isfinite(values)).sum())} NaN or infinite values; "
                             "fill them before encoding")
        low, high = float(values.min()), float(values.max())
        if low < 0.0 or high > 1.0:
            raise InputError(f"{self.name}: values must lie in 0..1, found {low:g}..{high:g}")
        levels = _LEVELS[bits]
        return np.rint(values * levels).astype(np.uint8 if bits == 8 else np.uint16)

    def decode(self, image, mode: str | None = None) -> GrayDecoding:
        """A gray picture -> :class:`GrayDecoding`: H x W uint8 / uint16 / float 0..1, or H x W x 3(4)
        whose channels should be equal (alpha dropped). ``mode`` is checked; every mode reads the same."""
        resolve_mode(mode)
        array = np.asarray(image)
        if array.ndim == 3 and array.shape[2] in (1, 3, 4):
            array = array[..., :3] if array.shape[2] != 1 else array[..., 0]
        if array.ndim not in (2, 3):
            raise InputError(f"{self.name} image: expected a gray (H x W) or RGB (H x W x 3) picture, got shape "
                             f"{array.shape}")
        if array.shape[0] == 0 or array.shape[1] == 0:
            raise InputError(f"{self.name} image: image is empty (shape {array.shape})")
        bits = 16 if array.dtype == np.uint16 else 8
        if array.dtype in (np.uint8, np.uint16):
            scale = float(_LEVELS[bits])
        elif array.dtype == np.bool_:
            array, scale = array.astype(np.uint8), 1.0
        elif np.issubdtype(array.dtype, np.floating):
            array = array.astype(np.float64)
            if not np.isfinite(array).all():
                raise InputError(f"{self.name} image: contains NaN or infinite values")
            low, high = float(array.min()), float(array.max())
            if low < -1e-3 or high > 1.0 + 1e-3:
                raise InputError(f"{self.name} image: float values must lie in 0..1, found {low:g}..{high:g}")
            array, scale = np.clip(array, 0.0, 1.0), 1.0
        else:
            raise InputError(f"{self.name} image: unsupported dtype {array.dtype}; use uint8, uint16 or float 0..1")
        if array.ndim == 2:
            gray = array.astype(np.float64) / scale
            residual = np.zeros(array.shape, np.float32)
        else:
            channels = array.astype(np.float64)
            gray = channels.mean(axis=2) / scale
            residual = ((channels.max(axis=2) - channels.min(axis=2)) * (255.0 / scale)).astype(np.float32)
        return GrayDecoding(gray.astype(np.float32), residual, bits=bits)


__all__ = ["GrayCodec", "GrayDecoding", "BITS", "check_bits"]

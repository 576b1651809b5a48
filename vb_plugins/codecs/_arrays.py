"""Input normalisation shared by the codecs: one place decides which arrays are images."""

from __future__ import annotations

import numpy as np

from vb_plugins.errors import InputError

# Float images may carry tiny excursions from resampling; anything beyond this is not a 0..1 image.
_FLOAT_SLACK = 1e-3


def as_rgb(image, name: str = "image", allow_gray: bool = False) -> np.ndarray:
    """Return ``image`` as HxWx3, keeping uint8 as uint8 and turning everything else into float32 0..1.

    Accepts uint8 (0..255), uint16 (0..65535, e.g. 16-bit PNG), bool, and float arrays in 0..1;
    HxWx3, HxWx4 (alpha is dropped: the codecs read colour, not coverage) and, when ``allow_gray``,
    HxW / HxWx1 (replicated to three channels). PIL images are accepted too.
    """
    array = np.asarray(image)
    if array.ndim == 3 and array.shape[2] == 4:
        array = array[..., :3]
    elif array.ndim == 2 or (array.ndim == 3 and array.shape[2] == 1):
        if not allow_gray:
            raise InputError(
                f"{name}: expected an RGB image (H x W x 3), got a single-channel image of shape {array.shape}"
            )
        array = np.repeat(array.reshape(array.shape[0], array.shape[1], 1), 3, axis=2)
    if array.ndim != 3 or array.shape[2] != 3:
        raise InputError(f"{name}: expected an RGB image (H x W x 3), got an array of shape {array.shape}")
    if array.shape[0] == 0 or array.shape[1] == 0:
        raise InputError(f"{name}: image is empty (shape {array.shape})")
    if array.dtype == np.uint8:
        return array
    if array.dtype == np.uint16:
        return array.astype(np.float32) / 65535.0
    if array.dtype == np.bool_:
        return array.astype(np.float32)
    if np.issubdtype(array.dtype, np.integer):
        raise InputError(f"{name}: unsupported integer dtype {array.dtype}; use uint8 (0..255) or uint16 (0..65535)")
    if not np.issubdtype(array.dtype, np.floating):
        raise InputError(f"{name}: unsupported dtype {array.dtype}")
    return unit_interval(array, name, "float image values", hint=True)


def unit_interval(array: np.ndarray, name: str, what: str = "values", hint: bool = False) -> np.ndarray:
    """Float ``array`` checked to hold finite values in 0..1 (resampling may overshoot by a hair, which is
    clipped) -> float32. ``what`` names the values in the message; ``hint`` adds one for 0..255 data."""
    array = array.astype(np.float32, copy=False)
    if not np.isfinite(array).all():
        raise InputError(f"{name}: contains NaN or infinite values")
    low, high = float(array.min()), float(array.max())
    if low < -_FLOAT_SLACK or high > 1.0 + _FLOAT_SLACK:
        advice = " (looks like 0..255: pass uint8 or divide by 255)" if hint and high <= 255.0 + _FLOAT_SLACK else ""
        raise InputError(f"{name}: {what} must lie in 0..1, found {low:g}..{high:g}{advice}")
    return np.clip(array, 0.0, 1.0)


def reads_colour(task, spec=None) -> bool:
    """Whether decoding ``task`` needs colour: depth (unless its scheme is gray) and normals read a
    colour code, so a gray picture holds nothing to decode; segmentation reads gray colours (black,
    white, gray legends) like any other."""
    kind = getattr(task, "value_kind", None)
    if kind == "normals":
        return True
    if kind == "depth":
        codec = task.codec_for(spec) if hasattr(task, "codec_for") else task.codec
        return not getattr(codec, "is_grayscale", False)
    return False


def to_float(rgb: np.ndarray) -> np.ndarray:
    """uint8 or float 0..1 -> float32 0..1."""
    if rgb.dtype == np.uint8:
        return rgb.astype(np.float32) / 255.0
    return rgb.astype(np.float32, copy=False)


def to_uint8(rgb01: np.ndarray) -> np.ndarray:
    """Float 0..1 -> uint8 with round-half-to-even, the same rounding numpy uses everywhere."""
    return np.rint(np.clip(rgb01, 0.0, 1.0) * 255.0).astype(np.uint8)


def check_hw(array: np.ndarray, name: str, ndim: int, channels: int | None = None) -> None:
    """Reject arrays of the wrong rank or channel count with a message naming ``name``."""
    if array.ndim != ndim or (channels is not None and array.shape[-1] != channels):
        expected = "H x W" if ndim == 2 else f"H x W x {channels}"
        raise InputError(f"{name}: expected an array of shape {expected}, got {array.shape}")
    if array.shape[0] == 0 or array.shape[1] == 0:
        raise InputError(f"{name}: array is empty (shape {array.shape})")

"""ComfyUI tensors <-> numpy, with the checks that turn wrong inputs into one-line errors.

ComfyUI's formats: IMAGE is ``torch.float32 [B, H, W, C]`` in 0..1 (C = 3, sometimes 4 with alpha or 1),
MASK is ``float32 [B, H, W]`` in 0..1. The codecs read 8-bit colours, as a saved PNG would hold them,
so images are rounded to uint8 (exact for images that came from 8-bit files). The value checks and
conversions are the codecs' own (:mod:`vb_plugins.codecs._arrays`).
"""

from __future__ import annotations

import numpy as np

from vb_plugins.codecs._arrays import reads_colour, to_float, to_uint8, unit_interval
from vb_plugins.errors import InputError


def _as_numpy(tensor, name: str) -> np.ndarray:
    if tensor is None:
        raise InputError(f"{name}: nothing is connected")
    if hasattr(tensor, "detach"):  # torch
        tensor = tensor.detach().to("cpu")
        if tensor.dtype.is_floating_point:
            tensor = tensor.float()  # bfloat16 / float16 have no numpy twin
        return tensor.numpy()
    if isinstance(tensor, np.ndarray):
        return tensor
    raise InputError(f"{name}: expected a tensor, got {type(tensor).__name__}")


def _check_values(array: np.ndarray, name: str) -> np.ndarray:
    if array.dtype == np.bool_:
        return array.astype(np.float32)
    if not np.issubdtype(array.dtype, np.floating):
        raise InputError(f"{name}: expected float values in 0..1, got dtype {array.dtype}")
    return unit_interval(array, name)


def image_batch(tensor, name: str = "image", task=None, spec=None) -> tuple[np.ndarray, np.ndarray | None]:
    """IMAGE ``[B, H, W, C]`` -> (uint8 ``[B, H, W, 3]`` RGB, bool ``[B, H, W]`` opaque pixels or None).

    C = 1 is replicated to gray RGB, except for decoding a ``task`` that reads colour (depth, normals:
    see :func:`reads_colour`), which refuses it. C = 4 is RGBA: alpha < 0.5 marks a pixel transparent
    (decoders report it as invalid). A ``[B, H, W]`` tensor is a MASK and is refused with a hint.
    """
    array = _as_numpy(tensor, name)
    if array.ndim == 3:
        raise InputError(f"{name}: got a MASK-shaped tensor {list(array.shape)} (batch, height, width); "
                         "connect an IMAGE [batch, height, width, channels] (MaskToImage converts one)")
    if array.ndim != 4:
        raise InputError(f"{name}: expected an IMAGE tensor [batch, height, width, channels], got shape "
                         f"{list(array.shape)}")
    batch, height, width, channels = array.shape
    if batch == 0:
        raise InputError(f"{name}: the batch is empty (0 images)")
    if height == 0 or width == 0:
        raise InputError(f"{name}: images are empty ({height} x {width} pixels)")
    if channels not in (1, 3, 4):
        raise InputError(f"{name}: expected 1, 3 or 4 channels, got {channels}")
    if channels == 1 and task is not None and reads_colour(task, spec):
        raise InputError(f"{name}: a 1-channel (gray) IMAGE cannot be decoded as {task.name}: its colour code "
                         "needs RGB (connect the generated colour image)")
    array = _check_values(array, name)
    opaque = array[..., 3] >= 0.5 if channels == 4 else None
    rgb = np.repeat(array, 3, axis=3) if channels == 1 else array[..., :3]
    return to_uint8(rgb), opaque


def mask_batch(tensor, name: str = "mask") -> np.ndarray:
    """MASK ``[B, H, W]`` (or a single ``[H, W]``) -> float32 ``[B, H, W]`` in 0..1."""
    array = _as_numpy(tensor, name)
    if array.ndim == 2:
        array = array[None]
    if array.ndim == 4:
        raise InputError(f"{name}: got an IMAGE-shaped tensor {list(array.shape)}; connect a MASK "
                         "[batch, height, width] (ImageToMask converts one)")
    if array.ndim != 3:
        raise InputError(f"{name}: expected a MASK tensor [batch, height, width], got shape {list(array.shape)}")
    if array.shape[0] == 0:
        raise InputError(f"{name}: the batch is empty (0 masks)")
    if array.shape[1] == 0 or array.shape[2] == 0:
        raise InputError(f"{name}: masks are empty ({array.shape[1]} x {array.shape[2]} pixels)")
    return _check_values(array, name)


def spatial_size(tensor, name: str = "reference") -> tuple[int, int]:
    """(height, width) of an IMAGE ``[B, H, W, C]`` or MASK ``[B, H, W]`` tensor."""
    shape = tuple(getattr(tensor, "shape", ()))
    if len(shape) not in (3, 4) or shape[0] == 0 or shape[1] == 0 or shape[2] == 0:
        raise InputError(f"{name}: expected a non-empty IMAGE or MASK tensor, got shape {list(shape)}")
    return int(shape[1]), int(shape[2])


def image_tensor(pixels) -> "torch.Tensor":  # noqa: F821
    """uint8 (0..255) or float (0..1) ``[B, H, W, 3]`` (or a list of ``[H, W, 3]``) -> IMAGE tensor."""
    import torch

    array = np.stack(pixels) if isinstance(pixels, (list, tuple)) else np.asarray(pixels)
    if array.dtype == np.uint8:
        array = to_float(array)
    return torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32))


def mask_tensor(mask) -> "torch.Tensor":  # noqa: F821
    """bool or float ``[B, H, W]`` -> MASK tensor (float32 0..1)."""
    import torch

    return torch.from_numpy(np.ascontiguousarray(np.asarray(mask, dtype=np.float32)))


def gray_image(values) -> "torch.Tensor":  # noqa: F821
    """float ``[B, H, W]`` in 0..1 -> a gray IMAGE tensor (for residual / uncertainty maps)."""
    values = np.clip(np.nan_to_num(np.asarray(values, dtype=np.float32), nan=1.0), 0.0, 1.0)
    return image_tensor(np.repeat(values[..., None], 3, axis=3))

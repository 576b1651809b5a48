"""Where decoded values land: the target size, and how the generated view maps onto it.

Generators paint at their own size (aspect ratio kept, model multiples), and graphs that edit images
natively rescale or centre-crop their input. Values are decoded at the generated size and only then
placed on the target: resized (``fit="stretch"``: the input was rescaled) or into the centred region a
cover-and-crop showed (``fit="crop"``; pixels outside it hold no data). Every adapter places through here.
"""

from __future__ import annotations

import numpy as np

from vb_plugins.ensemble import Combined, resize_nearest
from vb_plugins.errors import InputError
from vb_plugins.kinds import ValueKind

FITS = ("stretch", "crop")
MAX_SIDE = 16384  # pixels: a larger explicit target is a typo


def check_fit(fit: str) -> str:
    if fit not in FITS:
        raise InputError(f"fit {fit!r}: expected one of {', '.join(FITS)}")
    return fit


def check_side(name: str, value) -> int:
    """An explicit target width or height: 0 (keep) or a size in pixels."""
    if not isinstance(value, int | np.integer) or isinstance(value, bool) or not 0 <= value <= MAX_SIDE:
        raise InputError(f"{name}={value!r}: must be 0 (keep) or a size in pixels up to {MAX_SIDE}")
    return int(value)


def target_size(generated: tuple[int, int], size: tuple[int, int] | None = None, width: int = 0,
                height: int = 0) -> tuple[int, int]:
    """(height, width) to place values at: ``size`` (a reference image's), else ``width`` x ``height``
    (one of them 0: the generated aspect ratio kept), else the generated size."""
    if size is not None:
        return int(size[0]), int(size[1])
    gh, gw = generated
    if width and height:
        return int(height), int(width)
    if width:
        return max(1, round(gh * width / gw)), int(width)
    if height:
        return int(height), max(1, round(gw * height / gh))
    return int(gh), int(gw)


def crop_region(target: tuple[int, int], generated: tuple[int, int]) -> tuple[int, int, int, int]:
    """(top, left, height, width) of the centred region of ``target`` with ``generated``'s aspect ratio:
    what a graph that scaled the input to cover and centre-cropped it shows."""
    th, tw = target
    gh, gw = generated
    if tw * gh > th * gw:  # target is wider: the generated view spans the full height
        height, width = th, max(1, round(th * gw / gh))
    else:
        height, width = max(1, round(tw * gh / gw)), tw
    return (th - height) // 2, (tw - width) // 2, height, width


def place_mask(mask: np.ndarray, target: tuple[int, int], fit: str = "stretch") -> np.ndarray:
    """A bool mask at the generated size placed on ``target`` like the values (False outside a crop)."""
    target = tuple(target)
    if fit == "stretch" or mask.shape == target:
        return resize_nearest(mask, target)
    top, left, height, width = crop_region(target, mask.shape)
    canvas = np.zeros(target, dtype=bool)
    canvas[top:top + height, left:left + width] = resize_nearest(mask, (height, width))
    return canvas


def place(kind: ValueKind, combined: Combined, target: tuple[int, int], fit: str = "stretch",
          covered: np.ndarray | None = None) -> tuple[Combined, np.ndarray | None]:
    """Combined values (at the generated size) placed on ``target`` by their kind's rules; ``covered``:
    bool at the generated size, pixels that hold data (False where the input was transparent).

    Returns the placed values and ``inside`` (bool at the target, pixels a covered generated pixel lands
    on; None when that is every pixel). Outside, values are the kind's fill, confidence (reliability) is 0
    and the expected error NaN.
    """
    target = tuple(int(v) for v in target)
    generated = combined.values.shape[:2]
    inside = None
    if fit == "stretch" or tuple(generated) == target:
        placed = kind.resize(combined, target)
    else:
        top, left, height, width = crop_region(target, generated)
        region = kind.resize(combined, (height, width))
        values = np.asarray(region.values)
        canvas = np.full(target + values.shape[2:], kind.fill, dtype=values.dtype)
        canvas[top:top + height, left:left + width] = values
        confidence = np.zeros(target, np.float32)
        confidence[top:top + height, left:left + width] = region.confidence
        spread = error = None
        if region.uncertainty is not None:
            spread = np.zeros(target, np.float32)
            spread[top:top + height, left:left + width] = region.uncertainty
        if region.expected_error is not None:
            error = np.full(target, np.nan, np.float32)  # nothing was read there
            error[top:top + height, left:left + width] = region.expected_error
        placed = Combined(canvas, confidence, spread, region.extras, error)
        inside = np.zeros(target, dtype=bool)
        inside[top:top + height, left:left + width] = True
    if covered is not None:
        landed = place_mask(covered, target, fit)
        inside = landed if inside is None else inside & landed
    if inside is None or inside.all():
        return placed, None
    values = np.array(placed.values, copy=True)
    values[~inside] = kind.fill
    confidence = np.where(inside, placed.confidence, 0.0).astype(np.float32)
    error = placed.expected_error
    if error is not None:
        error = np.where(inside, error, np.nan).astype(np.float32)
    return Combined(values, confidence, placed.uncertainty, placed.extras, error), inside

"""Surface normals <-> RGB.

Camera frame: x right, y up, z towards the camera (the OpenGL / Marigold camera frame).
Colour: ``R = (1 - nx) / 2, G = (1 + ny) / 2, B = (1 + nz) / 2`` — so the colour is the vector in the
*LUB* frame (left, up, back) mapped from [-1, 1] to [0, 1]: a surface facing left is pinkish red, one
facing up light green, one facing the camera light blue.

Conventions other datasets and models use, as sign flips that take their vectors to LUB:
``opengl`` / ``marigold`` (right, up, back): flip x; ``opencv`` / ``omnidata`` (right, down, back as
stored in those normal maps): flip x and y; ``lub``: none.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vb_plugins.codecs._arrays import as_rgb, check_hw, to_float, to_uint8
from vb_plugins.codecs._modes import resolve_mode
from vb_plugins.codecs._robust import normals_look_lossy, robust_normals
from vb_plugins.codecs.base import Computed, Decoding, compute_later
from vb_plugins.codecs.colors import parse_colour
from vb_plugins.errors import InputError

# Sign flips taking a convention's vectors to the LUB colour frame (and back: flips are involutions).
CONVENTIONS: dict[str, tuple[float, float, float]] = {
    "lub": (1.0, 1.0, 1.0),
    "opengl": (-1.0, 1.0, 1.0),
    "marigold": (-1.0, 1.0, 1.0),
    "camera": (-1.0, 1.0, 1.0),  # the codec's own frame (x right, y up, z towards the camera)
    "opencv": (-1.0, -1.0, 1.0),
    "omnidata": (-1.0, -1.0, 1.0),
}

# A decoded |2 rgb - 1| this far from 1 is not a normal (painted sky, background, a wrong colour).
DEFAULT_LENGTH_TOLERANCE = 0.25


def convert_normals(normals, source: str, target: str) -> np.ndarray:
    """Re-express normal vectors (... x 3) from convention ``source`` in convention ``target``."""
    flips = []
    for convention in (source, target):
        if convention not in CONVENTIONS:
            raise InputError(f"normal convention {convention!r}: expected one of {', '.join(CONVENTIONS)}")
        flips.append(np.asarray(CONVENTIONS[convention], dtype=np.float32))
    return np.asarray(normals, dtype=np.float32) * (flips[0] * flips[1])


def to_lub(normals, convention: str = "camera") -> np.ndarray:
    """Vectors in ``convention`` -> LUB frame (the frame whose ``(v + 1) / 2`` is the colour)."""
    return convert_normals(normals, convention, "lub")


def from_lub(normals, convention: str = "camera") -> np.ndarray:
    """LUB-frame vectors -> ``convention``."""
    return convert_normals(normals, "lub", convention)


@dataclass(frozen=True, eq=False)
class NormalsDecoding(Decoding):
    """Decoded normals. Unpacks as ``normals, valid = codec.decode(image)``.

    - ``normals``: float32 H x W x 3 unit vectors in the requested convention (zeros where invalid),
    - ``valid``: bool H x W, decoded length within the tolerance of 1,
    - ``residual``: float32 H x W, ``| |2 rgb - 1| - 1 |`` (0 for a perfect normal colour),
    - ``reliability`` (also readable as ``confidence``, its older name): float32 H x W in [0, 1], the
      calibrated probability that the normal is within 5 degrees of the one the colour was painted to
      show (:func:`vb_plugins.reliability.normals_reliability`); 0 where invalid,
    - ``expected_error``: float32 H x W, the calibrated mean angular error in degrees (180 where invalid),
    - ``mode``: ``"exact"`` or ``"robust"``.
    """

    normals: np.ndarray
    valid: np.ndarray
    residual: np.ndarray
    confidence: np.ndarray = Computed()  # type: ignore[assignment]
    mode: str = "exact"
    expected_error: np.ndarray | None = Computed()  # type: ignore[assignment]

    values_field = "normals"
    unpacks = ("normals", "valid")


class NormalsCodec:
    """Encode/decode unit normals with the LUB colour mapping (see module docstring)."""

    def __init__(self, length_tolerance: float = DEFAULT_LENGTH_TOLERANCE):
        if not 0 < length_tolerance < 1:
            raise InputError(f"length_tolerance={length_tolerance!r}: must lie in (0, 1)")
        self.length_tolerance = length_tolerance

    def __repr__(self) -> str:
        return f"NormalsCodec(length_tolerance={self.length_tolerance:g})"

    def encode(self, normals, convention: str = "camera", invalid: str = "raise", fill=(0, 0, 0),
               as_float: bool = False) -> np.ndarray:
        """Normals (H x W x 3, any length > 0; renormalised) -> RGB uint8 (float64 0..1 with ``as_float``).

        Zero-length or non-finite vectors are invalid: rejected (``invalid="raise"``) or painted ``fill``.
        """
        normals = np.asarray(normals)
        check_hw(normals, "normals", 3, 3)
        normals = normals.astype(np.float64)
        length = np.linalg.norm(normals, axis=2)
        bad = ~np.isfinite(length) | (length < 1e-6)
        if bad.any():
            if invalid == "raise":
                raise InputError(f"normals: {int(bad.sum())} vectors are zero-length or not finite; "
                                 "mask them or encode with invalid='fill'")
            if invalid != "fill":
                raise InputError(f"invalid={invalid!r}: expected 'raise' or 'fill'")
        unit = np.where(bad[..., None], 0.0, normals / np.where(bad, 1.0, length)[..., None])
        rgb = (to_lub(unit, convention).astype(np.float64) + 1.0) / 2.0
        if bad.any():
            rgb[bad] = np.asarray(parse_colour(fill, "fill colour"), dtype=np.float64) / 255.0
        return rgb if as_float else to_uint8(rgb)

    def decode(self, image, convention: str = "camera", mode: str | None = None) -> NormalsDecoding:
        """RGB -> :class:`NormalsDecoding` with unit vectors in ``convention`` (default: camera frame).

        ``mode``: ``"exact"`` renormalises each pixel's vector on its own; ``"robust"`` smooths the
        vectors edge-aware first (JPEG, WebP, noisy generator output); ``"auto"`` (default) is robust
        when many valid pixels are off the unit sphere beyond 8-bit rounding. Validity is the same in
        every mode.
        """
        mode = resolve_mode(mode)
        rgb = to_float(as_rgb(image, "normals image"))
        lub = 2.0 * rgb - 1.0
        length = np.linalg.norm(lub, axis=2)
        residual = np.abs(length - 1.0).astype(np.float32)
        valid = residual <= self.length_tolerance
        lossy = normals_look_lossy(residual, valid)
        if mode == "robust" or (mode == "auto" and lossy):
            unit, _ = robust_normals(lub, valid, clean=not lossy)
            decoding = NormalsDecoding(from_lub(unit, convention), valid, residual, mode="robust")
        else:
            with np.errstate(invalid="ignore", divide="ignore"):
                unit = np.where(valid[..., None], lub / length[..., None], 0.0).astype(np.float32)
            decoding = NormalsDecoding(from_lub(unit, convention), valid, residual)
        return compute_later(decoding, lambda: self._reliability(image, decoding, convention))

    def _reliability(self, image, decoding: NormalsDecoding, convention: str):
        from vb_plugins.reliability import normals_reliability

        result = normals_reliability(self, image, decoding, convention)
        return result.reliability, result.expected_error

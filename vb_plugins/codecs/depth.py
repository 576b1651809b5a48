"""Metric depth <-> RGB: the published Vision Banana power curve and colour path.

``f(d) = 1 - (1 - d / (lam * c)) ** (lam + 1)`` maps depth in metres from [0, inf) to [0, 1); with the
defaults ``lam = -3, c = 10/3`` this is ``f = 1 - (1 + d / 10) ** -2``. A colour scheme then paints f;
the default walks the RGB cube black -> red -> yellow -> green -> cyan -> blue -> magenta -> white.
Decoding projects each pixel onto the path, inverts the curve, and reports the distance to the path.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vb_plugins import names
from vb_plugins.codecs._arrays import as_rgb, check_hw, to_uint8
from vb_plugins.codecs._modes import resolve_mode
from vb_plugins.codecs._robust import _Path, looks_lossy, robust_depth
from vb_plugins.codecs.base import Computed, Decoding, compute_later
from vb_plugins.codecs.colors import parse_colour
from vb_plugins.codecs.schemes import ColourScheme, PolylineScheme
from vb_plugins.errors import InputError

DEFAULT_SCHEME = "vision-banana"
# Residual (8-bit levels) at which confidence falls to exp(-1/2): 8-bit rounding alone stays below 1.
CONFIDENCE_SCALE = 8.0


@dataclass(frozen=True)
class DepthCurve:
    """The Vision Banana power curve with parameters ``lam`` (< -1) and ``c`` (> 0, metres)."""

    lam: float = -3.0
    c: float = 10.0 / 3.0

    def __post_init__(self):
        if not (np.isfinite(self.lam) and self.lam < -1.0):
            raise InputError(f"depth curve lam={self.lam!r}: must be a finite number below -1")
        if not (np.isfinite(self.c) and self.c > 0.0):
            raise InputError(f"depth curve c={self.c!r}: must be a positive number of metres")

    def forward(self, depth) -> np.ndarray:
        """Depth in metres (>= 0, inf allowed) -> f in [0, 1] (inf -> 1)."""
        depth = np.asarray(depth, dtype=np.float64)
        return 1.0 - (1.0 - depth / (self.lam * self.c)) ** (self.lam + 1.0)

    def inverse(self, f) -> np.ndarray:
        """f in [0, 1] -> depth in metres (1 -> inf)."""
        f = np.asarray(f, dtype=np.float64)
        with np.errstate(divide="ignore"):
            return self.lam * self.c * (1.0 - (1.0 - f) ** (1.0 / (self.lam + 1.0)))


@dataclass(frozen=True, eq=False)
class DepthDecoding(Decoding):
    """Decoded depth. Unpacks as ``depth, residual = codec.decode(image)``.

    - ``depth``: float32 H x W metres (``inf`` where the colour is the far end of the path),
    - ``residual``: float32 H x W distance from the pixel's colour to the path, in 8-bit levels,
    - ``reliability`` (also readable as ``confidence``, its older name): float32 H x W in [0, 1], the
      calibrated probability that the pixel's depth is within ``max(1 %, one path step)`` of the depth
      the colour was painted to show (:func:`vb_plugins.reliability.depth_reliability`): a far pixel read
      as well as the encoding allows is reliable, however coarse a path step is there,
    - ``expected_error``: float32 H x W, the calibrated mean error in metres (inf where the decoding is
      the far end of the path),
    - ``mode``: ``"exact"`` or ``"robust"``, the decoding that produced ``depth``,
    - ``repaired``: bool H x W (robust only, else None): pixels that took a neighbouring surface's value,
    - ``decoder_error``: float32 H x W (robust only, else None): the robust decoder's own error estimate in
      path steps (spread of the smoothing window it settled on, residual, distance moved, edges), one of
      the inputs to reliability.
    """

    depth: np.ndarray
    residual: np.ndarray
    confidence: np.ndarray = Computed()  # type: ignore[assignment]
    mode: str = "exact"
    repaired: np.ndarray | None = None
    expected_error: np.ndarray | None = Computed()  # type: ignore[assignment]
    decoder_error: np.ndarray | None = None
    values_field = "depth"
    unpacks = ("depth", "residual")

    def __post_init__(self):
        if self.confidence is None:  # built without the picture: the residual's score (decode replaces it)
            compute_later(self, lambda: (residual_confidence(self.residual), None))


def residual_confidence(residual: np.ndarray, scale: float = CONFIDENCE_SCALE) -> np.ndarray:
    """Map a colour residual (8-bit levels) to a confidence in (0, 1]."""
    return np.exp(-0.5 * (np.asarray(residual, dtype=np.float32) / scale) ** 2).astype(np.float32)


class DepthCodec:
    """Encode metric depth as RGB and decode it back.

    ``scheme`` is a registered colour-scheme name (``vision-banana``, ``plasma``, ``inferno``, ``viridis``,
    ``gray`` or one from a plugin) or a :class:`ColourScheme`; ``lam`` and ``c`` shape the curve.
    """

    def __init__(self, scheme: str | ColourScheme = DEFAULT_SCHEME, lam: float = -3.0, c: float = 10.0 / 3.0):
        if isinstance(scheme, str):
            scheme = names.scheme(scheme)  # a registered scheme (plugins included)
        self.scheme = scheme
        self.curve = DepthCurve(lam, c)
        self._depth_table: np.ndarray | None = None

    def __repr__(self) -> str:
        return f"DepthCodec(scheme={self.scheme.name!r}, lam={self.curve.lam:g}, c={self.curve.c:g})"

    @property
    def is_grayscale(self) -> bool:
        return isinstance(self.scheme, PolylineScheme) and bool(np.all(np.ptp(self.scheme.vertices, axis=1) == 0))

    def encode(self, depth, invalid: str = "raise", fill=(0, 0, 0), as_float: bool = False) -> np.ndarray:
        """Depth (H x W metres) -> RGB (H x W x 3 uint8, or float64 0..1 with ``as_float``).

        ``inf`` encodes to the end of the path (white for the default scheme). NaN and negative depths are
        invalid: ``invalid="raise"`` (default) rejects them; ``invalid="fill"`` paints them ``fill``.
        """
        depth = np.asarray(depth)
        if depth.ndim == 3 and depth.shape[2] == 1:
            depth = depth[..., 0]
        check_hw(depth, "depth", 2)
        if not np.issubdtype(depth.dtype, np.number) or np.issubdtype(depth.dtype, np.complexfloating):
            raise InputError(f"depth: expected real numbers in metres, got dtype {depth.dtype}")
        depth = depth.astype(np.float64)
        bad = np.isnan(depth) | (depth < 0)
        if bad.any():
            if invalid == "raise":
                raise InputError(
                    f"depth: {int(np.isnan(depth).sum())} NaN and {int((depth < 0).sum())} negative values; "
                    "mask them or encode with invalid='fill'"
                )
            if invalid != "fill":
                raise InputError(f"invalid={invalid!r}: expected 'raise' or 'fill'")
        rgb = self.scheme.encode(self.curve.forward(np.where(bad, 0.0, depth)))
        if bad.any():
            rgb[bad] = np.asarray(parse_colour(fill, "fill colour"), dtype=np.float64) / 255.0
        return rgb if as_float else to_uint8(rgb)

    def decode(self, image, mode: str | None = None) -> DepthDecoding:
        """RGB (H x W x 3 uint8 / uint16 / float 0..1; RGBA drops alpha) -> :class:`DepthDecoding`.

        ``mode``: ``"exact"`` projects every pixel on its own (exact on lossless input);
        ``"robust"`` reads compressed, noisy or colour-cast images (JPEG, WebP, generator output) with
        edge-aware smoothing and repair of colours smeared across depth edges; ``"auto"`` (default, or
        what :func:`vb_plugins.codecs.decode_mode` set) is robust when the image looks damaged
        (:func:`vb_plugins.codecs._robust.looks_lossy`) and exact otherwise, so lossless PNGs decode exactly.
        """
        mode = resolve_mode(mode)
        rgb = as_rgb(image, "depth image", allow_gray=self.is_grayscale)
        cube = rgb.dtype == np.uint8 and isinstance(self.scheme, PolylineScheme) and self.scheme.is_cube_walk
        if cube:
            # Fast exact path: integer position codes, then a lookup of the depth of each path step.
            code, d2 = self.scheme.cube_codes(rgb)
            residual = np.sqrt(d2.astype(np.float32))
            exact = DepthDecoding(self.depth_table()[code], residual)
            positions = code.astype(np.float32)
        else:
            f, residual = self.scheme.decode(rgb)
            residual = residual.astype(np.float32, copy=False)
            exact = DepthDecoding(self.curve.inverse(f).astype(np.float32), residual)
            polyline = isinstance(self.scheme, PolylineScheme)
            positions = (f * _Path(self).steps).astype(np.float32) if polyline else None
        if mode == "exact" or positions is None or (mode == "auto" and not looks_lossy(residual)):
            return self._with_reliability(rgb, exact, positions)
        path = _Path(self)
        s0 = positions
        s, error, repaired = robust_depth(self, rgb, s0, residual)
        # inf only where the robust estimate itself rounds to the far end of the path
        robust = DepthDecoding(path.depth(s), residual, mode="robust", repaired=repaired, decoder_error=error)
        return self._with_reliability(rgb, robust, s0)

    def _with_reliability(self, rgb: np.ndarray, decoding: DepthDecoding, s0) -> DepthDecoding:
        from vb_plugins.reliability import depth_reliability

        def compute():
            result = depth_reliability(self, rgb, decoding, s0)
            return result.reliability, result.expected_error

        return compute_later(decoding, compute)

    def depth_table(self) -> np.ndarray:
        """Depth (float32 metres) of each 8-bit step along a cube-walk path, indexed by position code."""
        if self._depth_table is None:
            steps = 255 * self.scheme.segments
            self._depth_table = self.curve.inverse(np.arange(steps + 1) / steps).astype(np.float32)
        return self._depth_table

    def path_position(self, depth) -> np.ndarray:
        """Continuous position along the path in 8-bit steps (0 .. 255 * segments): the unit of the
        round-trip guarantee (decoded position within half a step of the true one)."""
        steps = 255 * getattr(self.scheme, "segments", 1)
        return self.curve.forward(depth) * steps

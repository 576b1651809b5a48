"""Referring segmentation <-> RGB: the referred object painted in one colour on a known background."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from vb_plugins.codecs._arrays import as_rgb, check_hw
from vb_plugins.codecs._modes import resolve_mode
from vb_plugins.codecs._nearest import nearest_colours
from vb_plugins.codecs.base import Computed, Decoding, compute_later
from vb_plugins.codecs.colors import parse_colour
from vb_plugins.errors import InputError

# The paper's referring examples paint the target in a named colour on black ("The background is black
# color. The game control device is represented by a solid yellow."); white on black is a plain mask.
DEFAULT_COLOUR = (255, 255, 255)
DEFAULT_BACKGROUND = (0, 0, 0)
DEFAULT_TOLERANCE = 100.0


@dataclass(frozen=True, eq=False)
class ReferringDecoding(Decoding):
    """Decoded referring mask. Unpacks as ``mask, distance = codec.decode(image)``.

    - ``mask``: bool H x W, pixels nearer the target colour than the background and within tolerance,
    - ``distance``: float32 H x W distance to the target colour (8-bit levels),
    - ``reliability`` (also readable as ``confidence``, its older name): float32 H x W in [0, 1], the
      calibrated probability that the pixel is rightly read as target or background (read as labels are,
      :func:`vb_plugins.reliability.label_reliability`); 0 where it matches neither colour,
    - ``matched``: for colours given as words, how they were matched to the painted colours (set by the
      task; {} otherwise),
    - ``mode``: always ``"exact"``: each pixel is read on its own in every mode (target or background,
      whichever colour is nearer), which is already robust to noise short of the midpoint.
    """

    mask: np.ndarray
    distance: np.ndarray
    confidence: np.ndarray = Computed()  # type: ignore[assignment]
    matched: dict = field(default_factory=dict)
    mode: str = "exact"
    values_field = "mask"
    unpacks = ("mask", "distance")


class ReferringCodec:
    """Paint a binary mask in a target colour and read it back."""

    def __init__(self, colour=DEFAULT_COLOUR, background=DEFAULT_BACKGROUND, tolerance: float = DEFAULT_TOLERANCE):
        self.colour = parse_colour(colour, "target colour")
        self.background = parse_colour(background, "background colour")
        if self.colour == self.background:
            raise InputError(f"target colour {self.colour} equals the background colour")
        if not tolerance > 0:
            raise InputError(f"tolerance={tolerance!r}: must be positive")
        self.tolerance = float(tolerance)

    def __repr__(self) -> str:
        return f"ReferringCodec(colour={self.colour}, background={self.background}, tolerance={self.tolerance:g})"

    def _colours(self, colour, background):
        colour = self.colour if colour is None else parse_colour(colour, "target colour")
        background = self.background if background is None else parse_colour(background, "background colour")
        if colour == background:
            raise InputError(f"target colour {colour} equals the background colour")
        return colour, background

    def encode(self, mask, colour=None, background=None) -> np.ndarray:
        """Mask (H x W bool or 0/1 or 0/255) -> RGB uint8."""
        mask = np.asarray(mask)
        check_hw(mask, "mask", 2)
        colour, background = self._colours(colour, background)
        return np.where(mask.astype(bool)[..., None], np.array(colour, np.uint8), np.array(background, np.uint8))

    def decode(self, image, colour=None, background=None, tolerance: float | None = None,
               mode: str | None = None) -> ReferringDecoding:
        """RGB -> :class:`ReferringDecoding`. ``mode`` is checked like every codec's; every mode reads each
        pixel on its own (see :class:`ReferringDecoding`)."""
        resolve_mode(mode)
        colour, background = self._colours(colour, background)
        tolerance = self.tolerance if tolerance is None else float(tolerance)
        rgb = as_rgb(image, "referring image")
        index, d1, d2 = nearest_colours(rgb, np.array([colour, background]))
        d_target = np.where(index == 0, d1, d2)
        d_background = np.where(index == 0, d2, d1)
        mask = (index == 0) & (d_target <= tolerance)
        decoding = ReferringDecoding(mask, d_target.astype(np.float32))
        # labels: 1 target, 2 background (read within the tolerance too), 0 neither
        labels = np.where(mask, 1, np.where((index == 1) & (d_background <= tolerance), 2, 0))
        distance = np.where(index == 0, d_target, d_background)

        def compute():
            from vb_plugins.reliability import label_reliability

            result = label_reliability(rgb, labels, distance, np.array([colour, background]), tolerance)
            return result.reliability, None

        return compute_later(decoding, compute)

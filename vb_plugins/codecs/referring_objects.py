"""Several referred objects in one image, each in its own colour ("The stretching cat is rendered in green,
the cat that is cleaning itself is in cyan."): one mask per object.

Each pixel takes the nearest of the objects' colours and the background colour (within the referring
tolerance), exactly as the semantic codec labels a legend -- so a pixel of one object is never counted in
another object's mask, and the background is a colour like the others. Colours given as words are first
matched to what was painted (:mod:`vb_plugins.codecs.legend_matching`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from vb_plugins.codecs.base import compute_later
from vb_plugins.codecs.colors import RGB
from vb_plugins.codecs.legend_matching import matched_colours
from vb_plugins.codecs.semantic import SemanticCodec, SemanticDecoding
from vb_plugins.errors import InputError

_BACKGROUND_KEY = "\x00background"  # the background's legend entry; no object can be called this


@dataclass(frozen=True, eq=False)
class ReferringObjectsDecoding(SemanticDecoding):
    """Decoded objects, read as a semantic legend is: ``labels`` uint8 H x W (k = the k-th object,
    0 = background / none), ``names`` per object, ``distance``, ``confidence`` and ``mode`` as the semantic
    codec gives them, ``matched``: how colour words were matched (see :class:`Match`), and ``colours``:
    the colours each object was decoded with."""

    colours: np.ndarray = field(default_factory=lambda: np.zeros((0, 3), np.uint8))

    @property
    def masks(self) -> np.ndarray:
        """bool K x H x W, one mask per object."""
        return np.stack([self.labels == k for k in range(1, len(self.names) + 1)]) if self.names else \
            np.zeros((0,) + self.labels.shape, bool)


def decode_objects(image, objects: list[tuple[str, RGB]], background: RGB, tolerance: float,
                   spec=None, mode: str | None = None) -> ReferringObjectsDecoding:
    """Decode ``objects`` ((name, colour) pairs) painted on ``background`` in ``mode`` (as the semantic
    codec does); ``spec`` supplies the colour words (its ``colour_words``) when some colours were given as
    words."""
    if not objects:
        raise InputError("referring: no objects to decode")
    legend = [(name, tuple(colour)) for name, colour in objects] + [(_BACKGROUND_KEY, tuple(background))]
    colours, matched = matched_colours(image, legend, spec)
    classes = [(name, colour) for (name, _), colour in zip(legend, colours)]
    decoding = SemanticCodec(tolerance).decode(image, classes, mode=mode)
    count = len(objects)
    labels = np.where(decoding.labels > count, 0, decoding.labels).astype(np.uint8)
    if _BACKGROUND_KEY in matched:
        matched["background"] = matched.pop(_BACKGROUND_KEY)
    colours = np.array([colour for _, colour in classes[:count]], np.uint8).reshape(-1, 3)
    objects_decoding = ReferringObjectsDecoding(labels, decoding.distance, names=[name for name, _ in objects],
                                                mode=decoding.mode, matched=matched, colours=colours)
    # The background is a legend colour like the objects': a pixel rightly read as background is reliable.
    return compute_later(objects_decoding, lambda: (decoding.reliability, None))


def object_paths(path, count: int) -> list:
    """Where the masks of ``count`` objects go: ``mask.png`` -> ``mask-1.png``, ``mask-2.png``, ..."""
    path = Path(path)
    return [path.with_name(f"{path.stem}-{k}{path.suffix}") for k in range(1, count + 1)]

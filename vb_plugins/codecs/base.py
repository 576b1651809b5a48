"""What every codec's decode returns: a :class:`Decoding`."""

from __future__ import annotations

import numpy as np


class Decoding:
    """Base of every codec's result. Subclasses are frozen dataclasses that name their fields (``depth``,
    ``labels``, ...) and set two class attributes:

    - ``values_field``: the field that holds the decoded values, read as :attr:`values` by everything
      that works with any task (the engine, the adapters),
    - ``unpacks``: the two fields ``a, b = codec.decode(image)`` gives (``depth, residual``).

    Every subclass has ``confidence`` (float32 H x W in [0, 1], how cleanly each pixel decoded) and
    ``mode`` (``"exact"`` or ``"robust"``, the decoding that produced the values).
    """

    values_field: str = "values"
    unpacks: tuple[str, str] = ("values", "confidence")

    @property
    def values(self) -> np.ndarray:
        return getattr(self, self.values_field)

    def __iter__(self):
        return iter(tuple(getattr(self, name) for name in self.unpacks))

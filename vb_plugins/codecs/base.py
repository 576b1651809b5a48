"""What every codec's decode returns: a :class:`Decoding`, and its reliability computed on first read."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

_PENDING = "_pending_reliability"


class Decoding:
    """Base of every codec's result. Subclasses are frozen dataclasses that name their fields (``depth``,
    ``labels``, ...) and set two class attributes:

    - ``values_field``: the field that holds the decoded values, read as :attr:`values` by everything
      that works with any task (the engine, the adapters),
    - ``unpacks``: the two fields ``a, b = codec.decode(image)`` gives (``depth, residual``).

    Every subclass has ``confidence`` and ``mode`` (``"exact"`` or ``"robust"``, the decoding that produced
    the values). ``reliability`` (float32 H x W in [0, 1]) is the calibrated probability that a pixel's
    decoded value is within the task's tolerance of what the picture encodes (:mod:`vb_plugins.reliability`);
    ``confidence`` is the same array under its older name, kept so existing code and fields keep working.
    ``expected_error`` (float32 H x W, metres for depth, degrees for normals; None for labels) is the
    calibrated mean error. The built-in codecs compute both on first read, so a decode whose caller never
    looks at them costs nothing extra.
    """

    values_field: str = "values"
    unpacks: tuple[str, str] = ("values", "confidence")
    expected_error: np.ndarray | None = None  # tasks with units (depth, normals) have a field of this name

    @property
    def values(self) -> np.ndarray:
        return getattr(self, self.values_field)

    @property
    def reliability(self) -> np.ndarray:
        return self.confidence

    def __iter__(self):
        return iter(tuple(getattr(self, name) for name in self.unpacks))

    def __getstate__(self):
        # Pickles (worker processes, Ray) carry the computed arrays, not the closure that computes them.
        self.confidence  # noqa: B018  (reading fills a pending reliability)
        return {key: value for key, value in self.__dict__.items() if key != _PENDING}


class Computed:
    """A dataclass field of a :class:`Decoding` that :func:`compute_later` can leave to be filled on first
    read. As a field default it reads as None (the dataclass default); a value given to the constructor is
    stored on the instance and shadows this (a non-data descriptor), so explicit values work as before."""

    def __set_name__(self, owner, name):
        self.name = name

    def __get__(self, obj, owner=None):
        if obj is None:
            return None
        compute = obj.__dict__.pop(_PENDING, None)
        if compute is None:
            return None
        reliability, expected_error = compute()
        obj.__dict__.setdefault("confidence", np.asarray(reliability, np.float32))
        if "expected_error" in getattr(obj, "__dataclass_fields__", {}):
            obj.__dict__.setdefault("expected_error",
                                    None if expected_error is None else np.asarray(expected_error, np.float32))
        return obj.__dict__.get(self.name)


def compute_later(decoding: Decoding, compute: Callable[[], tuple[np.ndarray, np.ndarray | None]]) -> Decoding:
    """Leave ``decoding``'s ``confidence`` (its reliability) and ``expected_error`` to ``compute()`` (which
    returns both), run on the first read of either; a value the constructor was given stays."""
    for name in ("confidence", "expected_error"):
        if name in decoding.__dict__ and decoding.__dict__[name] is None:
            del decoding.__dict__[name]
    decoding.__dict__[_PENDING] = compute
    return decoding

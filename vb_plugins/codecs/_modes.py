"""Decoding modes shared by the codecs: ``exact``, ``robust`` and ``auto``.

``exact`` reads every pixel on its own (exact on lossless input); ``robust`` reads what a compressed,
noisy or colour-cast image most likely meant; ``auto`` picks per image (robust when it looks damaged).
Every decode takes the mode as an argument (codecs, tasks, ``Predictor.decode``, the adapters); None
means the default, ``auto`` unless a user set another for a block of code with :func:`decode_mode` (a
convenience for code that calls decoders it cannot pass a mode to).
"""

from __future__ import annotations

import contextlib
import contextvars

from vb_plugins.errors import InputError

MODES = ("auto", "exact", "robust")
_DEFAULT: contextvars.ContextVar[str] = contextvars.ContextVar("vb_decode_mode", default="auto")


def resolve_mode(mode: str | None) -> str:
    """``mode`` checked, or the current default when None."""
    mode = _DEFAULT.get() if mode is None else mode
    if mode not in MODES:
        raise InputError(f"decode mode {mode!r}: expected one of {', '.join(MODES)}")
    return mode


@contextlib.contextmanager
def decode_mode(mode: str):
    """Within the block, codecs called without ``mode`` decode in ``mode``:

    >>> with decode_mode("robust"):
    ...     decoding = task.decode(jpeg_image, spec)
    """
    token = _DEFAULT.set(resolve_mode(mode))
    try:
        yield
    finally:
        _DEFAULT.reset(token)


def lossy_suffix(path) -> bool:
    """True for file types that are normally stored lossy (JPEG, WebP): a hint for ``auto``."""
    return str(path).lower().endswith((".jpg", ".jpeg", ".jpe", ".jfif", ".webp"))

"""Rewriters and presence gates: the interfaces, and loading them from model strings through the registry.

- A :class:`Rewriter` turns (image, reasoning query) into a :class:`~vb_plugins.reasoning.answers.Rewrite`:
  a plain referring expression the generator can paint, or "absent".
- A :class:`PresenceGate` turns (image, phrase) into a :class:`~vb_plugins.reasoning.answers.Presence`:
  present or absent, with a score in [0, 1].

Both are loaded from model strings by backends registered through the ``vb_rewriters`` and
``vb_presence_gates`` plugin hooks, as generators are through ``vb_generators``: ``gemini:MODEL`` (or a bare
``gemini-...`` name) for Google's Gemini API, a local folder or a Hugging Face Hub id for a ``transformers``
vision-language model. A plugin adds a backend by returning a :class:`RewriterBackend` or
:class:`PresenceGateBackend` from those hooks.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from vb_plugins.errors import CancelledError, InputError, VBError
from vb_plugins.generation.base import looks_like_path
from vb_plugins.reasoning.answers import Presence, Rewrite
from vb_plugins.registry import get_registry

DEFAULT_THRESHOLD = 0.5
MEGAPIXELS = 1.0  # images go to a vision-language model up to this size (the models read about 1 MP)
# A request: (image, text) with the image uint8 H x W x 3 RGB; an answer or the error it ended in.
Request = tuple[np.ndarray, str]


def fit_image(image: np.ndarray, megapixels: float = MEGAPIXELS) -> np.ndarray:
    """``image`` shrunk (area averaging) to at most ``megapixels``, aspect ratio kept."""
    import cv2

    height, width = image.shape[:2]
    scale = (megapixels * 1e6 / (height * width)) ** 0.5
    if scale >= 1.0:
        return image
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return cv2.resize(np.ascontiguousarray(image), size, interpolation=cv2.INTER_AREA)


class Rewriter:
    """Base class of rewriters. Subclasses set ``name`` and implement :meth:`rewrite`; a backend that can
    answer several requests at once (a remote API) overrides :meth:`rewrite_many`."""

    name: str = "rewriter"

    def rewrite(self, image: np.ndarray, query: str) -> Rewrite:
        raise NotImplementedError

    def rewrite_many(self, requests: Sequence[Request],
                     should_stop: Callable[[], bool] | None = None) -> list[Rewrite | VBError]:
        """One answer per request, in order; a request that failed gives its one-line error instead, so one
        bad image costs no other image its answer. A cancel raises."""
        return _one_by_one(self.rewrite, requests, should_stop)

    def describe(self) -> dict:
        return {"rewriter": self.name}

    def close(self) -> None:
        """Release memory (GPU) held by the model."""


class PresenceGate:
    """Base class of presence gates. Subclasses set ``name`` and implement :meth:`presence`; ``threshold``
    is the score from which a phrase counts as present."""

    name: str = "gate"
    threshold: float = DEFAULT_THRESHOLD

    def presence(self, image: np.ndarray, phrase: str) -> Presence:
        raise NotImplementedError

    def presence_many(self, requests: Sequence[Request],
                      should_stop: Callable[[], bool] | None = None) -> list[Presence | VBError]:
        """As :meth:`Rewriter.rewrite_many`."""
        return _one_by_one(self.presence, requests, should_stop)

    def describe(self) -> dict:
        return {"gate": self.name, "gate_threshold": self.threshold}

    def close(self) -> None:
        """Release memory (GPU) held by the model."""


def _one_by_one(ask, requests, should_stop):
    answers: list = []
    for image, text in requests:
        if should_stop and should_stop():
            raise CancelledError(f"cancelled after {len(answers)} of {len(requests)} questions")
        try:
            answers.append(ask(image, text))
        except CancelledError:
            raise
        except VBError as error:
            answers.append(error)
    return answers


def check_threshold(threshold) -> float:
    if isinstance(threshold, bool) or not isinstance(threshold, int | float) or not 0.0 <= threshold <= 1.0:
        raise InputError(f"gate threshold {threshold!r}: must be a number from 0 to 1")
    return float(threshold)


class _Backend:
    name: str = ""
    description: str = ""

    def can_load(self, model: str) -> bool:
        """Whether an unprefixed model string is for this backend."""
        return False


class RewriterBackend(_Backend):
    """Loads rewriters from model strings; ``name`` is also the prefix that selects it (``gemini:...``)."""

    def load(self, model: str, **options) -> Rewriter:
        raise NotImplementedError


class PresenceGateBackend(_Backend):
    """Loads presence gates from model strings; ``name`` is also the prefix that selects it."""

    def load(self, model: str, **options) -> PresenceGate:
        raise NotImplementedError


_KINDS = {"rewriter": "rewriter backend", "gate": "presence gate backend"}


def resolve(kind: str, model: str) -> tuple[_Backend, str]:
    """(backend, model string for it) for a ``kind`` ("rewriter" or "gate") and a user's model string."""
    table = get_registry().table(_KINDS[kind])
    model = (model or "").strip() if isinstance(model, str) else model
    if not isinstance(model, str) or not model:
        raise InputError(f"{kind} model: none given; use gemini:MODEL, a local folder or a Hub id "
                         f"(backends: {', '.join(table)})")
    prefix, sep, rest = model.partition(":")
    if sep and prefix in table and "/" not in prefix:
        return table[prefix][0], rest
    path = Path(model).expanduser()
    if looks_like_path(model):
        if not path.exists():
            raise InputError(f"{kind} model {model!r}: no such directory")
        model = str(path)
    for backend, _ in table.values():
        if backend.can_load(model):
            return backend, model
    raise InputError(f"{kind} model {model!r}: no {_KINDS[kind]} recognises it (use gemini:MODEL, a local folder "
                     f"with config.json or a Hub id org/name; backends: {', '.join(table)})")


def load_rewriter(model: str | Rewriter, **options) -> Rewriter:
    """A rewriter for a model string (``gemini:gemini-2.5-pro``, ``./Qwen2.5-VL-7B-Instruct``, ...), or
    ``model`` itself when it already is one. ``options`` go to the backend (``device``, ``api_key``, ...)."""
    if isinstance(model, Rewriter):
        return model
    backend, name = resolve("rewriter", model)
    return backend.load(name, **options)


def load_gate(model: str | PresenceGate, **options) -> PresenceGate:
    """A presence gate for a model string, or ``model`` itself; ``threshold`` among ``options``."""
    if isinstance(model, PresenceGate):
        return model
    backend, name = resolve("gate", model)
    return backend.load(name, **options)


def list_rewriter_backends() -> list[str]:
    return get_registry().names("rewriter backend")


def list_gate_backends() -> list[str]:
    return get_registry().names("presence gate backend")

"""Answers a run already has: each (image, question) goes to the vision-language model once per run.

Images are keyed by their content (a BLAKE2 digest of the pixels and shape), so the same picture under
two paths, or seen again in a later window of a run, is not asked about twice. Failed answers are not
kept: a later request may try again.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence

import numpy as np

from vb_plugins.errors import VBError


def image_digest(image: np.ndarray) -> str:
    array = np.ascontiguousarray(image)
    digest = hashlib.blake2b(digest_size=16)
    digest.update(f"{array.shape}{array.dtype}".encode())
    digest.update(memoryview(array).cast("B"))
    return digest.hexdigest()


class AnswerCache:
    """``calls``: questions sent to a model; ``hits``: questions answered from the cache."""

    def __init__(self):
        self._answers: dict[tuple[str, str, str], object] = {}
        self.calls = 0
        self.hits = 0

    def __len__(self) -> int:
        return len(self._answers)

    def answers(self, kind: str, ask_many: Callable, requests: Sequence[tuple[np.ndarray, str]],
                should_stop: Callable[[], bool] | None = None) -> list:
        """One answer (or :class:`VBError`) per request, in order; ``ask_many(requests, should_stop)`` is called
        once, with the requests nobody asked before (each only once, however often it repeats here)."""
        digests: dict[int, str] = {}
        keys = []
        for image, text in requests:
            digest = digests.setdefault(id(image), image_digest(image))
            keys.append((kind, digest, text))
        missing: dict[tuple, int] = {}
        for index, key in enumerate(keys):
            if key not in self._answers and key not in missing:
                missing[key] = index
        self.hits += len(keys) - len(missing)
        failed: dict[tuple, VBError] = {}
        if missing:
            fresh = ask_many([requests[i] for i in missing.values()], should_stop)
            self.calls += len(missing)
            for key, answer in zip(missing, fresh):
                if isinstance(answer, VBError):
                    failed[key] = answer
                else:
                    self._answers[key] = answer
        return [failed[key] if key in failed else self._answers[key] for key in keys]

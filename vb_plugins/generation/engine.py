"""The batch engine: runs generation jobs on a generator with batching, prompt-embedding reuse,
per-job seeds, out-of-memory back-off, progress and cancellation."""

from __future__ import annotations

import gc
import logging
import time
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from vb_plugins.errors import CancelledError, InputError, ModelError
from vb_plugins.generation.base import GenerationSettings, Generator

log = logging.getLogger(__name__)

Progress = Callable[[int, int], None]  # (jobs done, jobs total)


@dataclass(frozen=True)
class Job:
    """One generation: ``image`` (uint8 H x W x 3 at the generation size) painted for ``prompt`` with ``seed``."""

    key: Hashable
    image: np.ndarray
    prompt: str
    seed: int


def is_out_of_memory(error: BaseException) -> bool:
    """CUDA / MPS / CPU allocator failures, which a smaller batch may avoid."""
    try:
        import torch

        if isinstance(error, torch.cuda.OutOfMemoryError):
            return True
    except ImportError:  # pragma: no cover - torch is a dependency
        pass
    text = str(error).lower()
    return isinstance(error, (RuntimeError, MemoryError)) and (
        "out of memory" in text or "can't allocate memory" in text or isinstance(error, MemoryError)
    )


def _free_memory() -> None:
    gc.collect()
    try:
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    except ImportError:  # pragma: no cover
        pass


class Engine:
    """Drives a :class:`Generator`.

    - Jobs with the same prompt and size are batched, up to ``batch_size`` per call; an out-of-memory
      error halves the batch size (for the rest of the run) and retries the same jobs.
    - Each distinct prompt is encoded once per engine and the embedding reused (``prompt_encodings``
      counts actual encodings).
    - Each job carries its own seed, so its output does not depend on the batch it runs in.
    - ``progress(done, total)`` is called after every batch; ``should_stop()`` is polled between batches
      and between denoising steps, and a stop raises :class:`CancelledError` after keeping the finished
      jobs in ``self.results``.
    """

    def __init__(
        self,
        generator: Generator,
        settings: GenerationSettings | None = None,
        batch_size: int = 4,
        progress: Progress | None = None,
        should_stop: Callable[[], bool] | None = None,
    ):
        if batch_size < 1:
            raise InputError(f"batch_size={batch_size}: must be at least 1")
        self.generator = generator
        self.settings = settings or GenerationSettings()
        limit = generator.max_batch_size
        self.batch_size = min(batch_size, limit) if limit else batch_size
        self.progress = progress
        self.should_stop = should_stop or (lambda: False)
        self._embeddings: dict[str, Any] = {}
        self.prompt_encodings = 0
        self.generator_calls = 0
        self.seconds_generating = 0.0

    def embedding(self, prompt: str) -> Any:
        if prompt not in self._embeddings:
            self._embeddings[prompt] = self.generator.encode_prompt(prompt)
            self.prompt_encodings += 1
        return self._embeddings[prompt]

    def run(self, jobs: Sequence[Job]) -> dict[Hashable, np.ndarray]:
        """Run ``jobs``; returns key -> uint8 RGB. Keys must be unique."""
        results: dict[Hashable, np.ndarray] = {}
        self.results = results
        groups: dict[tuple, list[Job]] = {}
        for job in jobs:
            groups.setdefault((job.prompt, job.image.shape), []).append(job)
        total, done = len(jobs), 0
        for (prompt, shape), group in groups.items():
            embedding = self.embedding(prompt)
            start = 0
            while start < len(group):
                if self.should_stop():
                    raise CancelledError(f"cancelled after {done} of {total} generations")
                batch = group[start : start + self.batch_size]
                try:
                    outputs = self._generate(batch, embedding, shape[:2])
                except Exception as error:
                    if not is_out_of_memory(error) or self.batch_size == 1:
                        raise
                    _free_memory()
                    self.batch_size = max(1, self.batch_size // 2)
                    log.warning("out of memory with %d images per batch; retrying with %d", len(batch),
                                self.batch_size)
                    continue
                for job, output in zip(batch, outputs):
                    results[job.key] = output
                start += len(batch)
                done += len(batch)
                if self.progress:
                    self.progress(done, total)
        return results

    def _generate(self, batch: list[Job], embedding, size) -> list[np.ndarray]:
        began = time.perf_counter()
        outputs = self.generator.generate(
            [job.image for job in batch], embedding, [job.seed for job in batch], size, self.settings,
            should_stop=self.should_stop,
        )
        self.seconds_generating += time.perf_counter() - began
        self.generator_calls += 1
        if len(outputs) != len(batch):
            raise ModelError(f"generator {self.generator.name!r} returned {len(outputs)} images for {len(batch)}")
        return [np.asarray(o) for o in outputs]

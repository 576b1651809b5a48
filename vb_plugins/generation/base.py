"""The generator protocol: (input images, prompt) -> painted RGB images.

A :class:`Generator` is what the engine drives. It separates prompt encoding from generation so the
engine can encode each distinct prompt once per run and reuse the result across batches.
A :class:`GeneratorBackend` knows how to load generators from a model string; backends are registered
through the ``vb_generators`` plugin hook.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

StepCallback = Callable[[int, int], None]  # (step done, steps total) within one batch


@dataclass
class GenerationSettings:
    """Per-run sampling settings; None means the generator's family default."""

    steps: int | None = None
    guidance: float | None = None
    megapixels: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class Generator:
    """Base class of generators.

    Subclasses set ``name``, ``dialect`` (the prompt dialect the model follows), ``multiple`` (the
    resolution multiple), ``megapixels`` (its native area) and implement :meth:`encode_prompt` and
    :meth:`generate`. Generators must be deterministic for a seed, whatever the batch they are in.
    """

    name: str = "generator"
    dialect: str = "vision-banana"
    multiple: int = 16
    megapixels: float = 1.0
    min_side: int = 0  # smallest height or width the model accepts
    default_steps: int = 4
    default_guidance: float | None = None
    # Largest batch worth trying (None: limited only by memory).
    max_batch_size: int | None = None

    def describe(self) -> dict:
        """JSON-friendly description for prediction records."""
        return {"generator": self.name, "dialect": self.dialect}

    def encode_prompt(self, prompt: str) -> Any:
        """Encode a prompt once; the result is passed back to :meth:`generate` for every batch."""
        return prompt

    def generate(
        self,
        images: Sequence[np.ndarray],
        prompt_embedding: Any,
        seeds: Sequence[int],
        size: tuple[int, int],
        settings: GenerationSettings,
        on_step: StepCallback | None = None,
        should_stop: Callable[[], bool] | None = None,
    ) -> list[np.ndarray]:
        """Paint one output per input image (uint8 H x W x 3 RGB at ``size`` = (height, width)).

        ``images`` are uint8 RGB already resized to ``size``; ``seeds`` has one seed per image.
        ``should_stop`` may be polled between denoising steps; return early by raising
        :class:`vb_plugins.errors.CancelledError`.
        """
        raise NotImplementedError

    def size_for(self, height: int, width: int, megapixels: float | None = None) -> tuple[int, int]:
        """Generation size for an input: same aspect ratio, about ``megapixels``, multiples of ``multiple``."""
        return fit_size(height, width, megapixels or self.megapixels, self.multiple, self.min_side)

    def close(self) -> None:
        """Release memory (GPU) held by the generator."""


def fit_size(height: int, width: int, megapixels: float, multiple: int, min_side: int = 0) -> tuple[int, int]:
    """Scale (height, width) to about ``megapixels`` keeping the aspect ratio, rounded to ``multiple``;
    scaled up further where a side would fall below ``min_side``."""
    scale = math.sqrt(megapixels * 1e6 / (height * width))
    scale = max(scale, min_side / min(height, width))
    floor = max(multiple, -(-min_side // multiple) * multiple)
    return (max(floor, int(round(height * scale / multiple)) * multiple),
            max(floor, int(round(width * scale / multiple)) * multiple))


class GeneratorBackend:
    """Loads generators from model strings. ``prefix`` selects the backend explicitly (``gemini:...``)."""

    name: str = ""
    description: str = ""

    def can_load(self, model: str) -> bool:
        """Whether an unprefixed model string is for this backend."""
        return False

    def load(self, model: str, **options) -> Generator:
        raise NotImplementedError

"""The generator protocol: (input images, prompt) -> painted RGB images.

A :class:`Generator` is what the engine drives. It separates prompt encoding from generation so the
engine can encode each distinct prompt once per run and reuse the result across batches.
A :class:`GeneratorBackend` knows how to load generators from a model string; backends are registered
through the ``vb_generators`` plugin hook.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from vb_plugins.errors import InputError, ModelError

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
    # The tasks the model was trained to paint (None: any task its prompts can ask for).
    tasks: list[str] | None = None
    # One line for users about what the outputs are worth (shown once per run), or None.
    notice: str | None = None

    def describe(self) -> dict:
        """JSON-friendly description for prediction records."""
        return {"generator": self.name, "dialect": self.dialect}

    def check_task(self, task: str) -> None:
        """Refuse a task the model was never trained to paint: its output would be noise, not an estimate."""
        if self.tasks is not None and task not in self.tasks:
            raise ModelError(
                f"task {task!r}: {self.label} paints {' and '.join(self.tasks)} only; for {task} use a diffusers "
                "image-editing pipeline (a Hub id or local folder, e.g. black-forest-labs/FLUX.2-klein-4B) or "
                "Gemini (gemini:gemini-2.5-flash-image)")

    @property
    def label(self) -> str:
        """How messages name this generator."""
        return f"model {self.name!r}"

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


DTYPES = ("float32", "bfloat16", "float16")


def check_dtype(dtype: str) -> str:
    """A dtype name the local backends compute in; any other name is refused."""
    if dtype not in DTYPES:
        raise InputError(f"dtype {dtype!r}: expected {', '.join(DTYPES)}")
    return dtype


def torch_dtype(dtype: str):
    """A dtype name the local backends compute in -> the torch dtype; any other name is refused."""
    import torch  # optional-cost import: the core imports without loading torch

    return getattr(torch, check_dtype(dtype))


def first_line(error: BaseException) -> str:
    """The first line of an exception's message (library errors can run to pages), or its type."""
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def looks_like_path(model: str) -> bool:
    """Whether a model string names a local folder rather than a Hub id (``org/name``) or ``backend:model``:
    it starts with ``./``, ``../``, ``/`` or ``~``, is absolute, has more than one ``/``, or has the
    platform's own separator (Windows)."""
    if os.sep != "/" and os.sep in model:
        return True
    return (model in (".", "..") or model.startswith(("./", "../", "/", "~")) or Path(model).is_absolute()
            or model.count("/") > 1)


class GeneratorBackend:
    """Loads generators from model strings. ``prefix`` selects the backend explicitly (``gemini:...``)."""

    name: str = ""
    description: str = ""

    def can_load(self, model: str) -> bool:
        """Whether an unprefixed model string is for this backend."""
        return False

    def load(self, model: str, **options) -> Generator:
        raise NotImplementedError

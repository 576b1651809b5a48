"""VB Load Generator and VB Generate: the core engine inside a graph.

Loading resolves the model and LoRA through :mod:`.models` (ComfyUI's model folders or the local
Hugging Face cache only; safetensors only; no downloads, no remote code). Generation is the core's
:meth:`vb_plugins.predict.Predictor.generate`, the same as every other adapter's: each input image is
resized to the model's size (aspect ratio kept, model multiples), every pass of the spec is painted
``ensemble`` times with seeds ``seed, seed + 1, ...``, prompts are encoded once, and progress / stop
requests reach the engine. The widgets are the run settings of :mod:`vb_plugins.settings`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vb_plugins.errors import InputError
from vb_plugins.generation import load_generator
from vb_plugins.predict import Predictor
from vb_plugins.registry import list_dialects
from vb_plugins.settings import SETTINGS, RunSettings, check_widget, from_widget, widget_options

from . import models
from .tensors import image_batch

DEVICES = tuple(widget_options("device"))
DTYPES = tuple(widget_options("dtype"))
MODEL_DEFAULT_DIALECT = SETTINGS["dialect"].comfy.unset


@dataclass(eq=False)
class LoadedGenerator:
    """What the VB_GENERATOR socket carries: a loaded core generator and where it came from."""

    generator: object
    model: str
    lora: str | None

    def describe(self) -> dict:
        return {"model": self.model, "lora": self.lora, **self.generator.describe()}


def check_load_options(device=None, dtype=None) -> None:
    """VB Load Generator's widget checks (None: not known yet)."""
    check_widget("device", device)
    check_widget("dtype", dtype)


def load(model: str, lora: str | None, model_folders: Iterable, lora_folders: Iterable,
         cache: Path | None, device: str = "auto", dtype: str = "auto", auto_device: str | None = None,
         cpu_offload: bool = False) -> LoadedGenerator:
    """Resolve ``model`` / ``lora`` choices and load the generator. ``auto_device`` is the device the
    host (ComfyUI) computes on, used for ``device="auto"``."""
    check_load_options(device, dtype)
    settings = RunSettings(model=models.resolve_model(model, model_folders, cache),
                           lora=models.resolve_lora(lora, lora_folders),
                           device=from_widget("device", device) or auto_device, dtype=from_widget("dtype", dtype),
                           cpu_offload=cpu_offload)
    return LoadedGenerator(load_generator(settings.model, **settings.generator_kwargs()), model, lora)


def check_generate_options(steps=None, guidance=None, megapixels=None, ensemble=None, batch_size=None,
                           seed=None, dialect=None) -> None:
    """VB Generate's widget checks, shared by validation and execution (None: not known yet): each widget's
    range as :mod:`vb_plugins.settings` declares it."""
    values = {"seed": seed, "steps": steps, "guidance": guidance, "megapixels": megapixels, "ensemble": ensemble,
              "batch_size": batch_size}
    for name, value in values.items():
        check_widget(name, value)
    check_widget("dialect", dialect, tuple(list_dialects()))


def generate_settings(seed=0, steps=0, guidance=0.0, megapixels=0.0, ensemble=1, batch_size=1,
                      dialect=MODEL_DEFAULT_DIALECT) -> RunSettings:
    """VB Generate's widgets -> the run settings (0 and "(model default)": the model's default)."""
    values = {"seed": seed, "steps": steps, "guidance": guidance, "megapixels": megapixels, "ensemble": ensemble,
              "batch_size": batch_size, "dialect": dialect}
    return RunSettings(**{name: from_widget(name, value) for name, value in values.items()})


def generate(loaded: LoadedGenerator, image, spec, *, seed: int = 0, steps: int = 0, guidance: float = 0.0,
             megapixels: float = 0.0, ensemble: int = 1, batch_size: int = 1,
             dialect: str = MODEL_DEFAULT_DIALECT, prompt: str | None = None,
             progress: Callable[[int, int], None] | None = None,
             should_stop: Callable[[], bool] | None = None) -> tuple[np.ndarray, int, list[str]]:
    """Paint every pass of ``spec`` ``ensemble`` times for each image of the IMAGE batch, through
    :meth:`vb_plugins.predict.Predictor.generate`.

    Returns (uint8 ``[B * passes * ensemble, h, w, 3]`` in the order image, pass, sample; the group
    size ``passes * ensemble`` for the decoders; the prompts). ``steps``, ``guidance`` and
    ``megapixels`` of 0 mean the model family's defaults; ``prompt`` replaces the prompt of a single-pass
    spec (e.g. a hand-edited one). A stop request raises :class:`vb_plugins.errors.CancelledError`.
    """
    check_generate_options(steps, guidance, megapixels, ensemble, batch_size, seed, dialect)
    settings = generate_settings(seed, steps, guidance, megapixels, ensemble, batch_size, dialect)
    if not isinstance(loaded, LoadedGenerator):
        raise InputError(f"generator: expected the output of VB Load Generator, got {type(loaded).__name__}")
    if spec is None or not hasattr(spec, "task"):
        raise InputError("spec: connect the spec output of VB Prompt")
    rgb, _ = image_batch(image, "image")
    predictor = Predictor(spec.task, loaded.generator, spec=spec, settings=settings)
    if prompt is not None and str(prompt).strip():
        predictor.use_prompt(prompt)
    generated = predictor.generate(list(rgb), progress=progress, should_stop=should_stop)
    return generated.batch(), generated.group, generated.prompts

"""Predictor: image + task spec -> prompt -> generator -> decode -> :class:`Prediction`.

The CLI, the FiftyOne operators and the ComfyUI nodes all predict through this class.

    >>> from vb_plugins.predict import Predictor
    >>> predictor = Predictor("depth")                     # bundled model, CPU, offline
    >>> prediction = predictor.predict(["room.jpg"])[0]
    >>> prediction.values.shape, prediction.values.dtype   # (H, W) float32 metres
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Hashable, Iterable, Iterator
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path

import numpy as np

from vb_plugins.ensemble import resize_combined, resize_nearest
from vb_plugins.errors import InputError
from vb_plugins.generation.base import GenerationSettings, Generator
from vb_plugins.generation.engine import Engine, Job
from vb_plugins.tasks.base import Task, TaskSpec

Progress = Callable[[int, int | None], None]  # (images done, images total or None)


@dataclass
class Prediction:
    """One image's prediction.

    - ``values``: decoded values at the input size (depth H x W metres, normals H x W x 3, labels H x W,
      instance ids H x W, mask H x W bool),
    - ``confidence``: H x W in [0, 1], how cleanly the generated colours decoded (see each codec),
    - ``uncertainty``: H x W spread over ensemble samples / passes (None for a single sample),
    - ``visualizations``: the generated images (uint8 RGB at the generation size), per pass and sample,
    - ``prompts``: the prompt of each pass; ``settings``: everything needed to reproduce the run,
    - ``extras``: task-specific results (class names, instance colours and classes).
    """

    task: str
    spec: TaskSpec
    values: np.ndarray
    confidence: np.ndarray
    uncertainty: np.ndarray | None
    visualizations: list[np.ndarray]
    prompts: list[str]
    settings: dict
    extras: dict = field(default_factory=dict)
    key: Hashable = None

    @property
    def visualization(self) -> np.ndarray:
        """The first generated image."""
        return self.visualizations[0]

    @property
    def prompt(self) -> str:
        return self.prompts[0]

    def preview(self) -> np.ndarray:
        """A viewable uint8 RGB picture of the values (depth colour-mapped, labels painted, ...)."""
        from vb_plugins.ensemble import Combined
        from vb_plugins.registry import get_task

        task = get_task(self.task)
        view = _PreviewAdapter(Combined(self.values, self.confidence, self.uncertainty, self.extras))
        return task.preview(view, self.spec)

    def instance_masks(self) -> tuple[np.ndarray, list[str | None]]:
        """For instance predictions: bool N x H x W masks and the class of each instance."""
        ids = np.asarray(self.values)
        count = int(ids.max()) if ids.size else 0
        masks = np.stack([ids == k for k in range(1, count + 1)]) if count else np.zeros((0,) + ids.shape, bool)
        return masks, list(self.extras.get("classes", [None] * count))

    def record(self) -> dict:
        """JSON-friendly record of how this prediction was made (no arrays)."""
        return {"task": self.task, "spec": self.spec.to_dict(), "prompts": self.prompts,
                "settings": self.settings, "input": None if self.key is None else str(self.key)}


class _PreviewAdapter:
    """Gives a Combined the attribute names the tasks' preview methods read."""

    def __init__(self, combined):
        self.values = combined.values
        self.confidence = combined.confidence
        self.colours = combined.extras.get("colours", np.zeros((0, 3), np.uint8))
        self.names = combined.extras.get("names", [])


def load_input_image(image, name: str = "image") -> np.ndarray:
    """A path, PIL image or array -> uint8 H x W x 3 RGB (EXIF orientation applied to files)."""
    from vb_plugins.codecs._arrays import as_rgb
    from vb_plugins.io import read_rgb

    if isinstance(image, str | Path):
        return read_rgb(image, exif_transpose=True)
    if hasattr(image, "convert") and hasattr(image, "size"):  # PIL
        return np.asarray(image.convert("RGB"))
    array = as_rgb(image, name, allow_gray=True)
    if array.dtype != np.uint8:
        array = np.rint(array * 255.0).astype(np.uint8)
    return np.ascontiguousarray(array)


def resize_image(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize uint8 RGB to (height, width): area averaging when shrinking, bicubic when growing."""
    import cv2

    height, width = size
    if image.shape[:2] == (height, width):
        return image
    shrinking = height * width < image.shape[0] * image.shape[1]
    return cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_CUBIC)


class Predictor:
    """Predicts a task with a generator.

    ``model`` is a model string for :func:`vb_plugins.generation.load_generator` (None: the bundled model)
    or a :class:`Generator`. Task options (``classes``, ``expression``, ``scheme``, ...) build the spec,
    or pass ``spec``. ``ensemble`` samples are generated per pass with seeds ``seed, seed + 1, ...`` —
    the same for every image, so an image's prediction never depends on which images ran beside it.
    """

    def __init__(
        self,
        task: str | Task,
        model: str | Generator | None = None,
        *,
        spec: TaskSpec | None = None,
        dialect: str | None = None,
        steps: int | None = None,
        guidance: float | None = None,
        megapixels: float | None = None,
        ensemble: int = 1,
        batch_size: int = 4,
        seed: int = 0,
        device: str | None = None,
        dtype: str | None = None,
        lora: str | None = None,
        generator_options: dict | None = None,
        **task_options,
    ):
        from vb_plugins.registry import get_dialect, get_task

        self.task = get_task(task) if isinstance(task, str) else task
        if spec is not None and task_options:
            raise InputError("pass either spec or task options, not both")
        self.spec = spec if spec is not None else self.task.make_spec(**task_options)
        if spec is not None and spec.task != self.task.name:
            raise InputError(f"spec is for task {spec.task!r}, not {self.task.name!r}")
        if ensemble < 1:
            raise InputError(f"ensemble={ensemble}: must be at least 1")
        if batch_size < 1:
            raise InputError(f"batch_size={batch_size}: must be at least 1")
        check_generation_settings(steps, guidance, megapixels)
        if dialect is not None:
            get_dialect(dialect)  # validate early
        self.model = model
        self.dialect = dialect
        self.settings = GenerationSettings(steps=steps, guidance=guidance, megapixels=megapixels)
        self.ensemble = ensemble
        self.batch_size = batch_size
        self.seed = int(seed)
        self.generator_options = dict(generator_options or {})
        for key, value in (("device", device), ("dtype", dtype), ("lora", lora)):
            if value is not None:
                self.generator_options[key] = value
        self._generator: Generator | None = model if isinstance(model, Generator) else None
        self._task_checked = False
        self.passes = self.task.passes(self.spec)
        self._prompts: list[str] | None = None
        self.engine: Engine | None = None

    # -- setup ----------------------------------------------------------------------------------------
    @property
    def generator(self) -> Generator:
        """The generator, loaded on first use; one that was never trained on the task is refused."""
        if self._generator is None:
            from vb_plugins.generation import load_generator

            generator = load_generator(self.model, **self.generator_options)
            generator.check_task(self.task.name)
            self._generator = generator
        elif not self._task_checked:
            self._generator.check_task(self.task.name)
        self._task_checked = True
        return self._generator

    @property
    def prompts(self) -> list[str]:
        """One prompt per pass, in the generator's dialect unless one was chosen."""
        if self._prompts is None:
            dialect = self.dialect or self.generator.dialect
            self._prompts = [self.task.prompt(spec, dialect) for spec in self.passes]
        return self._prompts

    def describe(self) -> dict:
        """Settings recorded with every prediction."""
        from vb_plugins import __version__

        steps = self.settings.steps or self.generator.default_steps
        guidance = self.settings.guidance if self.settings.guidance is not None else self.generator.default_guidance
        return {
            "model": self.model if isinstance(self.model, str | type(None)) else self.generator.name,
            **self.generator.describe(),
            "dialect": self.dialect or self.generator.dialect,
            "steps": steps,
            "guidance": guidance,
            "megapixels": self.settings.megapixels or self.generator.megapixels,
            "ensemble": self.ensemble,
            "passes": len(self.passes),
            "seed": self.seed,
            "vb_plugins": __version__,
        }

    # -- prediction -----------------------------------------------------------------------------------
    def predict(self, images, keys=None, progress: Progress | None = None,
                should_stop: Callable[[], bool] | None = None) -> list[Prediction]:
        """Predict a list of images (paths, PIL images or arrays)."""
        return list(self.predict_iter(images, keys, progress, should_stop))

    def predict_iter(self, images: Iterable, keys: Iterable[Hashable] | None = None,
                     progress: Progress | None = None, should_stop: Callable[[], bool] | None = None,
                     window: int | None = None) -> Iterator[Prediction]:
        """Yield predictions in input order, working through ``window`` images at a time (default: 4
        batches) so memory stays flat on datasets of any size. A stop request raises
        :class:`vb_plugins.errors.CancelledError`; predictions already yielded are final."""
        images = list(images) if not hasattr(images, "__next__") else images
        total = len(images) if hasattr(images, "__len__") else None
        keys_iter = iter(keys) if keys is not None else None
        window = window or max(1, 4 * self.batch_size // max(1, len(self.passes) * self.ensemble))
        stream = iter(images)
        done = 0
        engine = self._engine(should_stop)
        while True:
            chunk = list(islice(stream, window))
            if not chunk:
                return
            if should_stop and should_stop():
                from vb_plugins.errors import CancelledError

                raise CancelledError(f"cancelled after {done} images")
            chunk_keys = [next(keys_iter) if keys_iter else (str(item) if isinstance(item, str | Path) else done + i)
                          for i, item in enumerate(chunk)]
            for prediction in self._predict_window(engine, chunk, chunk_keys):
                done += 1
                yield prediction
                if progress:
                    progress(done, total)

    def _engine(self, should_stop) -> Engine:
        if self.engine is None:
            self.engine = Engine(self.generator, self.settings, self.batch_size, should_stop=should_stop)
        else:
            self.engine.should_stop = should_stop or (lambda: False)
        return self.engine

    def _predict_window(self, engine: Engine, chunk: list, keys: list, plans: list | None = None) -> list[Prediction]:
        """Predict ``chunk`` in one engine run. ``plans``: per image, the predictor whose spec, passes and prompts
        it gets (default: this one for all; :mod:`vb_plugins.reasoning` varies them per image), so images of
        different plans still share batches wherever their prompts agree."""
        plans = plans or [self] * len(chunk)
        inputs, sizes, jobs = [], [], []
        for i, (item, key, plan) in enumerate(zip(chunk, keys, plans)):
            image = load_input_image(item, name=str(key))
            size = self.generator.size_for(*image.shape[:2], self.settings.megapixels)
            resized = resize_image(image, size)
            inputs.append(image)
            sizes.append(size)
            for p, prompt in enumerate(plan.prompts):
                for j in range(self.ensemble):
                    jobs.append(Job((i, p, j), resized, prompt, self.seed + j))
        began = time.perf_counter()
        outputs = engine.run(jobs)
        seconds = (time.perf_counter() - began) / max(len(chunk), 1)
        settings = self.describe()
        predictions = []
        for i, (key, plan) in enumerate(zip(keys, plans)):
            prompts = plan.prompts
            visualizations = [outputs[(i, p, j)] for p in range(len(prompts)) for j in range(self.ensemble)]
            generated = visualizations[0].shape[:2]
            # Remote APIs choose their own output size; samples of one image must share one grid to be
            # combined. Nearest-neighbour keeps every colour a colour the model painted.
            aligned = {k: (v if v.shape[:2] == generated else resize_nearest(v, generated))
                       for k, v in outputs.items() if k[0] == i}
            decodings = [[self.task.decode(aligned[(i, p, j)], spec) for j in range(self.ensemble)]
                         for p, spec in enumerate(plan.passes)]

            combined = resize_combined(self.task.combine(decodings, plan.spec), self.task.value_kind,
                                       inputs[i].shape[:2])
            record = dict(settings, input_size=list(inputs[i].shape[:2]), generated_size=list(generated),
                          requested_size=list(sizes[i]), seconds=round(seconds, 4))
            predictions.append(Prediction(self.task.name, plan.spec, combined.values, combined.confidence,
                                          combined.uncertainty, visualizations, list(prompts), record,
                                          combined.extras, key))
        return predictions


# Larger than any open image-editing model's working size (FLUX.2 paints up to 4 MP); a bigger request is a
# typo that would only end in running out of memory.
MAX_MEGAPIXELS = 16.0


def check_generation_settings(steps=None, guidance=None, megapixels=None) -> None:
    """One-line errors for sampling settings no generator can use (None: the model's default)."""
    if steps is not None and (isinstance(steps, bool) or not isinstance(steps, int | np.integer) or steps < 1):
        raise InputError(f"steps={steps!r}: must be a whole number of at least 1")
    if guidance is not None and not (isinstance(guidance, int | float) and math.isfinite(guidance)):
        raise InputError(f"guidance={guidance!r}: must be a finite number")
    if megapixels is not None and not (isinstance(megapixels, int | float) and math.isfinite(megapixels)
                                       and 0 < megapixels <= MAX_MEGAPIXELS):
        raise InputError(f"megapixels={megapixels!r}: must be a number above 0 and at most {MAX_MEGAPIXELS:g}")


def predict(task: str, images, model: str | Generator | None = None, **options) -> list[Prediction]:
    """One-call prediction: ``predict("depth", ["a.jpg"])``."""
    return Predictor(task, model, **options).predict(images)


__all__ = ["Predictor", "Prediction", "predict", "load_input_image", "resize_image"]

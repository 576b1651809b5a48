"""Predictor: image + task spec -> prompt -> generator -> decode -> :class:`Prediction`.

The CLI, the FiftyOne operators and the ComfyUI nodes all predict through this class.

    >>> from vb_plugins.predict import Predictor
    >>> predictor = Predictor("depth")                     # bundled model, CPU, offline
    >>> prediction = predictor.predict(["room.jpg"])[0]
    >>> prediction.values.shape, prediction.values.dtype   # (H, W) float32 metres
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable, Iterable, Iterator
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path

import numpy as np

from vb_plugins.codecs._modes import decode_mode, resolve_mode
from vb_plugins.ensemble import resize_nearest
from vb_plugins.errors import InputError
from vb_plugins.generation import load_generator
from vb_plugins.generation.base import Generator
from vb_plugins.generation.engine import Engine, Job
from vb_plugins.registry import get_task
from vb_plugins.settings import RunSettings, split_settings
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

    def __init__(self, task: str | Task, model: str | Generator | None = None, *, spec: TaskSpec | None = None,
                 settings: RunSettings | None = None, **options):
        """``settings``: a :class:`RunSettings`; its fields may also be given as keywords (``steps=4``,
        ``ensemble=3``, ...; they replace those of ``settings``). Every other keyword is a task option."""
        self.task = get_task(task) if isinstance(task, str) else task
        changes, task_options = split_settings(options)
        if isinstance(model, str | type(None)) and model is not None:
            changes["model"] = model
        settings = settings or RunSettings()
        self.settings = settings.replace(**changes) if changes else settings
        if spec is not None and task_options:
            raise InputError("pass either spec or task options, not both")
        self.spec = spec if spec is not None else self.task.make_spec(**task_options)
        if spec is not None and spec.task != self.task.name:
            raise InputError(f"spec is for task {spec.task!r}, not {self.task.name!r}")
        self.model = model if isinstance(model, Generator) else self.settings.model
        self._generator: Generator | None = model if isinstance(model, Generator) else None
        self._task_checked = False
        self.passes = self.task.passes(self.spec)
        self._prompts: list[str] | None = None
        self.engine: Engine | None = None

    # the settings the adapters read by name
    @property
    def ensemble(self) -> int:
        return self.settings.ensemble

    @property
    def batch_size(self) -> int:
        return self.settings.batch_size

    @property
    def seed(self) -> int:
        return self.settings.seed

    @property
    def dialect(self) -> str | None:
        return self.settings.dialect

    # -- setup ----------------------------------------------------------------------------------------
    @property
    def generator(self) -> Generator:
        """The generator, loaded on first use; one that was never trained on the task is refused."""
        if self._generator is None:
            generator = load_generator(self.settings.model, **self.settings.generator_kwargs())
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

    @property
    def model_name(self) -> str | None:
        """The model as records name it: the model string (None: the bundled model), or a given
        generator's name."""
        return self.generator.name if isinstance(self.model, Generator) else self.settings.model

    def describe(self) -> dict:
        """Settings recorded with every prediction."""
        from vb_plugins import __version__

        steps = self.settings.steps or self.generator.default_steps
        guidance = self.settings.guidance if self.settings.guidance is not None else self.generator.default_guidance
        return {
            "model": self.model_name,
            **self.generator.describe(),
            "dialect": self.dialect or self.generator.dialect,
            "steps": steps,
            "guidance": guidance,
            "megapixels": self.settings.megapixels or self.generator.megapixels,
            "ensemble": self.ensemble,
            "passes": len(self.passes),
            "seed": self.seed,
            "decode_mode": resolve_mode(self.settings.decode_mode),
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
            self.engine = Engine(self.generator, self.settings.generation(), self.batch_size, should_stop=should_stop)
        else:
            self.engine.should_stop = should_stop or (lambda: False)
        return self.engine

    def _predict_window(self, engine: Engine, chunk: list, keys: list) -> list[Prediction]:
        prompts = self.prompts
        inputs, sizes, jobs = [], [], []
        for i, (item, key) in enumerate(zip(chunk, keys)):
            image = load_input_image(item, name=str(key))
            size = self.generator.size_for(*image.shape[:2], self.settings.megapixels)
            resized = resize_image(image, size)
            inputs.append(image)
            sizes.append(size)
            for p, prompt in enumerate(prompts):
                for j in range(self.ensemble):
                    jobs.append(Job((i, p, j), resized, prompt, self.seed + j))
        began = time.perf_counter()
        outputs = engine.run(jobs)
        seconds = (time.perf_counter() - began) / max(len(chunk), 1)
        settings = self.describe()
        predictions = []
        for i, key in enumerate(keys):
            visualizations = [outputs[(i, p, j)] for p in range(len(prompts)) for j in range(self.ensemble)]
            generated = visualizations[0].shape[:2]
            # Remote APIs choose their own output size; samples of one image must share one grid to be
            # combined. Nearest-neighbour keeps every colour a colour the model painted.
            aligned = {k: (v if v.shape[:2] == generated else resize_nearest(v, generated))
                       for k, v in outputs.items() if k[0] == i}
            with decode_mode(resolve_mode(self.settings.decode_mode)):
                decodings = [[self.task.decode(aligned[(i, p, j)], spec) for j in range(self.ensemble)]
                             for p, spec in enumerate(self.passes)]

            combined = self.task.kind.resize(self.task.combine(decodings, self.spec), inputs[i].shape[:2])
            record = dict(settings, input_size=list(inputs[i].shape[:2]), generated_size=list(generated),
                          requested_size=list(sizes[i]), seconds=round(seconds, 4))
            predictions.append(Prediction(self.task.name, self.spec, combined.values, combined.confidence,
                                          combined.uncertainty, visualizations, list(prompts), record,
                                          combined.extras, key))
        return predictions


def predict(task: str, images, model: str | Generator | None = None, **options) -> list[Prediction]:
    """One-call prediction: ``predict("depth", ["a.jpg"])``."""
    return Predictor(task, model, **options).predict(images)


__all__ = ["Predictor", "Prediction", "predict", "load_input_image", "resize_image"]

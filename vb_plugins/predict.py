"""Predictor: images + task spec -> prompts -> generator -> decode -> :class:`Prediction`, in two halves.

Like a diffusers pipeline, one run is a fixed sequence of numbered steps, each a method that can be
called (or overridden) on its own; the two public halves are what the adapters call:

- :meth:`Predictor.generate` (1 ``check_inputs``, 2 ``load_images``, 3 ``plan_sizes``, 4 ``make_jobs``,
  5 ``run_engine``) -> :class:`vb_plugins.generated.Generated`: per image the paintings of every pass and
  ensemble sample, the sizes and the prompts;
- :meth:`Predictor.decode` (6 ``align_outputs``, 7 ``decode_samples``, 8 ``combine``, 9 ``place``) ->
  one :class:`Prediction` per image: each painting decoded with an explicit mode, samples combined, the
  values resized (or fitted into a crop) to a target size;
- :meth:`Predictor.predict` = generate + decode, a window of images at a time.

``vb predict``, the FiftyOne operators and ``VBModel`` predict through :meth:`predict`; the ComfyUI nodes call
the halves (VB Generate :meth:`generate`, the VB Decode nodes :meth:`decode` on a batch from any graph).

    >>> from vb_plugins.predict import Predictor
    >>> predictor = Predictor("depth")                     # bundled model, CPU, offline
    >>> prediction = predictor.predict(["room.jpg"])[0]
    >>> prediction.values.shape, prediction.values.dtype   # (H, W) float32 metres
    >>> generated = predictor.generate(["room.jpg"])       # or in two halves
    >>> prediction = predictor.decode(generated, mode="robust")[0]
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable, Iterable, Iterator
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path

import numpy as np

from vb_plugins import __version__
from vb_plugins.codecs._arrays import as_rgb
from vb_plugins.codecs._modes import resolve_mode
from vb_plugins.ensemble import Combined, resize_nearest
from vb_plugins.errors import CancelledError, InputError
from vb_plugins.generated import Generated, GeneratedImage
from vb_plugins.generation import load_generator
from vb_plugins.generation.base import Generator
from vb_plugins.generation.engine import Engine, Job
from vb_plugins.io import read_rgb
from vb_plugins.placement import check_fit, place, target_size
from vb_plugins.profiles.predicting import ProfileSteps
from vb_plugins.registry import get_task
from vb_plugins.settings import VLM_SETTINGS, RunSettings, split_settings
from vb_plugins.tasks.base import Task, TaskSpec, decode_in_mode

Progress = Callable[[int, int | None], None]  # (images done, images total or None)
JobProgress = Callable[[int, int], None]  # (generations done, generations total)


@dataclass
class Prediction:
    """One image's prediction.

    - ``values``: decoded values at the target size (by default the input's: depth H x W metres, normals
      H x W x 3, labels H x W, instance ids H x W, mask H x W bool),
    - ``confidence`` (also readable as ``reliability``): H x W in [0, 1], the calibrated probability that
      each pixel's value was read right from the generated colours (:mod:`vb_plugins.reliability`),
    - ``uncertainty``: H x W spread over ensemble samples / passes (None for a single sample),
    - ``visualizations``: the generated images (uint8 RGB at the generation size), per pass and sample,
    - ``prompts``: the prompt of each pass; ``settings``: everything needed to reproduce the run,
    - ``extras``: task-specific results (class names, instance colours and classes),
    - ``inside``: bool H x W, pixels a generated pixel covers (None: all of them; see
      :func:`vb_plugins.placement.place`); elsewhere values are the kind's fill and confidence is 0,
    - ``expected_error``: H x W calibrated mean error in the task's units (depth: metres, normals:
      degrees; NaN outside ``inside``), None for label tasks.
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
    inside: np.ndarray | None = None
    expected_error: np.ndarray | None = None

    @property
    def reliability(self) -> np.ndarray:
        return self.confidence

    @property
    def visualization(self) -> np.ndarray:
        """The first generated image."""
        return self.visualizations[0]

    @property
    def prompt(self) -> str:
        return self.prompts[0]

    @property
    def colours(self) -> np.ndarray:
        """Instance colours (what the tasks' previews read); empty for other tasks."""
        return self.extras.get("colours", np.zeros((0, 3), np.uint8))

    @property
    def names(self) -> list[str]:
        return self.extras.get("names", [])

    def preview(self, task: Task | None = None) -> np.ndarray:
        """A viewable uint8 RGB picture of the values (depth colour-mapped, labels painted, ...) by the
        task's own preview (``task``: the task object; default: the registered one of that name)."""
        return (task or get_task(self.task)).preview(self, self.spec)

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


def load_input_image(image, name: str = "image") -> np.ndarray:
    """A path, PIL image or array -> uint8 H x W x 3 RGB (EXIF orientation applied to files)."""
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
    import cv2  # OpenCV doubles the import time of the `vb` command; loaded when first used

    height, width = size
    if image.shape[:2] == (height, width):
        return image
    shrinking = height * width < image.shape[0] * image.shape[1]
    return cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_CUBIC)


class Predictor(ProfileSteps):
    """Predicts a task with a generator, in two halves (see the module docstring).

    ``model`` is a model string for :func:`vb_plugins.generation.load_generator` (None: the bundled model)
    or a :class:`Generator`. ``settings`` is a :class:`vb_plugins.settings.RunSettings`; its fields may also
    be given as keywords (``steps=4``, ``ensemble=3``, ...), which replace those of ``settings``. Other
    keywords are task options (``classes``, ``expression``, ``scheme``, ...) that build the spec, or pass
    ``spec``. ``prompt``: a custom prompt, painted instead of the spec's own; the spec's legend (classes and
    colours, background, referring objects, depth scheme) is read from it, as ``vb decode --prompt`` reads it
    (with ``spec``, the given spec is kept). ``ensemble`` samples are generated per pass with seeds ``seed,
    seed + 1, ...`` — the same for every image, so an image's prediction never depends on which images ran
    beside it.
    """

    def __init__(self, task: str | Task, model: str | Generator | None = None, *, spec: TaskSpec | None = None,
                 settings: RunSettings | None = None, prompt: str | None = None, **options):
        changes, task_options = split_settings(options)
        if prompt is not None and not isinstance(prompt, str):
            raise InputError(f"prompt: expected text, got {type(prompt).__name__}")
        custom = prompt if prompt is not None and prompt.strip() else None
        if custom is not None and spec is None:
            task_options["prompt"] = custom  # the legend comes from the prompt (a clash with classes is refused)
        if isinstance(model, str):
            changes["model"] = model
        settings = settings or RunSettings()
        self.settings = settings.replace(**changes) if changes else settings
        if spec is not None and task_options:
            raise InputError("pass either spec or task options, not both")
        self.model = model if isinstance(model, Generator) else self.settings.model
        self._generator: Generator | None = model if isinstance(model, Generator) else None
        self.asked = task if isinstance(task, str) else task.name  # the task as the user named it
        self.profile = self._resolve_profile()
        self.profile_task = self._profile_task(self.asked)
        self.task = self._decoding_task(task)
        self.spec = self._make_spec(spec, task_options)
        self._task_checked = False
        self.passes = self.task.passes(self.spec)
        self._prompts: list[str] | None = None
        self.custom_prompt: str | None = None
        if custom is not None:
            self.use_prompt(custom)
        self.engine: Engine | None = None

    # the settings adapters read by name
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
            generator = load_generator(self.settings.model, **self._generator_kwargs())
            generator.check_task(self.task.name)
            self._generator = generator
        elif not self._task_checked:
            self._generator.check_task(self.task.name)
        self._task_checked = True
        return self._generator

    @property
    def prompts(self) -> list[str]:
        """One prompt per pass: the profile's wording for the task, else the dialect chosen, the profile's or
        the generator's (a dialect chosen for the run wins over the profile's wording)."""
        if self._prompts is None:
            entry = self.profile_task
            if self.dialect is None and entry is not None and entry.prompt:
                self._prompts = [entry.render(spec, self.asked) for spec in self.passes]
            else:
                dialect = self.dialect or (entry.dialect if entry else None) or self.profile.dialect or \
                    self.generator.dialect
                self._prompts = [self.task.prompt(spec, dialect) for spec in self.passes]
        return self._prompts

    def use_prompt(self, prompt: str) -> None:
        """Paint with ``prompt`` instead of the spec's own (e.g. a hand-edited one); a spec with several
        passes has a prompt per pass, so it is refused."""
        if len(self.passes) > 1:
            raise InputError(f"prompt: the spec has {len(self.passes)} passes (one prompt each); a single prompt "
                             "replaces only the prompt of a single-pass spec")
        self._prompts = [str(prompt).strip()]
        self.custom_prompt = self._prompts[0]

    @property
    def model_name(self) -> str | None:
        """The model as records name it: the model string (None: the bundled model), or a given
        generator's name."""
        return self.generator.name if isinstance(self.model, Generator) else self.settings.model

    def describe(self) -> dict:
        """Settings recorded with every prediction."""
        sampling = self.generation_settings()
        steps = sampling.steps or self.generator.default_steps
        guidance = sampling.guidance if sampling.guidance is not None else self.generator.default_guidance
        entry = self.profile_task
        wording = entry is not None and entry.prompt and self.dialect is None
        size = self.fixed_size()
        return {
            "model": self.model_name,
            **self.generator.describe(),
            **self.profile_record(),
            "dialect": f"profile:{self.profile.name}" if wording else self.dialect or (entry.dialect if entry else None)
            or self.profile.dialect or self.generator.dialect,
            "steps": steps,
            "guidance": guidance,
            "megapixels": sampling.megapixels or self.generator.megapixels,
            **({"size": list(size)} if size else {}),
            "ensemble": self.ensemble,
            "passes": len(self.passes),
            "seed": self.seed,
            "decode_mode": resolve_mode(self.settings.decode_mode),
            "vb_plugins": __version__,
        }

    # -- the whole run --------------------------------------------------------------------------------
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
        while True:
            chunk = list(islice(stream, window))
            if not chunk:
                return
            if should_stop and should_stop():
                raise CancelledError(f"cancelled after {done} images")
            chunk_keys = [next(keys_iter) if keys_iter else (str(item) if isinstance(item, str | Path) else done + i)
                          for i, item in enumerate(chunk)]
            for prediction in self.decode(self.generate(chunk, chunk_keys, should_stop=should_stop)):
                done += 1
                yield prediction
                if progress:
                    progress(done, total)

    # -- generation: steps 1 to 5 ---------------------------------------------------------------------
    def generate(self, images, keys=None, progress: JobProgress | None = None,
                 should_stop: Callable[[], bool] | None = None) -> Generated:
        """Paint every pass of the spec ``ensemble`` times for each image (paths, PIL images or arrays);
        ``keys`` name the images (default: paths, else positions). ``progress(done, total)`` counts
        generations; a stop request raises :class:`vb_plugins.errors.CancelledError`."""
        items, keys = self.check_inputs(images, keys)
        inputs = self.load_images(items, keys)
        sizes = self.plan_sizes(inputs)
        jobs = self.make_jobs(inputs, sizes)
        began = time.perf_counter()
        outputs = self.run_engine(jobs, progress, should_stop)
        seconds = (time.perf_counter() - began) / max(len(items), 1)
        generated = [GeneratedImage(key, [[outputs[(i, p, j)] for j in range(self.ensemble)]
                                          for p in range(len(self.prompts))], sizes[i], inputs[i].shape[:2])
                     for i, key in enumerate(keys)]
        return Generated(self.task.name, self.spec, list(self.prompts), generated, self.describe(), seconds)

    def check_inputs(self, images, keys=None) -> tuple[list, list]:
        """1. The images as a list, and a key for each (default: the path, else the position)."""
        given = [name for name in VLM_SETTINGS if getattr(self.settings, name) is not None]
        if given:  # painting without the model the settings name would be a silently different run
            raise InputError(f"{given[0]}: a Predictor runs no vision-language model; predict through "
                             "vb_plugins.reasoning.guided(predictor), which runs it")
        items = list(images)
        keys = [str(item) if isinstance(item, str | Path) else i for i, item in enumerate(items)] \
            if keys is None else list(keys)
        if len(keys) != len(items):
            raise InputError(f"keys: {len(keys)} keys for {len(items)} images")
        return items, keys

    def load_images(self, items: list, keys: list) -> list[np.ndarray]:
        """2. Each image as uint8 H x W x 3 RGB; errors name the image by its key."""
        return [load_input_image(item, name=str(key)) for item, key in zip(items, keys)]

    def plan_sizes(self, images: list[np.ndarray]) -> list[tuple[int, int]]:
        """3. The size each image is painted at (the generator's: aspect ratio kept, model multiples)."""
        fixed = self.fixed_size()
        if fixed is not None:  # the profile's size, in the model's multiples
            step = self.generator.multiple
            height, width = (max(step, -(-max(side, self.generator.min_side) // step) * step) for side in fixed)
            return [(height, width)] * len(images)
        megapixels = self.generation_settings().megapixels
        return [self.generator.size_for(*image.shape[:2], megapixels) for image in images]

    def make_jobs(self, images: list[np.ndarray], sizes: list[tuple[int, int]]) -> list[Job]:
        """4. One job per image, pass and sample, keyed ``(image, pass, sample)``, seeded ``seed + sample``."""
        jobs = []
        for i, (image, size) in enumerate(zip(images, sizes)):
            resized = resize_image(image, size)
            for p, prompt in enumerate(self.prompts):
                for j in range(self.ensemble):
                    jobs.append(Job((i, p, j), resized, prompt, self.seed + j))
        return jobs

    def run_engine(self, jobs: list[Job], progress: JobProgress | None = None,
                   should_stop: Callable[[], bool] | None = None) -> dict:
        """5. The jobs through the batch engine (one per predictor: each prompt is encoded once)."""
        if self.engine is None:
            self.engine = Engine(self.generator, self.generation_settings(), self.batch_size)
        self.engine.should_stop = should_stop or (lambda: False)
        self.engine.progress = progress
        return self.engine.run(jobs)

    # -- decoding: steps 6 to 9 -----------------------------------------------------------------------
    def decode(self, generated: Generated, *, mode: str | None = None, size: tuple[int, int] | None = None,
               width: int = 0, height: int = 0, fit: str = "stretch") -> list[Prediction]:
        """Decode every image of ``generated`` into a :class:`Prediction`.

        ``mode``: ``auto`` | ``exact`` | ``robust`` (default: the settings' decode mode). Values land at
        ``size`` (height, width; e.g. a reference image's), else ``width`` x ``height`` (one of them 0: the
        painted aspect ratio kept), else the input's size, else the painted size; ``fit`` is ``stretch``
        (the input was rescaled to be painted) or ``crop`` (it was scaled to cover and centre-cropped).
        """
        mode = resolve_mode(mode if mode is not None else self.settings.decode_mode)
        check_fit(fit)
        predictions = []
        for image in generated:
            aligned = self.align_outputs(image)
            combined = self.combine(self.decode_samples(aligned, mode))
            painted = aligned[0][0].shape[:2]
            target = target_size(painted, size if size is not None else image.input_size, width, height)
            placed, inside = self.place(combined, target, fit, image.covered)
            record = dict(generated.settings, generated_size=list(image.generated_size),
                          requested_size=list(image.requested_size), seconds=round(generated.seconds, 4))
            if image.input_size is not None:
                record["input_size"] = list(image.input_size)
            predictions.append(Prediction(self.task.name, self.spec, placed.values, placed.confidence,
                                          placed.uncertainty, image.visualizations, list(generated.prompts),
                                          record, placed.extras, image.key, inside, placed.expected_error))
        return predictions

    def align_outputs(self, image: GeneratedImage) -> list[list[np.ndarray]]:
        """6. Every painting of one image on one grid, the first one's: remote APIs choose their own output
        size, and samples are combined pixel by pixel. Nearest-neighbour keeps every colour a painted one."""
        size = image.generated_size
        return [[painting if painting.shape[:2] == size else resize_nearest(painting, size) for painting in per_pass]
                for per_pass in image.samples]

    def decode_samples(self, paintings: list[list[np.ndarray]], mode: str) -> list[list]:
        """7. Each painting decoded with its pass's spec in ``mode``: ``decodings[pass][sample]``."""
        return [[decode_in_mode(self.task, painting, spec, mode) for painting in per_pass]
                for per_pass, spec in zip(paintings, self.passes)]

    def combine(self, decodings: list[list]) -> Combined:
        """8. The samples and passes combined by the task (its value kind's rule by default)."""
        return self.task.combine(decodings, self.spec)

    def place(self, combined: Combined, target: tuple[int, int], fit: str = "stretch",
              covered: np.ndarray | None = None) -> tuple[Combined, np.ndarray | None]:
        """9. The combined values on the target grid (see :func:`vb_plugins.placement.place`)."""
        return place(self.task.kind, combined, target, fit, covered)


def predict(task: str, images, model: str | Generator | None = None, **options) -> list[Prediction]:
    """One-call prediction: ``predict("depth", ["a.jpg"])``."""
    return Predictor(task, model, **options).predict(images)


__all__ = ["Predictor", "Prediction", "Generated", "GeneratedImage", "predict", "load_input_image", "resize_image"]

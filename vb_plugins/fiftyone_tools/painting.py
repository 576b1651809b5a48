"""A ``paint:`` generator backend for tests, demos and benchmarks of the FiftyOne integration.

It lets a FiftyOne operator run "a model" chosen by a model string, exactly as users choose theirs,
with no weights: ``paint:identity`` returns each input image unchanged (so an image made of the class
colours is a perfect semantic / instance / referring "prediction"), ``paint:depth`` paints the depth
encoding of ``depth = 0.5 + 9.5 * (1 - gray / 255)`` metres (bright = near), ``paint:normals`` the LUB
encoding of normals tilted by the image's red/green channels, and ``paint:tiny`` is
:class:`vb_plugins.testing.generators.TinyTorchGenerator` (a random conv net).

Register it in the running process (the plugin's operators run in-process for immediate execution and
for ``DelegatedOperationService().execute_queued_operations()``)::

    from vb_plugins.fiftyone_tools.painting import use_paint_backend
    restore = use_paint_backend()      # ... then restore() to put the previous registry back

``PaintBackend.loads`` counts generator loads and ``PaintBackend.load_options`` holds the options of the
last load (device, dtype, LoRA, ...: what a run asked the backend for); ``PaintBackend.images`` counts images
painted per process, so tests can check what a run actually generated; ``PaintBackend.hook``, if set, is called
with that count after every batch (a test can raise from it to simulate a crash mid-run).
"""

from __future__ import annotations

import numpy as np

from vb_plugins import registry
from vb_plugins.errors import InputError
from vb_plugins.generation.base import GeneratorBackend
from vb_plugins.hookspecs import hookimpl
from vb_plugins.registry import get_task
from vb_plugins.testing.generators import PaintingGenerator, TinyTorchGenerator

MODES = ("identity", "depth", "normals", "tiny")


def image_depth(image: np.ndarray) -> np.ndarray:
    """The depth ``paint:depth`` paints for an image (metres)."""
    gray = np.asarray(image, dtype=np.float32)[..., :3].mean(axis=-1) / 255.0
    return (0.5 + 9.5 * (1.0 - gray)).astype(np.float32)


def image_normals(image: np.ndarray) -> np.ndarray:
    """Unit normals tilted by the red (x) and green (y) channels, facing the camera (+z)."""
    rgb = np.asarray(image, dtype=np.float32)[..., :3] / 255.0
    normals = np.stack([rgb[..., 0] - 0.5, rgb[..., 1] - 0.5, np.ones(rgb.shape[:2], np.float32)], axis=-1)
    return normals / np.linalg.norm(normals, axis=-1, keepdims=True)


def _painter(mode: str):
    if mode == "identity":
        return lambda image, prompt: image
    if mode == "depth":
        task = get_task("depth")
        return lambda image, prompt: task.encode(image_depth(image))
    if mode == "normals":
        task = get_task("normals")
        return lambda image, prompt: task.encode(image_normals(image))
    raise InputError(f"paint:{mode}: unknown mode; expected one of {', '.join(MODES)}")


class PaintBackend(GeneratorBackend):
    name = "paint"
    description = "weightless generators for tests and demos (paint:identity|depth|normals|tiny)"
    loads = 0
    load_options: dict = {}
    images = 0
    hook = None

    def load(self, model: str, megapixels: float | None = None, **options):
        mode = (model or "identity").strip()
        PaintBackend.loads += 1
        PaintBackend.load_options = dict(options)
        if mode == "tiny":
            generator = TinyTorchGenerator(seed=0)
        else:
            generator = PaintingGenerator(_painter(mode), megapixels=megapixels or 0.0164)
        generator.name = f"paint:{mode}"
        inner = generator.generate

        def counted(images, *args, **kwargs):
            outputs = inner(images, *args, **kwargs)
            PaintBackend.images += len(images)
            if PaintBackend.hook is not None:
                PaintBackend.hook(PaintBackend.images)
            return outputs

        generator.generate = counted
        return generator


class _PaintPlugin:
    """A vb-plugins plugin object that adds the ``paint`` backend."""

    __name__ = "vb_plugins.fiftyone_tools.painting"

    @hookimpl
    def vb_generators(self):
        return [PaintBackend()]


def use_paint_backend():
    """Make ``paint:...`` model strings loadable in this process; returns a function that restores the
    previous registry."""
    previous = registry.get_registry()
    registry.reset_registry(registry.Registry(entry_points=True, plugins=[_PaintPlugin()]))

    def restore():
        registry.reset_registry(previous)

    return restore

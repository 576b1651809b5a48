"""Training triples: (input image, prompt, target RGB) made from ground truth through the registered
tasks and prompt dialects, with Vision Banana's augmentations.

- depth: sometimes painted in an alternative colour scheme, and the prompt names the scheme, so the
  model learns to follow the prompt rather than one fixed palette;
- semantic: a fresh random colour legend per example (written into the prompt), so colours are bound by
  the prompt and not by the class;
- instance: random well-separated colours per example;
- flips: horizontal flips of image and target (normals' x component flips with them).
A per-pixel ``weight`` masks ground truth that does not exist (NaN depth, zero normals). Where the ground
truth comes from (synthetic scenes, a folder, a FiftyOne dataset) is :mod:`vb_plugins.training.sources`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

from vb_plugins.codecs.colors import palette
from vb_plugins.errors import InputError
from vb_plugins.registry import get_task


@dataclass
class GroundTruth:
    """One image and whatever ground truth exists for it (metres, camera-frame normals, labels, ids)."""

    image: np.ndarray
    depth: np.ndarray | None = None
    normals: np.ndarray | None = None
    semantic: np.ndarray | None = None  # class ids, 0 = unlabeled, i + 1 = class_names[i]
    class_names: list[str] = field(default_factory=list)
    instance: np.ndarray | None = None  # instance ids, 0 = none
    key: str = ""

    def has(self, task: str) -> bool:
        return {"depth": self.depth, "normals": self.normals, "semantic": self.semantic,
                "instance": self.instance}.get(task) is not None


@dataclass
class Example:
    image: np.ndarray  # uint8 H x W x 3
    prompt: str
    target: np.ndarray  # uint8 H x W x 3
    weight: np.ndarray  # float32 H x W, 0 where the ground truth is missing
    task: str


@dataclass
class Augmentation:
    flip: float = 0.5  # probability of a horizontal flip
    depth_scheme: float = 0.2  # probability of an alternative colour scheme for depth
    schemes: tuple[str, ...] = ("plasma", "inferno", "viridis", "gray")
    max_classes: int = 6  # classes named per semantic prompt


def make_example(gt: GroundTruth, task_name: str, rng: np.random.Generator, dialect: str = "vision-banana",
                 augment: Augmentation | None = None) -> Example:
    """One training triple for ``task_name`` from ``gt``."""
    augment = augment or Augmentation()
    task = get_task(task_name)
    if not gt.has(task_name):
        raise InputError(f"{gt.key or 'example'}: has no {task_name} ground truth")
    image = gt.image
    flip = rng.random() < augment.flip
    if task_name == "depth":
        depth = np.asarray(gt.depth, dtype=np.float64)
        valid = np.isfinite(depth) | (depth == np.inf)
        valid &= ~np.isnan(depth) & ~(depth < 0)
        scheme = None
        if rng.random() < augment.depth_scheme:
            scheme = str(rng.choice(augment.schemes))
        spec = task.make_spec(scheme=scheme)
        target = task.codec_for(spec).encode(np.where(valid, depth, 0.0))
        weight = valid
    elif task_name == "normals":
        normals = np.asarray(gt.normals, dtype=np.float64)
        valid = np.linalg.norm(normals, axis=2) > 0.5
        if flip:
            normals = normals * np.array([-1.0, 1.0, 1.0])  # mirrored scene: left and right swap
        spec = task.make_spec()
        target = task.codec.encode(np.where(valid[..., None], normals, [0, 0, 1]))
        weight = valid
    elif task_name == "semantic":
        labels = np.asarray(gt.semantic)
        present = [int(v) for v in np.unique(labels) if v > 0]
        chosen = sorted(rng.permutation(present)[: augment.max_classes].tolist())
        colours = palette(len(chosen), avoid=["black"], named=True)
        order = rng.permutation(len(colours))
        legend = {gt.class_names[c - 1]: colours[o] for c, o in zip(chosen, order)}
        spec = task.make_spec(classes=legend)
        remap = np.zeros(int(labels.max()) + 1, dtype=np.int64)
        for new, old in enumerate(chosen, start=1):
            remap[old] = new
        target = task.codec.encode(remap[labels], list(spec.classes), unlabeled="black")
        weight = np.ones(labels.shape, bool)
    elif task_name == "instance":
        ids = np.asarray(gt.instance)
        spec = task.make_spec()
        count = int(ids.max())
        colours = palette(count, avoid=["white"], named=False) if count else []
        colours = [colours[i] for i in rng.permutation(count)] if count else []
        target = task.codec.encode(ids, colours=colours) if count else np.full(ids.shape + (3,), 255, np.uint8)
        weight = np.ones(ids.shape, bool)
    else:
        raise InputError(f"task {task_name!r}: no training recipe (supported: depth, normals, semantic, instance)")
    if flip:
        image, target, weight = image[:, ::-1], target[:, ::-1], weight[:, ::-1]
    prompt = task.prompt(spec, dialect)
    return Example(np.ascontiguousarray(image), prompt, np.ascontiguousarray(target),
                   np.ascontiguousarray(weight, dtype=np.float32), task_name)


def examples(source, tasks, seed: int, dialect: str = "vision-banana", augment: Augmentation | None = None,
             start: int = 0) -> Iterator[Example]:
    """An endless, reproducible stream: example ``i`` depends only on ``(seed, i)``, so a resumed run
    continues exactly where it stopped (``start``)."""
    index = start
    while True:
        rng = np.random.default_rng([seed, index])
        task = tasks[index % len(tasks)]
        yield make_example(source.load(index), task, rng, dialect, augment)
        index += 1

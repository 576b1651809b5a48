"""Training triples: (input image, prompt, target RGB) made from ground truth through the registered
tasks and prompt dialects, with Vision Banana's augmentations.

- depth: sometimes painted in an alternative colour scheme, and the prompt names the scheme, so the
  model learns to follow the prompt rather than one fixed palette;
- semantic: a fresh random colour legend per example (written into the prompt), so colours are bound by
  the prompt and not by the class;
- instance: random well-separated colours per example;
- flips: horizontal flips of image and target (normals' x component flips with them).
A per-pixel ``weight`` masks ground truth that does not exist (NaN depth, zero normals).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from vb_plugins.errors import InputError


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
    from vb_plugins.registry import get_task

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
        from vb_plugins.codecs.colors import palette

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
        from vb_plugins.codecs.colors import palette

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


class FolderSource:
    """Ground truth from a folder::

        ROOT/images/NAME.(png|jpg)      input images
        ROOT/depth/NAME.npy             metres (NaN or <= 0: missing)
        ROOT/normals/NAME.npy           H x W x 3, camera frame (x right, y up, z to the camera)
        ROOT/semantic/NAME.png          class ids (0 = unlabeled) + ROOT/classes.json ["wall", "floor", ...]
        ROOT/instance/NAME.png          instance ids (0 = none)

    Only the folders present are used; ``check(tasks)`` reports images missing ground truth before training.
    """

    def __init__(self, root):
        self.root = Path(root)
        images = self.root / "images"
        if not images.is_dir():
            raise InputError(f"{self.root}: no images/ folder (see the folder layout in the docs)")
        self.names = sorted(p.stem for p in images.iterdir() if p.suffix.lower() in {".png", ".jpg", ".jpeg"})
        if not self.names:
            raise InputError(f"{images}: no .png/.jpg images")
        classes = self.root / "classes.json"
        import json

        self.class_names = json.loads(classes.read_text()) if classes.is_file() else []

    def _file(self, folder: str, name: str) -> Path | None:
        for suffix in (".npy", ".png", ".jpg", ".jpeg"):
            path = self.root / folder / f"{name}{suffix}"
            if path.is_file():
                return path
        return None

    def check(self, tasks) -> None:
        folder = {"depth": "depth", "normals": "normals", "semantic": "semantic", "instance": "instance"}
        for task in tasks:
            if task not in folder:
                raise InputError(f"task {task!r}: a folder dataset has no ground truth layout for it")
            missing = [n for n in self.names if self._file(folder[task], n) is None]
            if missing:
                raise InputError(f"{self.root}: {len(missing)} image(s) lack {task} ground truth "
                                 f"(e.g. {folder[task]}/{missing[0]}.*)")
            if task == "semantic" and not self.class_names:
                raise InputError(f"{self.root}: semantic ground truth needs classes.json")

    def __len__(self) -> int:
        return len(self.names)

    def load(self, index: int) -> GroundTruth:
        from vb_plugins.io import load_npy, read_image, read_rgb

        name = self.names[index % len(self.names)]
        gt = GroundTruth(read_rgb(self._file("images", name)), key=name, class_names=self.class_names)
        for task in ("depth", "normals", "semantic", "instance"):
            path = self._file(task, name)
            if path is None:
                continue
            value = load_npy(path) if path.suffix == ".npy" else read_image(path)
            setattr(gt, task, value)
        return gt


class SyntheticSource:
    """Endless rendered scenes (rooms and outdoor layouts) with exact ground truth; reproducible by seed.

    Scene ``i`` is rendered from seed ``seed_offset + i``. With ``cache_dir`` each rendered scene is kept
    as a compressed ``.npz`` and reused by later epochs and runs.
    """

    def __init__(self, size: int = 64, seed_offset: int = 0, kinds: tuple[str, ...] | None = None,
                 cache_dir: str | Path | None = None, scenes: int | None = None):
        self.size = size
        self.seed_offset = seed_offset
        self.kinds = kinds
        self.cache_dir = Path(cache_dir) if cache_dir else None
        self.scenes = scenes  # cycle through this many distinct scenes (None: a new scene every time)

    def check(self, tasks) -> None:
        unsupported = [t for t in tasks if t not in ("depth", "normals", "semantic", "instance")]
        if unsupported:
            raise InputError(f"synthetic scenes have no ground truth for {', '.join(unsupported)}")

    def render(self, seed: int) -> dict:
        from vb_plugins.training.synthetic import render_scene

        kind = None if not self.kinds else self.kinds[seed % len(self.kinds)]
        return scene_arrays(render_scene(seed, height=self.size, width=self.size, kind=kind))

    def arrays(self, seed: int) -> dict:
        if self.cache_dir is None:
            return self.render(seed)
        path = self.cache_dir / f"{self.size}" / f"{seed:08d}.npz"
        if path.is_file():
            with np.load(path) as data:
                return {k: data[k] for k in data.files}
        arrays = self.render(seed)
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_suffix(".partial.npz")
        np.savez_compressed(temporary, **arrays)
        temporary.replace(path)
        return arrays

    def load(self, index: int) -> GroundTruth:
        seed = self.seed_offset + (index % self.scenes if self.scenes else index)
        return synthetic_ground_truth(self.arrays(seed), seed)


def scene_arrays(scene) -> dict:
    """The arrays a :class:`SyntheticSource` keeps of a rendered scene (as cached; normals in float16).

    A scene rendered elsewhere (e.g. in batches on a GPU) becomes the same training data through
    ``synthetic_ground_truth(scene_arrays(scene), seed)``."""
    normals = np.where(scene.valid[..., None], scene.normals, 0.0)
    return {"image": scene.image, "depth": scene.depth.astype(np.float32),
            "normals": normals.astype(np.float16), "semantic": scene.semantic.astype(np.uint8),
            "instance": scene.instance.astype(np.uint16)}


def synthetic_ground_truth(arrays: Mapping, seed: int) -> GroundTruth:
    """Ground truth of a synthetic scene from its :func:`scene_arrays`."""
    from vb_plugins.training.synthetic import SEMANTIC_CLASSES

    a = arrays
    return GroundTruth(a["image"], a["depth"], a["normals"].astype(np.float32), a["semantic"],
                       list(SEMANTIC_CLASSES)[1:], a["instance"].astype(np.int32), key=f"synthetic-{seed}")


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


# The settings of each data source type in a `vb train` config, and their types.
SOURCE_SETTINGS: dict[str, dict] = {
    "synthetic": {"type": str, "size": int, "seed_offset": int, "kinds": list[str] | None, "cache_dir": str | None,
                  "scenes": int | None},
    "folder": {"type": str, "path": str},
    "fiftyone": {"type": str, "dataset": str, "view_tag": str | None, "depth_field": str | None,
                 "depth_scale": float | None, "normals_field": str | None, "semantic_field": str | None,
                 "instance_field": str | None, "saved_view": str | None},
}
REQUIRED_SETTINGS = {"folder": ("path",), "fiftyone": ("dataset",)}


def check_source(name: str, config) -> dict:
    """One data source of a config checked before training: its type, unknown or missing keys, value types."""
    from vb_plugins.training.config import check_section

    kind = config.get("type", "synthetic") if isinstance(config, dict) else None
    if kind is not None and kind not in SOURCE_SETTINGS:
        raise InputError(f"data source type {kind!r}: expected synthetic, folder or fiftyone")
    return check_section(name, config, SOURCE_SETTINGS.get(kind, {}), REQUIRED_SETTINGS.get(kind, ()))


def source_from_config(config: Mapping) -> object:
    kind = config.get("type", "synthetic")
    if kind == "synthetic":
        return SyntheticSource(int(config.get("size", 64)), int(config.get("seed_offset", 0)),
                               tuple(config["kinds"]) if config.get("kinds") else None,
                               config.get("cache_dir"), config.get("scenes"))
    if kind == "folder":
        return FolderSource(config["path"])
    if kind == "fiftyone":
        from vb_plugins.fiftyone_tools.training_source import FiftyOneSource

        return FiftyOneSource(**{k: v for k, v in config.items() if k != "type"})
    raise InputError(f"data source type {kind!r}: expected synthetic, folder or fiftyone")

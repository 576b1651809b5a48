"""Where training ground truth comes from: data source types, registered by name through the
``vb_data_sources`` hook (``synthetic`` and ``folder`` here, ``fiftyone`` in
:mod:`vb_plugins.fiftyone_tools.training_source`), and built from a `vb train` config's ``data`` entries::

    data:
      - {type: synthetic, size: 64}
      - {type: folder, path: my_data/}

A source has ``load(index) -> GroundTruth`` and ``check(tasks)`` (missing ground truth is an error before
training); a plugin adds a type by returning a :class:`DataSourceType` from its ``vb_data_sources`` hook.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from vb_plugins.errors import InputError
from vb_plugins.hookspecs import hookimpl
from vb_plugins.io import load_npy, read_image, read_rgb
from vb_plugins.registry import get_registry
from vb_plugins.training.checking import check_section
from vb_plugins.training.data import GroundTruth
from vb_plugins.training.scenes.spec import SEMANTIC_CLASSES


@dataclass(frozen=True)
class DataSourceType:
    """A kind of data source in a `vb train` config (``type: NAME``).

    ``settings`` maps each key of its config entry (``type`` included) to its type, ``required`` names the
    keys it cannot do without, and ``build(entry)`` makes the source from a checked entry.
    """

    name: str
    build: Callable[[Mapping], object]
    settings: dict = field(default_factory=dict)
    required: tuple[str, ...] = ()
    description: str = ""


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
        from vb_plugins.training.synthetic import render_scene  # torch: loaded when a scene is rendered

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
    a = arrays
    return GroundTruth(a["image"], a["depth"], a["normals"].astype(np.float32), a["semantic"],
                       list(SEMANTIC_CLASSES)[1:], a["instance"].astype(np.int32), key=f"synthetic-{seed}")


def _expected() -> str:
    names = get_registry().names("data source")
    return ", ".join(names[:-1]) + f" or {names[-1]}" if len(names) > 1 else ", ".join(names)


def _source_type(kind) -> DataSourceType:
    table = get_registry().table("data source")
    if kind not in table:
        raise InputError(f"data source type {kind!r}: expected {_expected()}")
    return table[kind][0]


def check_source(name: str, config) -> dict:
    """One data source of a config checked before training: its type, unknown or missing keys, value types."""
    if not isinstance(config, dict):
        return check_section(name, config, {})  # the one-line "expected a mapping"
    source_type = _source_type(config.get("type", "synthetic"))
    return check_section(name, config, source_type.settings, source_type.required)


def source_from_config(config: Mapping) -> object:
    """The data source a checked config entry describes."""
    return _source_type(config.get("type", "synthetic")).build(config)


def _synthetic(config: Mapping) -> SyntheticSource:
    return SyntheticSource(int(config.get("size", 64)), int(config.get("seed_offset", 0)),
                           tuple(config["kinds"]) if config.get("kinds") else None,
                           config.get("cache_dir"), config.get("scenes"))


@hookimpl
def vb_data_sources():
    return [
        DataSourceType("synthetic", _synthetic, {"type": str, "size": int, "seed_offset": int,
                                                 "kinds": list[str] | None, "cache_dir": str | None,
                                                 "scenes": int | None},
                       description="endless rendered rooms and outdoor scenes with exact ground truth"),
        DataSourceType("folder", lambda config: FolderSource(config["path"]), {"type": str, "path": str}, ("path",),
                       description="images/ with depth/, normals/, semantic/, instance/ beside them"),
    ]

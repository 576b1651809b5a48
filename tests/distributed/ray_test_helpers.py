"""Shared pieces of the distributed tests: small images, the single-process reference, folder comparison."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import numpy as np
from PIL import Image


def write_images(folder: Path, count: int, size=(40, 56), start: int = 0) -> list[Path]:
    """``count`` noise images of slightly different heights (several generation sizes)."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(start, start + count):
        height, width = size[0] + 8 * (i % 3), size[1]
        path = folder / f"img{i:02d}.png"
        Image.fromarray(np.random.default_rng(i).integers(0, 256, (height, width, 3), dtype=np.uint8)).save(path)
        paths.append(path)
    return paths


@contextlib.contextmanager
def torch_threads(count: int):
    """Run with ``count`` torch threads: a Ray worker with ``cpus_per_worker=count`` computes with as many."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def single_process_run(images: list[Path], output: Path, task: str = "depth", **options) -> None:
    """The local engine writing the same per-image layout, as ``vb predict`` without ``--ray`` does: one
    thread and one image per generator call, as each Ray worker of the tests computes."""
    from vb_plugins.cli.predict_command import save_prediction
    from vb_plugins.io import write_npy, write_png, write_text
    from vb_plugins.predict import Predictor

    output.mkdir(parents=True, exist_ok=True)
    with torch_threads(1):
        predictor = Predictor(task, **{"batch_size": 1, **options})
        for image, prediction in zip(images, predictor.predict_iter([str(p.resolve()) for p in images])):
            save_prediction(prediction, output, image.stem, predictor.task, write_npy, write_png, write_text)


def result_files(folder: Path) -> dict[str, Path]:
    """The per-image files of a prediction folder (no lock, manifest or staging)."""
    return {p.name: p for p in folder.iterdir() if p.is_file() and p.name != "manifest.jsonl"
            and not p.name.startswith(".")}


def assert_same_results(reference: Path, candidate: Path) -> None:
    """Both folders hold the same files with the same values: arrays and pictures bit for bit, records
    equal except for the time each image took."""
    ours, theirs = result_files(reference), result_files(candidate)
    assert sorted(ours) == sorted(theirs)
    for name, path in ours.items():
        other = theirs[name]
        if name.endswith(".npy"):
            np.testing.assert_array_equal(np.load(path), np.load(other), err_msg=name)
        elif name.endswith(".png"):
            np.testing.assert_array_equal(np.asarray(Image.open(path)), np.asarray(Image.open(other)), err_msg=name)
        else:
            mine, yours = json.loads(path.read_text()), json.loads(other.read_text())
            mine["settings"].pop("seconds"), yours["settings"].pop("seconds")
            assert mine == yours, name


def manifest_rows(folder: Path) -> list[dict]:
    return [json.loads(line) for line in (folder / "manifest.jsonl").read_text().splitlines()]

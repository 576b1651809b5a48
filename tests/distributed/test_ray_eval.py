"""`vb eval --ray`: images scored on Ray actors give the sequential report, number for number."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from vb_plugins.cli import main
from vb_plugins.distributed.options import RayOptions
from vb_plugins.errors import InputError
from vb_plugins.evaluation.directory import evaluate_directory
from vb_plugins.evaluation.merge import merge_image
from vb_plugins.evaluation.normals import NormalsAccumulator
from vb_plugins.evaluation.runner import EvalSettings

SHAPE = (24, 32)


def _unit(vectors):
    return (vectors / np.linalg.norm(vectors, axis=-1, keepdims=True)).astype(np.float32)


def _write_task(task: str, root, count: int = 7):
    """Predictions and ground truth for ``count`` images, with the cases each task's scoring branches on."""
    rng = np.random.default_rng(7)
    pred, gt, gt2 = root / "pred", root / "gt", root / "gt2"
    for folder in (pred, gt, gt2):
        folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        stem = f"s{i}"
        if task == "depth":
            truth = rng.uniform(0.5, 9.0, SHAPE).astype(np.float32)
            if i == 3:
                truth[:] = 0  # no valid pixel: skipped and counted
            np.save(gt / f"{stem}.npy", truth)
            np.save(pred / f"{stem}.depth.npy", (truth * rng.uniform(0.8, 1.2, SHAPE)).astype(np.float32))
        elif task == "normals":
            truth = _unit(rng.normal(size=SHAPE + (3,)))
            truth[: i + 1] = 0  # invalid rows
            np.save(gt / f"{stem}.npy", truth)
            np.save(pred / f"{stem}.normals.npy", _unit(truth + rng.normal(scale=0.3, size=truth.shape) + 1e-3))
        elif task == "semantic":
            labels = rng.integers(0, 3, SHAPE).astype(np.uint8)
            labels[0] = 255  # ignored
            Image.fromarray(labels).save(gt / f"{stem}.png")
            predicted = np.where(rng.random(SHAPE) < 0.7, labels + 1, rng.integers(0, 4, SHAPE)).astype(np.uint8)
            Image.fromarray(np.where(labels == 255, 0, predicted).astype(np.uint8)).save(pred / f"{stem}.png")
        elif task == "referring":
            mask = np.zeros(SHAPE, np.uint8)
            mask[2 + i:12 + i, 4:20] = 255
            Image.fromarray(mask).save(gt / f"{stem}.png")
            predicted = np.roll(mask, i - 3, axis=1) > 0 if i != 5 else np.zeros(SHAPE, bool)  # 5: nothing found
            np.save(pred / f"{stem}.referring.npy", predicted)
        else:
            ids = np.zeros(SHAPE, np.uint16)
            for k in range(i % 3):
                ids[4 + 8 * k: 10 + 8 * k, 3 + 5 * i % 20: 12 + 5 * i % 20] = k + 1
            Image.fromarray(ids).save(gt / f"{stem}.png")
            Image.fromarray(np.roll(ids, 1, axis=0)).save(gt2 / f"{stem}.png")
            np.save(pred / f"{stem}.instance.npy", np.roll(ids, 2, axis=1).astype(np.int32))
    gts = [gt, gt2] if task == "instance" else [gt]
    settings = EvalSettings(classes="road, car, sky") if task == "semantic" else EvalSettings()
    return pred, gts, settings


@pytest.mark.parametrize("task", ["depth", "normals", "semantic", "referring", "instance"])
def test_scoring_on_ray_gives_the_sequential_report(ray_cluster, tmp_path, task):
    pred, gts, settings = _write_task(task, tmp_path)
    sequential = evaluate_directory(task, pred, gts, settings)
    steps = []
    parallel = evaluate_directory(task, pred, gts, settings, progress=lambda done, total: steps.append(done),
                                  ray=RayOptions(workers=2))
    assert json.dumps(parallel, sort_keys=True) == json.dumps(sequential, sort_keys=True)
    assert steps == list(range(1, 8))
    assert len(sequential["per_image"]) + len(sequential["skipped"]) == 7
    assert len(sequential["per_image"]) >= 6
    if task == "semantic":
        assert sequential["protocol"]["files"]["predictions_without_record"] == 7


def test_the_first_bad_image_is_the_error_on_ray_too(ray_cluster, tmp_path):
    pred, gts, settings = _write_task("depth", tmp_path, count=4)
    np.save(pred / "s2.depth.npy", np.ones((5, 5), np.float32))
    with pytest.raises(InputError) as sequential:
        evaluate_directory("depth", pred, gts, settings)
    with pytest.raises(InputError) as parallel:
        evaluate_directory("depth", pred, gts, settings, ray=RayOptions(workers=2))
    assert str(parallel.value) == str(sequential.value) and "s2" in str(parallel.value)


def test_vb_eval_ray_prints_the_same_table(ray_cluster, tmp_path, capsys):
    pred, gts, _ = _write_task("depth", tmp_path)
    assert main(["eval", "depth", "--pred", str(pred), "--gt", str(gts[0]), "--quiet"]) == 0
    table = capsys.readouterr().out
    assert main(["eval", "depth", "--pred", str(pred), "--gt", str(gts[0]), "--quiet", "--ray",
                 "--workers", "2"]) == 0
    assert capsys.readouterr().out == table


def test_merging_one_image_accumulators_in_order_is_the_sequential_accumulator():
    rng = np.random.default_rng(3)
    images = [(_unit(rng.normal(size=(6, 8, 3))), _unit(rng.normal(size=(6, 8, 3)))) for _ in range(5)]
    sequential = NormalsAccumulator(exact_median_limit=130)  # crossed at the third image
    merged = NormalsAccumulator(exact_median_limit=130)
    for i, (p, g) in enumerate(images):
        sequential.add(p, g, key=i)
        part = NormalsAccumulator(exact_median_limit=130)
        part.add(p, g, key=i)
        merge_image(merged, part)
    assert merged._errors is None and sequential._errors is None
    assert json.dumps(merged.result()) == json.dumps(sequential.result())
    other = NormalsAccumulator(gt_convention="opencv")
    with pytest.raises(TypeError, match="gt_convention differs"):
        merge_image(merged, other)

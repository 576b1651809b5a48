"""`vb_plugins.distributed.predict` on a real Ray cluster: a head node and two worker nodes on loopback.

Each worker computes with one torch thread and one image per generator call, and so does the reference,
so the Ray run must reproduce the single-process run bit for bit.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time

import numpy as np
import pytest
from ray_test_helpers import assert_same_results, manifest_rows, result_files, single_process_run, write_images

from vb_plugins import distributed
from vb_plugins.errors import InputError
from vb_plugins.evaluation.directory import evaluate_directory
from vb_plugins.settings import RunSettings

FILES_PER_IMAGE = 7  # generated.png, depth.npy, depth.png, confidence.npy, expected_error.npy, preview.png, json


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    return write_images(tmp_path_factory.mktemp("inputs"), 6)


SETTINGS = RunSettings(seed=5, ensemble=2, batch_size=1)  # not the defaults: the workers must get them


@pytest.fixture(scope="module")
def reference(images, tmp_path_factory):
    folder = tmp_path_factory.mktemp("reference")
    single_process_run(images, folder, settings=SETTINGS)
    return folder


def test_two_worker_nodes_write_what_the_single_process_run_writes_and_a_corrupt_image_is_recorded(
        ray_cluster, images, reference, tmp_path):
    broken = images[0].parent / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    out = tmp_path / "out"
    try:
        summary = distributed.predict("depth", images[0].parent, out, settings=SETTINGS,
                                      ray=distributed.RayOptions(workers=2))
    finally:
        broken.unlink()

    assert (summary.total, summary.done, summary.skipped, summary.cancelled) == (7, 6, 0, False)
    assert [(f["stem"], "broken.png" in f["error"]) for f in summary.failed] == [("broken", True)]
    assert not list(out.glob("broken.*"))  # nothing half-written for the failed image
    assert_same_results(reference, out)
    assert len(list(out.glob("*.uncertainty.npy"))) == len(images)  # the ensemble of the settings ran
    truth = tmp_path / "truth"  # `vb eval` reads the folder as it reads a single-process one
    truth.mkdir()
    for image in images:
        np.save(truth / f"{image.stem}.npy", np.load(reference / f"{image.stem}.depth.npy") * 1.05)
    ours, theirs = evaluate_directory("depth", out, truth), evaluate_directory("depth", reference, truth)
    assert ours["aggregate"] == theirs["aggregate"] and len(ours["per_image"]) == len(images)

    rows = manifest_rows(out)
    assert sorted(row["stem"] for row in rows) == sorted([p.stem for p in images] + ["broken"])
    assert {row["status"] for row in rows if row["stem"] != "broken"} == {"done"}
    broken = next(row for row in rows if row["stem"] == "broken")
    assert broken["status"] == "failed" and "broken.png: cannot read image" in broken["error"]
    nodes = {row["worker"].split(":")[0] for row in rows}
    assert len(nodes) == 2 and nodes <= {node_id[:8] for node_id in ray_cluster.worker_node_ids()}
    assert all(row["seconds"] > 0 for row in rows)


def test_a_second_run_sends_nothing_and_a_run_with_other_settings_is_refused(ray_cluster, images, tmp_path):
    out = tmp_path / "out"
    first = distributed.predict("depth", images[:3], out, workers=2, batch_size=1)
    assert first.done == 3
    stamps = {name: path.stat().st_mtime_ns for name, path in result_files(out).items()}

    again = distributed.predict("depth", images[:3], out, workers=2, batch_size=1)

    assert (again.done, again.skipped, again.failed) == (0, 3, [])
    assert {name: path.stat().st_mtime_ns for name, path in result_files(out).items()} == stamps
    assert len(manifest_rows(out)) == 3
    with pytest.raises(InputError, match="was predicted with seed 0, this run asks for 1") as caught:
        distributed.predict("depth", images[:4], out, workers=2, batch_size=1, seed=1)
    assert len(str(caught.value).splitlines()) == 1
    assert sorted(result_files(out)) == sorted(stamps)  # the fourth image was not predicted either

    more = distributed.predict("depth", images[:4], out, workers=2, batch_size=1)
    assert (more.done, more.skipped) == (1, 3)
    assert len(result_files(out)) == 4 * FILES_PER_IMAGE and len(manifest_rows(out)) == 4


def test_a_worker_killed_mid_run_is_replaced_and_every_image_lands_once(ray_cluster, tmp_path):
    images = write_images(tmp_path / "images", 16, size=(72, 96))
    reference = tmp_path / "reference"
    single_process_run(images, reference)
    out = tmp_path / "out"
    result, failure = [], []

    def run():
        try:
            result.append(distributed.predict("depth", images, out, workers=2, batch_size=1))
        except BaseException as error:  # noqa: BLE001 - shown by the assertion below
            failure.append(error)

    thread = threading.Thread(target=run)
    thread.start()
    victim, recorded_at_kill = None, None
    deadline = time.monotonic() + 240
    while victim is None and thread.is_alive() and time.monotonic() < deadline:
        manifest = out / "manifest.jsonl"
        lines = manifest.read_text().splitlines() if manifest.exists() else []
        if lines:
            victim = int(json.loads(lines[0])["worker"].split(":")[1])
            recorded_at_kill = len(list(out.glob("*.json")))
            os.kill(victim, signal.SIGKILL)
        time.sleep(0.02)
    thread.join(timeout=300)

    assert not failure, failure
    assert victim is not None and recorded_at_kill < len(images), "the worker was not killed mid-run"
    with pytest.raises(ProcessLookupError):
        os.kill(victim, 0)
    summary = result[0]
    assert (summary.done, summary.failed, summary.cancelled) == (16, [], False)
    rows = manifest_rows(out)
    assert sorted(row["stem"] for row in rows) == sorted(p.stem for p in images)  # each image once
    assert not [p for p in out.iterdir() if p.name.startswith(".vb-predict")]  # no staging left, lock released
    assert_same_results(reference, out)


def test_bad_settings_are_one_line_errors_before_ray_starts(tmp_path):
    images = write_images(tmp_path / "images", 1)
    out = tmp_path / "out"
    cases = [
        (dict(workers=0), "workers=0: must be a whole number of at least 1"),
        (dict(gpus_per_worker=-1), "gpus_per_worker=-1: must be a number of at least 0"),
        (dict(batch_size=0), "batch_size=0"),
        (dict(steps=0), "steps=0"),
        (dict(model=object()), "pass a model string"),
    ]
    for options, message in cases:
        with pytest.raises(InputError, match=message):
            distributed.predict("depth", images, out, **options)
    with pytest.raises(InputError, match="no such file or directory"):
        distributed.predict("depth", [tmp_path / "missing"], out)
    with pytest.raises(InputError, match="is also an input folder"):
        distributed.predict("depth", [tmp_path / "images"], tmp_path / "images")
    assert not out.exists()


def test_a_worker_that_cannot_see_the_output_folder_refuses_to_start(tmp_path):
    from vb_plugins.distributed.worker import PredictWorker

    with pytest.raises(InputError, match="the output folder is not visible on this worker"):
        PredictWorker("depth", None, {}, str(tmp_path), current={}, run_id="x")


def test_an_error_raised_on_a_worker_reaches_the_caller_as_its_own_one_line(ray_cluster):
    import ray.data

    from vb_plugins.distributed.cluster import data_settings
    from vb_plugins.distributed.run import one_line_error

    def _fails_in_a_worker(batch):  # defined here: Ray ships local functions and classes by value
        raise InputError("photo.png: something a worker refused")

    class _RefusesToStart:
        def __init__(self):
            raise InputError("/shared/out: the output folder is not visible on this worker")

        def __call__(self, batch):
            return batch

    with pytest.raises(Exception) as caught:
        list(ray.data.range(2).map_batches(_fails_in_a_worker).iter_rows())
    error = one_line_error(caught.value)
    assert type(error) is InputError and str(error) == "photo.png: something a worker refused"
    with data_settings(quiet=True, wait_for_workers_s=120), pytest.raises(Exception) as caught:
        list(ray.data.range(2).map_batches(_RefusesToStart, compute=ray.data.ActorPoolStrategy(size=1)).iter_rows())
    error = one_line_error(caught.value)
    assert str(error).endswith("/shared/out: the output folder is not visible on this worker")
    assert len(str(error).splitlines()) == 1

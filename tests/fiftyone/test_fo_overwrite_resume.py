"""An interrupted ``overwrite`` run resumes until every label is from the new run, and the run record
says so (issue 15, item 6)."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import scene

from vb_plugins.fiftyone_tools.painting import PaintBackend, image_depth


@pytest.fixture
def hook():
    yield
    PaintBackend.hook = None


def from_depth_painter(sample) -> bool:
    """Whether the sample's depth is what ``paint:depth`` paints (``paint:tiny`` paints noise)."""
    metres = np.load(sample.depth.values_path)
    expected = image_depth(scene(sample.index))
    return bool(np.median(np.abs(metres - expected) / expected) < 0.02)


def files(folder) -> dict[str, bytes]:
    """The label files of a run's folder (not its journal, which a run that supersedes it removes)."""
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file() and not p.name.startswith(".")}


@pytest.mark.parametrize("again_with_overwrite", [True, False])
def test_a_crashed_overwrite_resumes_until_every_label_is_from_the_new_run(
        fo, make_dataset, run_op, hook, tmp_path, again_with_overwrite):
    from fiftyone.operators.executor import ExecutionError

    dataset = make_dataset(12)
    dataset.set_values("note", {s.id: f"mine {s.index}" for s in dataset}, key_field="id")
    old = {"task": "depth", "output_field": "depth", "model": "paint:tiny", "output_dir": str(tmp_path / "old")}
    run_op("predict", dataset.view(), old)
    old_files = files(tmp_path / "old")
    new = {**old, "model": "paint:depth", "output_dir": str(tmp_path / "new"), "overwrite": True, "batch_size": 2,
           "write_batch": 4}
    start = PaintBackend.images

    def crash(count):  # the worker dies after 6 images
        if count - start >= 6:
            raise RuntimeError("worker killed")

    PaintBackend.hook = crash
    with pytest.raises(ExecutionError, match="worker killed"):
        run_op("predict", dataset.view(), new)
    dataset.reload()
    written = {s.id for s in dataset if s.depth.values_path.startswith(str(tmp_path / "new"))}
    assert 4 <= len(written) < 12  # finished batches were written; the rest still hold the old labels
    interrupted = dataset.info["vb_plugins"]["depth"]
    assert interrupted["settings"]["model"] == "paint:depth"  # the record names the new run already

    PaintBackend.hook = None
    before = PaintBackend.images
    result = run_op("predict", dataset.view(), {**new, "overwrite": again_with_overwrite})
    assert result["already_done"] == len(written) and result["predicted"] == 12 - len(written)
    assert PaintBackend.images - before == 12 - len(written)  # nothing the new run wrote is generated again
    dataset.reload()
    for sample in dataset:
        assert sample.depth.values_path.startswith(str(tmp_path / "new")) and from_depth_painter(sample)
        assert sample.note == f"mine {sample.index}"  # other fields untouched
    record = dataset.info["vb_plugins"]["depth"]
    assert record["settings"]["model"] == "paint:depth" and record["run_id"] == interrupted.get("run_id")
    assert (interrupted.get("complete"), record["complete"]) == (False, True)
    assert files(tmp_path / "old") == old_files  # the old run's files are left as they were

    result = run_op("predict", dataset.view(), {**new, "overwrite": False})
    assert result["predicted"] == 0 and result["already_done"] == 12


def test_a_cancelled_overwrite_into_the_same_folder_resumes_into_new_labels_only(fo, make_dataset, tmp_path):
    from vb_plugins.fiftyone_tools import predict_collection

    dataset = make_dataset(10)
    out = tmp_path / "o"
    predict_collection(dataset.view(), "depth", "depth", "paint:tiny", output_dir=out)
    dataset.reload()
    assert not any(from_depth_painter(s) for s in dataset)
    start = PaintBackend.images
    first = predict_collection(dataset.view(), "depth", "depth", "paint:depth", overwrite=True, batch_size=2,
                               write_batch=2, output_dir=out, should_stop=lambda: PaintBackend.images - start >= 4)
    assert first.cancelled and 2 <= first.predicted < 10
    dataset.reload()
    assert sum(from_depth_painter(s) for s in dataset) == first.predicted
    complete_after_cancel = dataset.info["vb_plugins"]["depth"].get("complete")

    second = predict_collection(dataset.view(), "depth", "depth", "paint:depth", batch_size=2, write_batch=2,
                                output_dir=out)
    assert second.already_done == first.predicted and second.predicted == 10 - first.predicted
    dataset.reload()
    assert all(from_depth_painter(s) for s in dataset)
    assert (complete_after_cancel, dataset.info["vb_plugins"]["depth"]["complete"]) == (False, True)


def test_a_finished_run_is_redone_in_full_by_overwrite(fo, make_dataset, tmp_path):
    from vb_plugins.fiftyone_tools import predict_collection

    dataset = make_dataset(4)
    first = predict_collection(dataset.view(), "depth", "depth", "paint:depth", output_dir=tmp_path / "o")
    journal = dataset.info["vb_plugins"]["depth"]["journal"]
    again = predict_collection(dataset.view(), "depth", "depth", "paint:depth", overwrite=True,
                               output_dir=tmp_path / "o")
    assert first.predicted == again.predicted == 4 and again.already_done == 0
    record = dataset.info["vb_plugins"]["depth"]
    assert record["journal"] != journal and record["complete"] is True
    assert not (tmp_path / "o" / journal.rsplit("/", 1)[-1]).exists()  # the superseded journal is gone


def test_a_field_recorded_before_runs_had_journals_still_resumes(fo, make_dataset, tmp_path):
    from vb_plugins.fiftyone_tools import predict_collection

    dataset = make_dataset(6)
    predict_collection(dataset.limit(4), "depth", "depth", "paint:depth", output_dir=tmp_path / "o")
    info = dict(dataset.info)
    record = {k: v for k, v in info["vb_plugins"]["depth"].items() if k not in ("run_id", "journal", "complete")}
    info["vb_plugins"] = {"depth": record}
    dataset.info = info
    dataset.save()
    run = predict_collection(dataset.view(), "depth", "depth", "paint:depth", output_dir=tmp_path / "o")
    assert run.already_done == 4 and run.predicted == 2
    run = predict_collection(dataset.view(), "depth", "depth", "paint:depth", output_dir=tmp_path / "o")
    assert run.already_done == 6 and run.predicted == 0

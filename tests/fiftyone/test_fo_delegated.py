"""Delegated execution, progress, cancellation and resumption of the predict operator."""

from __future__ import annotations

import threading
import time

import pytest

from vb_plugins.fiftyone_tools.painting import PaintBackend

PREDICT = "@vb-plugins/fiftyone/predict"


@pytest.fixture
def service(fo):
    from fiftyone.operators.delegated import DelegatedOperationService

    return DelegatedOperationService()


@pytest.fixture
def queue(fo):
    import fiftyone.operators as foo

    def run(view, params, uri=PREDICT):
        result = foo.execute_operator(uri, ctx={"view": view, "params": params}, request_delegation=True)
        assert result.delegated
        return result.result["id"]

    return run


@pytest.fixture
def hook():
    yield
    PaintBackend.hook = None


def test_delegated_run_labels_samples_and_reports_progress(fo, make_dataset, queue, service, tmp_path):
    dataset = make_dataset(6)
    op_id = queue(dataset.view(), {"task": "depth", "output_field": "depth", "model": "paint:depth",
                                   "batch_size": 2, "write_batch": 2, "output_dir": str(tmp_path / "o")})
    assert "depth" not in dataset.get_field_schema() and service.get(op_id).run_state == "queued"
    results = service.execute_queued_operations()
    assert [r.error for r in results] == [None]
    operation = service.get(op_id)
    assert operation.run_state == "completed"
    assert operation.label == "vb-plugins predict depth -> depth"
    assert operation.status.progress == 1.0 and operation.status.label.startswith("6/6 samples")
    assert operation.result.result["predicted"] == 6
    dataset.reload()
    assert dataset.count("depth") == 6


def test_delegate_param_queues_the_run(fo, make_dataset, service, run_op, tmp_path):
    import fiftyone.operators as foo

    dataset = make_dataset(2)
    result = foo.execute_operator(PREDICT, ctx={"view": dataset.view(), "params": {
        "task": "depth", "model": "paint:depth", "delegate": True, "output_dir": str(tmp_path / "o")}})
    assert result.delegated
    service.execute_queued_operations()
    assert dataset.count("vb_depth") == 2


def test_interrupted_delegated_run_resumes_where_it_stopped(fo, make_dataset, queue, service, hook, tmp_path):
    dataset = make_dataset(12)
    params = {"task": "depth", "output_field": "depth", "model": "paint:depth", "batch_size": 2, "write_batch": 4,
              "output_dir": str(tmp_path / "o")}
    start = PaintBackend.images

    def crash(count):  # the worker dies after 6 images
        if count - start >= 6:
            raise RuntimeError("worker killed")

    PaintBackend.hook = crash
    first = queue(dataset.view(), params)
    results = service.execute_queued_operations()
    assert "worker killed" in results[0].error
    assert service.get(first).run_state == "failed"
    dataset.reload()
    done = dataset.count("depth")
    assert 4 <= done < 12  # finished batches were written before the crash
    labelled = set(dataset.exists("depth").values("id"))

    PaintBackend.hook = None
    before = PaintBackend.images
    second = queue(dataset.view(), params)
    service.execute_queued_operations()
    result = service.get(second).result.result
    assert result["already_done"] == done and result["predicted"] == 12 - done
    assert PaintBackend.images - before == 12 - done  # nothing was generated twice
    dataset.reload()
    assert dataset.count("depth") == 12
    assert labelled <= set(dataset.exists("depth").values("id"))


def test_marking_a_delegated_run_failed_cancels_it(fo, make_dataset, queue, service, hook, tmp_path):
    dataset = make_dataset(40)
    op_id = queue(dataset.view(), {"task": "depth", "output_field": "depth", "model": "paint:depth",
                                   "batch_size": 1, "write_batch": 1, "output_dir": str(tmp_path / "o")})
    started = threading.Event()

    def slow(count):
        started.set()
        time.sleep(0.1)

    PaintBackend.hook = slow

    def cancel():
        started.wait(30)
        service.set_failed(op_id)

    thread = threading.Thread(target=cancel)
    thread.start()
    began = time.monotonic()
    results = service.execute_queued_operations()
    thread.join()
    assert time.monotonic() - began < 3.5  # stopped within about a second, not after 40 * 0.1 s
    assert "changed externally" in (results[0].error or "")
    assert service.get(op_id).run_state == "failed"
    dataset.reload()
    assert 0 < dataset.count("depth") < 40  # work finished before the cancel is kept

"""The FiftyOne predict run on Ray (engine "ray"): a real FiftyOne and a loopback Ray cluster with two
worker nodes, the bundled model. Workers run with an unreachable database, so any database access from a
worker would fail its samples."""

from __future__ import annotations

import numpy as np
import pytest

from vb_plugins.fiftyone_tools.ray_runner import predict_collection_ray
from vb_plugins.fiftyone_tools.runner import predict_collection
from vb_plugins.fiftyone_tools.scores import scorer_for_field

NO_DATABASE = {"env_vars": {"FIFTYONE_DATABASE_URI": "mongodb://127.0.0.1:9/?serverSelectionTimeoutMS=1000"}}


@pytest.fixture
def workers_without_database(ray_cluster):
    ray_cluster.reconnect(runtime_env=NO_DATABASE)
    yield ray_cluster
    ray_cluster.reconnect()


def _local(view, field, tmp_path, task="depth", **options):
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as each Ray worker (one CPU) computes
    try:
        return predict_collection(view, task, field, **{"batch_size": 1, **options},
                                  output_dir=str(tmp_path / field))
    finally:
        torch.set_num_threads(threads)


def _assert_same_scores(dataset, ours: str, theirs: str) -> list[str]:
    """Every score field of ``ours`` equals ``theirs``'s on every labelled sample; returns the suffixes."""
    suffixes = sorted(name[len(ours):] for name in scorer_for_field(dataset, ours).fields)
    assert suffixes == sorted(name[len(theirs):] for name in scorer_for_field(dataset, theirs).fields)
    for sample in dataset.exists(theirs):
        for suffix in suffixes:
            mine, yours = sample[ours + suffix], sample[theirs + suffix]
            if hasattr(mine, "to_dict"):  # class shares: an embedded document
                mine, yours = mine.to_dict(), yours.to_dict()
            assert mine == yours is not None, suffix
    return suffixes


def test_ray_engine_labels_what_the_local_engine_labels_and_skips_the_same_samples(
        fo, make_dataset, workers_without_database, tmp_path):
    dataset = make_dataset(5, missing=1, corrupt=1)
    local = _local(dataset.view(), "local", tmp_path)
    steps = []
    run = predict_collection_ray(dataset.view(), "depth", "spread", workers=2, batch_size=1, write_batch=2,
                                 output_dir=str(tmp_path / "spread"), progress=lambda *step: steps.append(step))

    assert (run.predicted, run.already_done, run.cancelled) == (local.predicted, 0, False) == (5, 0, False)
    assert sorted((s["id"], s["reason"]) for s in run.skipped) == sorted((s["id"], s["reason"]) for s in local.skipped)
    assert len(run.skipped) == 2 and steps[-1][:2] == (7, 7)
    dataset.reload()
    for sample in dataset.exists("local"):
        ours, theirs = sample["spread"], sample["local"]
        np.testing.assert_array_equal(np.load(ours.values_path), np.load(theirs.values_path))
        np.testing.assert_array_equal(ours.get_map(), theirs.get_map())
        assert ours.range == theirs.range and ours.scale == theirs.scale
        assert ours.map_path.startswith(str(tmp_path / "spread"))
        np.testing.assert_array_equal(sample["spread_confidence"].get_map(), sample["local_confidence"].get_map())
    assert _assert_same_scores(dataset, "spread", "local") == ["_confidence_mean"]  # issue 22's scores
    assert len(dataset.exists("spread")) == 5
    record = dataset.info["vb_plugins"]["spread"]
    assert record["engine"] == "ray" and record["complete"] is False  # two samples could not be read
    assert record["signature"] == {**dataset.info["vb_plugins"]["local"]["signature"]}

    # one run signature for both engines: each resumes the other's field (the local engine retrying only the
    # unreadable samples; the Ray engine, given the readable ones, finds nothing to do and starts no worker)
    again = _local(dataset.view(), "spread", tmp_path)
    assert (again.predicted, again.already_done, len(again.skipped)) == (0, 5, 2)
    again = predict_collection_ray(dataset.exists("local"), "depth", "local", workers=2, batch_size=1,
                                   output_dir=str(tmp_path / "local"))
    assert (again.predicted, again.already_done, again.skipped) == (0, 5, [])


def test_ray_engine_scores_segmentation_on_the_workers_as_the_local_engine_does(
        fo, make_dataset, ray_cluster, tmp_path):
    from vb_plugins.settings import RunSettings
    from vb_plugins.testing.tiny_pipeline import save_tiny_pipeline

    model = str(save_tiny_pipeline("flux2-klein", tmp_path / "klein"))
    settings = RunSettings(model=model, steps=1, megapixels=0.005, ensemble=2, seed=3, batch_size=1)
    dataset = make_dataset(3)
    _local(dataset.view(), "local", tmp_path, task="semantic", settings=settings, classes="sky, road")
    run = predict_collection_ray(dataset.view(), "semantic", "spread", settings=settings, classes="sky, road",
                                 workers=1, output_dir=str(tmp_path / "spread"))  # one diffusers import

    assert (run.predicted, run.skipped) == (3, [])
    dataset.reload()
    for sample in dataset:
        np.testing.assert_array_equal(sample["spread"].get_mask(), sample["local"].get_mask())
    assert _assert_same_scores(dataset, "spread", "local") == [
        "_class_shares", "_confidence_mean", "_uncertainty_mean", "_unlabeled_share"]
    assert dataset.info["vb_plugins"]["spread"]["signature"] == dataset.info["vb_plugins"]["local"]["signature"]


def test_cancel_stops_sending_work_and_a_rerun_finishes(fo, make_dataset, ray_cluster, tmp_path):
    dataset = make_dataset(8)
    asked = []

    def stop():
        asked.append(True)
        return len(asked) >= 2

    run = predict_collection_ray(dataset.view(), "depth", "depth", workers=1, batch_size=1, write_batch=1,
                                 output_dir=str(tmp_path / "out"), should_stop=stop)
    assert run.cancelled and run.predicted == 2
    dataset.reload()
    assert len(dataset.exists("depth")) == 2 and dataset.info["vb_plugins"]["depth"]["complete"] is False

    rest = predict_collection_ray(dataset.view(), "depth", "depth", workers=2, batch_size=1,
                                  output_dir=str(tmp_path / "out"))
    assert (rest.predicted, rest.already_done, rest.cancelled) == (6, 2, False)
    dataset.reload()
    assert len(dataset.exists("depth")) == 8 and dataset.info["vb_plugins"]["depth"]["complete"] is True


def test_the_operator_runs_delegated_on_ray_and_checks_its_engine_params(fo, make_dataset, ray_cluster, tmp_path):
    import fiftyone.operators as foo
    from fiftyone.operators.delegated import DelegatedOperationService

    dataset = make_dataset(4)
    params = {"task": "depth", "output_field": "depth", "batch_size": 1, "write_batch": 2, "engine": "ray",
              "workers": 2, "output_dir": str(tmp_path / "o")}
    queued = foo.execute_operator("@vb-plugins/fiftyone/predict", ctx={"view": dataset.view(), "params": params},
                                  request_delegation=True)
    service = DelegatedOperationService()
    assert [r.error for r in service.execute_queued_operations()] == [None]
    operation = service.get(queued.result["id"])
    assert operation.run_state == "completed" and operation.result.result["predicted"] == 4
    assert operation.status.progress == 1.0 and operation.status.label.startswith("4/4 samples")
    dataset.reload()
    assert dataset.count("depth") == 4 and dataset.info["vb_plugins"]["depth"]["engine"] == "ray"

    for bad, message in (({"engine": "spark"}, "engine 'spark': expected local or ray"),
                         ({"workers": 2}, "need engine 'ray'"),
                         ({"engine": "ray", "workers": 0}, "workers=0: expected a whole number of at least 1")):
        with pytest.raises(Exception, match=message):
            foo.execute_operator("@vb-plugins/fiftyone/predict",
                                 ctx={"view": dataset.view(), "params": {"task": "depth", "output_field": "d2", **bad}})
    assert "d2" not in dataset.get_field_schema()

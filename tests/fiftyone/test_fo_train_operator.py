"""Back to training (issue 22): the train operator runs `vb train` on the reviewed samples (a tag or a
saved view), delegated with progress in the runs page, and the model it writes predicts with --model."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import HEIGHT, LEGEND, WIDTH, scene

TINY = {"channels": [8, 16], "cond_dim": 16, "text_vocab": 64, "resolution": 32, "multiple": 2}
SETTINGS = {"vbnet": TINY, "threads": 1, "checkpoint_every": 2, "log_every": 1, "warmup_steps": 1}


@pytest.fixture
def reviewed(fo, make_dataset, run_op, tmp_path):
    """Six scenes with a semantic prediction ``seg``; the three least confident are queued (tag "review"),
    and a reviewer's fix lands in them (their unlabeled pixels become background)."""
    from PIL import Image

    dataset = make_dataset(6)
    for i, sample in enumerate(dataset.iter_samples(autosave=True)):
        image = scene(i)
        image[30:30 + 3 * i, 100:100 + 3 * i] = 255  # unlabeled white squares: lower confidence with i
        Image.fromarray(image).save(sample.filepath)
    run_op("predict", dataset.view(), {"task": "semantic", "output_field": "seg", "model": "paint:identity",
                                       "classes": LEGEND, "megapixels": HEIGHT * WIDTH / 1e6,
                                       "output_dir": str(tmp_path / "seg")})
    queue = run_op("review_queue", dataset.view(), {"field": "seg", "count": 3})
    for sample in dataset.select(queue["ids"]).iter_samples(autosave=True):
        mask = sample.seg.get_mask().copy()
        mask[mask == 0] = 4  # "background"
        sample["seg"] = fo.Segmentation(mask=mask)
    return dataset, queue


def test_train_operator_trains_a_vbnet_on_the_tagged_view_delegated(fo, reviewed, tmp_path):
    import fiftyone.operators as foo
    from fiftyone.operators.delegated import DelegatedOperationService

    from vb_plugins.cli import main

    dataset, queue = reviewed
    params = {"view_tag": "review", "semantic_field": "seg", "method": "full", "steps": 2, "batch_size": 2,
              "settings": json.dumps(SETTINGS), "output_dir": str(tmp_path / "run"), "delegate": True}
    queued = foo.execute_operator("@vb-plugins/fiftyone/train", ctx={"view": dataset.view(), "params": params})
    assert queued.delegated
    service = DelegatedOperationService()
    assert [r.error for r in service.execute_queued_operations()] == [None]
    operation = service.get(queued.result["id"])
    assert operation.run_state == "completed"
    assert operation.label == "vb-plugins train full on tag review"
    assert operation.status.progress == 1.0 and operation.status.label == "step 2/2"  # the runs page
    result = operation.result.result
    model = tmp_path / "run" / "model"
    assert result["model"] == str(model) and (model / "model.safetensors").is_file()
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["tasks"] == ["semantic"]
    assert config["data"] == [{"type": "fiftyone", "dataset": dataset.name, "saved_view": None, "view_tag": "review",
                               "semantic_field": "seg"}]
    from vb_plugins.training.sources import source_from_config

    assert sorted(source_from_config(config["data"][0]).ids) == sorted(queue["ids"])  # the reviewed samples only

    image = dataset.first().filepath
    assert main(["predict", "semantic", image, "-o", str(tmp_path / "out"), "--model", str(model),
                 "--classes", json.dumps(LEGEND), "--quiet"]) == 0
    labels = np.load(tmp_path / "out" / "scene0.semantic.npy")
    assert labels.shape == (HEIGHT, WIDTH) and labels.max() <= len(LEGEND)
    assert json.loads((tmp_path / "out" / "scene0.json").read_text())["settings"]["generator"] == "vbnet:model"


def test_train_operator_reads_a_saved_view(fo, reviewed, run_op, tmp_path):
    dataset, queue = reviewed
    result = run_op("train", dataset.view(), {"saved_view": "vb-review: seg", "semantic_field": "seg", "steps": 1,
                                              "batch_size": 2, "settings": SETTINGS,
                                              "output_dir": str(tmp_path / "run")})
    assert result["samples"]["saved_view"] == "vb-review: seg" and result["steps"] == 1
    assert (tmp_path / "run" / "model" / "model.safetensors").is_file()


@pytest.mark.parametrize("params, message", [
    ({"semantic_field": "seg"}, "choose the samples to train on"),
    ({"view_tag": "review"}, "name at least one corrected field"),
    ({"saved_view": "vb-review: nope", "semantic_field": "seg"}, "saved_view 'vb-review: nope': dataset .* has no "
                                                                 "such saved view \\(saved views: 'vb-review: seg'\\)"),
    ({"view_tag": "review", "depth_field": "seg"}, "depth_field 'seg': holds Segmentation labels, not Heatmap"),
    ({"view_tag": "nobody", "semantic_field": "seg"}, "tag 'nobody'\\): no samples"),
    ({"view_tag": "review", "semantic_field": "seg", "settings": "{oops"}, "settings: not valid JSON"),
    ({"view_tag": "review", "semantic_field": "seg", "settings": {"tasks": ["depth"]}}, "settings: tasks are set"),
])
def test_bad_training_requests_fail_before_training(fo, reviewed, tmp_path, params, message):
    import fiftyone.operators as foo
    from fiftyone.operators.executor import ExecutionError

    dataset, _ = reviewed
    with pytest.raises(ExecutionError, match=message):
        foo.execute_operator("@vb-plugins/fiftyone/train", ctx={"view": dataset.view(), "params": {
            **params, "output_dir": str(tmp_path / "run")}})
    assert not (tmp_path / "run").exists()


def test_a_stop_request_ends_training_after_the_current_step(fo, reviewed, tmp_path):
    from vb_plugins.errors import CancelledError
    from vb_plugins.fiftyone_tools.train_from_view import run_training, training_config

    dataset, _ = reviewed
    config = training_config(dataset, {"semantic": "seg"}, view_tag="review", output_dir=tmp_path / "run",
                             settings={**SETTINGS, "steps": 5})
    seen = []
    with pytest.raises(CancelledError, match="step 1"):
        run_training(config, progress=lambda *args: seen.append(args), should_stop=lambda: True)
    assert seen == [(1, 5, "step 1/5")]


def test_train_operator_fits_a_lora_adapter_on_the_tagged_view(fo, reviewed, run_op, tmp_path):
    from vb_plugins.testing.tiny_pipeline import save_tiny_pipeline

    dataset, _ = reviewed
    pipeline = save_tiny_pipeline("flux2-klein", tmp_path / "pipe")
    result = run_op("train", dataset.view(), {"view_tag": "review", "semantic_field": "seg", "method": "lora",
                                              "model": str(pipeline), "steps": 1, "batch_size": 1,
                                              "settings": {"threads": 1, "lora": {"rank": 2}, "resolution": 32,
                                                           "checkpoint_every": 1},
                                              "output_dir": str(tmp_path / "run")})
    adapter = tmp_path / "run" / "lora"
    assert result["model"] == str(adapter) and (adapter / "pytorch_lora_weights.safetensors").is_file()

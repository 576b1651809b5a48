"""Model profiles through the FiftyOne predict operator: a model in the Hugging Face cache folder of Open Vision
Banana picks its profile, the pipeline is prompted in its words, the run's signature names the profile, and a
run with another profile is another run."""

from __future__ import annotations

import functools

import numpy as np
import pytest

from vb_plugins.testing.hub_cache import paint_gray, save_in_hub_cache
from vb_plugins.testing.tiny_pipeline import build_tiny_pipeline

OVB_NORMALS = "Encode camera-space surface normals in the RGB channels."
OVB_DEPTH = "Generate relative inverse depth: near points bright, far points dark, matching input pixels."


@pytest.fixture(scope="module")
def ovb_snapshot(tmp_path_factory):
    """The tiny gray-painting FLUX.2 klein where the hub cache keeps FunAILab/Open-Vision-Banana."""
    cache = tmp_path_factory.mktemp("hf") / "hub"
    return save_in_hub_cache(paint_gray(build_tiny_pipeline("flux2-klein")), cache, "FunAILab/Open-Vision-Banana")


@pytest.fixture
def prompts(monkeypatch):
    """Every prompt text the FLUX.2 klein pipeline encodes, in order."""
    import diffusers

    seen = []
    encode = diffusers.Flux2KleinPipeline.encode_prompt

    @functools.wraps(encode)
    def watched(self, *args, **kwargs):
        if kwargs.get("prompt") is not None:
            seen.append(kwargs["prompt"])
        return encode(self, *args, **kwargs)

    monkeypatch.setattr(diffusers.Flux2KleinPipeline, "encode_prompt", watched)
    return seen


def test_the_operator_detects_ovb_prompts_its_wording_and_names_the_profile(fo, make_dataset, run_op, ovb_snapshot,
                                                                          prompts, tmp_path):
    from fiftyone.operators.executor import ExecutionError

    dataset = make_dataset(1)
    params = {"task": "normals", "output_field": "normals", "model": str(ovb_snapshot), "device": "cpu",
              "megapixels": 0.005, "output_dir": str(tmp_path / "o")}
    result = run_op("predict", dataset.view(), params)
    assert result["predicted"] == 1 and prompts == [OVB_NORMALS]
    record = dataset.info["vb_plugins"]["normals"]
    assert record["signature"]["profile"] == "open-vision-banana"
    assert record["settings"]["profile"] == "open-vision-banana"
    # naming the same profile is the same run (resumed); another profile is another run, refused
    again = run_op("predict", dataset.view(), {**params, "profile": "open-vision-banana"})
    assert again["predicted"] == 0 and again["already_done"] == 1
    with pytest.raises(ExecutionError, match=r"other settings \(profile\)"):
        run_op("predict", dataset.view(), {**params, "profile": "vision-banana"})


def test_the_form_maps_depth_to_the_profile_task_and_refuses_a_task_the_profile_lacks(fo, ovb_snapshot):
    from vb_plugins.fiftyone_tools.params import parse_predict_params
    from vb_plugins.predict import Predictor

    kwargs, errors = parse_predict_params({"task": "depth", "model": str(ovb_snapshot), "options": '{"bits": 16}'})
    assert not errors  # bits is an option of relative-depth, the task OVB's depth decodes with
    # the predictor the run makes from them (how FiftyOne stores relative depth is the relative-depth task's)
    predictor = Predictor(kwargs["task"], settings=kwargs["settings"], **kwargs["task_options"])
    assert predictor.task.name == "relative-depth" and predictor.prompts == [OVB_DEPTH]
    assert dict(predictor.spec.options) == {"bits": 16, "encodes": "inverse"}
    _, errors = parse_predict_params({"task": "semantic", "classes": "cat", "profile": "edit2perceive"})
    assert errors == {"profile": "profile 'edit2perceive' has no task 'semantic'; its tasks: depth, normals, matting"}
    _, errors = parse_predict_params({"task": "depth", "profile": "nope"})
    assert errors["profile"].startswith("unknown profile 'nope'; known: vision-banana")


def test_ovb_depth_runs_end_to_end_as_a_relative_heatmap(fo, make_dataset, run_op, ovb_snapshot, prompts, tmp_path):
    dataset = make_dataset(1)
    result = run_op("predict", dataset.view(), {"task": "depth", "output_field": "rel", "model": str(ovb_snapshot),
                                                "device": "cpu", "megapixels": 0.005,
                                                "output_dir": str(tmp_path / "o")})
    assert result["predicted"] == 1 and prompts == [OVB_DEPTH]
    sample = dataset.first()
    heatmap = sample["rel"]
    assert isinstance(heatmap, fo.Heatmap)
    values = heatmap.get_map() if hasattr(heatmap, "get_map") else heatmap.map
    assert values is not None and np.asarray(values).ndim == 2
    assert "relative" in (dataset.get_field("rel").description or "")
    assert dataset.info["vb_plugins"]["rel"]["signature"]["task"] == "relative-depth"

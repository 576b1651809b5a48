"""The predict operator with a vision-language model first: a presence gate on instance and semantic classes
(scores in <field>_gate, absent classes not generated) and a rewriter on referring queries (<field>_rewrite,
'absent' without generation). The VLM is Gemini on a loopback server; the generator is ``paint:identity``."""

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import LEGEND, scene

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "reasoning"))
from gemini_vlm_fake import KEY, TEXT_MODEL, FakeGeminiVLM, api_error  # noqa: E402

from vb_plugins.fiftyone_tools.painting import PaintBackend  # noqa: E402

GATE = f"gemini:{TEXT_MODEL}"


@pytest.fixture
def vlm(monkeypatch):
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("GEMINI_API_KEY", KEY)
    server = FakeGeminiVLM()
    monkeypatch.setenv("VB_GEMINI_BASE_URL", server.base_url)
    yield server
    server.close()
    assert not server.problems, server.problems


def only(*present):
    return lambda question, image: json.dumps({"present": any(f" {n} " in question for n in present),
                                               "score": 0.9 if any(f" {n} " in question for n in present) else 0.2})


def test_gated_instance_classes_are_not_generated_and_scores_are_a_field(fo, make_dataset, run_op, vlm, tmp_path):
    vlm.answer = only("ball")
    dataset = make_dataset(2)
    images = PaintBackend.images
    result = run_op("predict", dataset.view(), {"task": "instance", "output_field": "things", "model": "paint:identity",
                                                "classes": "sky, road, ball", "gate": GATE, "gate_threshold": 0.5,
                                                "output_dir": str(tmp_path / "inst")})
    assert result["predicted"] == 2 and result["failed"] == []
    assert PaintBackend.images - images == 2  # one pass per sample (ball), not three
    assert len(vlm.text_requests) == 6
    dataset.reload()
    for sample in dataset:
        gate = {c.label: (c.present, c.confidence) for c in sample.things_gate.classifications}
        assert gate == {"sky": (False, 0.2), "road": (False, 0.2), "ball": (True, 0.9)}
        assert {d.label for d in sample.things.detections} == {"ball"}
    record = dataset.info["vb_plugins"]["things"]
    assert record["signature"]["gate"] == GATE and record["signature"]["gate_threshold"] == 0.5
    assert record["complete"] and record["prompts"] is None


def test_gated_semantic_classes_keep_their_label_numbers(fo, make_dataset, run_op, vlm, tmp_path):
    vlm.answer = only("sky", "road")
    dataset = make_dataset(1)
    run_op("predict", dataset.view(), {"task": "semantic", "output_field": "seg", "model": "paint:identity",
                                       "classes": json.dumps(LEGEND), "gate": GATE, "output_dir": str(tmp_path / "s")})
    dataset.reload()
    sample = dataset.first()
    labels = sample.seg.get_mask()
    image = scene(sample.index)
    assert dataset.mask_targets["seg"] == {1: "sky", 2: "road", 3: "ball", 4: "background"}
    assert (labels[np.all(image == (255, 0, 0), axis=-1)] == 1).all()
    # The ball was not prompted: its pixels match no painted legend colour (but its rim, which robust decoding
    # gives to the neighbouring class); the background keeps its number, 4.
    assert (labels[np.all(image == (0, 255, 0), axis=-1)] == 0).mean() > 0.9
    assert (labels[np.all(image == (0, 0, 0), axis=-1)] == 4).mean() > 0.99
    assert [c.label for c in sample.seg_gate.classifications] == ["sky", "road", "ball"]  # background not asked


def test_rewritten_queries_and_absent_samples(fo, make_dataset, run_op, vlm, tmp_path):
    def rewrite(question, image):  # the ball of scene 1 reaches x = 52; call that one absent
        absent = bool(np.all(image[48, 52] == (0, 255, 0)))
        return json.dumps({"absent": absent, "expression": "" if absent else "the green ball"})

    vlm.answer = rewrite
    dataset = make_dataset(2)
    images = PaintBackend.images
    run_op("predict", dataset.view(), {"task": "referring", "output_field": "ball", "model": "paint:identity",
                                       "expression": "the thing you could kick", "rewriter": GATE, "colour": "lime",
                                       "output_dir": str(tmp_path / "ref")})
    assert PaintBackend.images - images == 1
    dataset.reload()
    first, second = dataset.sort_by("index")
    assert first.ball_rewrite.label == "the green ball" and first.ball_rewrite.query == "the thing you could kick"
    truth = np.all(scene(0) == (0, 255, 0), axis=-1)
    assert (first.ball.get_mask().astype(bool) == truth).mean() > 0.98 and first.ball_generated
    assert second.ball_rewrite.label == "absent" and second.ball_rewrite.absent
    assert not second.ball.get_mask().any() and second.ball_generated is None
    assert dataset.mask_targets["ball"] == {1: "the thing you could kick"}


def test_a_failed_question_fails_its_sample_only_and_a_rerun_retries_it(fo, make_dataset, run_op, vlm, tmp_path):
    broken = {"on": True}

    def answer(question, image):
        if broken["on"] and np.all(image[48, 60] == (0, 255, 0)):  # only scene 2's ball reaches x = 60
            return 400, api_error(400, "INVALID_ARGUMENT", "Request contains an invalid argument.")
        return json.dumps({"present": True, "score": 0.8})

    vlm.answer = answer
    dataset = make_dataset(3)
    params = {"task": "instance", "output_field": "things", "model": "paint:identity", "classes": "ball",
              "gate": GATE, "output_dir": str(tmp_path / "inst")}
    result = run_op("predict", dataset.view(), params)
    assert result["predicted"] == 2 and len(result["failed"]) == 1
    assert "1 failed (gemini:gemini-2.5-pro: invalid argument (HTTP 400 INVALID_ARGUMENT)" in result["message"]
    dataset.reload()
    assert dataset.count("things") == 2 and not dataset.info["vb_plugins"]["things"]["complete"]
    broken["on"] = False
    result = run_op("predict", dataset.view(), params)
    assert result["predicted"] == 1 and result["already_done"] == 2 and result["failed"] == []
    dataset.reload()
    assert dataset.count("things") == 3 and dataset.info["vb_plugins"]["things"]["complete"]


def test_guidance_params_are_checked_on_the_form(fo, make_dataset, vlm, tmp_path):
    from vb_plugins.fiftyone_tools.params import parse_predict_params

    kwargs, errors = parse_predict_params({"task": "instance", "classes": "ball", "gate": GATE, "gate_threshold": 3})
    assert errors == {"gate_threshold": "gate_threshold=3.0: must be from 0 to 1"}
    kwargs, errors = parse_predict_params({"task": "depth", "gate": GATE, "rewriter": GATE})
    assert not errors and kwargs["ignored"] == ["rewriter", "gate"] and kwargs["settings"].gate is None
    kwargs, errors = parse_predict_params({"task": "referring", "expression": "x", "rewriter": GATE})
    assert not errors and kwargs["settings"].rewriter == GATE
    assert vlm.text_requests == []

"""VB Rewrite and VB Presence Gate without ComfyUI: model choices, the STRING / JSON outputs, one-line refusals.
The model is Gemini on a loopback server, or a tiny random-weight Qwen2-VL folder."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from comfyui_nodes import vlm
from vb_plugins.errors import InputError

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "reasoning"))
from gemini_vlm_fake import KEY, FakeGeminiVLM  # noqa: E402


@pytest.fixture
def gemini(monkeypatch):
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("GEMINI_API_KEY", KEY)
    server = FakeGeminiVLM()
    monkeypatch.setenv("VB_GEMINI_BASE_URL", server.base_url)
    yield server
    server.close()
    vlm._loaded.clear()
    assert not server.problems, server.problems


@pytest.fixture(scope="module")
def vlm_folder(tmp_path_factory):
    from vb_plugins.testing.tiny_vlm import save_tiny_vlm

    root = tmp_path_factory.mktemp("models_vlm")
    save_tiny_vlm(root / "qwen" / "tiny-qwen2-vl")
    (root / "not-a-model").mkdir()
    return root


def image(count: int = 1, level: int = 60) -> torch.Tensor:
    pixels = np.random.default_rng(level).integers(max(level - 20, 0), level + 20, (count, 40, 56, 3))
    return torch.from_numpy(pixels.astype(np.float32) / 255.0)


def test_choices_are_gemini_models_and_vlm_folders_only(vlm_folder):
    assert vlm.model_choices([vlm_folder]) == ["gemini:gemini-2.5-flash", "gemini:gemini-2.5-pro", "qwen/tiny-qwen2-vl"]
    assert vlm.resolve_model("qwen/tiny-qwen2-vl", [vlm_folder]) == str(vlm_folder / "qwen" / "tiny-qwen2-vl")
    for name in ("../qwen/tiny-qwen2-vl", str(vlm_folder / "qwen" / "tiny-qwen2-vl"), "not-a-model", "gemini:x"):
        with pytest.raises(InputError, match="not a Gemini choice and no VLM folder of that name"):
            vlm.resolve_model(name, [vlm_folder])


def test_rewrite_outputs_the_expression_string_and_absent(gemini):
    gemini.answer = lambda question, picture: json.dumps(
        {"absent": bool(picture.mean() > 127), "expression": "" if picture.mean() > 127 else "the white fridge"})
    expression, absent, record = vlm.rewrite(image(level=60), "the object that keeps food cold",
                                             "gemini:gemini-2.5-pro", [])
    assert (expression, absent) == ("the white fridge", False)
    assert json.loads(record)["query"] == "the object that keeps food cold"
    bright = vlm.rewrite(image(level=220), "the object that keeps food cold", "gemini:gemini-2.5-pro", [])
    assert bright[:2] == ("", True)
    assert len(gemini.text_requests) == 2


def test_one_image_at_a_time_and_a_query_is_needed(gemini):
    with pytest.raises(InputError, match="VB Rewrite: asks about one image at a time, got a batch of 2"):
        vlm.rewrite(image(2), "a cup", "gemini:gemini-2.5-pro", [])
    with pytest.raises(InputError, match="query: empty"):
        vlm.rewrite(image(), "  ", "gemini:gemini-2.5-pro", [])
    assert gemini.text_requests == []


@pytest.mark.parametrize("classes, kept", [
    ("cat: red\ndog: #00ff00\nsky", "cat: red\nsky"),
    ('{"cat": "red", "dog": "lime", "sky": [135, 206, 235]}', '{"cat": "red", "sky": [135, 206, 235]}'),
    ('["cat", "dog", "sky"]', '["cat", "sky"]'),
    ("cat, dog, sky", "cat\nsky"),
])
def test_the_gate_keeps_present_classes_as_given_and_records_every_score(gemini, classes, kept):
    gemini.answer = lambda question, picture: json.dumps({"present": " dog " not in question,
                                                          "score": 0.1 if " dog " in question else 0.8})
    present, count, record = vlm.gate(image(), classes, "gemini:gemini-2.5-flash", [], threshold=0.5)
    assert present == kept and count == 2
    record = json.loads(record)
    assert record["threshold"] == 0.5 and record["model"] == "gemini:gemini-2.5-flash"
    assert [(c["phrase"], c["present"], c["score"]) for c in record["classes"]] == [
        ("cat", True, 0.8), ("dog", False, 0.1), ("sky", True, 0.8)]


def test_gate_refusals_are_one_line(gemini):
    with pytest.raises(InputError, match="classes: empty class list"):
        vlm.gate(image(), "", "gemini:gemini-2.5-flash", [])
    with pytest.raises(InputError, match="gate threshold 1.5"):
        vlm.gate(image(), "cat", "gemini:gemini-2.5-flash", [], threshold=1.5)
    assert gemini.text_requests == []


def test_a_local_vlm_folder_answers_through_the_real_tiny_model(vlm_folder):
    present, count, record = vlm.gate(image(), "cat: red\ndog", "qwen/tiny-qwen2-vl", [vlm_folder])
    scores = [c["score"] for c in json.loads(record)["classes"]]
    assert len(scores) == 2 and all(0.0 < s < 1.0 for s in scores)
    assert count == sum(s >= 0.5 for s in scores) and len([line for line in present.splitlines() if line]) == count
    expression, absent, record = vlm.rewrite(image(), "the object that keeps food cold", "qwen/tiny-qwen2-vl",
                                             [vlm_folder])
    assert absent or (expression and "\n" not in expression)
    assert json.loads(record)["model"].startswith("transformers:")
    vlm._loaded.clear()

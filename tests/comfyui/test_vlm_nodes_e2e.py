"""VB Rewrite and VB Presence Gate in a real ComfyUI server (``main.py --cpu`` on loopback): registered with the
pack, choices from ComfyUI's ``vlm`` model folder, their STRING outputs linked into VB Prompt, paths refused.
Gemini answers from a loopback server in this process; the local model is a tiny random-weight Qwen2-VL."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np
import pytest
from comfy_server import PromptRejected
from test_vb_nodes_e2e import NODE_IDS

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "reasoning"))
from gemini_vlm_fake import KEY, FakeGeminiVLM  # noqa: E402

pytestmark = pytest.mark.slow

PACK = Path(__file__).resolve().parents[2] / "comfyui_nodes"
PROMPT = {"task": "referring", "classes": "", "dialect": "vision-banana", "scheme": "(default)", "options": ""}


@pytest.fixture(scope="module")
def gemini():
    server = FakeGeminiVLM()
    server.answer = lambda question, image: json.dumps(
        {"present": " dog " not in question, "score": 0.2 if " dog " in question else 0.7} if "Is there" in question
        else {"absent": False, "expression": "the white refrigerator"})
    yield server
    server.close()
    assert not server.problems, server.problems


@pytest.fixture(scope="module")
def server(start_comfyui, tmp_path_factory, gemini):
    from PIL import Image

    from vb_plugins.testing.tiny_vlm import save_tiny_vlm

    root = tmp_path_factory.mktemp("vlm_nodes")
    save_tiny_vlm(root / "vlm" / "tiny-qwen2-vl")
    settings = {"GEMINI_API_KEY": KEY, "VB_GEMINI_BASE_URL": gemini.base_url, "NO_PROXY": "127.0.0.1,localhost"}
    previous = {name: os.environ.get(name) for name in settings}
    os.environ.update(settings)  # the server process inherits them
    try:
        server = start_comfyui(custom_nodes=[PACK], model_paths={"vlm": [root / "vlm"]})
    finally:
        for name, value in previous.items():
            if value is None:
                os.environ.pop(name)
            else:
                os.environ[name] = value
    photo = np.random.default_rng(0).integers(0, 256, (45, 61, 3), dtype=np.uint8)
    Image.fromarray(photo).save(server.input_dir / "photo.png")
    return server


def test_the_nodes_register_with_gemini_and_local_model_choices(server):
    assert server.custom_node_import_failures() == []
    log = server.log_text()
    assert f"vb-plugins: {len(NODE_IDS)} nodes registered through comfy_entrypoint, and 2 for vision-language " \
           "models (VBRewrite, VBPresenceGate)" in log
    info = server.object_info()
    for node in ("VBRewrite", "VBPresenceGate"):
        assert info[node]["python_module"] == "custom_nodes.comfyui_nodes" and info[node]["category"] == "vb-plugins"
        assert info[node]["input"]["required"]["model"][1]["options"] == [
            "gemini:gemini-2.5-flash", "gemini:gemini-2.5-pro", "tiny-qwen2-vl"]
    assert info["VBRewrite"]["output"] == ["STRING", "BOOLEAN", "STRING"]
    assert info["VBPresenceGate"]["output"] == ["STRING", "INT", "STRING"]


def test_the_rewritten_expression_links_into_vb_prompt(server, gemini):
    history = server.queue({
        "1": {"class_type": "LoadImage", "inputs": {"image": "photo.png"}},
        "2": {"class_type": "VBRewrite", "inputs": {"image": ["1", 0], "query": "the object that keeps food cold",
                                                    "model": "gemini:gemini-2.5-pro"}},
        "3": {"class_type": "VBPrompt", "inputs": {**PROMPT, "expression": ["2", 0]}},
        "4": {"class_type": "PreviewAny", "inputs": {"source": ["3", 0]}},
    })
    assert history["outputs"]["2"]["text"] == ["the white refrigerator"]
    assert history["outputs"]["4"]["text"] == ["This image shows segmentation masks from the given image. The "
                                               "background is black color. The white refrigerator is represented "
                                               "by a solid white."]
    [request] = [r for r in gemini.text_requests if "keeps food cold" in r["question"]]
    assert request["generationConfig"]["responseSchema"]["required"] == ["absent", "expression"]


def test_the_gate_passes_present_classes_and_its_scores(server):
    history = server.queue({
        "1": {"class_type": "LoadImage", "inputs": {"image": "photo.png"}},
        "2": {"class_type": "VBPresenceGate", "inputs": {"image": ["1", 0], "classes": "cat: red\ndog: blue",
                                                         "model": "gemini:gemini-2.5-flash", "threshold": 0.5}},
        "3": {"class_type": "VBPrompt", "inputs": {**PROMPT, "task": "semantic", "classes": ["2", 0],
                                                   "expression": ""}},
        "4": {"class_type": "PreviewAny", "inputs": {"source": ["3", 0]}},
    })
    record = json.loads(history["outputs"]["2"]["text"][0])
    assert [(c["phrase"], c["present"], c["score"]) for c in record["classes"]] == [("cat", True, 0.7),
                                                                                    ("dog", False, 0.2)]
    assert history["outputs"]["4"]["text"] == ["Generate a semantic segmentation visualization image, using this "
                                               "color mapping: {\"cat\": \"red\"}."]


def test_a_local_vlm_folder_runs_in_the_server(server):
    history = server.queue({
        "1": {"class_type": "LoadImage", "inputs": {"image": "photo.png"}},
        "2": {"class_type": "VBPresenceGate", "inputs": {"image": ["1", 0], "classes": "cat, dog",
                                                         "model": "tiny-qwen2-vl", "threshold": 0.5}},
    }, timeout=300)
    record = json.loads(history["outputs"]["2"]["text"][0])
    assert record["model"].startswith("transformers:") and record["model"].endswith("tiny-qwen2-vl")
    assert all(0.0 < c["score"] < 1.0 for c in record["classes"])


def test_a_model_path_is_refused_at_queue_time(server):
    with pytest.raises(PromptRejected) as rejected:
        server.queue({
            "1": {"class_type": "LoadImage", "inputs": {"image": "photo.png"}},
            "2": {"class_type": "VBRewrite", "inputs": {"image": ["1", 0], "query": "a cup", "model": "../vlm/x"}},
        })
    assert rejected.value.status == 400
    details = rejected.value.response["node_errors"]["2"]["errors"][0]["details"]
    assert "model '../vlm/x': not a Gemini choice and no VLM folder of that name" in details

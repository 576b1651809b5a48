"""The VB Decode nodes' ``prompt`` input: the legend read from the prompt the images were painted with (as
``vb decode --prompt`` reads it), a prompt that cannot be read refused in one line quoting the part.

The node functions run here without ComfyUI (as in test_nodes_unit.py); the last tests queue the nodes in a
real ComfyUI server (slow, skipped without one, as test_vb_nodes_e2e.py is).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from comfy_server import PromptRejected, WorkflowFailed

from comfyui_nodes import decoding, operations, prompting
from vb_plugins import get_task
from vb_plugins.errors import InputError

PACK = Path(__file__).resolve().parents[2] / "comfyui_nodes"
TWO_CATS = "The stretching cat is rendered in green, the cat that is cleaning itself is in cyan."
LEGEND = ('Generate a semantic segmentation visualization image, using this color mapping: {"cat": "red", '
          '"exit sign": "light purple", "background": "black"}.')
DECODE = {"mode": "auto", "group": 1, "fit": "stretch", "width": 0, "height": 0}


def as_image(*rgb: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.stack(rgb).astype(np.float32) / 255.0)


def two_cats(height: int = 24, width: int = 40) -> np.ndarray:
    """Painted as generators paint it: "green" as (0, 255, 0), not CSS's (0, 128, 0)."""
    painted = np.zeros((height, width, 3), np.uint8)
    painted[2:-2, 2:18] = (0, 255, 0)
    painted[2:-2, 22:-2] = (0, 255, 255)
    return painted


def legend_picture() -> np.ndarray:
    painted = np.zeros((24, 36, 3), np.uint8)
    painted[:, :12] = (250, 5, 5)  # red, a little off
    painted[:, 12:24] = (200, 150, 250)  # what a generator paints for "light purple"
    return painted


def test_a_prompt_naming_two_objects_gives_the_referring_node_one_mask_per_object():
    (mask, preview, _), picture = operations.decode_referring(as_image(two_cats(), two_cats()), prompt=TWO_CATS)
    assert tuple(mask.shape) == (4, 24, 40)  # image-major: image 0's two objects, then image 1's
    painted = two_cats()
    for k, colour in ((0, (0, 255, 0)), (1, (0, 255, 255)), (2, (0, 255, 0)), (3, (0, 255, 255))):
        np.testing.assert_array_equal(mask[k].numpy() > 0.5, np.all(painted == colour, axis=2))
    # The preview paints each object in the colour it was decoded with.
    shown = np.rint(preview[0].numpy() * 255).astype(np.uint8)
    assert (np.all(shown == (0, 255, 0), axis=2)).sum() == np.all(painted == (0, 255, 0), axis=2).sum()


def test_the_semantic_node_reads_its_legend_from_the_prompt_and_keeps_the_specs_options():
    spec = prompting.build_spec("semantic", classes="dog: blue", options='{"tolerance": 60}')
    outputs, _ = operations.decode_semantic(as_image(legend_picture()), spec, prompt=LEGEND)
    masks, selected, labels, preview, _, class_names = outputs
    assert class_names == '["cat", "exit sign", "background"]'
    # The preview shows each class in the colour matched to its word: what was painted, not the nominal.
    shown = np.rint(preview[0].numpy() * 255).astype(np.uint8)
    assert np.all(shown[:, 12:24] == (200, 150, 250)) and np.all(shown[:, :12] == (255, 0, 0))
    assert labels.spec.option("tolerance") == 60.0
    expected = np.zeros((24, 36), np.int32)
    expected[:, :12], expected[:, 12:24], expected[:, 24:] = 1, 2, 3
    np.testing.assert_array_equal(labels.labels[0], expected)
    assert tuple(masks.shape) == (3, 24, 36)


def test_the_depth_node_reads_the_colour_scheme_from_the_prompt():
    depth = np.tile(np.geomspace(0.5, 30, 40), (16, 1)).astype(np.float32)
    painted = get_task("depth").encode(depth, get_task("depth").make_spec(scheme="plasma"))
    (maps, *_), _, _ = operations.decode_depth(as_image(painted), mode="exact",
                                               prompt="Generate a metric depth map of the input image. "
                                                      "Visualized in the plasma color palette.")
    assert maps.spec.scheme == "plasma"
    assert np.max(np.abs(maps.depth[0] - depth) / depth) < 0.02
    # Without the prompt the default path reads these colours as something else.
    (plain, *_), _, _ = operations.decode_depth(as_image(painted), mode="exact")
    assert np.max(np.abs(plain.depth[0] - depth) / depth) > 0.2


def test_a_blank_prompt_keeps_the_spec():
    spec = prompting.build_spec("referring", expression="the cat", options='{"colour": "cyan"}')
    (mask, _, _), _ = operations.decode_referring(as_image(two_cats()), spec, prompt="  ")
    np.testing.assert_array_equal(mask[0].numpy() > 0.5, np.all(two_cats() == (0, 255, 255), axis=2))


def test_a_prompt_the_node_cannot_read_is_one_line_quoting_the_part():
    with pytest.raises(InputError) as error:
        operations.decode_referring(as_image(two_cats()), prompt="The cat is rendered in blurplish.")
    message = str(error.value)
    assert "\n" not in message and "'The cat is rendered in blurplish'" in message
    assert "'blurplish' is not a colour" in message
    with pytest.raises(InputError, match="light purrple.* is not a colour; did you mean 'light purple'"):
        decoding.check_prompt('{"cat": "red", "exit sign": "light purrple"}', "semantic")
    decoding.check_prompt(LEGEND, "semantic")  # readable: no error
    decoding.check_prompt("anything at all", None)  # task not known at queue time: checked when run


# -- in a real ComfyUI server ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def server(start_comfyui):
    from PIL import Image

    server = start_comfyui(custom_nodes=[PACK])
    Image.fromarray(two_cats()).save(server.input_dir / "two_cats.png")
    return server


@pytest.mark.slow
def test_the_decode_nodes_offer_the_prompt_last_among_their_inputs(server):
    info = server.object_info()
    for node in ("VBDecodeDepth", "VBDecodeNormals", "VBDecodeSemantic", "VBDecodeInstances", "VBDecodeReferring",
                 "VBDecode"):
        optional = info[node]["input"]["optional"]
        assert list(optional)[-1] == "prompt", node
        assert optional["prompt"][0] == "STRING" and optional["prompt"][1]["default"] == ""
        order = info[node]["input_order"]
        assert order["optional"][-1] == "prompt", node


@pytest.mark.slow
def test_a_typed_prompt_decodes_one_mask_per_object_in_comfyui(server):
    history = server.queue({
        "1": {"class_type": "LoadImage", "inputs": {"image": "two_cats.png"}},
        "2": {"class_type": "VBDecodeReferring", "inputs": {"image": ["1", 0], **DECODE, "prompt": TWO_CATS}},
        "3": {"class_type": "MaskToImage", "inputs": {"mask": ["2", 0]}},
        "4": {"class_type": "SaveImage", "inputs": {"images": ["3", 0], "filename_prefix": "prompted/mask"}},
    })
    from PIL import Image

    saved = history["outputs"]["4"]["images"]
    assert len(saved) == 2  # one mask per object
    for entry, colour in zip(saved, ((0, 255, 0), (0, 255, 255))):
        mask = np.asarray(Image.open(server.output_dir / entry["subfolder"] / entry["filename"]))[..., 0] > 127
        np.testing.assert_array_equal(mask, np.all(two_cats() == colour, axis=2))


@pytest.mark.slow
def test_an_unreadable_typed_prompt_is_refused_when_queued_and_a_linked_one_when_run(server):
    with pytest.raises(PromptRejected) as rejected:
        server.queue({
            "1": {"class_type": "LoadImage", "inputs": {"image": "two_cats.png"}},
            "2": {"class_type": "VBDecodeReferring", "inputs": {"image": ["1", 0], **DECODE,
                                                               "prompt": "The cat is rendered in blurplish."}},
        })
    assert rejected.value.status == 400
    details = rejected.value.response["node_errors"]["2"]["errors"][0]["details"]
    assert "'The cat is rendered in blurplish'" in details and "\n" not in details.strip()
    # A prompt from another node is known only when the graph runs: the node fails with the same line.
    with pytest.raises(WorkflowFailed) as failed:
        server.queue({
            "1": {"class_type": "LoadImage", "inputs": {"image": "two_cats.png"}},
            "2": {"class_type": "PrimitiveString", "inputs": {"value": "The cat is rendered in blurplish."}},
            "3": {"class_type": "VBDecodeReferring", "inputs": {"image": ["1", 0], **DECODE, "prompt": ["2", 0]}},
        })
    assert "'The cat is rendered in blurplish'" in failed.value.message["exception_message"]
    assert failed.value.message["exception_type"] == "vb_plugins.errors.InputError"


@pytest.mark.slow
def test_workflows_saved_before_the_prompt_input_open_with_their_values_in_place(server, tmp_path):
    """The example workflows as the editor saved them before the decoders had a prompt (one widget value
    fewer) convert, in a real ComfyUI editor, to their API twins: every value in place, the prompt empty."""
    import json
    import os
    import shutil
    import subprocess

    node_modules = PACK.parent / "scripts" / "node_modules"
    chromium = os.environ.get("CHROMIUM", "/usr/bin/chromium")
    missing = [what for what, ok in (("node", shutil.which("node")), (chromium, Path(chromium).exists()),
                                     ("playwright-core", (node_modules / "playwright-core").is_dir())) if not ok]
    if missing:
        pytest.skip(f"UI workflow check not run: {', '.join(missing)} missing (.ci/setup_chromium.sh, "
                    ".ci/setup_playwright.sh)")
    saved = []
    for path in sorted((PACK / "workflows").glob("*.json")):
        if path.name.endswith(".api.json"):
            continue
        workflow = json.loads(path.read_text())
        decoders = [n for n in workflow["nodes"] if n["type"].startswith("VBDecode")]
        assert decoders, path.name
        for node in decoders:  # as saved before the input existed: no prompt value, no prompt socket
            assert node["widgets_values"][-1] == ""
            node["widgets_values"] = node["widgets_values"][:-1]
            node["inputs"] = [socket for socket in node["inputs"] if socket["name"] != "prompt"]
        saved.append(tmp_path / path.name)
        saved[-1].write_text(json.dumps(workflow))
    result = subprocess.run(["node", str(Path(__file__).with_name("ui_workflow_to_prompt.js")), server.base_url,
                             *map(str, saved)], capture_output=True, text=True, timeout=300,
                            env=dict(os.environ, NODE_PATH=str(node_modules), CHROMIUM=chromium))
    assert result.returncode == 0, result.stderr[-2000:]
    converted = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    assert len(converted) == len(saved) == 2
    for entry in converted:
        api = json.loads((PACK / "workflows" / Path(entry["file"]).name).with_suffix(".api.json").read_text())
        assert {k: v["inputs"] for k, v in entry["output"].items()} == {k: v["inputs"] for k, v in api.items()}
        assert all(v["inputs"]["prompt"] == "" for v in api.values() if v["class_type"].startswith("VBDecode"))

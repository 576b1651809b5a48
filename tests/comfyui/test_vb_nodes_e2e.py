"""The vb-plugins node pack in a real ComfyUI server (``main.py --cpu`` on loopback).

Runs against ``COMFYUI_DIR`` or the cached ComfyUI from its source tarball (see conftest.py); with
neither, every test here is skipped with the reason. The server loads the real ``comfyui_nodes``
folder from its ``custom_nodes`` path, a tiny FLUX.2 klein pipeline (built offline, safetensors)
sits in a private ``diffusers`` model folder, and workflows go through ``/prompt`` and ``/history``.
"""

from __future__ import annotations

import json
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
from comfy_server import PromptRejected, WorkflowFailed

pytestmark = pytest.mark.slow

PACK = Path(__file__).resolve().parents[2] / "comfyui_nodes"
NODE_IDS = ["VBPrompt", "VBEncode", "VBLoadGenerator", "VBGenerate", "VBDecodeDepth", "VBDecodeNormals",
            "VBDecodeRelativeDepth", "VBDecodeMatting", "VBDecodeSemantic", "VBDecodeInstances", "VBDecodeReferring",
            "VBDecode"]

# A second, test-only pack: a real node that emits an empty IMAGE batch, which no built-in node can.
HELPER_PACK = textwrap.dedent(
    '''
    import torch
    from comfy_api.latest import ComfyExtension, io


    class EmptyBatch(io.ComfyNode):
        @classmethod
        def define_schema(cls):
            return io.Schema(node_id="VBTestEmptyBatch", category="vb_tests", inputs=[],
                             outputs=[io.Image.Output()])

        @classmethod
        def execute(cls):
            return io.NodeOutput(torch.zeros((0, 8, 8, 3)))


    class Extension(ComfyExtension):
        async def get_node_list(self):
            return [EmptyBatch]


    async def comfy_entrypoint():
        return Extension()
    '''
)


def truth_depth(height: int = 45, width: int = 61) -> np.ndarray:
    """0.5 .. 48 m across the image, with a patch of sky (inf) in a corner."""
    y, x = np.mgrid[0:height, 0:width]
    depth = (0.5 * np.exp(x / width * np.log(80.0)) * (1.0 + 0.3 * y / height)).astype(np.float32)
    depth[:5, :8] = np.inf
    return depth


def gray_ramp(height: int = 30, width: int = 40) -> np.ndarray:
    """An 8-bit gray picture: a ramp 0 .. 234 from left to right."""
    return np.tile((np.arange(width) * 6).astype(np.uint8), (height, 1))


def tiny_vbnet(path: Path) -> Path:
    """A VBNet small enough to run in a second on CPU (random weights: it paints noise, decoded all the same)."""
    import torch

    from vb_plugins.generation.bundled import save_vbnet
    from vb_plugins.generation.vbnet import VBNet, VBNetConfig

    torch.manual_seed(0)
    config = VBNetConfig(channels=(8, 16), cond_dim=16, text_vocab=64, resolution=32, multiple=2, default_steps=1)
    return save_vbnet(VBNet(config), path)


def write_png(path: Path, rgb: np.ndarray) -> None:
    from PIL import Image

    Image.fromarray(rgb).save(path)


@pytest.fixture(scope="module")
def server(start_comfyui, tmp_path_factory):
    import os

    from vb_plugins import get_task
    from vb_plugins.testing.tiny_pipeline import save_tiny_pipeline

    root = tmp_path_factory.mktemp("vb_nodes")
    save_tiny_pipeline("flux2-klein", root / "diffusers" / "tiny-klein")
    tiny_vbnet(root / "vision_banana" / "tiny-vbnet")
    (root / "loras").mkdir()
    (root / "loras" / "pickled.pt").write_bytes(b"not offered: only .safetensors LoRAs are")
    hf_cache = root / "hf_cache"
    hf_cache.mkdir()
    helper = root / "vb_e2e_helpers"
    helper.mkdir()
    (helper / "__init__.py").write_text(HELPER_PACK, encoding="utf-8")
    previous = os.environ.get("HF_HUB_CACHE")
    os.environ["HF_HUB_CACHE"] = str(hf_cache)  # an empty cache: the model list is the folders alone
    try:
        server = start_comfyui(custom_nodes=[PACK, helper],
                               model_paths={"diffusers": [root / "diffusers"], "loras": [root / "loras"],
                                            "vision_banana": [root / "vision_banana"]})
    finally:
        if previous is None:
            os.environ.pop("HF_HUB_CACHE")
        else:
            os.environ["HF_HUB_CACHE"] = previous
    write_png(server.input_dir / "depth_vis.png", get_task("depth").encode(truth_depth()))
    write_png(server.input_dir / "gray_ramp.png", gray_ramp())
    photo = np.random.default_rng(0).integers(0, 256, (45, 61, 3), dtype=np.uint8)
    write_png(server.input_dir / "photo.png", photo)
    return server


def saved_files(history: dict, node: str) -> list[dict]:
    return history["outputs"][node]["vb_saved"]


def load_saved(server, entry: dict) -> np.ndarray:
    path = server.output_dir / entry["subfolder"] / entry["filename"]
    assert path.resolve().is_relative_to(server.output_dir.resolve())
    return np.load(path, allow_pickle=False)


def test_pack_loads_through_the_entrypoint_with_registry_choices(server):
    from vb_plugins import list_dialects

    assert server.custom_node_import_failures() == []
    assert f"vb-plugins: {len(NODE_IDS)} nodes registered through comfy_entrypoint" in server.log_text()
    info = server.object_info()
    for node in NODE_IDS:
        assert info[node]["python_module"] == "custom_nodes.comfyui_nodes"
        assert info[node]["category"] == "vb-plugins"
    prompt = info["VBPrompt"]["input"]["required"]
    assert {"depth", "normals", "semantic", "instance", "referring"} <= set(prompt["task"][1]["options"])
    assert set(list_dialects()) <= set(prompt["dialect"][1]["options"])
    assert {"vision-banana", "plasma"} <= set(prompt["scheme"][1]["options"])
    loader = info["VBLoadGenerator"]["input"]["required"]
    assert loader["model"][1]["options"] == ["bundled", "tiny-klein", "tiny-vbnet"]
    assert loader["lora"][1]["options"] == ["(none)"]  # pickled.pt is not offered
    depth = info["VBDecodeDepth"]
    assert depth["output"] == ["VB_DEPTH", "IMAGE", "MASK", "IMAGE", "MASK"]  # expected_error appended last
    assert depth["output_node"] is True
    assert info["VBEncode"]["input"]["optional"]["depth"][0] == "VB_DEPTH"


def test_depth_visualization_decodes_to_metric_depth_in_the_output_folder(server):
    from comfyui_nodes.files import read_exr
    from vb_plugins import get_task

    workflow = {
        "1": {"class_type": "LoadImage", "inputs": {"image": "depth_vis.png"}},
        "2": {"class_type": "VBDecodeDepth", "inputs": {
            "image": ["1", 0], "mode": "exact", "group": 1, "fit": "stretch", "width": 0, "height": 0,
            "min_confidence": 0.0, "preview": "fixed", "colormap": "inferno", "save": "npy+exr",
            "filename_prefix": "e2e/depth"}},
        # A graph that rescaled the visualization (2x, as edit models do) decodes back onto the original.
        "3": {"class_type": "ImageScaleBy", "inputs": {"image": ["1", 0], "upscale_method": "nearest-exact",
                                                       "scale_by": 2.0}},
        "4": {"class_type": "VBDecodeDepth", "inputs": {
            "image": ["3", 0], "reference": ["1", 0], "mode": "exact", "group": 1, "fit": "stretch",
            "width": 0, "height": 0, "min_confidence": 0.1, "preview": "batch", "colormap": "gray",
            "save": "npy", "filename_prefix": "e2e/rescaled"}},
        "5": {"class_type": "MaskToImage", "inputs": {"mask": ["2", 2]}},
        "6": {"class_type": "SaveImage", "inputs": {"images": ["5", 0], "filename_prefix": "e2e/valid"}},
    }
    history = server.queue(workflow)

    truth = truth_depth()
    finite = np.isfinite(truth)
    npy, exr = saved_files(history, "2")
    assert (npy["subfolder"], npy["filename"]) == ("e2e", "depth_00001_.npy")
    depth = load_saved(server, npy)
    assert depth.dtype == np.float32 and depth.shape == truth.shape
    assert np.isinf(depth[~finite]).all()
    assert np.max(np.abs(depth[finite] - truth[finite]) / truth[finite]) < 0.01
    png = get_task("depth").encode(truth)
    np.testing.assert_array_equal(depth, get_task("depth").codec.decode(png, mode="exact").values)
    exr_depth = read_exr(server.output_dir / exr["subfolder"] / exr["filename"])["Y"]
    np.testing.assert_array_equal(exr_depth, depth)

    rescaled = load_saved(server, saved_files(history, "4")[0])
    assert rescaled.shape == truth.shape
    assert np.max(np.abs(rescaled[finite] - truth[finite]) / truth[finite]) < 0.01

    from PIL import Image

    valid_entry = history["outputs"]["6"]["images"][0]
    valid = np.asarray(Image.open(server.output_dir / valid_entry["subfolder"] / valid_entry["filename"]))
    np.testing.assert_array_equal(valid[..., 0] > 127, finite)  # sky (inf) is not valid metric depth
    assert history["outputs"]["2"]["images"][0]["type"] == "temp"  # the preview


def test_gray_pictures_decode_to_float_relative_depth_and_an_alpha_mask(server):
    from PIL import Image

    workflow = {
        "1": {"class_type": "LoadImage", "inputs": {"image": "gray_ramp.png"}},
        "2": {"class_type": "VBPrompt", "inputs": {"task": "relative-depth", "classes": "", "expression": "",
                                                  "dialect": "vision-banana", "scheme": "(default)",
                                                  "options": '{"encodes": "inverse"}'}},
        "3": {"class_type": "VBDecodeRelativeDepth", "inputs": {
            "image": ["1", 0], "spec": ["2", 1], "mode": "exact", "group": 1, "fit": "stretch", "width": 0,
            "height": 0, "min_confidence": 0.1, "colormap": "inferno", "save": "npy",
            "filename_prefix": "e2e/relative"}},
        "4": {"class_type": "VBDecodeMatting", "inputs": {
            "image": ["1", 0], "mode": "exact", "group": 1, "fit": "stretch", "width": 0, "height": 0,
            "threshold": 0.5}},
        "5": {"class_type": "MaskToImage", "inputs": {"mask": ["4", 1]}},
        "6": {"class_type": "SaveImage", "inputs": {"images": ["5", 0], "filename_prefix": "e2e/foreground"}},
    }
    history = server.queue(workflow)
    info = server.object_info()
    assert info["VBDecodeRelativeDepth"]["output"] == ["VB_RELATIVE_DEPTH", "IMAGE", "IMAGE", "MASK", "IMAGE"]
    assert info["VBDecodeMatting"]["output"] == ["MASK", "MASK", "IMAGE", "IMAGE"]
    relative = load_saved(server, saved_files(history, "3")[0])
    expected = gray_ramp().astype(np.float32) / 255.0
    assert relative.dtype == np.float32
    np.testing.assert_array_equal(relative, expected)  # float values in 0..1, not metres, not 8-bit
    entry = history["outputs"]["6"]["images"][0]
    foreground = np.asarray(Image.open(server.output_dir / entry["subfolder"] / entry["filename"]).convert("L"))
    np.testing.assert_array_equal(foreground > 127, expected > 0.5)


def test_prompt_generate_decode_graph_with_a_diffusers_pipeline(server):
    from PIL import Image

    from vb_plugins import get_task
    from vb_plugins.ensemble import combine_depth
    from vb_plugins.kinds import resize_combined

    workflow = {
        "1": {"class_type": "LoadImage", "inputs": {"image": "photo.png"}},
        "2": {"class_type": "VBPrompt", "inputs": {"task": "depth", "classes": "", "expression": "",
                                                  "dialect": "zero-shot", "scheme": "(default)", "options": ""}},
        "3": {"class_type": "VBLoadGenerator", "inputs": {"model": "tiny-klein", "lora": "(none)",
                                                          "device": "auto", "dtype": "auto",
                                                          "cpu_offload": False}},
        "4": {"class_type": "VBGenerate", "inputs": {
            "generator": ["3", 0], "image": ["1", 0], "spec": ["2", 1], "seed": 3, "steps": 2,
            "guidance": 0.0, "megapixels": 0.01, "ensemble": 2, "batch_size": 2, "dialect": "(model default)"}},
        "5": {"class_type": "VBDecodeDepth", "inputs": {
            "image": ["4", 0], "spec": ["2", 1], "group": ["4", 1], "reference": ["1", 0], "mode": "exact",
            "fit": "stretch", "width": 0, "height": 0, "min_confidence": 0.0, "preview": "batch",
            "colormap": "inferno", "save": "npy", "filename_prefix": "e2e/generated_depth"}},
        "6": {"class_type": "SaveImage", "inputs": {"images": ["4", 0], "filename_prefix": "e2e/generated"}},
    }
    began = time.monotonic()
    history = server.queue(workflow, timeout=300)
    seconds = time.monotonic() - began

    generated = history["outputs"]["6"]["images"]
    assert len(generated) == 2  # one image, one pass, two ensemble samples
    samples = [np.asarray(Image.open(server.output_dir / g["subfolder"] / g["filename"]).convert("RGB"))
               for g in generated]
    assert samples[0].shape == (80, 112, 3)  # ~0.01 MP, aspect kept, multiples of 16
    assert not np.array_equal(samples[0], samples[1])  # seeds 3 and 4
    depth = load_saved(server, saved_files(history, "5")[0])
    assert depth.shape == (45, 61)  # back on the input's grid
    task = get_task("depth")
    expected = resize_combined(combine_depth([task.codec.decode(s, mode="exact") for s in samples]), "depth", (45, 61))
    np.testing.assert_allclose(depth, expected.values, rtol=1e-5, atol=1e-6)
    assert seconds < 120


def test_bad_inputs_are_validation_errors_and_the_server_keeps_serving(server):
    decode = {"mode": "auto", "group": 1, "fit": "stretch", "width": 0, "height": 0}
    depth_widgets = {**decode, "min_confidence": 0.1, "preview": "batch", "colormap": "inferno", "save": "none",
                     "filename_prefix": "vb/depth"}

    def rejected(workflow) -> dict:
        with pytest.raises(PromptRejected) as error:
            server.queue(workflow)
        assert error.value.status == 400
        return error.value.response

    # A MASK where an IMAGE is expected.
    response = rejected({
        "1": {"class_type": "LoadImage", "inputs": {"image": "depth_vis.png"}},
        "2": {"class_type": "VBDecodeDepth", "inputs": {"image": ["1", 1], **depth_widgets}},
    })
    assert [e["type"] for e in response["node_errors"]["2"]["errors"]] == ["return_type_mismatch"]
    assert "received_type(MASK) mismatch input_type(IMAGE)" in response["error"]["details"]

    # A colour legend that does not parse.
    response = rejected({
        "1": {"class_type": "LoadImage", "inputs": {"image": "depth_vis.png"}},
        "2": {"class_type": "VBPrompt", "inputs": {"task": "semantic", "classes": "cat: red\nsky: bluurple",
                                                  "expression": "", "dialect": "vision-banana",
                                                  "scheme": "(default)", "options": ""}},
        "3": {"class_type": "VBDecodeSemantic", "inputs": {"image": ["1", 0], "spec": ["2", 1], "select": "",
                                                          **decode}},
    })
    errors = response["node_errors"]["2"]["errors"]
    assert {e["type"] for e in errors} == {"custom_validation_failed"}
    assert "classes: colour of 'sky' 'bluurple': not a CSS colour name" in errors[0]["details"]

    # A save prefix that would leave the output folder.
    response = rejected({
        "1": {"class_type": "LoadImage", "inputs": {"image": "depth_vis.png"}},
        "2": {"class_type": "VBDecodeDepth", "inputs": {"image": ["1", 0], **{**depth_widgets, "save": "npy",
                                                        "filename_prefix": "../../escaped/depth"}}},
    })
    assert "'..' would leave ComfyUI's output folder" in response["node_errors"]["2"]["errors"][0]["details"]
    assert not (server.output_dir.parent / "escaped").exists()

    # A model that is a path, not a name from the model folders.
    response = rejected({
        "1": {"class_type": "VBLoadGenerator", "inputs": {"model": "/etc", "lora": "../loras/x.safetensors",
                                                          "device": "auto", "dtype": "auto", "cpu_offload": False}},
        "2": {"class_type": "LoadImage", "inputs": {"image": "photo.png"}},
        "3": {"class_type": "VBPrompt", "inputs": {"task": "depth", "classes": "", "expression": "",
                                                  "dialect": "vision-banana", "scheme": "(default)", "options": ""}},
        "4": {"class_type": "VBGenerate", "inputs": {"generator": ["1", 0], "image": ["2", 0], "spec": ["3", 1],
                                                     "seed": 0, "steps": 1, "guidance": 0.0, "megapixels": 0.01,
                                                     "ensemble": 1, "batch_size": 1,
                                                     "dialect": "(model default)"}},
        "5": {"class_type": "PreviewImage", "inputs": {"images": ["4", 0]}},
    })
    assert "model '/etc': must be a name from the list, not a path" in \
        response["node_errors"]["1"]["errors"][0]["details"]

    # An empty batch cannot be seen before the graph runs: it fails in the node, with a clear message,
    # and the queue goes on.
    with pytest.raises(WorkflowFailed) as failed:
        server.queue({"1": {"class_type": "VBTestEmptyBatch", "inputs": {}},
                      "2": {"class_type": "VBDecodeDepth", "inputs": {"image": ["1", 0], **depth_widgets}}})
    assert failed.value.message["exception_message"].strip() == "image: the batch is empty (0 images)"
    assert failed.value.message["exception_type"] == "vb_plugins.errors.InputError"

    history = server.queue({
        "1": {"class_type": "LoadImage", "inputs": {"image": "depth_vis.png"}},
        "2": {"class_type": "VBDecodeDepth", "inputs": {"image": ["1", 0], **{**depth_widgets,
                                                                             "colormap": "turbo"}}},
    })
    assert history["status"]["status_str"] == "success"
    assert server.running


def example(name: str) -> dict:
    workflow = json.loads((PACK / "workflows" / f"{name}.api.json").read_text())
    for node in workflow.values():
        if node["class_type"] == "LoadImage":
            node["inputs"]["image"] = "photo.png"
    return workflow


def test_vb_generate_example_workflow_runs_end_to_end(server):
    """The shipped VB Generate example, with the tiny VBNet in place of the bundled model."""
    from PIL import Image

    from vb_plugins import get_task
    from vb_plugins.codecs import decode_mode
    from vb_plugins.kinds import resize_combined

    workflow = example("vb_generate_depth_normals")
    assert workflow["2"]["inputs"]["model"] == "bundled"
    workflow["2"]["inputs"]["model"] = "tiny-vbnet"
    history = server.queue(workflow, timeout=300)

    generated = history["outputs"]["9"]["images"]
    assert len(generated) == 3  # one photo, three samples
    samples = [np.asarray(Image.open(server.output_dir / g["subfolder"] / g["filename"]).convert("RGB"))
               for g in generated]
    task = get_task("depth")
    with decode_mode("auto"):
        combined = task.combine([[task.decode(s) for s in samples]], task.make_spec())
    expected = resize_combined(combined, "depth", (45, 61)).values
    depth = load_saved(server, saved_files(history, "5")[0])
    assert depth.shape == (45, 61) and depth.dtype == np.float32
    np.testing.assert_allclose(depth, expected, rtol=1e-5, atol=1e-6)
    normals = load_saved(server, saved_files(history, "8")[0])
    assert normals.shape == (45, 61, 3)
    length = np.linalg.norm(normals, axis=-1)
    assert np.all((np.abs(length - 1.0) < 1e-4) | (length == 0.0))  # unit vectors, zero where invalid
    assert history["outputs"]["10"]["images"][0]["type"] == "temp"


def test_native_edit_example_workflow_passes_validation_but_for_missing_checkpoints(server):
    """The Qwen-Image-Edit example validates node for node; only its checkpoint files are absent here."""
    status, response = server.submit(example("qwen_image_edit_depth"))
    assert status == 400, response
    missing = {(node_id, error["extra_info"]["input_name"])
               for node_id, entry in response["node_errors"].items() for error in entry["errors"]
               if error["type"] == "value_not_in_list"}
    others = [(node_id, error) for node_id, entry in response["node_errors"].items() for error in entry["errors"]
              if error["type"] != "value_not_in_list"]
    assert others == []
    assert missing == {("4", "unet_name"), ("5", "clip_name"), ("6", "vae_name")}


def test_cancel_stops_vb_generate_and_the_queue_goes_on(server):
    """POST /interrupt (the editor's Cancel) stops a long VB Generate between steps."""
    workflow = {
        "1": {"class_type": "LoadImage", "inputs": {"image": "photo.png"}},
        "2": {"class_type": "VBPrompt", "inputs": {"task": "normals", "classes": "", "expression": "",
                                                  "dialect": "zero-shot", "scheme": "(default)", "options": ""}},
        "3": {"class_type": "VBLoadGenerator", "inputs": {"model": "tiny-klein", "lora": "(none)",
                                                          "device": "auto", "dtype": "auto",
                                                          "cpu_offload": False}},
        "4": {"class_type": "VBGenerate", "inputs": {
            "generator": ["3", 0], "image": ["1", 0], "spec": ["2", 1], "seed": 11, "steps": 50,
            "guidance": 0.0, "megapixels": 0.01, "ensemble": 64, "batch_size": 1, "dialect": "(model default)"}},
        "5": {"class_type": "VBDecodeNormals", "inputs": {
            "image": ["4", 0], "group": ["4", 1], "mode": "auto", "fit": "stretch", "width": 0, "height": 0,
            "save": "npy", "filename_prefix": "e2e/cancelled"}},
    }
    status, response = server.submit(workflow)
    assert status == 200, response
    prompt_id = response["prompt_id"]
    deadline = time.monotonic() + 60
    while not any(item[1] == prompt_id for item in server.get_json("/queue")["queue_running"]):
        assert time.monotonic() < deadline, "the workflow never started"
        time.sleep(0.1)
    time.sleep(3.0)  # well into the 64 x 50 steps
    asked = time.monotonic()
    server.interrupt()
    history = server.wait(prompt_id, timeout=60)
    stopped_after = time.monotonic() - asked
    assert history["status"]["status_str"] == "error"
    interrupted = [m[1] for m in history["status"]["messages"] if m[0] == "execution_interrupted"]
    assert interrupted and interrupted[0]["node_type"] == "VBGenerate"
    assert stopped_after < 10
    assert not (server.output_dir / "e2e" / "cancelled_00001_.npy").exists()
    after = server.queue({"1": {"class_type": "LoadImage", "inputs": {"image": "depth_vis.png"}},
                          "2": {"class_type": "PreviewImage", "inputs": {"images": ["1", 0]}}})
    assert after["status"]["status_str"] == "success"

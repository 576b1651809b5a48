"""The ComfyUI node pack without ComfyUI: every node's function on tensors in ComfyUI's formats.

IMAGE is ``float32 [B, H, W, C]`` in 0..1 (C = 3, or 4 with alpha), MASK is ``float32 [B, H, W]``.
The pack imports here without ComfyUI installed (the nodes' logic lives in ComfyUI-free modules);
``tests/comfyui/test_vb_nodes_e2e.py`` runs the same nodes inside a real server.
"""

from __future__ import annotations

import ast
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import comfyui_nodes
from comfyui_nodes import decoding, files, generating, models, operations, prompting
from comfyui_nodes.tensors import image_batch, image_tensor, mask_batch
from vb_plugins import get_task
from vb_plugins.errors import CancelledError, InputError, ModelError

ROOT = Path(__file__).resolve().parents[2]
COMFYUI_MODULES = ("comfy", "comfy_api", "comfy_extras", "folder_paths", "nodes", "comfy_execution")


def as_image(*rgb: np.ndarray, alpha: np.ndarray | None = None) -> torch.Tensor:
    """uint8 H x W x 3 pictures -> a ComfyUI IMAGE batch (optionally RGBA)."""
    batch = np.stack(rgb).astype(np.float32) / 255.0
    if alpha is not None:
        batch = np.concatenate([batch, np.asarray(alpha, np.float32)[..., None]], axis=3)
    return torch.from_numpy(batch)


def to_uint8(image: torch.Tensor) -> np.ndarray:
    return np.rint(image.numpy() * 255.0).astype(np.uint8)


def scene_depth(height: int, width: int, far: float = 40.0, seed: int = 0) -> np.ndarray:
    """Smooth metric depth 0.4 .. ``far`` m with a little texture."""
    y, x = np.mgrid[0:height, 0:width]
    ramp = 0.4 * np.exp(x / max(width - 1, 1) * np.log(far / 0.4))
    return (ramp * (1.0 + 0.05 * np.sin(y / 2.0 + seed))).astype(np.float32)


def relative_error(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.max(np.abs(a - b) / b))


# -- the pack outside ComfyUI -------------------------------------------------------------------------

def test_pack_imports_without_comfyui_and_exports_no_nodes():
    for name in ("comfy", "comfy_api", "comfy_extras", "folder_paths", "comfy_execution"):
        assert name not in sys.modules, f"{name} was imported"
    assert not hasattr(comfyui_nodes, "NODE_CLASS_MAPPINGS")
    assert not hasattr(comfyui_nodes, "comfy_entrypoint")
    for module in ("schema_nodes", "decoder_nodes", "schema_common", "vlm_nodes"):
        assert f"comfyui_nodes.{module}" not in sys.modules
    for function in ("prompt", "encode", "generate", "decode_depth", "decode_normals", "decode_semantic",
                     "decode_instances", "decode_referring", "decode_any"):
        assert callable(getattr(operations, function))


def test_core_never_imports_comfyui():
    for path in (ROOT / "vb_plugins").rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            for name in names:
                assert name.split(".")[0] not in COMFYUI_MODULES + ("comfyui_nodes",), f"{path}: imports {name}"


def test_schema_layer_declares_every_operation_as_a_node():
    """The node classes (read from source: ComfyUI is not here) each call one operation."""
    source = "\n".join((ROOT / "comfyui_nodes" / name).read_text(encoding="utf-8")
                       for name in ("schema_nodes.py", "decoder_nodes.py"))
    tree = ast.parse(source)
    node_ids = [kw.value.value for node in ast.walk(tree) if isinstance(node, ast.Call)
                for kw in node.keywords if kw.arg == "node_id"]
    assert node_ids == ["VBPrompt", "VBEncode", "VBLoadGenerator", "VBGenerate", "VBDecodeDepth",
                        "VBDecodeNormals", "VBDecodeRelativeDepth", "VBDecodeMatting", "VBDecodeSemantic",
                        "VBDecodeInstances", "VBDecodeReferring", "VBDecode"]
    called = {node.func.attr for node in ast.walk(tree) if isinstance(node, ast.Call)
              and isinstance(node.func, ast.Attribute) and isinstance(node.func.value, ast.Name)
              and node.func.value.id == "operations"}
    assert called == {"prompt", "encode", "generate", "decode_depth", "decode_normals", "decode_relative_depth",
                      "decode_matting", "decode_semantic", "decode_instances", "decode_referring", "decode_any"}


# -- VB Prompt ----------------------------------------------------------------------------------------

def test_prompt_choices_come_from_the_registry():
    assert prompting.task_choices() == ["depth", "normals", "semantic", "instance", "referring", "relative-depth",
                                        "matting"]
    assert {"vision-banana", "zero-shot"} <= set(prompting.dialect_choices())
    assert prompting.scheme_choices()[0] == prompting.DEFAULT
    assert {"vision-banana", "plasma", "gray"} <= set(prompting.scheme_choices())


def test_prompt_parses_legend_lines_json_and_bare_names():
    (text, spec, spec_json), preview = operations.prompt(
        "semantic", "cat: red\nsky = #87ceeb\nroad: (128, 64, 128), tree in <0, 128, 0>", "", "vision-banana")
    assert preview is None
    assert spec.class_names == ["cat", "sky", "road", "tree"]
    np.testing.assert_array_equal(spec.class_colours, [[255, 0, 0], [135, 206, 235], [128, 64, 128], [0, 128, 0]])
    assert "cat" in text and "semantic segmentation" in text
    assert json.loads(spec_json)["classes"]["road"] == [128, 64, 128]

    (_, from_json, _), _ = operations.prompt("semantic", '{"cat": "red", "background": "#ffff00"}')
    np.testing.assert_array_equal(from_json.class_colours, [[255, 0, 0], [255, 255, 0]])

    (_, bare, _), _ = operations.prompt("semantic", "cat, dog, person")
    colours = [tuple(c) for c in bare.class_colours]
    assert bare.class_names == ["cat", "dog", "person"] and len(set(colours)) == 3

    (text, referring, _), _ = operations.prompt("referring", expression="the red car")
    assert referring.expression == "the red car" and "the red car" in text.lower()


def test_prompt_scheme_and_options_reach_the_spec():
    (_, spec, _), _ = operations.prompt("depth", scheme="plasma")
    assert spec.scheme == "plasma"
    (_, spec, _), _ = operations.prompt("instance", "car", options='{"tolerance": 40}')
    assert spec.option("tolerance") == 40


@pytest.mark.parametrize(("task", "classes", "options", "message"), [
    ("semantic", "cat: red\nsky: bluurple", "", "classes: colour of 'sky' 'bluurple': not a CSS colour name"),
    ("semantic", '{"cat": "red",', "", "classes: not valid JSON"),
    ("semantic", "cat: red\ndog: #ff0000", "", "classes: 'cat' and 'dog' share the colour"),
    ("semantic", "cat: (300, 0, 0)", "", "classes: "),
    ("semantic", ": red", "", "has no class name"),
    ("depth", "", "{not json", "options: not valid JSON"),
    ("depth", "", "[1, 2]", "options: expected a JSON object"),
    ("dept", "", "", "task 'dept': not one of depth, normals"),
])
def test_prompt_refuses_bad_legends_and_options_with_one_line(task, classes, options, message):
    with pytest.raises(InputError) as error:
        operations.prompt(task, classes, options=options)
    assert message in str(error.value)
    assert "\n" not in str(error.value)


def test_a_third_party_task_and_scheme_appear_in_the_choices_and_decode(monkeypatch):
    """The example plugin (one task, one colour scheme) shows up with no change to the pack."""
    from vb_plugins.registry import Registry, reset_registry

    monkeypatch.syspath_prepend(str(ROOT / "examples" / "vb-plugin-example"))
    import vb_plugin_example

    reset_registry(Registry(entry_points=False, plugins=[vb_plugin_example]))
    try:
        tasks = prompting.task_choices()
        assert tasks[:5] == ["depth", "normals", "semantic", "instance", "referring"] and "edges" in tasks
        added_schemes = set(prompting.scheme_choices()) - {prompting.DEFAULT, "vision-banana", "plasma", "inferno",
                                                            "viridis", "gray"}
        assert added_schemes, "the plugin's colour scheme is missing"
        (text, spec, _), _ = operations.prompt("edges", options='{"threshold": 0.4}')
        assert "boundaries" in text
        edges = np.zeros((2, 9, 13), dtype=bool)
        edges[0, 4, :] = True
        edges[1, :, 6] = True
        painted = [np.repeat((e * 255).astype(np.uint8)[..., None], 3, axis=2) for e in edges]
        values, preview, confidence, uncertainty = operations.decode_any(as_image(*painted), spec)[0]
        np.testing.assert_array_equal(np.stack(values.values), edges)
        assert preview.shape == (2, 9, 13, 3) and confidence.shape == (2, 9, 13)
        np.testing.assert_array_equal(preview.numpy()[..., 0] > 0.5, edges)
    finally:
        reset_registry(None)


# -- VB Decode Depth / VB Encode -----------------------------------------------------------------------

def test_decode_depth_gives_encoded_metric_depth_back_within_the_codec_bound():
    truth = [scene_depth(37, 53, seed=s) for s in range(3)]  # batch 3, odd size
    truth[1][:4, :6] = np.inf  # sky: the far end of the colour path
    task = get_task("depth")
    pictures = [task.encode(d) for d in truth]
    # min_confidence 0: the valid mask as coverage and finiteness (this steep 100x ramp over 53 px is read
    # exactly, but its reliability (issue 23) is not certain there; the default mask is tested in
    # test_decode_reliability.py)
    (depth, preview, valid, uncertainty), shown, saved = operations.decode_depth(as_image(*pictures), mode="exact",
                                                                                 min_confidence=0.0)

    assert saved == [] and shown is preview
    assert depth.depth.shape == (3, 37, 53) and depth.depth.dtype == np.float32
    finite = np.isfinite(np.stack(truth))
    assert np.isinf(depth.depth[~finite]).all()
    assert relative_error(depth.depth[finite], np.stack(truth)[finite]) < 0.01  # 8-bit path, < 40 m
    for i, picture in enumerate(pictures):  # exactly what the core decoder reads
        np.testing.assert_array_equal(depth.depth[i], task.codec.decode(picture, mode="exact").values)
    assert valid.dtype == torch.float32 and valid.shape == (3, 37, 53)
    np.testing.assert_array_equal(valid.numpy() > 0.5, finite)
    assert preview.shape == (3, 37, 53, 3) and uncertainty.shape == (3, 37, 53, 3)
    assert float(uncertainty.min()) >= 0.0 and float(uncertainty.max()) <= 1.0
    # one sample: the uncertainty is 1 - the reliability (issue 23; no longer 0 on any on-path colour)
    np.testing.assert_allclose(uncertainty[0].numpy()[..., 0], 1.0 - depth.confidence[0], atol=1e-6)
    # Near is bright: the nearest column outshines the farthest in the batch-normalised preview.
    assert preview[0, :, 0].mean() > preview[0, :, -1].mean() + 0.3

    # VB Encode paints the decoded depth back into the same picture.
    (image,), _ = operations.encode(depth=depth)
    assert image.shape == (3, 37, 53, 3)
    np.testing.assert_array_equal(to_uint8(image), np.stack(pictures))


def test_fixed_depth_preview_is_the_same_mapping_in_every_batch():
    d = np.array([[[0.0, 10.0, 30.0]]], dtype=np.float32)
    picture = decoding.depth_preview(d, np.ones_like(d, bool), "fixed", "gray")
    np.testing.assert_array_equal(picture[0, 0, :, 0], np.rint(np.array([1.0, 0.25, 1 / 16]) * 255))
    alone = decoding.depth_preview(d[:, :, 1:2], np.ones((1, 1, 1), bool), "fixed", "gray")
    assert alone[0, 0, 0, 0] == picture[0, 0, 1, 0]


def test_alpha_channel_marks_transparent_pixels_invalid():
    truth = scene_depth(21, 31)
    picture = get_task("depth").encode(truth)
    alpha = np.ones((1, 21, 31), np.float32)
    alpha[0, 10:, 15:] = 0.0
    (depth, _, valid, uncertainty), _, _ = operations.decode_depth(as_image(picture, alpha=alpha), mode="exact",
                                                                   min_confidence=0.0)  # coverage: see above
    opaque = alpha[0] > 0.5
    np.testing.assert_array_equal(valid.numpy()[0] > 0.5, opaque)
    assert np.isnan(depth.depth[0][~opaque]).all()
    assert relative_error(depth.depth[0][opaque], truth[opaque]) < 0.01
    assert (uncertainty.numpy()[0][~opaque] == 1.0).all()


def test_ensemble_group_takes_the_median_and_reports_the_spread():
    truth = scene_depth(15, 19, far=8.0)
    task = get_task("depth")
    samples = [task.encode(truth * f) for f in (0.9, 1.0, 1.2)]
    other = task.encode(truth * 2.0)
    batch = as_image(*samples, other, other, other)  # two inputs, three samples each
    (depth, _, _, uncertainty), _, _ = operations.decode_depth(batch, mode="exact", group=3)
    assert depth.depth.shape == (2, 15, 19)
    assert relative_error(depth.depth[0], truth) < 0.01
    assert relative_error(depth.depth[1], truth * 2.0) < 0.01
    assert depth.spread is not None and float(depth.spread[1].max()) == 0.0
    assert float(np.median(depth.spread[0] / truth)) > 0.05  # 0.9 .. 1.2 x depth disagree
    assert float(uncertainty[0].mean()) > float(uncertainty[1].mean())


def test_decoded_depth_lines_up_with_a_reference_the_graph_rescaled_or_cropped():
    task = get_task("depth")
    truth = scene_depth(30, 40, far=20.0)
    # A graph that rescaled the 30 x 40 input to 60 x 80: stretch back onto the reference.
    upscaled = np.repeat(np.repeat(task.encode(truth), 2, axis=0), 2, axis=1)
    reference = torch.zeros((1, 30, 40, 3))
    (depth, *_), _, _ = operations.decode_depth(as_image(upscaled), mode="exact", reference=reference)
    assert depth.depth.shape == (1, 30, 40)
    assert relative_error(depth.depth[0], truth) < 0.01
    # An explicit width keeps the aspect ratio.
    (depth, *_), _, _ = operations.decode_depth(as_image(upscaled), mode="exact", width=20)
    assert depth.depth.shape == (1, 15, 20)
    # A graph that centre-cropped a 30 x 60 input to its middle 30 x 40: outside is no data.
    wide = torch.zeros((1, 30, 60, 3))
    (depth, _, valid, _), _, _ = operations.decode_depth(as_image(task.encode(truth)), mode="exact", fit="crop",
                                                         reference=wide, min_confidence=0.0)  # coverage only
    assert depth.depth.shape == (1, 30, 60)
    assert np.isnan(depth.depth[0, :, :10]).all() and np.isnan(depth.depth[0, :, 50:]).all()
    assert relative_error(depth.depth[0, :, 10:50], truth) < 0.01
    assert valid.numpy()[0, :, 10:50].all() and not valid.numpy()[0, :, :10].any()


def test_depth_saves_npy_and_exr_inside_the_output_folder(tmp_path):
    truth = [scene_depth(11, 17), scene_depth(11, 17, far=5.0)]
    pictures = [get_task("depth").encode(d) for d in truth]
    output = tmp_path / "output"
    output.mkdir()
    (depth, *_), _, saved = operations.decode_depth(as_image(*pictures), mode="exact", save="npy+exr",
                                                    filename_prefix="runs/depth", output_dir=output)
    assert [(s["subfolder"], s["filename"], s["type"]) for s in saved] == [
        ("runs", "depth_00001_.npy", "output"), ("runs", "depth_00001_.exr", "output"),
        ("runs", "depth_00002_.npy", "output"), ("runs", "depth_00002_.exr", "output")]
    np.testing.assert_array_equal(np.load(output / "runs" / "depth_00002_.npy"), depth.depth[1])
    np.testing.assert_array_equal(files.read_exr(output / "runs" / "depth_00001_.exr")["Y"], depth.depth[0])
    # The next run numbers on; nothing is overwritten.
    _, _, again = operations.decode_depth(as_image(pictures[0]), mode="exact", save="npy",
                                          filename_prefix="runs/depth", output_dir=output)
    assert again[0]["filename"] == "depth_00003_.npy"


# -- VB Decode Normals ----------------------------------------------------------------------------------

def random_normals(height: int, width: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    n = rng.normal(size=(height, width, 3))
    n[..., 2] = np.abs(n[..., 2]) + 0.3  # facing the camera
    return (n / np.linalg.norm(n, axis=2, keepdims=True)).astype(np.float32)


def test_decode_normals_gives_unit_normals_back_and_flags_off_sphere_colours(tmp_path):
    task = get_task("normals")
    truth = [random_normals(13, 27, s) for s in (1, 2)]
    pictures = [task.encode(n) for n in truth]
    pictures[1][:3, :3] = (255, 255, 255)  # |2 rgb - 1| = sqrt(3): not a normal (e.g. painted sky)
    (normals, preview, valid, uncertainty), _, saved = operations.decode_normals(
        as_image(*pictures), mode="exact", save="exr", filename_prefix="n", output_dir=tmp_path)
    assert normals.normals.shape == (2, 13, 27, 3)
    good = valid.numpy() > 0.5
    assert not good[1, :3, :3].any() and good[0].all()
    cosine = np.sum(normals.normals * np.stack(truth), axis=-1)[good]
    assert np.degrees(np.arccos(np.clip(cosine, -1, 1))).max() < 1.5  # 8-bit quantisation
    np.testing.assert_allclose(np.linalg.norm(normals.normals[good], axis=-1), 1.0, atol=1e-5)
    exr = files.read_exr(tmp_path / saved[0]["filename"])
    np.testing.assert_array_equal(np.stack([exr["R"], exr["G"], exr["B"]], axis=-1), normals.normals[0])
    assert preview.shape == (2, 13, 27, 3) and uncertainty.shape == (2, 13, 27, 3)
    (image,), _ = operations.encode(normals=normals)
    assert np.abs(to_uint8(image)[0].astype(int) - pictures[0]).max() <= 1  # renormalised, re-quantised


# -- VB Decode Semantic / Instances / Referring ----------------------------------------------------------

def label_map(height: int, width: int, shift: int) -> np.ndarray:
    y, x = np.mgrid[0:height, 0:width]
    return ((x + shift) // 7 % 3 + 1 + (y > height // 2)).clip(1, 3).astype(np.int32)


def test_decode_semantic_gives_one_mask_per_class_image_major():
    (_, spec, _), _ = operations.prompt("semantic", "cat: red\nsky: #87ceeb\nroad: (128, 64, 128)")
    truth = [label_map(19, 23, 0), label_map(19, 23, 4)]
    truth[1][0, 0] = 0  # unlabeled
    pictures = [get_task("semantic").encode(t, spec) for t in truth]
    masks, selected, labels, preview, uncertainty, names = operations.decode_semantic(
        as_image(*pictures), spec, mode="exact", select="sky")[0]
    assert json.loads(names) == ["cat", "sky", "road"]
    assert masks.shape == (6, 19, 23)
    for i in range(2):
        for k in range(3):
            np.testing.assert_array_equal(masks[i * 3 + k].numpy() > 0.5, truth[i] == k + 1)
    np.testing.assert_array_equal(selected.numpy() > 0.5, np.stack(truth) == 2)
    np.testing.assert_array_equal(labels.labels, np.stack(truth))
    np.testing.assert_array_equal(to_uint8(preview)[0], pictures[0])  # painted in the legend colours
    (image,), _ = operations.encode(labels=labels)
    np.testing.assert_array_equal(to_uint8(image), np.stack(pictures))
    with pytest.raises(InputError, match="select 'dog': not a class of the legend"):
        operations.decode_semantic(as_image(*pictures), spec, select="dog")


def test_decode_instances_gives_a_mask_per_instance():
    ids = np.zeros((2, 25, 31), dtype=np.int32)
    ids[0, 2:12, 3:14] = 1
    ids[0, 14:24, 16:30] = 2
    ids[1, 5:20, 5:25] = 1
    (_, spec, _), _ = operations.prompt("instance", "car", options='{"min_area": 20}')
    pictures = [get_task("instance").encode(i, spec) for i in ids]
    masks, count, labels, preview, uncertainty, records = operations.decode_instances(
        as_image(*pictures), spec, mode="exact")[0]
    records = json.loads(records)
    assert count == 3 and masks.shape == (3, 25, 31)
    assert [(r["image"], r["area"]) for r in records] == [(0, 110), (0, 140), (1, 300)]
    truth = sorted([ids[0] == 1, ids[0] == 2], key=lambda m: -m.sum())
    found = sorted([masks[0].numpy() > 0.5, masks[1].numpy() > 0.5], key=lambda m: -m.sum())
    for a, b in zip(truth, found):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(masks[2].numpy() > 0.5, ids[1] == 1)
    assert preview.shape == (2, 25, 31, 3)
    (image,), _ = operations.encode(labels=labels)  # repainted with the decoded instance colours
    np.testing.assert_array_equal(to_uint8(image), np.stack(pictures))


def test_referring_mask_round_trips_through_encode_and_decode():
    mask = np.zeros((2, 17, 21), dtype=np.float32)
    mask[0, 3:9, 4:15] = 1.0
    mask[1, 10:, :5] = 1.0
    (_, spec, _), _ = operations.prompt("referring", expression="the mug")
    (image,), _ = operations.encode(mask=torch.from_numpy(mask), spec=spec)
    decoded, preview, uncertainty = operations.decode_referring(image, spec, mode="exact")[0]
    np.testing.assert_array_equal(decoded.numpy(), mask)
    np.testing.assert_array_equal(preview.numpy()[..., 0], mask)
    assert decoded.dtype == torch.float32 and uncertainty.shape == (2, 17, 21, 3)


def test_encode_needs_exactly_one_input():
    with pytest.raises(InputError, match="connect exactly one of depth, normals, labels or mask"):
        operations.encode()
    depth = operations.decode_depth(as_image(get_task("depth").encode(scene_depth(5, 5))))[0][0]
    with pytest.raises(InputError, match=r"\(got depth, mask\)"):
        operations.encode(depth=depth, mask=torch.ones((1, 5, 5)))


# -- bad input --------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("tensor", "message"), [
    (torch.ones((2, 8, 8)), "image: got a MASK-shaped tensor [2, 8, 8]"),
    (torch.zeros((0, 8, 8, 3)), "image: the batch is empty (0 images)"),
    (torch.zeros((1, 0, 8, 3)), "image: images are empty (0 x 8 pixels)"),
    (torch.zeros((1, 8, 8, 2)), "image: expected 1, 3 or 4 channels, got 2"),
    (torch.full((1, 4, 4, 3), float("nan")), "image: contains NaN or infinite values"),
    (torch.full((1, 4, 4, 3), 255.0), "image: values must lie in 0..1, found 255..255"),
    (None, "image: nothing is connected"),
])
def test_bad_images_are_refused_with_one_line(tensor, message):
    for decode in (operations.decode_depth, operations.decode_normals, operations.decode_referring,
                   operations.decode_instances):
        with pytest.raises(InputError) as error:
            decode(tensor)
        assert str(error.value).startswith(message)


def test_bad_masks_batches_and_specs_are_refused():
    with pytest.raises(InputError, match="mask: got an IMAGE-shaped tensor"):
        mask_batch(torch.ones((1, 4, 4, 3)))
    with pytest.raises(InputError, match=r"mask: the batch is empty \(0 masks\)"):
        operations.encode(mask=torch.zeros((0, 4, 4)))
    picture = as_image(*[get_task("depth").encode(scene_depth(6, 6))] * 3)
    with pytest.raises(InputError, match="a batch of 3 images does not split into groups of 2"):
        operations.decode_depth(picture, group=2)
    (_, semantic, _), _ = operations.prompt("semantic", "cat: red")
    with pytest.raises(InputError, match="spec: task 'semantic' decodes to labels, this node decodes depth"):
        operations.decode_depth(picture, semantic)
    with pytest.raises(InputError, match="spec: connect the spec output of VB Prompt"):
        operations.decode_semantic(picture, None)
    with pytest.raises(InputError, match="mode 'fast': expected one of"):
        operations.decode_depth(picture, mode="fast")
    with pytest.raises(InputError, match="group=0: must be a whole number"):
        decoding.check_decode_options(group=0)


def test_gray_and_float_inputs_are_read_as_8_bit_colours():
    picture = get_task("depth").encode(scene_depth(9, 11))
    rgb, opaque = image_batch(as_image(picture))
    np.testing.assert_array_equal(rgb[0], picture)
    assert opaque is None
    gray, _ = image_batch(torch.full((1, 3, 3, 1), 0.5))
    assert gray.shape == (1, 3, 3, 3) and (gray == 128).all()
    np.testing.assert_array_equal(to_uint8(image_tensor(picture[None])), picture[None])


# -- save paths ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("prefix", ["../../x", "a/../../x", "/etc/x", "C:/x", "..\\..\\x", "", "   ", "a\x00b"])
def test_save_prefixes_that_would_leave_the_output_folder_are_refused(tmp_path, prefix):
    output = tmp_path / "output"
    output.mkdir()
    picture = as_image(get_task("depth").encode(scene_depth(5, 5)))
    with pytest.raises(InputError, match="filename_prefix"):
        operations.decode_depth(picture, save="npy", filename_prefix=prefix, output_dir=output)
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["output"]


def test_a_link_inside_the_output_folder_cannot_lead_out(tmp_path):
    output, outside = tmp_path / "output", tmp_path / "outside"
    output.mkdir()
    outside.mkdir()
    (output / "link").symlink_to(outside, target_is_directory=True)
    with pytest.raises(InputError, match="leads out of ComfyUI's output folder"):
        files.save_arrays(output, "link/depth", [np.zeros((2, 2), np.float32)], "npy")
    assert list(outside.iterdir()) == []
    saved = files.save_arrays(output, "./a/./b/depth", [np.zeros((2, 2), np.float32)], "npy")
    assert (output / "a" / "b" / "depth_00001_.npy").is_file() and saved[0]["subfolder"] == "a/b"


def test_save_needs_a_known_format_and_an_output_folder():
    picture = as_image(get_task("depth").encode(scene_depth(5, 5)))
    with pytest.raises(InputError, match="save 'png': expected one of none, npy, exr, npy\\+exr"):
        operations.decode_depth(picture, save="png")
    with pytest.raises(InputError, match="save: no output folder"):
        operations.decode_depth(picture, save="npy")


# -- model and LoRA resolution ------------------------------------------------------------------------------

@pytest.fixture
def model_folders(tmp_path):
    """Two model folders with a diffusers-style pipeline dir, a VBNet dir and a plain folder."""
    first, second = tmp_path / "models" / "diffusers", tmp_path / "models" / "vision_banana"
    (first / "org" / "pipe").mkdir(parents=True)
    (first / "org" / "pipe" / "model_index.json").write_text("{}")
    (first / "org" / "pipe" / "unet").mkdir()
    (first / "org" / "pipe" / "unet" / "model_index.json").write_text("{}")  # a component, not a model
    (first / "empty").mkdir()
    (second / "mine").mkdir(parents=True)
    (second / "mine" / "vb_model.json").write_text("{}")
    secret = tmp_path / "secret"
    secret.mkdir()
    (secret / "model_index.json").write_text("{}")
    return [first, second]


def test_models_resolve_only_to_pipelines_inside_the_model_folders(model_folders, tmp_path):
    assert models.model_choices(model_folders, None) == ["bundled", "mine", "org/pipe"]
    assert models.resolve_model("org/pipe", model_folders, None) == str(model_folders[0] / "org" / "pipe")
    assert models.resolve_model("mine", model_folders, None) == str(model_folders[1] / "mine")
    for name in ("/etc", str(tmp_path / "secret"), "../secret", "org/../../secret", "~/x", "empty", "org/pipe/unet"):
        with pytest.raises(InputError) as error:
            models.resolve_model(name, model_folders, None)
        assert f"model {name!r}" in str(error.value)


def test_models_in_the_hugging_face_cache_resolve_to_their_snapshot(tmp_path):
    cache = tmp_path / "hub"
    repo = cache / "models--acme--edit-model"
    (repo / "snapshots" / "abc123").mkdir(parents=True)
    (repo / "snapshots" / "abc123" / "model_index.json").write_text("{}")
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("abc123")
    (cache / "models--acme--no-pipeline" / "snapshots" / "x").mkdir(parents=True)
    assert models.model_choices([], cache) == ["bundled", "hf:acme/edit-model"]
    assert models.resolve_model("hf:acme/edit-model", [], cache) == str(repo / "snapshots" / "abc123")
    with pytest.raises(InputError, match="not in the local Hugging Face cache .* nothing is downloaded"):
        models.resolve_model("hf:acme/other", [], cache)


def test_loras_must_be_safetensors_inside_the_lora_folders(tmp_path):
    loras = tmp_path / "loras"
    (loras / "style").mkdir(parents=True)
    (loras / "style" / "ink.safetensors").write_bytes(b"")
    (loras / "old.pt").write_bytes(b"")
    (tmp_path / "outside.safetensors").write_bytes(b"")
    assert models.lora_choices([loras]) == ["(none)", "style/ink.safetensors"]
    assert models.resolve_lora("(none)", [loras]) is None
    assert models.resolve_lora("style/ink.safetensors", [loras]) == str(loras / "style" / "ink.safetensors")
    with pytest.raises(InputError, match="LoRA weights must be .safetensors"):
        models.resolve_lora("old.pt", [loras])
    with pytest.raises(InputError, match="must be a name from the list, not a path"):
        models.resolve_lora("../outside.safetensors", [loras])
    with pytest.raises(InputError, match="not found in ComfyUI's loras folders"):
        models.resolve_lora("missing.safetensors", [loras])


# -- VB Load Generator / VB Generate ------------------------------------------------------------------------

def tiny_vbnet(path: Path) -> Path:
    from vb_plugins.generation.bundled import save_vbnet
    from vb_plugins.generation.vbnet import VBNet, VBNetConfig

    torch.manual_seed(0)
    config = VBNetConfig(channels=(8, 16), cond_dim=16, text_vocab=64, resolution=32, multiple=2, default_steps=1)
    return save_vbnet(VBNet(config), path)


def test_load_generator_loads_a_vbnet_from_a_model_folder_and_generates(tmp_path):
    folder = tmp_path / "vision_banana"
    tiny_vbnet(folder / "tiny")
    loaded = generating.load("tiny", None, [folder], [], None, device="auto", auto_device="cpu")
    assert loaded.describe()["model"] == "tiny"
    (_, spec, _), _ = operations.prompt("depth")
    photo = as_image(*np.random.default_rng(0).integers(0, 256, (2, 21, 33, 3), dtype=np.uint8))
    (images, group, text), _ = operations.generate(loaded, photo, spec, seed=5, ensemble=2)
    assert group == 2 and images.shape[0] == 4 and images.shape[-1] == 3
    assert images.shape[1] % 2 == 0 and images.shape[2] % 2 == 0 and images.shape[2] > images.shape[1]
    assert text == get_task("depth").prompt(spec, "vision-banana")
    assert not torch.equal(images[0], images[1])  # seeds 5 and 6
    (again, _, _), _ = operations.generate(loaded, photo[1:], spec, seed=5, ensemble=2)
    torch.testing.assert_close(again, images[2:])  # an image's samples do not depend on the batch
    # Weights that are not safetensors are refused.
    (folder / "pickled").mkdir()
    (folder / "pickled" / "vb_model.json").write_text((folder / "tiny" / "vb_model.json").read_text())
    (folder / "pickled" / "model.bin").write_bytes(b"")
    with pytest.raises(ModelError, match="model.safetensors"):
        generating.load("pickled", None, [folder], [], None, auto_device="cpu")


def painting_generator(truth_of):
    """A 'perfect model': paints the encoded depth of each input (known from its mean colour)."""
    from vb_plugins.testing.generators import PaintingGenerator

    task = get_task("depth")

    def paint(image, prompt):
        assert "depth" in prompt
        return task.encode(truth_of(image))

    return generating.LoadedGenerator(PaintingGenerator(paint, megapixels=0.003), "painting", None)


def test_generate_then_decode_returns_the_depth_on_the_input_grid():
    def smooth_depth(height, width, far):
        """Depth as a function of the relative position, so any resampling of it stays close."""
        y, x = np.mgrid[0:height, 0:width]
        return (0.5 * (far / 0.5) ** (x / (width - 1)) * (1.0 + 0.2 * y / (height - 1))).astype(np.float32)

    def truth_of(image):
        return smooth_depth(*image.shape[:2], far=5.0 + image.mean() / 10.0)

    loaded = painting_generator(truth_of)
    (_, spec, _), _ = operations.prompt("depth")
    photos = as_image(np.full((27, 45, 3), 10, np.uint8), np.full((27, 45, 3), 200, np.uint8))
    calls = []
    (images, group, _), _ = operations.generate(loaded, photos, spec, ensemble=3, batch_size=2,
                                                progress=lambda done, total: calls.append((done, total)))
    assert images.shape == (6, 40, 72, 3) and group == 3  # ~0.003 MP, aspect kept, multiples of 8
    assert calls[-1][0] == calls[-1][1] and [c[0] for c in calls] == sorted(c[0] for c in calls)
    (depth, *_), _, _ = operations.decode_depth(images, spec, mode="exact", group=group, reference=photos)
    assert depth.depth.shape == (2, 27, 45)
    for i, level in enumerate((10, 200)):
        expected = smooth_depth(27, 45, far=5.0 + level / 10.0)
        assert relative_error(depth.depth[i], expected) < 0.05  # painted at 40 x 72, resized to 27 x 45
    assert depth.depth[1].max() > depth.depth[0].max() * 2


def test_generate_stops_when_asked_and_checks_its_inputs():
    loaded = painting_generator(lambda image: scene_depth(*image.shape[:2]))
    (_, spec, _), _ = operations.prompt("depth")
    photo = as_image(np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(CancelledError):
        operations.generate(loaded, photo, spec, should_stop=lambda: True)
    with pytest.raises(InputError, match="image: got a MASK-shaped tensor"):
        operations.generate(loaded, torch.ones((1, 8, 8)), spec)
    with pytest.raises(InputError, match="generator: expected the output of VB Load Generator"):
        operations.generate(object(), photo, spec)
    with pytest.raises(InputError, match="ensemble=0: must be a whole number from 1 to 64"):
        operations.generate(loaded, photo, spec, ensemble=0)
    (_, semantic, _), _ = operations.prompt("semantic", "cat: red", options='{"passes": 2}')
    with pytest.raises(InputError, match="prompt: the spec has 2 passes"):
        operations.generate(loaded, photo, semantic, prompt="paint it")
    with pytest.raises(InputError, match="device 'tpu'"):
        generating.load("bundled", None, [], [], None, device="tpu")


# -- example workflows ---------------------------------------------------------------------------------------

def test_example_workflows_are_current_and_their_ui_format_matches_the_api_format():
    """Each example ships in API format (run by the end-to-end test) and in the editor's UI format with
    the same nodes, widget values and links."""
    sys.path.insert(0, str(ROOT / "comfyui_nodes" / "workflows"))
    try:
        import make_workflows
    finally:
        sys.path.pop(0)
    folder = ROOT / "comfyui_nodes" / "workflows"
    assert sorted(p.name for p in folder.glob("*.json")) == sorted(
        f"{name}{suffix}" for name in make_workflows.EXAMPLES for suffix in (".api.json", ".json"))
    for name, make in make_workflows.EXAMPLES.items():
        api = json.loads((folder / f"{name}.api.json").read_text())
        assert api == json.loads(json.dumps(make())), f"{name}.api.json is out of date: run make_workflows.py"
        ui = json.loads((folder / f"{name}.json").read_text())
        nodes = {str(n["id"]): n for n in ui["nodes"]}
        assert {k: n["type"] for k, n in nodes.items()} == {k: v["class_type"] for k, v in api.items()}
        links = {link[0]: link for link in ui["links"]}
        api_links = {(str(v[0]), v[1], node_id, input_name) for node_id, entry in api.items()
                     for input_name, v in entry["inputs"].items() if isinstance(v, list)}
        ui_links = set()
        for node_id, node in nodes.items():
            for slot, socket in enumerate(node["inputs"]):
                if socket["link"] is not None:
                    link = links[socket["link"]]
                    assert (str(link[3]), link[4]) == (node_id, slot)
                    assert link[0] in nodes[str(link[1])]["outputs"][link[2]]["links"]
                    ui_links.add((str(link[1]), link[2], node_id, socket["name"]))
        assert ui_links == api_links
        for node_id, entry in api.items():  # every widget value set in API format is in the UI node
            values = nodes[node_id]["widgets_values"]
            for value in entry["inputs"].values():
                if not isinstance(value, list):
                    assert value in values, (name, node_id, value)


# -- packaging -------------------------------------------------------------------------------------------------

def test_registry_metadata_and_requirements_match_the_core():
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    comfy = project["tool"]["comfy"]
    assert comfy["PublisherId"] and comfy["DisplayName"] and "comfyui_nodes" in comfy["includes"]

    def names(lines):
        return {line.split(">")[0].split("=")[0].split("<")[0].strip().lower() for line in lines
                if line.strip() and not line.lstrip().startswith("#")}

    requirements = names((ROOT / "comfyui_nodes" / "requirements.txt").read_text().splitlines())
    core = names(project["project"]["dependencies"])
    assert "torch" not in requirements  # ComfyUI brings its own torch build
    assert requirements == core - {"torch"}


def test_repository_root_loads_as_a_pack_the_way_comfyui_imports_custom_nodes():
    """A registry install clones the whole repository into custom_nodes/; ComfyUI then imports its
    __init__.py as a package named after the folder."""
    import importlib.util
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    spec = importlib.util.spec_from_file_location("vb_plugins_registry_layout", root / "__init__.py",
                                                  submodule_search_locations=[str(root)])
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    try:
        spec.loader.exec_module(module)
        assert sys.modules[f"{spec.name}.comfyui_nodes"].__file__ == str(root / "comfyui_nodes" / "__init__.py")
        assert "comfy_api" not in sys.modules  # outside ComfyUI nothing of ComfyUI is imported
    finally:
        for name in [n for n in sys.modules if n == spec.name or n.startswith(spec.name + ".")]:
            del sys.modules[name]
    assert (root / "requirements.txt").read_text().splitlines()[-1] == "-r comfyui_nodes/requirements.txt"


def test_repository_root_imports_on_its_own_as_test_runners_do(tmp_path):
    """pytest imports the root __init__.py without a parent package when the checkout's folder name is
    not an identifier (CI clones into such folders); that must neither fail nor import the pack."""
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    code = (f"import runpy; namespace = runpy.run_path({str(root / '__init__.py')!r}); "
            "assert 'NODE_CLASS_MAPPINGS' not in namespace; print('ok')")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"

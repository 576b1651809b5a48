"""Issue 23 in the node pack (ComfyUI-free modules): the depth node's valid mask is reliability at least
``min_confidence`` (0.5 by default), and VB Decode Depth / Normals end with an expected-error output."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import numpy as np
import torch

from comfyui_nodes import decoding, operations
from vb_plugins import get_task
from vb_plugins.codecs import DepthCodec
from vb_plugins.codecs._robust import _Path, depth_confidence, robust_depth
from vb_plugins.reliability.features import depth_positions

ROOT = Path(__file__).resolve().parents[2]


def as_image(*rgb: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.stack(rgb).astype(np.float32) / 255.0)


def far_wall(distance: float, height: int = 64, width: int = 80) -> np.ndarray:
    v, u = np.mgrid[0:height, 0:width]
    return (distance / (1.0 + 0.6 * (u / width - 0.5) + 0.3 * (v / height - 0.5))).astype(np.float32)


def test_the_default_mask_keeps_far_depth_read_exactly():
    """140 - 360 m encoded exactly: the old confidence (robust decoding) put most pixels under its default
    threshold of 0.1; the default mask on reliability keeps them, decoded either way."""
    assert inspect.signature(operations.decode_depth).parameters["min_confidence"].default == 0.5
    codec = DepthCodec()
    picture = get_task("depth").encode(far_wall(200.0))
    s0, residual = depth_positions(codec, picture)
    s, error, _ = robust_depth(codec, picture, s0, residual)
    assert (depth_confidence(_Path(codec), s, error) >= 0.1).mean() < 0.5
    for mode in ("auto", "robust"):
        (depth, _, valid, _), _, _ = operations.decode_depth(as_image(picture), mode=mode)
        assert valid.numpy().mean() >= 0.95, mode
        assert np.array_equal(valid.numpy().astype(bool), depth.confidence >= 0.5)


def test_the_mask_leaves_out_unreliable_pixels():
    picture = get_task("depth").encode(far_wall(5.0))
    picture[20:30, 20:30] = (255, 0, 120)  # far off the colour path
    (depth, _, valid, _), _, _ = operations.decode_depth(as_image(picture))
    assert tuple(valid.shape) == (1, 64, 80) and not valid.numpy()[0, 20:30, 20:30].any()
    assert valid.numpy().mean() > 0.9


def test_depth_and_normals_nodes_end_with_the_expected_error():
    picture = get_task("depth").encode(far_wall(5.0))
    outputs, _, _ = decoding.with_expected_error(operations.decode_depth(as_image(picture, picture)))
    assert len(outputs) == 5
    depth, error = outputs[0], outputs[-1]
    assert tuple(error.shape) == (2, 64, 80) and error.dtype == torch.float32
    assert np.array_equal(error.numpy(), depth.expected_error)
    assert 0 < float(error.median()) < 0.05  # metres, at 5 m
    normals = np.zeros((16, 16, 3), np.float32)
    normals[..., 2] = 1.0
    painted = get_task("normals").encode(normals)
    painted[:4, :4] = 255  # not a normal
    outputs, _, _ = decoding.with_expected_error(operations.decode_normals(as_image(painted)))
    degrees = outputs[-1].numpy()[0]
    assert np.all(degrees[:4, :4] == 180.0) and 0 < np.median(degrees) < 5.0


def test_the_schema_appends_expected_error_after_the_existing_outputs():
    """Read from source (ComfyUI is not here): saved workflows link outputs by index."""
    tree = ast.parse((ROOT / "comfyui_nodes" / "decoder_nodes.py").read_text(encoding="utf-8"))
    outputs = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            keywords = {kw.arg: kw.value for kw in node.keywords}
            if "node_id" in keywords and "outputs" in keywords:
                outputs[keywords["node_id"].value] = [kw.value.value for call in keywords["outputs"].elts
                                                      for kw in call.keywords if kw.arg == "display_name"]
    assert outputs["VBDecodeDepth"] == ["depth", "preview", "valid", "uncertainty", "expected_error"]
    assert outputs["VBDecodeNormals"] == ["normals", "preview", "valid", "uncertainty", "expected_error"]

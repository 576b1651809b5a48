"""VB Decode Relative Depth and VB Decode Matting without ComfyUI: tensors in ComfyUI's formats in, float
relative depth (never metres) and MASKs out."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from comfyui_nodes import decoding, operations, prompting
from vb_plugins import get_task
from vb_plugins.errors import InputError


def gray_batch(*levels: np.ndarray) -> torch.Tensor:
    """uint8 H x W gray pictures -> an IMAGE batch of gray painted as RGB."""
    return torch.from_numpy(np.stack([np.repeat(g[..., None], 3, axis=2) for g in levels]).astype(np.float32) / 255.0)


def ramp(height=12, width=20, offset=0) -> np.ndarray:
    return ((np.arange(width)[None, :] * 12 + offset) % 256 * np.ones((height, 1))).astype(np.uint8)


def test_relative_depth_stays_float_values_in_0_1_and_says_nothing_of_metres(tmp_path):
    pictures = [ramp(), ramp(offset=7)]
    (relative, values, preview, valid, uncertainty), shown, saved = operations.decode_relative_depth(
        gray_batch(*pictures), mode="exact", save="npy", filename_prefix="vb/rel", output_dir=tmp_path)
    assert isinstance(relative, decoding.RelativeDepthMaps) and relative.values.dtype == np.float32
    np.testing.assert_array_equal(relative.values, np.stack(pictures).astype(np.float32) / 255.0)
    assert "relative inverse depth" in get_task("relative-depth").meaning(relative.spec) and relative.valid.all()
    assert relative.tensor().dtype == torch.float32 and relative.tensor().shape == (2, 12, 20)
    # The float IMAGE is the values themselves (not 8-bit, not normalised per frame).
    assert values.shape == (2, 12, 20, 3) and torch.equal(values[..., 0], relative.tensor())
    assert preview.shape == (2, 12, 20, 3) and shown is preview
    assert float(uncertainty.max()) < 1e-6  # equal channels: nothing uncertain
    assert [entry["filename"] for entry in saved] == ["rel_00001_.npy", "rel_00002_.npy"]
    np.testing.assert_array_equal(np.load(tmp_path / "vb" / "rel_00001_.npy"), relative.values[0])


def test_relative_depth_with_a_depth_spec_and_coloured_pixels_losing_confidence():
    spec, text, _ = prompting.make_prompt("relative-depth", "", "", "vision-banana", prompting.DEFAULT,
                                          '{"encodes": "depth"}')
    assert text == "Generate relative depth: near points dark, far points bright, matching input pixels."
    picture = np.repeat(ramp()[..., None], 3, axis=2)
    picture[0, 0] = (255, 0, 0)  # a pixel that is not gray at all
    image = torch.from_numpy(picture[None].astype(np.float32) / 255.0)
    (relative, _, _, valid, _), _, _ = operations.decode_relative_depth(image, spec, mode="exact", min_confidence=0.5)
    assert relative.spec.option("encodes") == "depth"
    assert not valid[0, 0, 0] and bool(valid[0, 1:, :].all())
    assert relative.confidence[0, 0, 0] < 0.01


def test_matting_gives_alpha_and_a_thresholded_foreground_mask():
    alpha_levels = ramp()
    (alpha, foreground, preview, uncertainty), shown = operations.decode_matting(gray_batch(alpha_levels),
                                                                                 threshold=0.5)
    expected = alpha_levels.astype(np.float32) / 255.0
    assert alpha.shape == (1, 12, 20) and alpha.dtype == torch.float32
    np.testing.assert_array_equal(alpha[0].numpy(), expected)
    np.testing.assert_array_equal(foreground[0].numpy(), (expected > 0.5).astype(np.float32))
    assert preview.shape == (1, 12, 20, 3)


def test_matting_lines_up_with_a_reference_and_refuses_bad_thresholds_and_specs():
    big = np.kron(ramp(6, 10), np.ones((2, 2), np.uint8))
    reference = torch.zeros((1, 6, 10, 3))
    (alpha, *_), _ = operations.decode_matting(gray_batch(big), reference=reference)
    assert alpha.shape == (1, 6, 10)
    with pytest.raises(InputError, match=r"^threshold=1\.0: must be a number from 0 up to"):
        operations.decode_matting(gray_batch(big), threshold=1.0)
    depth_spec = get_task("depth").make_spec()
    with pytest.raises(InputError, match="task 'depth' decodes to depth, this node decodes alpha"):
        operations.decode_matting(gray_batch(big), depth_spec)


def test_a_16_bit_style_float_image_is_read_as_gray_and_a_mask_is_refused():
    with pytest.raises(InputError, match="MASK-shaped tensor"):
        operations.decode_relative_depth(torch.zeros((1, 4, 4)))
    single = torch.full((1, 4, 4, 1), 0.5)  # a 1-channel IMAGE: gray, decodable (no colour code needed)
    (relative, *_), _, _ = operations.decode_relative_depth(single, mode="exact")
    assert np.allclose(relative.values, 128 / 255.0)

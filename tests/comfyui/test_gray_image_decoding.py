"""ComfyUI: a 1-channel IMAGE holds no colour code, so depth and normals decoders refuse it with one line
(decoded as gray RGB it read as depth of tens to hundreds of metres); segmentation still reads it as gray."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from comfyui_nodes import operations
from comfyui_nodes.tensors import image_batch, reads_colour
from vb_plugins import get_task
from vb_plugins.errors import InputError


def gray_image(values: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(values.astype(np.float32)[None, ..., None])


@pytest.mark.parametrize("decode, task", [(operations.decode_depth, "depth"),
                                          (operations.decode_normals, "normals")])
def test_one_channel_image_is_refused_by_depth_and_normals_decoders(decode, task):
    image = gray_image(np.linspace(0, 1, 6 * 7).reshape(6, 7))
    with pytest.raises(InputError) as error:
        decode(image)
    message = str(error.value)
    assert "\n" not in message
    assert message == (f"image: a 1-channel (gray) IMAGE cannot be decoded as {task}: its colour code needs RGB "
                       "(connect the generated colour image)")


def test_one_channel_image_still_decodes_for_segmentation_and_gray_depth():
    mask = np.zeros((6, 7))
    mask[:, 4:] = 1.0
    (referring_mask, _, _), _ = operations.decode_referring(gray_image(mask))
    assert referring_mask.shape == (1, 6, 7) and referring_mask[0, :, 4:].all() and not referring_mask[0, :, :4].any()
    depth = get_task("depth")
    gray_spec = depth.make_spec(scheme="gray")
    assert not reads_colour(depth, gray_spec) and reads_colour(depth, None) and reads_colour(get_task("normals"))
    rgb, _ = image_batch(gray_image(mask), "image", depth, gray_spec)
    assert rgb.shape == (1, 6, 7, 3)

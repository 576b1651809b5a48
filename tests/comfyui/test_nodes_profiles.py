"""Model profiles in the node pack (without ComfyUI): VB Load Generator's profile widget, and VB Generate on a
model from the Hugging Face cache folder of Open Vision Banana prompting in its words and handing the decoders
the relative-depth spec its gray picture decodes with."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from comfyui_nodes import generating, operations, prompting
from vb_plugins.errors import InputError
from vb_plugins.settings import widget_options, widget_settings
from vb_plugins.testing.hub_cache import paint_gray, save_in_hub_cache
from vb_plugins.testing.tiny_pipeline import build_tiny_pipeline

OVB_DEPTH = "Generate relative inverse depth: near points bright, far points dark, matching input pixels."


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    cache = tmp_path_factory.mktemp("hf") / "hub"
    save_in_hub_cache(paint_gray(build_tiny_pipeline("flux2-klein")), cache, "FunAILab/Open-Vision-Banana")
    return cache


def photo() -> torch.Tensor:
    y, x = np.mgrid[:48, :64]
    rgb = np.stack([x * 4, y * 5, (x + y) * 2], -1).astype(np.float32) / 255.0
    return torch.from_numpy(rgb[None])


def test_the_profile_widget_is_the_last_load_widget_optional_and_checked():
    load = widget_settings("load")
    assert list(load)[-1] == "profile" and load["profile"].comfy.optional
    assert widget_options("profile", ("vision-banana", "open-vision-banana", "edit2perceive")) == \
        ["auto", "vision-banana", "open-vision-banana", "edit2perceive"]
    with pytest.raises(InputError, match="profile 'nope': expected one of auto, vision-banana"):
        generating.check_load_options(profile="nope")


def test_vb_generate_on_ovb_prompts_its_wording_and_outputs_the_relative_depth_spec(cache):
    loaded = generating.load("hf:FunAILab/Open-Vision-Banana", "(none)", [], [], cache, device="cpu")
    spec, _, _ = prompting.make_prompt("depth")  # VB Prompt's depth spec
    (images, group, prompt, decode_spec), _ = operations.generate(loaded, photo(), spec, megapixels=0.005,
                                                                   with_spec=True)
    assert prompt == OVB_DEPTH and decode_spec.task == "relative-depth"
    assert decode_spec.option("encodes") == "inverse"
    painted = images.numpy()[0]
    assert np.array_equal(painted[..., 0], painted[..., 1])  # the model painted gray
    (values, _, confidence, _), _ = operations.decode_any(images, decode_spec, group=group, reference=photo())
    depth = values.values[0]
    assert depth.shape == (48, 64) and depth.dtype == np.float32 and 0.0 <= depth.min() <= depth.max() <= 1.0
    assert float(confidence.min()) > 0.99
    # a profile chosen on the node wins over the detected one
    chosen = generating.load("hf:FunAILab/Open-Vision-Banana", "(none)", [], [], cache, device="cpu",
                             profile="vision-banana")
    (_, _, metric_prompt, metric_spec), _ = operations.generate(chosen, photo(), spec, megapixels=0.005,
                                                                 with_spec=True)
    assert metric_spec.task == "depth" and metric_prompt != OVB_DEPTH

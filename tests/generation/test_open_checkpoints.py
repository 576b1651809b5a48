"""The published open checkpoints through their profiles, offline, on tiny pipelines of their families:

- Open Vision Banana: a tiny FLUX.2 klein (its VAE painting gray) saved under FunAILab/Open-Vision-Banana in a
  Hugging Face cache; `vb predict depth ... --model FunAILab/Open-Vision-Banana` picks the OVB profile, prompts
  the pipeline with its wording and decodes relative inverse depth from the gray picture.
- Edit2Perceive: a tiny FLUX.1 Kontext with a DiffSynth-named LoRA; `--profile edit2perceive` prompts with its
  wording and paints at its 768 x 768 default.
"""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from PIL import Image
from safetensors.torch import save_file
from test_diffsynth_weights import lora_in_diffsynth_naming, random_lora

from vb_plugins import get_task
from vb_plugins.cli import main
from vb_plugins.io import read_rgb
from vb_plugins.testing.hub_cache import paint_gray, save_in_hub_cache
from vb_plugins.testing.tiny_pipeline import build_tiny_pipeline, save_tiny_pipeline

OVB = "FunAILab/Open-Vision-Banana"
OVB_DEPTH = "Generate relative inverse depth: near points bright, far points dark, matching input pixels."
E2P_DEPTH = "Transform to depth map while maintaining original composition"

# Runs `vb` with the pipeline's prompt encoding watched: every prompt FLUX.2 klein encodes is logged.
SPY = textwrap.dedent("""
    import json, sys
    import diffusers

    log, args = sys.argv[1], sys.argv[2:]
    encode = diffusers.Flux2KleinPipeline.encode_prompt

    def watched(self, *a, **k):
        with open(log, "a") as f:
            f.write(json.dumps(k.get("prompt", a[0] if a else None)) + "\\n")
        return encode(self, *a, **k)

    diffusers.Flux2KleinPipeline.encode_prompt = watched
    from vb_plugins.cli import main
    sys.exit(main(args))
""")


@pytest.fixture(scope="module")
def hub_cache(tmp_path_factory):
    cache = tmp_path_factory.mktemp("hf") / "hub"
    save_in_hub_cache(paint_gray(build_tiny_pipeline("flux2-klein")), cache, OVB)
    return cache


@pytest.fixture
def room(tmp_path):
    y, x = np.mgrid[:64, :64]
    path = tmp_path / "room.png"
    Image.fromarray(np.stack([x * 4, y * 4, (x + y) * 2], -1).astype(np.uint8)).save(path)
    return path


def test_ovb_hub_id_picks_its_profile_prompts_its_wording_and_decodes_relative_depth(hub_cache, room, tmp_path):
    spy, log, out = tmp_path / "spy.py", tmp_path / "prompts.log", tmp_path / "out"
    spy.write_text(SPY)
    env = dict(os.environ, HF_HUB_CACHE=str(hub_cache), HF_HUB_OFFLINE="1", HF_HOME=str(tmp_path / "hf-home"))
    result = subprocess.run(
        [sys.executable, str(spy), str(log), "predict", "depth", str(room), "-o", str(out), "--model", OVB,
         "--megapixels", "0.004", "--device", "cpu", "--quiet"],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    # the pipeline itself was asked in Open Vision Banana's words (its __call__ then encodes no text again: it
    # is given the embeddings of that prompt)
    assert [p for p in map(json.loads, log.read_text().splitlines()) if p is not None] == [OVB_DEPTH]
    record = json.loads((out / "room.json").read_text())
    assert record["task"] == "relative-depth" and record["spec"]["options"] == {"encodes": "inverse"}
    assert record["settings"]["profile"] == "open-vision-banana" and record["settings"]["model"] == OVB
    painted = read_rgb(out / "room.generated.png")
    assert np.array_equal(painted[..., 0], painted[..., 1]) and np.array_equal(painted[..., 0], painted[..., 2])
    values = np.load(out / "room.relative-depth.npy")
    task = get_task("relative-depth")
    expected = task.decode(painted, task.make_spec(encodes="inverse"))
    assert values.dtype == np.float32 and values.shape == (64, 64)
    np.testing.assert_allclose(values, expected.values, atol=1e-6)
    assert np.allclose(values, painted[..., 0] / 255.0, atol=1e-3)  # inverse depth = the gray as painted
    assert np.load(out / "room.confidence.npy").min() > 0.99  # gray pictures decode cleanly


def test_edit2perceive_profile_prompts_its_wording_at_768_with_a_diffsynth_lora(tmp_path, monkeypatch):
    import diffusers

    pipe = save_tiny_pipeline("flux-kontext", tmp_path / "FLUX.1-Kontext-dev")
    lora = tmp_path / "depth_lora.safetensors"
    save_file({k: v.contiguous() for k, v in lora_in_diffsynth_naming(random_lora(), "peft").items()}, str(lora))
    image = tmp_path / "room.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (48, 64, 3), dtype=np.uint8)).save(image)
    calls, prompts = [], []
    call, encode = diffusers.FluxKontextPipeline.__call__, diffusers.FluxKontextPipeline.encode_prompt

    @functools.wraps(call)  # the same signature: the backend reads the parameters it may pass
    def watched_call(self, *args, **kwargs):
        calls.append({k: kwargs.get(k) for k in ("height", "width", "num_inference_steps")})
        return call(self, *args, **kwargs)

    @functools.wraps(encode)
    def watched_encode(self, *args, **kwargs):
        prompts.append(kwargs.get("prompt"))
        return encode(self, *args, **kwargs)

    monkeypatch.setattr(diffusers.FluxKontextPipeline, "__call__", watched_call)
    monkeypatch.setattr(diffusers.FluxKontextPipeline, "encode_prompt", watched_encode)
    out = tmp_path / "out"
    # --steps 1 keeps the test short (the run's own steps win; the profile's 8 are checked in the record below)
    assert main(["predict", "depth", str(image), "-o", str(out), "--model", str(pipe), "--lora", str(lora),
                 "--profile", "edit2perceive", "--device", "cpu", "--steps", "1", "--quiet"]) == 0
    assert [p for p in prompts if p is not None] == [E2P_DEPTH]  # __call__ gets that prompt's embeddings
    assert calls == [{"height": 768, "width": 768, "num_inference_steps": 1}]
    record = json.loads((out / "room.json").read_text())
    assert record["task"] == "relative-depth" and record["spec"]["options"] == {"encodes": "depth"}
    assert record["settings"]["lora"] == str(lora) and record["settings"]["size"] == [768, 768]
    assert np.load(out / "room.relative-depth.npy").shape == (48, 64)  # back on the input's grid


def test_edit2perceive_defaults_to_its_8_steps_and_finds_the_task_file_in_a_weights_folder(tmp_path):
    from vb_plugins.predict import Predictor

    folder = tmp_path / "Edit2Perceive"
    folder.mkdir()
    for name in ("depth_lora.safetensors", "matting_lora.safetensors"):
        save_file({k: v.contiguous() for k, v in lora_in_diffsynth_naming(random_lora(), "peft").items()},
                  str(folder / name))
    depth = Predictor("depth", str(tmp_path / "kontext"), profile="edit2perceive", lora=str(folder))
    assert depth._generator_kwargs()["lora"] == str(folder / "depth_lora.safetensors")
    assert depth.generation_settings().steps == 8
    matting = Predictor("matting", str(tmp_path / "kontext"), profile="edit2perceive", lora=str(folder))
    assert matting._generator_kwargs()["lora"] == str(folder / "matting_lora.safetensors")
    assert matting.generation_settings().steps == 10

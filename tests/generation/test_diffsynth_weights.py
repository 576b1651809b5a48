"""FLUX.1 weights in DiffSynth-Studio naming (Edit2Perceive's checkpoints) load into the tiny FLUX.1 Kontext
pipeline exactly as the same tensors in diffusers naming do."""

import functools
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import save_file

from vb_plugins.cli import main
from vb_plugins.errors import InputError, ModelError
from vb_plugins.generation import load_generator
from vb_plugins.testing.tiny_pipeline import fast_call_kwargs, save_tiny_pipeline

# The DiffSynth FluxDiT tensors of a model with one double- and one single-stream block, as its state dict
# names them (DiffSynth-Studio, diffsynth/models/flux_dit.py: FluxDiT, FluxJointTransformerBlock,
# FluxSingleTransformerBlock; RoPE and time projections hold no tensors).
DIFFSYNTH_KEYS = {
    *(f"{m}.{leaf}" for m in (
        "time_embedder.timestep_embedder.0", "time_embedder.timestep_embedder.2",
        "guidance_embedder.timestep_embedder.0", "guidance_embedder.timestep_embedder.2",
        "pooled_text_embedder.0", "pooled_text_embedder.2", "context_embedder", "x_embedder",
        "final_norm_out.linear", "final_proj_out",
        "blocks.0.norm1_a.linear", "blocks.0.norm1_b.linear", "blocks.0.attn.a_to_qkv", "blocks.0.attn.b_to_qkv",
        "blocks.0.attn.a_to_out", "blocks.0.attn.b_to_out", "blocks.0.ff_a.0", "blocks.0.ff_a.2",
        "blocks.0.ff_b.0", "blocks.0.ff_b.2",
        "single_blocks.0.norm.linear", "single_blocks.0.to_qkv_mlp", "single_blocks.0.proj_out",
    ) for leaf in ("weight", "bias")),
    *(f"{m}.weight" for m in ("blocks.0.attn.norm_q_a", "blocks.0.attn.norm_k_a", "blocks.0.attn.norm_q_b",
                              "blocks.0.attn.norm_k_b", "single_blocks.0.norm_q_a", "single_blocks.0.norm_k_a")),
}
# Edit2Perceive's LoRA targets (scripts/Kontext_*_lora.sh: --lora_target_modules), for one block of each kind.
LORA_MODULES = ["blocks.0.attn.a_to_qkv", "blocks.0.attn.b_to_qkv", "blocks.0.ff_a.0", "blocks.0.ff_a.2",
                "blocks.0.ff_b.0", "blocks.0.ff_b.2", "blocks.0.attn.a_to_out", "blocks.0.attn.b_to_out",
                "blocks.0.norm1_a.linear", "blocks.0.norm1_b.linear", "single_blocks.0.proj_out",
                "single_blocks.0.norm.linear", "single_blocks.0.to_qkv_mlp"]
# The same modules under the names of DiffSynth's open-source LoRA export (align_to_opensource_format).
OPEN_SOURCE = {
    "blocks.0.attn.a_to_qkv": "double_blocks_0_img_attn_qkv",
    "blocks.0.attn.b_to_qkv": "double_blocks_0_txt_attn_qkv",
    "blocks.0.ff_a.0": "double_blocks_0_img_mlp_0", "blocks.0.ff_a.2": "double_blocks_0_img_mlp_2",
    "blocks.0.ff_b.0": "double_blocks_0_txt_mlp_0", "blocks.0.ff_b.2": "double_blocks_0_txt_mlp_2",
    "blocks.0.attn.a_to_out": "double_blocks_0_img_attn_proj",
    "blocks.0.attn.b_to_out": "double_blocks_0_txt_attn_proj",
    "blocks.0.norm1_a.linear": "double_blocks_0_img_mod_lin", "blocks.0.norm1_b.linear": "double_blocks_0_txt_mod_lin",
    "single_blocks.0.proj_out": "single_blocks_0_linear2",
    "single_blocks.0.norm.linear": "single_blocks_0_modulation_lin",
    "single_blocks.0.to_qkv_mlp": "single_blocks_0_linear1",
}
# How DiffSynth fuses diffusers' projections (the inverse of what the loader does), for the test's own files.
FUSED = {"blocks.0.attn.a_to_qkv": ["transformer_blocks.0.attn.to_q", "transformer_blocks.0.attn.to_k",
                                    "transformer_blocks.0.attn.to_v"],
         "blocks.0.attn.b_to_qkv": ["transformer_blocks.0.attn.add_q_proj", "transformer_blocks.0.attn.add_k_proj",
                                    "transformer_blocks.0.attn.add_v_proj"],
         "single_blocks.0.to_qkv_mlp": [f"single_transformer_blocks.0.{m}" for m in
                                        ("attn.to_q", "attn.to_k", "attn.to_v", "proj_mlp")]}
RENAMED = {
    "time_embedder.timestep_embedder.0": "time_text_embed.timestep_embedder.linear_1",
    "time_embedder.timestep_embedder.2": "time_text_embed.timestep_embedder.linear_2",
    "guidance_embedder.timestep_embedder.0": "time_text_embed.guidance_embedder.linear_1",
    "guidance_embedder.timestep_embedder.2": "time_text_embed.guidance_embedder.linear_2",
    "pooled_text_embedder.0": "time_text_embed.text_embedder.linear_1",
    "pooled_text_embedder.2": "time_text_embed.text_embedder.linear_2",
    "context_embedder": "context_embedder", "x_embedder": "x_embedder",
    "final_norm_out.linear": "norm_out.linear", "final_proj_out": "proj_out",
    "blocks.0.norm1_a.linear": "transformer_blocks.0.norm1.linear",
    "blocks.0.norm1_b.linear": "transformer_blocks.0.norm1_context.linear",
    "blocks.0.attn.a_to_out": "transformer_blocks.0.attn.to_out.0",
    "blocks.0.attn.b_to_out": "transformer_blocks.0.attn.to_add_out",
    "blocks.0.ff_a.0": "transformer_blocks.0.ff.net.0.proj", "blocks.0.ff_a.2": "transformer_blocks.0.ff.net.2",
    "blocks.0.ff_b.0": "transformer_blocks.0.ff_context.net.0.proj",
    "blocks.0.ff_b.2": "transformer_blocks.0.ff_context.net.2",
    "blocks.0.attn.norm_q_a": "transformer_blocks.0.attn.norm_q",
    "blocks.0.attn.norm_k_a": "transformer_blocks.0.attn.norm_k",
    "blocks.0.attn.norm_q_b": "transformer_blocks.0.attn.norm_added_q",
    "blocks.0.attn.norm_k_b": "transformer_blocks.0.attn.norm_added_k",
    "single_blocks.0.norm.linear": "single_transformer_blocks.0.norm.linear",
    "single_blocks.0.norm_q_a": "single_transformer_blocks.0.attn.norm_q",
    "single_blocks.0.norm_k_a": "single_transformer_blocks.0.attn.norm_k",
    "single_blocks.0.proj_out": "single_transformer_blocks.0.proj_out",
}


@pytest.fixture(scope="module")
def kontext(tmp_path_factory):
    return save_tiny_pipeline("flux-kontext", tmp_path_factory.mktemp("kontext") / "pipe")


@pytest.fixture(scope="module")
def image():
    return Image.fromarray(np.random.default_rng(0).integers(0, 256, (32, 48, 3), dtype=np.uint8))


def generate(pipe_dir, image, **weights) -> np.ndarray:
    """A 2-step edit at a fixed seed, as float pixels (finer than the engine's uint8)."""
    pipe = load_generator(str(pipe_dir), device="cpu", **weights).pipe
    return pipe(image=image, prompt="Transform to depth map while maintaining original composition",
                num_inference_steps=2, guidance_scale=2.5, generator=torch.Generator().manual_seed(0),
                output_type="np", **fast_call_kwargs("flux-kontext", *image.size)).images[0]


@pytest.fixture(scope="module")
def base_output(kontext, image):
    return generate(kontext, image)


def diffusers_state(pipe_dir) -> dict:
    from safetensors.torch import load_file

    return load_file(str(pipe_dir / "transformer" / "diffusion_pytorch_model.safetensors"))


def to_diffsynth(state: dict) -> dict:
    """diffusers-named FLUX transformer tensors under DiffSynth's names, q/k/v(/mlp) concatenated by rows."""
    out = {}
    for diffsynth, parts in FUSED.items():
        for leaf in ("weight", "bias"):
            out[f"{diffsynth}.{leaf}"] = torch.cat([state[f"{p}.{leaf}"] for p in parts])
    for diffsynth, name in RENAMED.items():
        for leaf in ("weight", "bias"):
            if f"{name}.{leaf}" in state:
                out[f"{diffsynth}.{leaf}"] = state[f"{name}.{leaf}"]
    return out


@functools.lru_cache(maxsize=1)
def diffsynth_weight_shapes() -> dict:
    """DiffSynth module -> weight shape for the tiny Kontext transformer."""
    from vb_plugins.testing.tiny_pipeline import build_tiny_pipeline

    state = build_tiny_pipeline("flux-kontext").transformer.state_dict()
    return {k[:-len(".weight")]: tuple(v.shape) for k, v in to_diffsynth(state).items() if k.endswith(".weight")}


def random_lora(rank=4, seed=1) -> dict:
    """DiffSynth module -> (down [rank, in], up [out, rank]) for Edit2Perceive's LoRA targets."""
    generator = torch.Generator().manual_seed(seed)
    shapes = diffsynth_weight_shapes()
    return {m: (torch.randn(rank, shapes[m][1], generator=generator) * 0.3,
                torch.randn(shapes[m][0], rank, generator=generator) * 0.3) for m in LORA_MODULES}


def lora_in_diffusers_naming(lora: dict, scale: float = 1.0) -> dict:
    """The same LoRA as diffusers/PEFT save it: fused updates split by rows, the down matrix shared."""
    out = {}
    for module, (down, up) in lora.items():
        targets = FUSED.get(module) or [RENAMED[module]]
        rows = [up.shape[0] // 7 * (4 if t.endswith("proj_mlp") else 1) for t in targets] if len(targets) == 4 \
            else [up.shape[0] // len(targets)] * len(targets)
        for target, part in zip(targets, torch.split(up, rows)):
            out[f"transformer.{target}.lora_A.weight"] = down.clone()
            out[f"transformer.{target}.lora_B.weight"] = (part * scale).contiguous()
    return out


def lora_in_diffsynth_naming(lora: dict, style: str, alpha: float | None = None) -> dict:
    out = {}
    for module, (down, up) in lora.items():
        if style == "peft":  # as DiffSynth's trainer saves a PEFT-injected DiT
            out[f"{module}.lora_A.default.weight"], out[f"{module}.lora_B.default.weight"] = down, up
        elif style == "plain":
            out[f"diffusion_model.{module}.lora_A.weight"], out[f"diffusion_model.{module}.lora_B.weight"] = down, up
        elif style == "up-down":
            out[f"{module}.lora_down.weight"], out[f"{module}.lora_up.weight"] = down, up
            out[f"{module}.alpha"] = torch.tensor(float(alpha or down.shape[0]))
        else:  # DiffSynth's open-source export: alpha = rank unless told
            name = "lora_unet_" + OPEN_SOURCE[module]
            out[f"{name}.lora_down.weight"], out[f"{name}.lora_up.weight"] = down, up
            out[f"{name}.alpha"] = torch.tensor(float(alpha or down.shape[0]))
    return out


def write(tmp_path, name, tensors) -> str:
    path = tmp_path / name
    save_file({k: v.contiguous() for k, v in tensors.items()}, str(path))
    return str(path)


# -- naming -----------------------------------------------------------------------------------------------------


def test_test_files_use_diffsynth_fluxdit_names_for_every_transformer_tensor(kontext):
    state = diffusers_state(kontext)
    assert set(to_diffsynth(state)) == DIFFSYNTH_KEYS
    # every diffusers tensor is used exactly once (the fused ones by rows)
    used = {f"{p}.{leaf}" for parts in FUSED.values() for p in parts for leaf in ("weight", "bias")}
    used |= {f"{n}.{leaf}" for n in RENAMED.values() for leaf in ("weight", "bias")} & set(state)
    assert used == set(state)


def test_fused_rows_split_in_diffsynth_order(kontext):
    """to_qkv_mlp rows are q, k, v, then the MLP input (FluxSingleTransformerBlock slices dim*3 for attention)."""
    from vb_plugins.generation.diffsynth import diffusers_modules

    assert diffusers_modules("single_blocks.3.to_qkv_mlp") == (
        "single_transformer_blocks.3.attn.to_q", "single_transformer_blocks.3.attn.to_k",
        "single_transformer_blocks.3.attn.to_v", "single_transformer_blocks.3.proj_mlp")
    assert diffusers_modules("blocks.7.attn.b_to_qkv") == (
        "transformer_blocks.7.attn.add_q_proj", "transformer_blocks.7.attn.add_k_proj",
        "transformer_blocks.7.attn.add_v_proj")
    assert diffusers_modules("final_proj_out") == ("proj_out",)
    assert diffusers_modules("blocks.0.attn.bogus") is None and diffusers_modules("coord_proj") is None


# -- full weights -----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def new_weights(kontext):
    """Random transformer tensors (the base weights plus noise), in diffusers naming."""
    generator = torch.Generator().manual_seed(7)
    return {k: v + 0.2 * torch.randn(v.shape, generator=generator) for k, v in diffusers_state(kontext).items()}


def test_diffsynth_full_weights_change_the_output_exactly_as_diffusers_named_ones(kontext, image, base_output,
                                                                                new_weights, tmp_path):
    diffusers_file = write(tmp_path, "diffusers.safetensors", new_weights)
    diffsynth_file = write(tmp_path, "depth.safetensors", to_diffsynth(new_weights))
    via_diffusers = generate(kontext, image, transformer_weights=diffusers_file)
    via_diffsynth = generate(kontext, image, transformer_weights=diffsynth_file)
    assert np.array_equal(via_diffsynth, via_diffusers)
    assert np.abs(via_diffsynth - base_output).max() > 0.05


def test_loaded_tensors_are_the_files_tensors(kontext, new_weights, tmp_path):
    generator = load_generator(str(kontext), device="cpu",
                               transformer_weights=write(tmp_path, "w.safetensors", to_diffsynth(new_weights)))
    loaded = generator.pipe.transformer.state_dict()
    assert loaded.keys() == new_weights.keys()
    assert all(torch.equal(loaded[k], new_weights[k]) for k in loaded)
    assert generator.describe()["transformer_weights"].endswith("w.safetensors")


def test_diffsynth_prefixed_full_weights_load(kontext, new_weights, tmp_path):
    prefixed = {f"pipe.dit.{k}": v for k, v in to_diffsynth(new_weights).items()}
    path = write(tmp_path, "p.safetensors", prefixed)
    generator = load_generator(str(kontext), device="cpu", transformer_weights=path)
    assert torch.equal(generator.pipe.transformer.proj_out.weight, new_weights["proj_out.weight"])


def test_full_weights_with_unknown_keys_are_one_line_naming_them(kontext, new_weights, tmp_path):
    tensors = to_diffsynth(new_weights)
    tensors["coord_proj.weight"] = torch.zeros(32, 8)  # Edit2Perceive's matting coordinate encoder
    tensors["blocks.0.attn.bogus.weight"] = torch.zeros(4)
    with pytest.raises(ModelError) as error:
        load_generator(str(kontext), device="cpu", transformer_weights=write(tmp_path, "x.safetensors", tensors))
    message = str(error.value)
    assert "\n" not in message and "2 of 54 tensors (DiffSynth naming) map to nothing" in message
    assert "blocks.0.attn.bogus.weight" in message and "coord_proj.weight" in message


def test_full_weights_of_another_size_or_incomplete_are_refused(kontext, new_weights, tmp_path):
    tensors = to_diffsynth(new_weights)
    tensors["blocks.0.attn.a_to_qkv.weight"] = torch.zeros(3 * 64, 32)
    with pytest.raises(ModelError, match=r"a_to_qkv.weight has shape \[192, 32\].*need \[96, 32\]"):
        load_generator(str(kontext), device="cpu", transformer_weights=write(tmp_path, "big.safetensors", tensors))
    tensors = to_diffsynth(new_weights)
    del tensors["final_proj_out.bias"]
    with pytest.raises(ModelError, match="holds 65 of the transformer's 66 tensors.*missing proj_out.bias"):
        load_generator(str(kontext), device="cpu", transformer_weights=write(tmp_path, "part.safetensors", tensors))


# -- LoRA -------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def lora_output(kontext, image, tmp_path_factory):
    """The tiny pipeline's output with the random LoRA in diffusers naming."""
    path = write(tmp_path_factory.mktemp("lora"), "pytorch_lora_weights.safetensors",
                 lora_in_diffusers_naming(random_lora()))
    return generate(kontext, image, lora=path)


@pytest.mark.parametrize("style", ["peft", "plain", "up-down", "open-source"])
def test_diffsynth_lora_changes_the_output_exactly_as_diffusers_named_one(kontext, image, base_output, lora_output,
                                                                         tmp_path, style):
    path = write(tmp_path, "depth_lora.safetensors", lora_in_diffsynth_naming(random_lora(), style))
    output = generate(kontext, image, lora=path)
    assert np.array_equal(output, lora_output)
    assert np.abs(output - base_output).max() > 0.05


def test_lora_alpha_scales_the_update_by_alpha_over_rank(kontext, image, tmp_path):
    lora = random_lora()
    scaled = generate(kontext, image, lora=write(tmp_path, "a.safetensors",
                                                 lora_in_diffsynth_naming(lora, "open-source", alpha=8.0)))
    doubled = generate(kontext, image, lora=write(tmp_path, "d.safetensors", lora_in_diffusers_naming(lora, 2.0)))
    assert np.array_equal(scaled, doubled)  # rank 4, alpha 8: twice the update


def test_diffsynth_lora_reaches_every_split_module(kontext, tmp_path):
    generator = load_generator(str(kontext), device="cpu", lora=write(
        tmp_path, "l.safetensors", lora_in_diffsynth_naming(random_lora(), "peft")))
    names = {k.split(".lora_")[0] for k in generator.pipe.transformer.state_dict() if ".lora_B." in k}
    expected = {t for m in LORA_MODULES for t in (FUSED.get(m) or [RENAMED[m]])}
    assert names == expected and len(names) == 20


def test_diffsynth_lora_with_unknown_or_unmatched_modules_is_one_line(kontext, tmp_path):
    tensors = lora_in_diffsynth_naming(random_lora(), "peft")
    tensors["blocks.0.attn.bogus.lora_A.default.weight"] = torch.zeros(4, 32)
    tensors["blocks.5.ff_a.0.lora_A.default.weight"] = torch.zeros(4, 32)  # the tiny model has one block
    with pytest.raises(ModelError) as error:
        load_generator(str(kontext), device="cpu", lora=write(tmp_path, "bad.safetensors", tensors))
    message = str(error.value)
    assert "\n" not in message and "2 of 28 LoRA tensors (DiffSynth naming) match no module" in message
    assert "blocks.0.attn.bogus.lora_A.default.weight" in message and "blocks.5.ff_a.0" in message


def test_diffsynth_lora_missing_a_matrix_is_one_line(kontext, tmp_path):
    tensors = lora_in_diffsynth_naming(random_lora(), "open-source")
    del tensors["lora_unet_single_blocks_0_linear1.lora_up.weight"]
    with pytest.raises(ModelError, match="the LoRA of single_blocks.0.to_qkv_mlp lacks its up matrix"):
        load_generator(str(kontext), device="cpu", lora=write(tmp_path, "half.safetensors", tensors))


@pytest.mark.parametrize("tensors", [
    {"transformer.no_such_layer.lora_A.weight": torch.zeros(2, 32),
     "transformer.no_such_layer.lora_B.weight": torch.zeros(32, 2)},
    {"unet.down.lora_A.weight": torch.zeros(2, 32), "unet.down.lora_B.weight": torch.zeros(32, 2)},
], ids=["transformer-prefix", "other-model"])
def test_lora_matching_no_module_is_one_line(kontext, tmp_path, tensors):
    with pytest.raises(ModelError, match="match no module") as error:
        load_generator(str(kontext), device="cpu", lora=write(tmp_path, "none.safetensors", tensors))
    assert "\n" not in str(error.value)


def test_lora_and_full_weights_swapped_are_refused_before_the_pipeline_loads(kontext, new_weights, tmp_path,
                                                                            monkeypatch):
    import diffusers

    def no_loading(*args, **kwargs):
        raise AssertionError("the pipeline should not load")

    monkeypatch.setattr(diffusers.DiffusionPipeline, "from_pretrained", no_loading)
    full = write(tmp_path, "depth.safetensors", to_diffsynth(new_weights))
    lora = write(tmp_path, "depth_lora.safetensors", lora_in_diffsynth_naming(random_lora(), "open-source"))
    with pytest.raises(ModelError, match="holds full transformer weights.*pass it with --transformer-weights"):
        load_generator(str(kontext), lora=full)
    with pytest.raises(ModelError, match="holds a LoRA.*pass it with --lora"):
        load_generator(str(kontext), transformer_weights=lora)


@pytest.mark.parametrize("option", ["lora", "transformer_weights"])
@pytest.mark.parametrize("suffix", [".ckpt", ".bin", ".pt"])
def test_pickled_weights_are_refused(kontext, tmp_path, option, suffix):
    path = tmp_path / f"depth{suffix}"
    path.write_bytes(b"pickle: never unpickled")
    with pytest.raises(InputError, match=r"must be \.safetensors"):
        load_generator(str(kontext), device="cpu", **{option: str(path)})


def test_broken_safetensors_file_is_one_line(kontext, tmp_path):
    path = tmp_path / "broken.safetensors"
    path.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json")
    with pytest.raises(ModelError, match="not a readable safetensors file") as error:
        load_generator(str(kontext), device="cpu", transformer_weights=str(path))
    assert "\n" not in str(error.value)


# -- CLI --------------------------------------------------------------------------------------------------------


def test_vb_predict_loads_diffsynth_lora_and_full_weights(kontext, new_weights, tmp_path, capsys):
    image_path = tmp_path / "room.png"
    Image.fromarray(np.random.default_rng(3).integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(image_path)
    lora = write(tmp_path, "depth_lora.safetensors", lora_in_diffsynth_naming(random_lora(), "open-source"))
    full = write(tmp_path, "depth.safetensors", to_diffsynth(new_weights))
    common = ["predict", "depth", str(image_path), "--model", str(kontext), "--steps", "1", "--megapixels", "0.001",
              "--quiet"]
    outputs = {}
    for name, extra in {"base": [], "lora": ["--lora", lora], "full": ["--transformer-weights", full]}.items():
        assert main([*common, "-o", str(tmp_path / name), *extra]) == 0, capsys.readouterr().err
        outputs[name] = np.asarray(Image.open(tmp_path / name / "room.generated.png"))
        settings = json.loads((tmp_path / name / "room.json").read_text())["settings"]
        assert settings.get("lora") == (str(Path(lora).resolve()) if name == "lora" else None)
        assert settings.get("transformer_weights") == (str(Path(full).resolve()) if name == "full" else None)
    assert not np.array_equal(outputs["lora"], outputs["base"])
    assert not np.array_equal(outputs["full"], outputs["base"])
    # a rerun into the LoRA's folder without it is refused: the folder's results came from another model
    assert main([*common, "-o", str(tmp_path / "lora")]) != 0
    assert "was predicted with lora" in capsys.readouterr().err


@pytest.mark.parametrize("option, name, message", [
    ("--lora", "depth.ckpt", "must be .safetensors"),
    ("--transformer-weights", "depth.pt", "must be .safetensors"),
    ("--lora", "depth.safetensors", "holds full transformer weights"),
])
def test_vb_predict_bad_weights_are_one_line_and_write_nothing(kontext, new_weights, tmp_path, capsys, option, name,
                                                              message):
    image_path = tmp_path / "room.png"
    Image.fromarray(np.zeros((32, 32, 3), dtype=np.uint8)).save(image_path)
    if name.endswith(".safetensors"):
        write(tmp_path, name, to_diffsynth(new_weights))
    else:
        (tmp_path / name).write_bytes(b"pickled")
    out = tmp_path / "out"
    code = main(["predict", "depth", str(image_path), "-o", str(out), "--model", str(kontext), option,
                 str(tmp_path / name), "--steps", "1", "--megapixels", "0.001", "--quiet"])
    err = capsys.readouterr().err.strip()
    assert code != 0 and message in err and len(err.splitlines()) == 1
    assert not out.exists()


def test_bundled_model_refuses_transformer_weights(tmp_path):
    with pytest.raises(InputError, match="--transformer-weights applies to diffusers pipelines"):
        load_generator(None, transformer_weights=str(tmp_path / "w.safetensors"))

"""Part 3 of the GPU run: the engine against the per-image loop at real scale, with random weights.

The transformer is diffusers' ``Flux2Transformer2DModel`` with the configuration published in
black-forest-labs/FLUX.2-klein-4B ``transformer/config.json`` (5 double-stream and 20 single-stream
blocks, 24 heads of 128, joint attention dim 7680 = 3 stacked Qwen3-4B layers of 2560, 128 input
channels, mlp ratio 3, rope axes 32/32/32/32, theta 2000, no guidance embedding; values read from
several public copies of that file, which agree; the weights are not downloadable here). Weights are
random, initialised on the device and cast to bf16. What else is random and smaller than the real model:

- the VAE has the real architecture (diffusers' default ``AutoencoderKLFlux2``: 32 latent channels,
  blocks 128/256/512/512, 2 x 2 patches) with random weights, so its cost is the real one;
- the text encoder is a small random Qwen3 (27 layers so the pipeline reads layers 9/18/27 as with the
  real one, hidden size 2560 as the transformer expects, everything else tiny) with the tiny test
  tokenizer: prompt encoding, which the engine does once per run and the loop once per image, costs far
  less than with the real Qwen3-4B, so the loop is favoured here.

Timing and outputs come from ``benchmarks/engine.py``'s ``compare`` (the same code as the CPU benchmark):
images/s and peak GPU memory of the loop and of the engine at each batch size, 1 MP, 4 steps.
"""

from __future__ import annotations

import time

import numpy as np

KLEIN_4B = {  # black-forest-labs/FLUX.2-klein-4B transformer/config.json
    "patch_size": 1, "in_channels": 128, "out_channels": None, "num_layers": 5, "num_single_layers": 20,
    "attention_head_dim": 128, "num_attention_heads": 24, "joint_attention_dim": 7680,
    "timestep_guidance_channels": 256, "mlp_ratio": 3.0, "axes_dims_rope": (32, 32, 32, 32), "rope_theta": 2000,
    "eps": 1e-6, "guidance_embeds": False,
}
TINY = {  # matches the tiny test pipeline's VAE (4 latent channels) and text encoder (hidden 16)
    "patch_size": 1, "in_channels": 16, "num_layers": 1, "num_single_layers": 1, "attention_head_dim": 16,
    "num_attention_heads": 2, "joint_attention_dim": 48, "timestep_guidance_channels": 32,
    "axes_dims_rope": (4, 4, 4, 4), "guidance_embeds": False,
}
TRANSFORMERS = {"klein-4b": KLEIN_4B, "tiny": TINY}
TEXT_LAYERS = 27  # Flux2KleinPipeline stacks hidden states 9, 18 and 27


def text_encoder(tokenizer, hidden: int):
    """A small random Qwen3 whose hidden states have the width the transformer reads."""
    from transformers import Qwen3Config, Qwen3ForCausalLM

    return Qwen3ForCausalLM(Qwen3Config(
        vocab_size=len(tokenizer), hidden_size=hidden, intermediate_size=min(4 * hidden, 256),
        num_hidden_layers=TEXT_LAYERS, num_attention_heads=2, num_key_value_heads=1, head_dim=min(hidden, 64),
        max_position_embeddings=2048, tie_word_embeddings=True, pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.convert_tokens_to_ids("<|im_end|>")))


def build_pipeline(name: str, device, dtype):
    """A Flux2KleinPipeline around a random transformer of configuration ``name``; (pipeline, notes)."""
    import torch
    from diffusers import AutoencoderKLFlux2, Flux2Transformer2DModel

    from vb_plugins.testing.tiny_pipeline import build_tiny_pipeline

    config = TRANSFORMERS[name]
    tiny = build_tiny_pipeline("flux2-klein", seed=0)
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(0)
        with torch.device(device):  # initialised where it runs: 4B parameters in seconds, not minutes
            transformer = Flux2Transformer2DModel(**config)
        transformer.to(dtype)
        encoder = text_encoder(tiny.tokenizer, config["joint_attention_dim"] // 3)
        vae = AutoencoderKLFlux2() if name == "klein-4b" else tiny.vae
    pipe = type(tiny)(scheduler=tiny.scheduler, vae=vae, text_encoder=encoder, tokenizer=tiny.tokenizer,
                      transformer=transformer, is_distilled=True)
    for module in (transformer, encoder, vae):
        module.eval().requires_grad_(False)
    pipe.to(device, dtype)
    pipe.set_progress_bar_config(disable=True)
    counts = {part: sum(p.numel() for p in module.parameters())
              for part, module in (("transformer", transformer), ("text_encoder", encoder), ("vae", vae))}
    return pipe, counts


def run(settings, budget, device, log) -> dict:
    import torch
    from engine import compare

    from vb_plugins.generation.diffusers_backend import DiffusersGenerator, family_for

    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    began = time.monotonic()
    pipe, counts = build_pipeline(settings.transformer, device, dtype)
    built = time.monotonic() - began
    log(f"engine: {settings.transformer} transformer {counts['transformer'] / 1e9:.2f} B parameters, "
        f"built in {built:.1f} s")
    generator = DiffusersGenerator(pipe, family_for(type(pipe).__name__), f"random {settings.transformer}", str(device))
    side = int(round(np.sqrt(settings.megapixels * 1e6)))
    rng = np.random.default_rng(0)
    photos = [rng.integers(0, 256, (side // 2, side // 2, 3), dtype=np.uint8) for _ in range(settings.engine_images)]
    margin = 10.0 if device.type == "cuda" else 1.0
    result = compare(generator, photos, settings.engine_steps, settings.megapixels, settings.engine_batches,
                     repeat=1, time_left=lambda: budget.left() - margin)
    naive = result.get("naive")
    if naive:
        log(f"engine: loop {naive['images_per_s']:.3f} images/s" + "".join(
            f"; batch {b}: {r['images_per_s']:.3f} images/s ({r['speedup_vs_loop']:.2f}x)"
            for b, r in result["engine"].items()))
    generator.close()
    del pipe
    config = {k: list(v) if isinstance(v, tuple) else v for k, v in TRANSFORMERS[settings.transformer].items()}
    return {
        "transformer": settings.transformer, "transformer_config": config,
        "parameters": counts, "dtype": str(dtype).replace("torch.", ""), "build_seconds": round(built, 1),
        "random": "all weights; transformer with the published configuration, VAE with the real architecture "
                  "(klein-4b), text encoder a small Qwen3 of hidden size 2560 (klein-4b) with the tiny tokenizer",
        **result,
        **({"note": "; ".join(result["skipped"])} if result["skipped"] else {}),
    }

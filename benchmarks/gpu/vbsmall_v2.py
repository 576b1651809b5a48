"""Part 1 of the GPU run: vb-small v2, trained for a time budget and scored against the bundled model.

The recipe is the bundled model's (``vb_plugins/models/vb-small/train.yaml``: depth and normals,
vision-banana prompts, flips, no alternative depth schemes, 30 % of the examples at t = 1, AdamW 2e-3,
weight decay 0.01, 200 warm-up steps, cosine decay to 10 %, EMA 0.999, gradient clipping 1.0) with two
changes that a GPU affords: a wider network (channels 64/128/192/256, twice today's; 7.9 M parameters,
15 MiB in float16) at 128 px instead of 64, and scenes rendered on the device instead of a disk cache
(seeds 0, 1, 2, ...; the held-out scenes start at 1,000,000). The schedule runs on time, not steps.
Training uses bf16 autocast on CUDA. Scoring uses ``benchmarks/bundled_model_eval.py``'s code on its 96
held-out scenes, each model at its own resolution (the benchmark's protocol), with the float16 weights
as exported.
"""

from __future__ import annotations

import copy
import functools
import math
import platform
import time
from pathlib import Path

import numpy as np
from feed import FIRST_FILL_TIMEOUT, DeviceFeed

TASKS = ("depth", "normals")
DIALECT = "vision-banana"
SEED = 0
WEIGHT_DECAY = 0.01
WARMUP_STEPS = 200
EMA_DECAY = 0.999
GRAD_CLIP = 1.0
TERMINAL_FRACTION = 0.3
MAX_PACKAGE_BYTES = 16 * 2**20
# Held-out figures and whether larger is better; the new model must win on every one to replace the old.
FIGURES = {"depth_delta1": True, "depth_abs_rel": False, "depth_rmse": False, "depth_delta1_median_scaled": True,
           "depth_abs_rel_median_scaled": False, "depth_delta1_affine_disparity": True,
           "depth_abs_rel_affine_disparity": False, "normals_mean_deg": False, "normals_median_deg": False,
           "normals_within_11.25": True, "normals_within_30": True}


def render_payloads(seeds, device, size: int):
    """Scenes rendered on ``device`` as the arrays a SyntheticSource keeps (runs in the feed's thread)."""
    from vb_plugins.training.sources import scene_arrays
    from vb_plugins.training.synthetic import render_scenes

    return [scene_arrays(scene) for scene in render_scenes(seeds, size, size, device=device)]


def examples_job(payloads, seeds, run_seed: int) -> dict:
    """Depth and normals training triples of each scene, exactly as `vb train` makes them (worker process)."""
    from vb_plugins.training.data import Augmentation, make_example
    from vb_plugins.training.sources import synthetic_ground_truth

    augment = Augmentation(flip=0.5, depth_scheme=0.0)
    images, targets, weights, prompts = [], [], [], []
    for arrays, seed in zip(payloads, seeds):
        truth = synthetic_ground_truth(arrays, seed)
        for number, task in enumerate(TASKS):
            example = make_example(truth, task, np.random.default_rng([run_seed, seed, number]), DIALECT, augment)
            images.append(example.image)
            targets.append(example.target)
            weights.append(example.weight > 0.5)
            prompts.append(example.prompt)
    return {"image": np.stack(images), "target": np.stack(targets), "weight": np.stack(weights).astype(np.uint8),
            "prompt": prompts}


def learning_rate(base: float, step: int, progress: float) -> float:
    """Linear warm-up over WARMUP_STEPS, then cosine decay to 10 % over the time budget."""
    warm = min(1.0, (step + 1) / WARMUP_STEPS)
    return base * warm * (0.1 + 0.9 * 0.5 * (1.0 + math.cos(math.pi * min(progress, 1.0))))


def train(settings, seconds: float, device, pool, log):
    """Train for ``seconds`` once the first batches exist; returns (EMA model, training record)."""
    import torch

    from vb_plugins.generation.vbnet import VBNet, VBNetConfig, flow_matching_loss

    config = VBNetConfig(channels=tuple(settings.channels), resolution=settings.resolution, multiple=8,
                         default_steps=2, dialect=DIALECT, tasks=list(TASKS))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(SEED)
        model = VBNet(config)
    model.to(device).train()
    ema = copy.deepcopy(model).eval().requires_grad_(False)
    cuda = device.type == "cuda"
    optimizer = torch.optim.AdamW(model.parameters(), lr=settings.learning_rate, weight_decay=WEIGHT_DECAY,
                                  **({"fused": True} if cuda else {}))
    parameters, ema_parameters = list(model.parameters()), list(ema.parameters())
    noise = torch.Generator(device=device).manual_seed(SEED)
    draws = torch.Generator(device=device).manual_seed(SEED + 1)
    fields = {"image": torch.uint8, "target": torch.uint8, "weight": torch.uint8}
    feed = DeviceFeed(functools.partial(render_payloads, size=settings.resolution), examples_job, pool, device,
                      settings.buffer, fields, first_seed=0, render_batch=settings.render_batch, job_args=(SEED,))
    curve, step, window, window_steps = [], 0, torch.zeros((), device=device), 0
    tokens = ([], None)  # (prompts, their tokens on the device)
    with feed:
        filling = time.monotonic()
        feed.wait_for(4 * settings.batch_size, timeout=FIRST_FILL_TIMEOUT)
        began = time.monotonic()  # the time budget is for training: it starts once the first batches exist
        waited = began - filling
        log(f"vb-small v2: first {feed.filled} examples after {waited:.1f} s; training "
            f"{sum(p.numel() for p in parameters) / 1e6:.2f} M parameters for {seconds:.0f} s")
        last_log = time.monotonic()
        while (elapsed := time.monotonic() - began) < seconds:
            tensors, ids, prompts = feed.sample(settings.batch_size, draws)
            image = tensors["image"].permute(0, 3, 1, 2).float() / 127.5 - 1.0
            target = tensors["target"].permute(0, 3, 1, 2).float() / 127.5 - 1.0
            weight = tensors["weight"].float()[:, None]
            for group in optimizer.param_groups:
                group["lr"] = learning_rate(settings.learning_rate, step, elapsed / seconds)
            if len(prompts) != len(tokens[0]):  # a new prompt wording arrived (rare): tokenize the list again
                tokens = (prompts, model.prompt_encoder.tokenize(prompts))
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=cuda):
                cond = model.prompt_encoder.encode_tokens(*tokens[1])[ids]
                loss = flow_matching_loss(model, image, target, cond, noise, weight, TERMINAL_FRACTION)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(parameters, GRAD_CLIP)
            optimizer.step()
            with torch.no_grad():
                decay = min(EMA_DECAY, (1 + step) / (10 + step))
                torch._foreach_lerp_(ema_parameters, parameters, 1.0 - decay)
            window += loss.detach()
            window_steps += 1
            step += 1
            if time.monotonic() - last_log > max(2.0, seconds / 15):
                mean = float(window) / window_steps
                curve.append({"seconds": round(elapsed, 1), "step": step, "loss": round(mean, 5)})
                log(f"vb-small v2: {elapsed:5.0f} s  step {step}  loss {mean:.4f}  "
                    f"{step / max(elapsed, 1e-9):.1f} steps/s  examples made {feed.produced} "
                    f"(buffer {feed.filled})")
                window, window_steps, last_log = torch.zeros((), device=device), 0, time.monotonic()
        if window_steps:
            curve.append({"seconds": round(time.monotonic() - began, 1), "step": step,
                          "loss": round(float(window) / window_steps, 5)})
    seconds_spent = time.monotonic() - began
    record = {"steps": step, "seconds": round(seconds_spent, 1), "first_fill_seconds": round(waited, 1),
              "steps_per_second": round(step / max(seconds_spent, 1e-9), 2),
              "examples_seen": step * settings.batch_size, "parameters": sum(p.numel() for p in parameters),
              "batch_size": settings.batch_size, "learning_rate": settings.learning_rate,
              "data": feed.stats(seconds_spent + waited), "loss_curve": curve}
    return ema, record


def comparison(new: dict, old: dict) -> dict:
    """Per held-out figure: old, new and whether new is better; ``beats_old_on_every_figure``."""
    rows = {}
    for name, larger_is_better in FIGURES.items():
        a, b = old[name], new[name]
        rows[name] = {"old": a, "new": b, "better": bool(b > a if larger_is_better else b < a)}
    return {"figures": rows, "beats_old_on_every_figure": all(r["better"] for r in rows.values())}


def run(settings, seconds: float, device, out: Path, pool, log) -> dict:
    from bundled_model_eval import HELD_OUT_SEED, held_out_scenes, score

    from vb_plugins.generation.bundled import BUNDLED_DIR, MODEL_WEIGHTS, load_vbnet, save_vbnet

    ema, record = train(settings, seconds, device, pool, log)
    hardware = f"{platform.machine()} {device}"
    if device.type == "cuda":
        import torch

        hardware = f"{torch.cuda.get_device_name(device)} ({platform.machine()}, {device})"
    provenance = {
        "trained_with": "benchmarks/gpu/run.py (issue 19: one prepared GPU run)",
        "command": "bash benchmarks/gpu/run.sh",
        "recipe": "vb_plugins/models/vb-small/train.yaml with channels 64/128/192/256 at 128 px, scenes rendered "
                  "on the device, time-based cosine schedule, bf16 autocast (see benchmarks/gpu/vbsmall_v2.py)",
        "steps": record["steps"], "seconds": record["seconds"], "batch_size": record["batch_size"],
        "hardware": hardware,
        "training_seeds": f"synthetic scenes {record['data']['first_seed']}..{record['data']['last_seed']}; "
                          "held-out evaluation from seed 1,000,000",
        "weights": "float16 (loaded as float32)",
    }
    save_vbnet(ema.cpu(), out, provenance, dtype="float16")
    model, _, _ = load_vbnet(out, str(device))  # score the float16 weights as shipped
    log(f"vb-small v2: exported to {out}; scoring on {settings.held_out} held-out scenes")
    scenes = held_out_scenes(settings.held_out, model.config.resolution)
    by_steps = {steps: score(model, scenes, steps, device=str(device)) for steps in settings.eval_steps}
    best = max(by_steps, key=lambda s: by_steps[s]["model_scores"]["depth_delta1"])
    old_model, _, _ = load_vbnet(BUNDLED_DIR, str(device))
    old_scenes = held_out_scenes(settings.held_out, old_model.config.resolution)
    old = score(old_model, old_scenes, None, device=str(device))
    new = by_steps[best]
    compared = comparison(new["model_scores"], old["model_scores"])
    model.config.default_steps = best
    provenance.update({"default_steps": f"{best} (best held-out depth delta1 of {'/'.join(map(str, by_steps))})",
                       "held_out": {k: round(v, 4) for k, v in new["model_scores"].items()}})
    save_vbnet(model.cpu(), out, provenance, dtype="float16")
    size = (out / MODEL_WEIGHTS).stat().st_size
    log(f"vb-small v2: held-out depth delta1 {old['model_scores']['depth_delta1']:.3f} -> "
        f"{new['model_scores']['depth_delta1']:.3f}, normals mean {old['model_scores']['normals_mean_deg']:.1f} -> "
        f"{new['model_scores']['normals_mean_deg']:.1f} deg; beats the old model on every figure: "
        f"{compared['beats_old_on_every_figure']}")
    return {
        "model_dir": out.name, "weights_bytes": size, "fits_package": size <= MAX_PACKAGE_BYTES,
        "config": model.config.to_dict(), "training": record,
        "held_out": {"scenes": settings.held_out, "seeds": [HELD_OUT_SEED, HELD_OUT_SEED + settings.held_out - 1],
                     "protocol": "benchmarks/bundled_model_eval.py score(), each model at its own resolution"},
        "new": {"resolution": model.config.resolution, "default_steps": best, **new,
                "by_steps": {str(s): r["model_scores"] for s, r in by_steps.items()}},
        "old": {"model": str(BUNDLED_DIR), "resolution": old_model.config.resolution,
                "default_steps": old_model.config.default_steps, **old},
        "comparison": compared,
    }

"""Part 2 of the GPU run: a learned robust depth decoder, measured against naive and robust decoding.

The probe of the robust-decoding work, trained long enough to be conclusive: a CNN of five 3 x 3
convolutions (32 channels, dilations 1, 2, 4, 8, 1: a receptive field of 33 px) and a 1 x 1 output,
six layers in all. Per pixel it reads the robust and the naive position along the colour path, the
colour's Y, Cb, Cr and its distance to the path, and outputs a correction of the robust position in
path steps (zero-initialised: it starts as the robust decoder). Loss: L1 on log depth over pixels with
finite ground truth. Training data: scenes rendered on the device from seed 1000 on (the benchmark uses
seeds 0..11), encoded, through JPEG at a quality drawn from 45..95 (a tenth of them left lossless, so
the decoder learns to leave exact input alone), decoded naive and robust in worker processes.

Scored with ``benchmarks/robust_decode.py``'s scenes, layouts and damages (lossless, JPEG 95/75/50):
AbsRel and delta1 of naive, robust and learned decoding in the same run, and the time per image of
robust decoding and of the learned decoder on top of it. A ``learned`` decoding mode is worth shipping
only if it beats robust on every lossy row and is never worse on lossless input (``ship`` in the results).
Where the robust decode is infinitely far (the colour is at the far end of the path), so is the learned one.
"""

from __future__ import annotations

import functools
import json
import math
import time
from pathlib import Path

import numpy as np
from feed import FIRST_FILL_TIMEOUT, DeviceFeed

INPUTS = ("robust_s", "naive_s", "Y", "Cb", "Cr", "residual")
CHANNELS = 32
DILATIONS = (1, 2, 4, 8, 1)
OUTPUT_SCALE = 8.0  # path steps per unit of network output
RESIDUAL_SCALE = 16.0  # levels
FIRST_SEED = 1000
SEED = 0
QUALITIES = (45, 95)
LOSSLESS_SHARE = 0.1
DAMAGES = ("lossless", "jpeg95", "jpeg75", "jpeg50")
MAX_WEIGHTS_BYTES = 4 * 2**20
WEIGHTS = "learned_decoder.safetensors"


def build(channels: int = CHANNELS, dilations=DILATIONS):
    import torch
    from torch import nn

    class DilatedDecoder(nn.Module):
        """inputs (B, 6, H, W) -> correction of the robust position in path steps (B, H, W)."""

        def __init__(self):
            super().__init__()
            layers, width = [], len(INPUTS)
            for dilation in dilations:
                layers += [nn.Conv2d(width, channels, 3, padding=dilation, dilation=dilation, padding_mode="reflect"),
                           nn.SiLU()]
                width = channels
            self.body = nn.Sequential(*layers)
            self.out = nn.Conv2d(channels, 1, 1)
            nn.init.zeros_(self.out.weight)
            nn.init.zeros_(self.out.bias)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.out(self.body(x))[:, 0] * OUTPUT_SCALE

    return DilatedDecoder()


def decoder_inputs(codec, image: np.ndarray):
    """(inputs (6, H, W) float32, naive DepthDecoding, robust DepthDecoding, robust seconds) of a depth image."""
    from vb_plugins.codecs._robust import YCBCR

    steps = np.float32(255 * codec.scheme.segments)
    naive = codec.decode(image, mode="exact")
    began = time.perf_counter()
    robust = codec.decode(image, mode="robust")
    robust_seconds = time.perf_counter() - began
    ycc = image.astype(np.float32) @ YCBCR.T / np.float32(255.0)
    inputs = np.stack([codec.path_position(robust.depth) / steps, codec.path_position(naive.depth) / steps,
                       ycc[..., 0], ycc[..., 1], ycc[..., 2], naive.residual / np.float32(RESIDUAL_SCALE)])
    return inputs.astype(np.float32), naive, robust, robust_seconds


def log_depth(s, steps: float, scale: float, power: float):
    """Differentiable log depth (metres) of path positions ``s`` (torch), as _Path.depth computes depth."""
    import torch

    f = (s / steps).clamp(0.0, 1.0 - 1e-6)
    gap = -torch.expm1(torch.log1p(-f) / power)  # 1 - (1 - f) ** (1 / power), without cancellation
    return math.log(scale) + torch.log(gap.clamp_min(1e-12)) - torch.log1p(-gap)


def learned_depth(net, codec, inputs: np.ndarray, robust_depth: np.ndarray, device) -> np.ndarray:
    """Depth (metres) decoded by ``net`` from :func:`decoder_inputs`."""
    import torch

    from vb_plugins.codecs._robust import _Path

    path = _Path(codec)
    with torch.no_grad():
        correction = net(torch.from_numpy(inputs)[None].to(device))[0].float().cpu().numpy()
    s = np.clip(inputs[0] * np.float32(path.steps) + correction, 0.0, path.steps - 0.5 - 1e-3).astype(np.float32)
    depth = path.depth(s)
    return np.where(np.isinf(robust_depth), np.float32(np.inf), depth).astype(np.float32)


def render_depths(seeds, device, size: int):
    from vb_plugins.training.synthetic import render_scenes

    return [scene.depth for scene in render_scenes(seeds, size, size, device=device)]


def examples_job(depths, seeds, run_seed: int) -> dict:
    """Decoder inputs and true depth of each rendered depth map through JPEG (worker process)."""
    from vb_plugins.codecs import DepthCodec
    from vb_plugins.testing import degrade

    codec = DepthCodec()
    inputs, truths = [], []
    for depth, seed in zip(depths, seeds):
        rng = np.random.default_rng([run_seed, seed])
        image = codec.encode(depth)
        if rng.random() >= LOSSLESS_SHARE:
            image = degrade.jpeg(image, int(rng.integers(QUALITIES[0], QUALITIES[1] + 1)))
        inputs.append(decoder_inputs(codec, image)[0])
        truths.append(depth.astype(np.float32))
    return {"inputs": np.stack(inputs), "depth": np.stack(truths)}


def train(settings, seconds: float, device, pool, log):
    import torch

    from vb_plugins.codecs import DepthCodec
    from vb_plugins.codecs._robust import _Path

    path = _Path(DepthCodec())
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(SEED)
        net = build()
    net.to(device).train()
    cuda = device.type == "cuda"
    base_lr = 2e-3
    optimizer = torch.optim.AdamW(net.parameters(), lr=base_lr, weight_decay=1e-4, **({"fused": True} if cuda else {}))
    draws = torch.Generator(device=device).manual_seed(SEED + 1)
    feed = DeviceFeed(functools.partial(render_depths, size=settings.decoder_size), examples_job, pool,
                      device, settings.decoder_buffer, {"inputs": torch.float32, "depth": torch.float32},
                      first_seed=FIRST_SEED, render_batch=settings.render_batch, job_args=(SEED,))
    curve, step, window, window_steps = [], 0, torch.zeros((), device=device), 0
    with feed:
        filling = time.monotonic()
        feed.wait_for(4 * settings.decoder_batch, timeout=FIRST_FILL_TIMEOUT)
        began = time.monotonic()  # the time budget is for training: it starts once the first batches exist
        waited = began - filling
        log(f"learned decoder: first {feed.filled} examples after {waited:.1f} s; training for {seconds:.0f} s")
        last_log = time.monotonic()
        while (elapsed := time.monotonic() - began) < seconds:
            tensors, _, _ = feed.sample(settings.decoder_batch, draws)
            inputs, truth = tensors["inputs"], tensors["depth"]
            progress = elapsed / seconds
            for group in optimizer.param_groups:
                group["lr"] = base_lr * min(1.0, (step + 1) / 100) * (0.1 + 0.45 * (1.0 + math.cos(math.pi * progress)))
            finite = torch.isfinite(truth)
            s = inputs[:, 0] * path.steps + net(inputs)
            predicted = log_depth(s, path.steps, path.scale, path.power)
            target = torch.log(torch.where(finite, truth, torch.ones_like(truth)))
            loss = ((predicted - target).abs() * finite).sum() / finite.sum().clamp_min(1)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            window += loss.detach()
            window_steps += 1
            step += 1
            if time.monotonic() - last_log > max(2.0, seconds / 10):
                mean = float(window) / window_steps
                curve.append({"seconds": round(elapsed, 1), "step": step, "loss": round(mean, 6)})
                log(f"learned decoder: {elapsed:5.0f} s  step {step}  L1 log depth {mean:.5f}  "
                    f"examples made {feed.produced} (buffer {feed.filled})")
                window, window_steps, last_log = torch.zeros((), device=device), 0, time.monotonic()
        if window_steps:
            curve.append({"seconds": round(time.monotonic() - began, 1), "step": step,
                          "loss": round(float(window) / window_steps, 6)})
    spent = time.monotonic() - began
    record = {"steps": step, "seconds": round(spent, 1), "first_fill_seconds": round(waited, 1),
              "batch_size": settings.decoder_batch, "size": settings.decoder_size, "learning_rate": base_lr,
              "parameters": sum(p.numel() for p in net.parameters()), "qualities": list(QUALITIES),
              "lossless_share": LOSSLESS_SHARE, "data": feed.stats(spent + waited), "loss_curve": curve}
    return net.eval(), record


def evaluate(net, settings, device) -> dict:
    """naive / robust / learned AbsRel and delta1 per damage on robust_decode.py's scenes and layouts."""
    from robust_decode import DAMAGES as DAMAGE_FUNCTIONS
    from robust_decode import depth_scores, load_scenes

    from vb_plugins.codecs import DepthCodec

    codec = DepthCodec()
    codec.scheme.cube_lut()
    scenes, layouts = load_scenes(settings.benchmark_scenes, settings.benchmark_layouts, settings.benchmark_size)
    table, robust_ms, learned_ms = {}, [], []
    for damage in DAMAGES:
        row: dict[str, list] = {}
        for kind, depths in (("scenes", [s.depth for s in scenes]), ("layouts", layouts)):
            for depth in depths:
                image = DAMAGE_FUNCTIONS[damage](codec.encode(depth))
                began = time.perf_counter()
                inputs, naive, robust, robust_seconds = decoder_inputs(codec, image)
                learned = learned_depth(net, codec, inputs, robust.depth, device)
                learned_ms.append((time.perf_counter() - began) * 1000.0)
                robust_ms.append(robust_seconds * 1000.0)
                for label, prediction in (("naive", naive.depth), ("robust", robust.depth), ("learned", learned)):
                    absrel, delta1, _ = depth_scores(prediction, depth)
                    row.setdefault(f"{kind}.{label}.absrel", []).append(absrel)
                    row.setdefault(f"{kind}.{label}.delta1", []).append(delta1)
        table[damage] = {key: float(np.mean(values)) for key, values in row.items()}
    kinds = ("scenes", "layouts")
    lossy_wins = {f"{d}.{k}": table[d][f"{k}.learned.absrel"] < table[d][f"{k}.robust.absrel"]
                  for d in DAMAGES[1:] for k in kinds}
    lossless = table["lossless"]
    lossless_ok = {k: lossless[f"{k}.learned.absrel"] <= lossless[f"{k}.robust.absrel"] for k in kinds}
    return {"scenes": settings.benchmark_scenes, "layouts": settings.benchmark_layouts, "size": settings.benchmark_size,
            "absrel_delta1": table,
            "ms_per_image": {"robust": float(np.mean(robust_ms)), "learned_with_robust": float(np.mean(learned_ms))},
            "beats_robust_on_lossy": lossy_wins, "not_worse_on_lossless": lossless_ok,
            "ship": all(lossy_wins.values()) and all(lossless_ok.values())}


def save(net, out: Path, record: dict, scores: dict) -> dict:
    from safetensors.torch import save_file

    out.mkdir(parents=True, exist_ok=True)
    config = {"format": "vb-learned-depth-decoder", "inputs": list(INPUTS), "channels": CHANNELS,
              "dilations": list(DILATIONS), "output_scale": OUTPUT_SCALE, "residual_scale": RESIDUAL_SCALE,
              "inputs_note": "robust and naive path positions / (255 * segments); Y, Cb, Cr / 255 (BT.601 full "
                             "range, chroma centred on 0); path residual / residual_scale",
              "output": "correction of the robust position, path steps; depth = path depth of the sum",
              "source": "benchmarks/gpu/learned_decoder.py"}
    state = {k: v.detach().float().cpu().contiguous() for k, v in net.state_dict().items()}
    save_file(state, str(out / WEIGHTS), metadata={"config": json.dumps(config)})
    (out / "learned_decoder.json").write_text(json.dumps({**config, "training": record, "scores": scores}, indent=2))
    return config


def load(directory: Path, device="cpu"):
    """The decoder saved by :func:`save` (a later session's starting point for a ``learned`` mode)."""
    from safetensors import safe_open
    from safetensors.torch import load_file

    path = Path(directory) / WEIGHTS
    with safe_open(str(path), "pt") as handle:
        config = json.loads(handle.metadata()["config"])
    net = build(config["channels"], tuple(config["dilations"]))
    net.load_state_dict(load_file(str(path)))
    return net.to(device).eval(), config


def run(settings, seconds: float, device, out: Path, pool, log) -> dict:
    net, record = train(settings, seconds, device, pool, log)
    log(f"learned decoder: {record['steps']} steps; scoring on {settings.benchmark_scenes} scenes and "
        f"{settings.benchmark_layouts} layouts at {settings.benchmark_size} px")
    save(net, out, record, {})
    reloaded, _ = load(out, device)  # scored as saved
    scores = evaluate(reloaded, settings, device)
    config = save(net, out, record, scores)
    for damage in DAMAGES:
        row = scores["absrel_delta1"][damage]
        log(f"learned decoder: {damage:8s} scenes AbsRel naive {row['scenes.naive.absrel']:.5f} robust "
            f"{row['scenes.robust.absrel']:.5f} learned {row['scenes.learned.absrel']:.5f} | layouts "
            f"{row['layouts.naive.absrel']:.5f} / {row['layouts.robust.absrel']:.5f} / "
            f"{row['layouts.learned.absrel']:.5f}")
    size = (out / WEIGHTS).stat().st_size
    return {"weights_dir": out.name, "weights_bytes": size, "fits_package": size <= MAX_WEIGHTS_BYTES,
            "config": config, "training": record, "benchmark": scores}

"""The engine against the per-image loop a user would write, on the same pipeline, in one run.

    python benchmarks/engine.py [--family flux2-klein] [--images 16] [--batch-size 8] [--steps 2]
    python benchmarks/engine.py --model black-forest-labs/FLUX.2-klein-4B --device cuda --megapixels 1

Without ``--model`` a tiny random-weight pipeline of ``--family`` is built in a temp dir (CPU, offline).
The naive loop calls ``pipe(image=..., prompt=...)`` once per image (encoding the prompt every time); the
engine encodes the prompt once and batches images. Both use the same seeds; outputs are compared.
"""

from __future__ import annotations

import argparse
import inspect
import tempfile
import time

import numpy as np


def _clock(device) -> float:
    """Wall time after the device's queued work has finished (CUDA runs asynchronously)."""
    import torch

    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter()


def _reset_peak(device) -> None:
    import torch

    if torch.device(device).type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)


def _peak_gib(device) -> float | None:
    import torch

    if torch.device(device).type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**30
    return None


def compare(generator, photos, steps: int, megapixels: float, batch_sizes=(8,), repeat: int = 2,
            time_left=None) -> dict:
    """The per-image ``pipe(...)`` loop against the engine at each batch size, on the same photos and seeds.

    Each configuration is warmed up once on its first image (loop) or first batch (engine), then timed
    ``repeat`` times (best kept); on CUDA the peak memory allocated during the timed runs is recorded.
    ``time_left()`` (seconds), if given, is checked before each configuration: one that would not fit,
    judged by the loop's time per image, is skipped and listed under ``skipped``.
    """
    import torch
    from PIL import Image

    from vb_plugins.predict import Predictor, resize_image

    pipe = generator.pipe
    device = generator.device
    height, width = photos[0].shape[:2]
    size = generator.size_for(height, width, megapixels)
    prompt = Predictor("depth", generator).prompts[0]
    inputs = [Image.fromarray(resize_image(p, size)) for p in photos]
    call_options = {"guidance_scale": generator.default_guidance} if generator.default_guidance is not None else {}
    # Both paths generate at the engine's size: Kontext otherwise snaps to its own list (896 x 1152 here)
    # and rescales to 1 MP, which a user passing height/width would also have to switch off.
    accepted = inspect.signature(pipe.__call__).parameters
    if "_auto_resize" in accepted:
        call_options["_auto_resize"] = False
    if "max_area" in accepted:
        call_options["max_area"] = size[0] * size[1]
    results = {"pipeline": type(pipe).__name__, "device": str(device), "images": len(photos),
               "size": [int(size[0]), int(size[1])], "megapixels": size[0] * size[1] / 1e6, "steps": steps,
               "repeat": repeat, "engine": {}, "skipped": []}

    def naive(images):
        outputs = []
        for image in images:
            result = pipe(image=image, prompt=prompt, height=size[0], width=size[1], num_inference_steps=steps,
                          generator=torch.Generator().manual_seed(0), output_type="np", **call_options)
            outputs.append(np.rint(np.clip(result.images[0], 0, 1) * 255).astype(np.uint8))
        return outputs

    def engine(batch_size, images):
        predictor = Predictor("depth", generator, steps=steps, megapixels=megapixels, batch_size=batch_size)
        return [p.visualization for p in predictor.predict(images)]  # a fresh run: prompts encoded again

    def timed(fn):
        best, outputs, peaks = np.inf, None, []
        for _ in range(repeat):
            _reset_peak(device)
            began = _clock(device)
            outputs = fn()
            best = min(best, _clock(device) - began)
            peaks.append(_peak_gib(device))
        return best, outputs, None if peaks[0] is None else max(peaks)

    def fits(estimate):
        return time_left is None or estimate < time_left()

    began = _clock(device)
    naive(inputs[:1])  # warm-up
    per_image = _clock(device) - began
    if not fits(per_image * len(photos) * repeat):
        needed = per_image * len(photos) * repeat
        results["skipped"].append(f"per-image loop: ~{needed:.0f} s would not fit the time left")
        return results
    seconds, naive_out, peak = timed(lambda: naive(inputs))
    per_image = seconds / len(photos)
    results["naive"] = {"seconds": seconds, "images_per_s": len(photos) / seconds, "peak_memory_gib": peak}
    for batch_size in batch_sizes:
        if not fits(per_image * (min(batch_size, len(photos)) + len(photos) * repeat)):
            results["skipped"].append(f"engine batch {batch_size}: would not fit the time left")
            continue
        engine(batch_size, photos[:batch_size])  # warm-up at this batch shape
        seconds, engine_out, peak = timed(lambda batch_size=batch_size: engine(batch_size, photos))
        shapes = {a.shape for a in naive_out} | {b.shape for b in engine_out}
        if len(shapes) != 1:
            raise SystemExit(f"naive and engine outputs differ in size ({sorted(shapes)}): not comparable")
        diff = max(int(np.abs(a.astype(int) - b).max()) for a, b in zip(naive_out, engine_out))
        same = float(np.mean([np.mean(a == b) for a, b in zip(naive_out, engine_out)]))
        results["engine"][str(batch_size)] = {
            "seconds": seconds, "images_per_s": len(photos) / seconds, "peak_memory_gib": peak,
            "speedup_vs_loop": results["naive"]["seconds"] / seconds, "identical_share": same, "max_difference": diff}
    return results


def main() -> None:
    from vb_plugins.generation import load_generator
    from vb_plugins.testing.tiny_pipeline import FAMILIES, save_tiny_pipeline

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--family", default="flux2-klein", choices=FAMILIES)
    parser.add_argument("--model", help="a real pipeline (Hub id or path) instead of a tiny one")
    parser.add_argument("--images", type=int, default=16)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--megapixels", type=float, default=0.0164, help="generation size (default 128x128)")
    parser.add_argument("--device", default=None)
    parser.add_argument("--dtype", default=None)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as temp:
        model = args.model or str(save_tiny_pipeline(args.family, f"{temp}/pipe"))
        generator = load_generator(model, device=args.device, dtype=args.dtype)
        rng = np.random.default_rng(0)
        photos = [rng.integers(0, 256, (120, 160, 3), dtype=np.uint8) for _ in range(args.images)]
        result = compare(generator, photos, args.steps, args.megapixels, (args.batch_size,), args.repeat)
        naive, engine = result["naive"], result["engine"][str(args.batch_size)]
        height, width = result["size"]
        print(f"{result['pipeline']} ({'tiny random weights' if not args.model else model}) on {result['device']}; "
              f"{args.images} images at {width}x{height}, {args.steps} steps, batch {args.batch_size}")
        print(f"naive per-image loop: {naive['seconds']:.3f} s  ({naive['images_per_s']:.2f} images/s)")
        print(f"engine:               {engine['seconds']:.3f} s  ({engine['images_per_s']:.2f} images/s)")
        print(f"speed-up: {engine['speedup_vs_loop']:.2f}x; outputs identical on {engine['identical_share']:.4%} of "
              f"values, max difference {engine['max_difference']} level(s)")


if __name__ == "__main__":
    main()

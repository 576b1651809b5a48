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


def main() -> None:
    import torch
    from PIL import Image

    from vb_plugins.generation import load_generator
    from vb_plugins.predict import Predictor, resize_image
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
        pipe = generator.pipe
        rng = np.random.default_rng(0)
        photos = [rng.integers(0, 256, (120, 160, 3), dtype=np.uint8) for _ in range(args.images)]
        predictor = Predictor("depth", generator, steps=args.steps, megapixels=args.megapixels,
                              batch_size=args.batch_size)
        prompt = predictor.prompts[0]
        size = generator.size_for(120, 160, args.megapixels)
        inputs = [Image.fromarray(resize_image(p, size)) for p in photos]
        call_options = {"guidance_scale": generator.default_guidance} if generator.default_guidance is not None else {}
        # Both paths generate at the engine's size: Kontext otherwise snaps to its own list (896 x 1152 here)
        # and rescales to 1 MP, which a user passing height/width would also have to switch off.
        accepted = inspect.signature(pipe.__call__).parameters
        if "_auto_resize" in accepted:
            call_options["_auto_resize"] = False
        if "max_area" in accepted:
            call_options["max_area"] = size[0] * size[1]

        def naive():
            outputs = []
            for image in inputs:
                result = pipe(image=image, prompt=prompt, height=size[0], width=size[1],
                              num_inference_steps=args.steps, generator=torch.Generator().manual_seed(0),
                              output_type="np", **call_options)
                outputs.append(np.rint(np.clip(result.images[0], 0, 1) * 255).astype(np.uint8))
            return outputs

        def engine():
            predictor.engine = None  # a fresh run: prompts are encoded again
            return [p.visualization for p in predictor.predict(photos)]

        naive(), engine()  # warm-up
        timings = {"naive": [], "engine": []}
        for _ in range(args.repeat):
            for name, fn in (("naive", naive), ("engine", engine)):
                began = time.perf_counter()
                outputs = fn()
                timings[name].append(time.perf_counter() - began)
                if name == "naive":
                    naive_out = outputs
                else:
                    engine_out = outputs
        shapes = {a.shape for a in naive_out} | {b.shape for b in engine_out}
        if len(shapes) != 1:
            raise SystemExit(f"naive and engine outputs differ in size ({sorted(shapes)}): not comparable")
        diff = max(int(np.abs(a.astype(int) - b).max()) for a, b in zip(naive_out, engine_out))
        same = float(np.mean([np.mean(a == b) for a, b in zip(naive_out, engine_out)]))
        best = {k: min(v) for k, v in timings.items()}
        device = next(pipe.transformer.parameters()).device if hasattr(pipe, "transformer") else "cpu"
        print(f"{type(pipe).__name__} ({'tiny random weights' if not args.model else model}) on {device}; "
              f"{args.images} images at {size[1]}x{size[0]}, {args.steps} steps, batch {args.batch_size}")
        print(f"naive per-image loop: {best['naive']:.3f} s  ({args.images / best['naive']:.2f} images/s)")
        print(f"engine:               {best['engine']:.3f} s  ({args.images / best['engine']:.2f} images/s)")
        print(f"speed-up: {best['naive'] / best['engine']:.2f}x; outputs identical on {same:.4%} of values, "
              f"max difference {diff} level(s)")


if __name__ == "__main__":
    main()

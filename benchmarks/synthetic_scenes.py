"""Synthetic scene throughput: rendered scenes (image + exact ground truth) per second.

    python benchmarks/synthetic_scenes.py [--sizes 128 256] [--batches 1 16] [--supersample 2 1]
                                          [--scenes 48] [--device cpu] [--threads N]

Every row renders the same seeds (a mix of rooms and outdoor layouts) after one warm-up batch.
"cpu ms/scene" is this process's CPU time (all threads) per scene: on a busy machine it stays near
the idle cost while the wall-clock rate drops.
"""

from __future__ import annotations

import argparse
import time

import torch

from vb_plugins.training.synthetic import render_scenes


def throughput(size: int, batch: int, supersample: int, scenes: int, device: str) -> tuple[float, float]:
    """(scenes per wall-clock second, CPU milliseconds of this process per scene)."""
    render_scenes(range(10_000, 10_000 + batch), size, size, device=device, supersample=supersample)  # warm-up
    count = max(batch, scenes - scenes % batch)
    start, cpu_start = time.perf_counter(), time.process_time()
    for first in range(0, count, batch):
        render_scenes(range(first, first + batch), size, size, device=device, supersample=supersample)
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    elapsed = time.perf_counter() - start
    return count / elapsed, 1000 * (time.process_time() - cpu_start) / count


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[128, 256])
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 16])
    parser.add_argument("--supersample", type=int, nargs="+", default=[2, 1],
                        help="rays per pixel side on edges (2 = default anti-aliasing, 1 = none)")
    parser.add_argument("--scenes", type=int, default=48, help="scenes per row (rounded down to whole batches)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"device {args.device}, torch {torch.__version__}, {torch.get_num_threads()} CPU threads")
    print(f"{'size':>9} {'batch':>5} {'ss':>3} {'scenes/s':>9} {'ms/scene':>9} {'cpu ms/scene':>13}")
    for size in args.sizes:
        for supersample in args.supersample:
            for batch in args.batches:
                rate, cpu_ms = throughput(size, batch, supersample, args.scenes, args.device)
                print(f"{size:>4}x{size:<4} {batch:>5} {supersample:>3} {rate:>9.1f} {1000 / rate:>9.1f} "
                      f"{cpu_ms:>13.1f}", flush=True)


if __name__ == "__main__":
    main()

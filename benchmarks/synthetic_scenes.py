"""Synthetic scene throughput: rendered scenes (image + exact ground truth) per second.

    python benchmarks/synthetic_scenes.py [--sizes 128 256] [--batches 1 16] [--supersample 2 1]
                                          [--seconds 3] [--device cpu] [--threads N]

Every timed batch renders new seeds (a mix of rooms and outdoor layouts), after one warm-up batch.
"""

from __future__ import annotations

import argparse
import time

import torch

from vb_plugins.training.synthetic import render_scenes


def throughput(size: int, batch: int, supersample: int, seconds: float, device: str) -> float:
    seed = 10_000 * size + 100 * batch + supersample  # distinct scenes per configuration
    render_scenes(range(seed, seed + batch), size, size, device=device, supersample=supersample)  # warm-up
    seed += batch
    done, start = 0, time.perf_counter()
    while True:
        render_scenes(range(seed, seed + batch), size, size, device=device, supersample=supersample)
        seed += batch
        done += batch
        elapsed = time.perf_counter() - start
        if elapsed >= seconds and done >= 2 * batch:
            return done / elapsed


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[128, 256])
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 16])
    parser.add_argument("--supersample", type=int, nargs="+", default=[2, 1],
                        help="rays per pixel side on edges (2 = default anti-aliasing, 1 = none)")
    parser.add_argument("--seconds", type=float, default=3.0, help="minimum timed seconds per row")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"device {args.device}, torch {torch.__version__}, {torch.get_num_threads()} CPU threads")
    print(f"{'size':>9} {'batch':>5} {'ss':>3} {'scenes/s':>9} {'ms/scene':>9}")
    for size in args.sizes:
        for supersample in args.supersample:
            for batch in args.batches:
                rate = throughput(size, batch, supersample, args.seconds, args.device)
                print(f"{size:>4}x{size:<4} {batch:>5} {supersample:>3} {rate:>9.1f} {1000 / rate:>9.1f}", flush=True)


if __name__ == "__main__":
    main()

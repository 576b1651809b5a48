"""What matching colour words to the painted colours costs, next to decoding the same legend given exactly,
in one run.

    python benchmarks/legend_matching.py [--size 1024] [--repeat 5]

A semantic map of 6 classes (blocks) on a background, painted in the colours generators use for the
words (green as (0, 255, 0)), JPEG q=85. Baseline: the legend given as exact RGB (no matching). Measured:
the same legend given as words (painted colours found, matched by CIEDE2000, then the same decode).
Also reports the share of class pixels each decodes correctly (exact RGB at the CSS values misses the
classes whose words generators paint differently).
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import vb_plugins
from vb_plugins.testing.degrade import jpeg

WORDS = {"cat": "green", "dog": "purple", "sky": "light purple", "road": "gray", "car": "orange", "tree": "navy",
         "background": "black"}
PAINTED = [(0, 255, 0), (160, 32, 240), (200, 150, 250), (128, 128, 128), (255, 140, 0), (0, 0, 200), (0, 0, 0)]


def scene(size: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = np.full((size, size), len(WORDS), np.uint8)
    for k in range(1, len(WORDS)):
        y, x = rng.integers(0, size * 3 // 4, 2)
        labels[y:y + size // 4, x:x + size // 4] = k
    rgb = np.array(PAINTED, np.uint8)[labels - 1]
    return jpeg(rgb, 85), labels


def timed(function, repeat: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeat):
        began = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - began)
    return float(np.median(times)), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    task = vb_plugins.get_task("semantic")
    words = task.make_spec(classes=WORDS)
    exact = task.make_spec(classes={name: list(colour) for name, colour in words.classes})
    image, truth = scene(args.size)
    rows = {}
    for name, spec in (("exact RGB (baseline)", exact), ("colour words (matched)", words)):
        seconds, decoding = timed(lambda spec=spec: task.decode(image, spec), args.repeat)
        correct = float(np.mean(decoding.labels == truth))
        rows[name] = seconds
        print(f"{name:24s} {seconds * 1000:8.1f} ms   pixels labelled right {correct:.3f}")
    print(f"matching costs {rows['colour words (matched)'] / rows['exact RGB (baseline)']:.2f}x the exact decode "
          f"at {args.size} x {args.size}")


if __name__ == "__main__":
    main()

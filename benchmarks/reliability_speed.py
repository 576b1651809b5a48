"""Decode time with and without reliability, per task and decode mode, on one rendered scene, in one run.

    python benchmarks/reliability_speed.py [--size 1024] [--repeat 5] [--json PATH]

Codecs compute reliability (and the expected error) on first read (:func:`vb_plugins.codecs.base.compute_later`),
so a plain decode costs what it did before issue 23; the ratio is (decode + reading ``reliability``) over
decode alone, best of ``--repeat`` runs each. The pictures are the clean paintings of one rendered scene
(lossless: ``auto`` decodes exactly) and the same after JPEG q 75 (``auto`` decodes robustly).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from vb_plugins.codecs import DepthCodec, InstanceCodec, NormalsCodec, ReferringCodec, SemanticCodec
from vb_plugins.reliability import fitting
from vb_plugins.reliability.noise import compress
from vb_plugins.training.synthetic import render_scene


def timed(fn, repeat: int) -> float:
    fn()  # warm-up (tables, caches)
    best = np.inf
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def cases(size: int):
    scene = render_scene(0, size, size)
    legend = fitting.legend_for("basic")
    depth = fitting.clean_picture("depth", scene)
    normals = fitting.clean_picture("normals", scene)
    semantic = fitting.clean_picture("semantic", scene, "basic")
    referring = ReferringCodec().encode(scene.semantic == scene.semantic.max())
    instances = InstanceCodec().encode(scene.semantic.astype(np.int32))
    for quality, degrade in (("lossless", lambda x: x), ("jpeg75", lambda x: compress(x, ("jpeg", 75)))):
        yield "depth", quality, DepthCodec(), (degrade(depth),)
        yield "normals", quality, NormalsCodec(), (degrade(normals),)
        yield "semantic", quality, SemanticCodec(), (degrade(semantic), legend)
        yield "instance", quality, InstanceCodec(), (degrade(instances),)
        yield "referring", quality, ReferringCodec(), (degrade(referring),)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    rows = []
    print(f"{args.size} x {args.size} ({args.size * args.size / 1e6:.2f} MP), best of {args.repeat}")
    print(f"{'task':10s} {'input':9s} {'mode':7s} {'decode ms':>10s} {'+reliability ms':>16s} {'ratio':>6s}")
    for task, quality, codec, inputs in cases(args.size):
        mode = codec.decode(*inputs).mode
        plain = timed(lambda codec=codec, inputs=inputs: codec.decode(*inputs), args.repeat)
        full = timed(lambda codec=codec, inputs=inputs: codec.decode(*inputs).reliability, args.repeat)
        rows.append({"task": task, "input": quality, "mode": mode, "decode_s": round(plain, 5),
                     "with_reliability_s": round(full, 5), "ratio": round(full / plain, 2)})
        print(f"{task:10s} {quality:9s} {mode:7s} {plain * 1e3:10.1f} {full * 1e3:16.1f} {full / plain:6.2f}")
    if args.json:
        args.json.write_text(json.dumps({"size": args.size, "repeat": args.repeat, "rows": rows}, indent=1) + "\n")


if __name__ == "__main__":
    main()

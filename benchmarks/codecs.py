"""Codec throughput in megapixels per second, next to the naive per-segment projection, in one run.

    python benchmarks/codecs.py [--size 1024] [--repeat 5]

The baseline is the straightforward numpy decode of the depth path: broadcast every pixel against all
7 segments, clip, take the argmin (what one writes first, and what the reference package does).
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import vb_plugins
from vb_plugins.codecs import DepthCodec, InstanceCodec, NormalsCodec, ReferringCodec, SemanticCodec
from vb_plugins.codecs.schemes import VB_CUBE_PATH, cube_walk_codes


def naive_depth_decode(rgb_u8: np.ndarray) -> np.ndarray:
    rgb = rgb_u8.astype(np.float64) / 255.0
    starts, ends = VB_CUBE_PATH[:-1], VB_CUBE_PATH[1:]
    edges = ends - starts
    p = rgb[..., None, :]
    t = np.clip(np.sum((p - starts) * edges, axis=-1) / np.sum(edges * edges, axis=-1), 0.0, 1.0)
    d2 = np.sum((p - (starts + t[..., None] * edges)) ** 2, axis=-1)
    k = np.argmin(d2, axis=-1)
    f = (k + np.take_along_axis(t, k[..., None], axis=-1)[..., 0]) / 7.0
    with np.errstate(divide="ignore"):
        return 10.0 * ((1.0 - f) ** -0.5 - 1.0)


def scene_depth(size: int, seed: int = 0) -> np.ndarray:
    """A room-like depth map: a floor plane, a back wall, and boxes with sharp edges."""
    rng = np.random.default_rng(seed)
    v, u = np.mgrid[0:size, 0:size] / size
    depth = np.where(v > 0.55, 1.2 / np.maximum(v - 0.5, 1e-3) * 0.25, 6.0)
    for _ in range(12):
        x0, y0 = rng.uniform(0, 0.8, 2)
        w, h = rng.uniform(0.05, 0.25, 2)
        inside = (u > x0) & (u < x0 + w) & (v > y0) & (v < y0 + h)
        depth = np.where(inside, np.minimum(depth, rng.uniform(0.5, 5.0) + 0.3 * u), depth)
    return np.clip(depth, 0.3, 80.0)


def timed(fn, repeat: int) -> float:
    fn()  # warm-up (tables, caches)
    best = np.inf
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    megapixels = args.size * args.size / 1e6

    depth_codec = vb_plugins.get_task("depth").codec
    scene = depth_codec.encode(scene_depth(args.size))
    noisy = np.random.default_rng(1).integers(0, 256, scene.shape, dtype=np.uint8)
    normals = np.random.default_rng(2).normal(size=scene.shape)
    normals_rgb = NormalsCodec().encode(normals)
    legend = dict(zip([f"class{i}" for i in range(20)], vb_plugins.codecs.palette(20)))
    labels = np.random.default_rng(3).integers(0, 21, (args.size // 32, args.size // 32)).repeat(32, 0).repeat(32, 1)
    semantic_rgb = SemanticCodec().encode(labels, legend)
    instance_rgb = InstanceCodec().encode(labels)
    referring_rgb = ReferringCodec().encode(labels == 3)
    depth_codec.decode(scene)  # builds the exact table
    depth_codec.scheme.cube_lut()

    baseline = timed(lambda: naive_depth_decode(scene), max(1, args.repeat // 2))
    rows = [("depth decode, naive per-segment projection (baseline)", baseline)]
    rows += [
        ("depth decode, uint8, exact table (scene)", timed(lambda: depth_codec.decode(scene), args.repeat)),
        ("depth decode, uint8, exact table (random colours)", timed(lambda: depth_codec.decode(noisy), args.repeat)),
        ("depth decode, uint8, direct integer path (first use)",
         timed(lambda: cube_walk_codes(scene, VB_CUBE_PATH), args.repeat)),
        ("depth decode, float32 input", timed(lambda: depth_codec.decode(scene / np.float32(255)), 2)),
        ("depth decode, plasma scheme", timed(lambda: DepthCodec("plasma").decode(scene), 2)),
        ("depth encode", timed(lambda: depth_codec.encode(scene_depth(args.size)), 2)),
        ("normals decode", timed(lambda: NormalsCodec().decode(normals_rgb), args.repeat)),
        ("semantic decode, 20 classes", timed(lambda: SemanticCodec().decode(semantic_rgb, legend), args.repeat)),
        ("instance decode, ~20 instances", timed(lambda: InstanceCodec().decode(instance_rgb), 2)),
        ("referring decode", timed(lambda: ReferringCodec().decode(referring_rgb), args.repeat)),
    ]
    print(f"{args.size}x{args.size} images ({megapixels:.2f} MP), best of {args.repeat}, numpy {np.__version__}")
    print(f"{'codec':58s} {'ms':>9s} {'MP/s':>9s} {'x baseline':>11s}")
    for name, seconds in rows:
        print(f"{name:58s} {seconds * 1e3:9.1f} {megapixels / seconds:9.1f} {baseline / seconds:11.1f}")


if __name__ == "__main__":
    main()

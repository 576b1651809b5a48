"""How far better robust depth decoding could go on damaged images: a plane-fit oracle, in one run.

    python benchmarks/robust_decode_ceiling.py [--scenes 12] [--size 256] [--quality 75] [--json out.json]

The scenes of ``benchmarks/robust_decode.py`` (rendered rooms and outdoor layouts) are encoded, saved as
JPEG and decoded naively (``mode="exact"``) and robustly (``mode="robust"``). The oracle then uses what
no decoder has, the renderer's surfaces: every planar surface (one object or stuff region with one true
normal, >= 50 px) gets a plane in inverse depth (linear in pixel coordinates for a pinhole camera)
fitted to the robust decode by reweighted least squares (relative residuals), over its interior
(eroded 2 px) or over the whole surface, edges included. Curved surfaces and small regions keep the
robust values. Reported: depth AbsRel of each, the share of pixels the oracle covers, and where the
oracle's remaining error is (covered vs uncovered pixels).

This bounds what segmenting an image into planes can buy: a decoder that finds the same planes on its
own can at best match the oracle.
"""

from __future__ import annotations

import argparse
import json

import numpy as np
from robust_decode import depth_scores, load_scenes, scored_depths

from vb_plugins.codecs import DepthCodec
from vb_plugins.testing import degrade

MIN_SURFACE_PX = 50


def fit_inverse_plane(u: np.ndarray, v: np.ndarray, q: np.ndarray, rounds: int = 4) -> np.ndarray:
    """Plane q = a u + b v + c fitted to inverse depths q with weights on relative residuals (IRLS)."""
    design = np.stack([u, v, np.ones_like(u)], axis=1)
    weight = 1.0 / q
    for _ in range(rounds):
        coefficients, *_ = np.linalg.lstsq(design * weight[:, None], q * weight, rcond=None)
        relative = np.abs(design @ coefficients - q) / q
        weight = 1.0 / q / np.maximum(relative, np.median(relative) + 1e-9)
    return coefficients


def planar_surfaces(scene) -> list[np.ndarray]:
    """Masks of the scene's planar surfaces: one object or region, one true normal, >= 50 px."""
    normal_key = np.round(scene.normals * 1000).astype(np.int64) + 1000
    key = ((scene.instance.astype(np.int64) * 256 + scene.semantic) * 10**9
           + normal_key[..., 0] * 10**6 + normal_key[..., 1] * 1000 + normal_key[..., 2])
    key = np.where(np.isfinite(scene.depth), key, -1)
    labels, counts = np.unique(key, return_counts=True)
    return [key == label for label, count in zip(labels, counts) if label >= 0 and count >= MIN_SURFACE_PX]


def oracle(robust_depth: np.ndarray, surfaces: list[np.ndarray]):
    """Robust depth with each planar surface's plane (fitted on its interior) put over the interior only,
    and over the whole surface -> (interior depth, whole depth, mask the whole version covers)."""
    import cv2

    height, width = robust_depth.shape
    v, u = np.mgrid[0:height, 0:width].astype(np.float64)
    interior_out = robust_depth.astype(np.float64)
    whole_out = interior_out.copy()
    covered = np.zeros(robust_depth.shape, bool)
    for surface in surfaces:
        interior = cv2.erode(surface.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
        if interior.sum() < 20:
            continue
        q = 1.0 / np.clip(robust_depth[interior].astype(np.float64), 1e-3, 1e3)
        a, b, c = fit_inverse_plane(u[interior], v[interior], q)
        for out, target in ((interior_out, interior), (whole_out, surface)):
            plane = a * u[target] + b * v[target] + c
            out[target] = np.where(plane > 0, 1.0 / np.maximum(plane, 1e-12), robust_depth[target])
        covered |= surface
    return interior_out.astype(np.float32), whole_out.astype(np.float32), covered


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenes", type=int, default=12, help="synthetic scenes (render_scene seeds 0..N-1)")
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--quality", type=int, default=75, help="JPEG quality")
    parser.add_argument("--json", help="also write the numbers as JSON")
    args = parser.parse_args()
    scenes, _ = load_scenes(args.scenes, 0, args.size)
    codec = DepthCodec()
    rows: dict[str, list[float]] = {}
    for scene in scenes:
        image = degrade.jpeg(codec.encode(scene.depth), args.quality)
        naive = codec.decode(image, mode="exact").depth
        robust = codec.decode(image, mode="robust").depth
        surfaces = planar_surfaces(scene)
        interior, whole, covered = oracle(robust, surfaces)
        finite = np.isfinite(scene.depth)
        p, g = scored_depths(whole, scene.depth)
        error, covered_finite = np.abs(p - g) / g, covered[finite]
        for name, value in (("naive", depth_scores(naive, scene.depth)[0]),
                            ("robust", depth_scores(robust, scene.depth)[0]),
                            ("oracle_interior", depth_scores(interior, scene.depth)[0]),
                            ("oracle_whole", depth_scores(whole, scene.depth)[0]),
                            ("oracle_whole_covered_part", error[covered_finite].sum() / finite.sum()),
                            ("oracle_whole_uncovered_part", error[~covered_finite].sum() / finite.sum()),
                            ("covered_share", covered_finite.mean())):
            rows.setdefault(name, []).append(float(value))
    summary = {name: float(np.mean(values)) for name, values in rows.items()}
    summary["quality"] = args.quality
    summary["scenes"] = args.scenes
    print(f"JPEG q{args.quality}, {args.scenes} scenes at {args.size} px: depth AbsRel")
    for name in ("naive", "robust", "oracle_interior", "oracle_whole"):
        gain = summary["naive"] / summary[name]
        print(f"  {name:16s} {summary[name]:.5f}  ({gain:.2f}x lower than naive)")
    print(f"  oracle covers {summary['covered_share']:.0%} of the pixels; of its AbsRel, "
          f"{summary['oracle_whole_covered_part']:.5f} is on covered and "
          f"{summary['oracle_whole_uncovered_part']:.5f} on uncovered pixels")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(summary, handle, indent=1)


if __name__ == "__main__":
    main()

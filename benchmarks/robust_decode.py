"""Naive (exact) vs robust decoding of damaged visualizations, for every codec, in one run.

    python benchmarks/robust_decode.py [--scenes 12] [--layouts 8] [--size 256] [--json out.json]

Ground truth: synthetic scenes (``vb_plugins.training.synthetic.render_scene``: rooms and outdoor
layouts with exact depth, normals, semantic and instance maps) and procedural layouts (slanted planes,
boxes, discs and thin poles: many sharp depth edges). Each ground truth is encoded, then damaged:
JPEG q = 95/85/75/50 (Pillow, 4:2:0), WebP q = 80, Gaussian noise sigma = 2/4/8 (of 255), a +-3 %
colour cast (gains 1.03, 1.00, 0.97). Segmentation images are anti-aliased first (Gaussian blur
sigma 0.6 px), as generators paint them.

Reported per damage, naive (``mode="exact"``) -> robust (``mode="robust"``):
- depth: AbsRel and delta1 over finite ground truth (predictions clipped to 1e-3..1000 m, inf -> 1000),
  and the share of finite pixels decoded as inf;
- normals: mean angular error (degrees) over pixels valid in both;
- semantic: pixel accuracy, and accuracy within 2 px of a label edge (9 classes in the first nine
  Cityscapes colours, the close colours Vision Banana is evaluated with);
- instance: mean IoU of each ground-truth object (>= 100 px) with its best decoded instance, and
  |decoded count - true count| per image;
- confidence: share of the total error held by the 10 % least-confident pixels (depth: absolute
  error in metres and relative error; normals: angular error; semantic: wrong pixels);
- speed: robust decoding in ms per megapixel on a 1024 x 1024 upsampled scene.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from vb_plugins.codecs import (
    DepthCodec,
    InstanceCodec,
    NormalsCodec,
    SemanticCodec,
)
from vb_plugins.testing import degrade

CITYSCAPES = [(128, 64, 128), (244, 35, 232), (70, 70, 70), (102, 102, 156), (190, 153, 153),
              (153, 153, 153), (250, 170, 30), (220, 220, 0), (107, 142, 35)]
DAMAGES = {
    "lossless": lambda x: x,
    "jpeg95": lambda x: degrade.jpeg(x, 95),
    "jpeg85": lambda x: degrade.jpeg(x, 85),
    "jpeg75": lambda x: degrade.jpeg(x, 75),
    "jpeg50": lambda x: degrade.jpeg(x, 50),
    "webp80": lambda x: degrade.webp(x, 80),
    "noise2": lambda x: degrade.gaussian_noise(x, 2),
    "noise4": lambda x: degrade.gaussian_noise(x, 4),
    "noise8": lambda x: degrade.gaussian_noise(x, 8),
    "cast3%": lambda x: degrade.colour_cast(x),
}


def procedural_layout(seed: int, size: int = 256) -> np.ndarray:
    """Depth (metres) of a procedural layout: a slanted back plane, 6-13 occluders (boxes, discs,
    poles 1-8 px wide) on planes of their own. Planes are linear in inverse depth, as in a real camera."""
    rng = np.random.default_rng(seed)
    v, u = (np.mgrid[0:size, 0:size] + 0.5) / size
    inverse = rng.uniform(0.05, 0.4) + rng.uniform(-0.1, 0.1) * u + rng.uniform(0, 0.3) * np.clip(v - 0.5, 0, None) * 4
    depth = 1.0 / inverse
    for _ in range(rng.integers(6, 14)):
        kind = rng.integers(0, 3)
        near = 1.0 / np.clip(rng.uniform(0.1, 1.5) + rng.uniform(-0.3, 0.3) * u + rng.uniform(-0.3, 0.3) * v,
                             0.05, None)
        if kind == 0:
            x0, y0 = rng.uniform(0, 0.9, 2)
            w, h = rng.uniform(0.05, 0.4, 2)
            inside = (u > x0) & (u < x0 + w) & (v > y0) & (v < y0 + h)
        elif kind == 1:
            cx, cy = rng.uniform(0, 1, 2)
            r = rng.uniform(0.03, 0.2)
            inside = (u - cx) ** 2 + (v - cy) ** 2 < r * r
        else:
            x0 = rng.uniform(0, 1)
            inside = (u > x0) & (u < x0 + rng.uniform(0.005, 0.03)) & (v > rng.uniform(0, 0.6))
        depth = np.where(inside & (near < depth), near, depth)
    return np.clip(depth, 0.3, 80).astype(np.float32)


def least_confident_share(error: np.ndarray, confidence: np.ndarray, fraction: float = 0.1) -> float:
    """Share of the summed error held by the ``fraction`` least-confident pixels."""
    error = np.asarray(error, np.float64).ravel()
    total = error.sum()
    if total <= 0:
        return float("nan")
    order = np.argsort(np.asarray(confidence).ravel(), kind="stable")[: max(1, int(len(error) * fraction))]
    return float(error[order].sum() / total)


def scored_depths(pred: np.ndarray, truth: np.ndarray):
    """(prediction, truth) over the finite-truth pixels, float64, the prediction clipped to 1e-3..1000 m."""
    finite = np.isfinite(truth)
    p = np.clip(np.nan_to_num(pred[finite], nan=1e-3, posinf=1000.0), 1e-3, 1000.0).astype(np.float64)
    return p, truth[finite].astype(np.float64)


def depth_scores(pred: np.ndarray, truth: np.ndarray):
    finite = np.isfinite(truth)
    p, g = scored_depths(pred, truth)
    return (float(np.mean(np.abs(p - g) / g)), float(np.mean(np.maximum(p / g, g / p) < 1.25)),
            float(np.mean(np.isinf(pred[finite]))))


def depth_confidence_shares(decoding, truth):
    finite = np.isfinite(truth)
    p = np.clip(np.nan_to_num(decoding.depth[finite], posinf=1000.0), 1e-3, 1000.0)
    absolute = np.abs(p - truth[finite])
    return (least_confident_share(absolute, decoding.confidence[finite]),
            least_confident_share(absolute / truth[finite], decoding.confidence[finite]))


def angular_error(a, b):
    return np.degrees(np.arccos(np.clip((a * b).sum(-1), -1, 1)))


def edge_band(labels: np.ndarray, radius: int = 2) -> np.ndarray:
    import cv2

    edges = np.zeros(labels.shape, np.uint8)
    edges[:, 1:] |= labels[:, 1:] != labels[:, :-1]
    edges[1:, :] |= labels[1:, :] != labels[:-1, :]
    return cv2.dilate(edges, np.ones((2 * radius + 1, 2 * radius + 1), np.uint8)) > 0


def antialias(rgb: np.ndarray) -> np.ndarray:
    import cv2

    return np.rint(cv2.GaussianBlur(rgb.astype(np.float32), (0, 0), 0.6)).astype(np.uint8)


def instance_scores(ids: np.ndarray, truth: np.ndarray, min_area: int = 100):
    objects = [k for k in np.unique(truth) if k > 0 and (truth == k).sum() >= min_area]
    ious = []
    for k in objects:
        inside = truth == k
        found = np.bincount(ids[inside], minlength=ids.max() + 1)
        found[0] = 0
        best = int(np.argmax(found))
        ious.append(0.0 if best == 0 else ((ids == best) & inside).sum() / ((ids == best) | inside).sum())
    return float(np.mean(ious)) if ious else float("nan"), abs(int(ids.max()) - len(objects))


def load_scenes(count: int, layouts: int, size: int):
    from vb_plugins.training.synthetic import render_scene

    scenes = [render_scene(seed, size, size) for seed in range(count)]
    return scenes, [procedural_layout(seed, size) for seed in range(layouts)]


def _collector(row: dict):
    def add(key, value):
        row.setdefault(key, []).append(value)

    return add


def evaluate(scenes, layouts, damages=DAMAGES):
    depth_codec, normals_codec = DepthCodec(), NormalsCodec()
    semantic_codec, instance_codec = SemanticCodec(), InstanceCodec()
    legend = {f"class{i}": colour for i, colour in enumerate(CITYSCAPES)}
    results = {}
    for name, damage in damages.items():
        row: dict[str, list] = {}
        add = _collector(row)

        for kind, depths in (("scenes", [s.depth for s in scenes]), ("layouts", layouts)):
            for depth in depths:
                image = damage(depth_codec.encode(depth))
                naive = depth_codec.decode(image, mode="exact")
                robust = depth_codec.decode(image, mode="robust")
                for label, decoding in (("naive", naive), ("robust", robust)):
                    absrel, delta1, leak = depth_scores(decoding.depth, depth)
                    add(f"{kind}.{label}.absrel", absrel)
                    add(f"{kind}.{label}.delta1", delta1)
                    add(f"{kind}.{label}.inf", leak)
                shares = depth_confidence_shares(robust, depth)
                add(f"{kind}.conf_abs", shares[0])
                add(f"{kind}.conf_rel", shares[1])
        for scene in scenes:
            valid = scene.valid
            normals_rgb = normals_codec.encode(np.where(valid[..., None], scene.normals, [0, 0, 1]))
            normals_rgb[~valid] = 0
            image = damage(normals_rgb)
            for label, mode in (("naive", "exact"), ("robust", "robust")):
                decoding = normals_codec.decode(image, mode=mode)
                both = valid & decoding.valid
                error = angular_error(decoding.normals[both], scene.normals[both])
                add(f"normals.{label}", float(error.mean()))
                if label == "robust":
                    add("normals.conf", least_confident_share(error, decoding.confidence[both]))
            labels = scene.semantic.astype(np.int32) + 1
            image = damage(antialias(semantic_codec.encode(labels, legend)))
            band = edge_band(labels)
            for label, mode in (("naive", "exact"), ("robust", "robust")):
                decoding = semantic_codec.decode(image, legend, mode=mode)
                right = decoding.labels == labels
                add(f"semantic.{label}.acc", float(right.mean()))
                add(f"semantic.{label}.edge", float(right[band].mean()))
                if label == "robust":
                    add("semantic.conf", least_confident_share(~right, decoding.confidence))
            image = damage(antialias(instance_codec.encode(scene.instance)))
            for label, mode in (("naive", "exact"), ("robust", "robust")):
                iou, count_error = instance_scores(instance_codec.decode(image, mode=mode).ids, scene.instance)
                add(f"instance.{label}.iou", iou)
                add(f"instance.{label}.count", count_error)
        results[name] = {key: float(np.nanmean(values)) for key, values in row.items()}
        results[name]["scenes.worst_delta1"] = float(np.min(row["scenes.robust.delta1"]))
        results[name]["scenes.ratio_min"] = float(np.min(np.array(row["scenes.naive.absrel"]) /
                                                         np.array(row["scenes.robust.absrel"])))
    return results


def timings(scene, size: int = 1024, repeat: int = 3) -> dict[str, float]:
    """Robust decoding, ms per megapixel, on a JPEG q75 image of ``scene`` upsampled to size x size."""
    import cv2

    def up(array, interpolation=cv2.INTER_NEAREST):
        return cv2.resize(array, (size, size), interpolation=interpolation)

    depth_codec = DepthCodec()
    depth_codec.scheme.cube_lut()
    images = {
        "depth": degrade.jpeg(depth_codec.encode(up(scene.depth)), 75),
        "normals": degrade.jpeg(NormalsCodec().encode(up(np.where(scene.valid[..., None], scene.normals, [0, 0, 1])
                                                            .astype(np.float32))), 75),
        "semantic": degrade.jpeg(SemanticCodec().encode(up(scene.semantic.astype(np.int32) + 1),
                                                        {f"c{i}": c for i, c in enumerate(CITYSCAPES)}), 75),
        "instance": degrade.jpeg(InstanceCodec().encode(up(scene.instance)), 75),
    }
    calls = {
        "depth exact": lambda: depth_codec.decode(images["depth"], mode="exact"),
        "depth robust": lambda: depth_codec.decode(images["depth"], mode="robust"),
        "normals robust": lambda: NormalsCodec().decode(images["normals"], mode="robust"),
        "semantic robust": lambda: SemanticCodec().decode(
            images["semantic"], {f"c{i}": c for i, c in enumerate(CITYSCAPES)}, mode="robust"),
        "instance robust": lambda: InstanceCodec().decode(images["instance"], mode="robust"),
    }
    out = {}
    for name, call in calls.items():
        call()
        best = np.inf
        for _ in range(repeat):
            start = time.perf_counter()
            call()
            best = min(best, time.perf_counter() - start)
        out[name] = best * 1000.0 / (size * size / 1e6)
    return out


def print_tables(results, speed) -> None:
    print("\nDepth, AbsRel naive -> robust (ratio) | delta1 naive -> robust | finite decoded inf naive -> robust")
    print("| damage | scenes AbsRel | layouts AbsRel | scenes delta1 | layouts delta1 | inf (scenes) |")
    print("|---|---|---|---|---|---|")
    for name, r in results.items():
        cells = []
        for kind in ("scenes", "layouts"):
            a, b = r[f"{kind}.naive.absrel"], r[f"{kind}.robust.absrel"]
            cells.append(f"{a:.5f} -> {b:.5f} ({a / b:.1f}x)")
        for kind in ("scenes", "layouts"):
            cells.append(f"{r[f'{kind}.naive.delta1']:.4f} -> {r[f'{kind}.robust.delta1']:.4f}")
        cells.append(f"{r['scenes.naive.inf']:.1e} -> {r['scenes.robust.inf']:.1e}")
        print(f"| {name} | " + " | ".join(cells) + " |")
    print("\nNormals (mean angle, deg), semantic (accuracy / within 2 px of edges), instance (mean IoU, count error)")
    print("| damage | normals | semantic acc | semantic edge acc | instance IoU | instance count error |")
    print("|---|---|---|---|---|---|")
    for name, r in results.items():
        print(f"| {name} | {r['normals.naive']:.3f} -> {r['normals.robust']:.3f} "
              f"| {r['semantic.naive.acc']:.4f} -> {r['semantic.robust.acc']:.4f} "
              f"| {r['semantic.naive.edge']:.4f} -> {r['semantic.robust.edge']:.4f} "
              f"| {r['instance.naive.iou']:.3f} -> {r['instance.robust.iou']:.3f} "
              f"| {r['instance.naive.count']:.2f} -> {r['instance.robust.count']:.2f} |")
    print("\nShare of the error held by the 10 % least-confident pixels (robust decoding)")
    print("| damage | depth abs (scenes) | depth rel (scenes) | depth abs (layouts) | normals | semantic |")
    print("|---|---|---|---|---|---|")
    for name, r in results.items():
        print(f"| {name} | {r['scenes.conf_abs']:.2f} | {r['scenes.conf_rel']:.2f} | {r['layouts.conf_abs']:.2f} "
              f"| {r['normals.conf']:.2f} | {r['semantic.conf']:.2f} |")
    print("\nSpeed, ms per megapixel (1024 x 1024, JPEG q75)")
    for name, ms in speed.items():
        print(f"  {name}: {ms:.0f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenes", type=int, default=12, help="synthetic scenes (render_scene seeds 0..N-1)")
    parser.add_argument("--layouts", type=int, default=8, help="procedural layouts")
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--json", help="also write the numbers as JSON")
    args = parser.parse_args()
    scenes, layouts = load_scenes(args.scenes, args.layouts, args.size)
    results = evaluate(scenes, layouts)
    speed = timings(scenes[min(9, len(scenes) - 1)])
    print_tables(results, speed)
    if args.json:
        with open(args.json, "w") as handle:
            json.dump({"results": results, "ms_per_megapixel": speed}, handle, indent=1)


if __name__ == "__main__":
    main()

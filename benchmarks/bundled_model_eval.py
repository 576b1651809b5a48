"""Quality of a VBNet model (default: the bundled one) on held-out synthetic scenes.

Scenes are rendered from seeds that training never used (training draws seeds 0..N-1 with N in the
thousands; this uses 1,000,000 on) at the model's native resolution. For each scene the model predicts
depth and normals from the rendered image; the decoded values are scored against the renderer's exact
ground truth: depth δ1 / AbsRel / RMSE over pixels that hit a surface (sky excluded), normals mean and
median angular error and % within 11.25° / 30°. As a yardstick measured in the same run, a constant
predictor (the median ground-truth depth of the evaluated scenes, and the normal pointing at the camera)
is scored on the same pixels. As diagnostics, the model's depth is also scored after a per-image median
scaling and after a least-squares scale and shift in disparity (the relative protocol of Marigold and
Open Vision Banana): the gap between those and the metric scores is the error in the global scale.

    python benchmarks/bundled_model_eval.py                       # the bundled model, 96 scenes
    python benchmarks/bundled_model_eval.py --model runs/vb-small/model --scenes 256 --json out.json
    python benchmarks/bundled_model_eval.py --checkpoint runs/vb-small   # EMA weights of the newest checkpoint
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

HELD_OUT_SEED = 1_000_000


def depth_row(pred: np.ndarray, gt: np.ndarray, valid: np.ndarray, aligned: bool = False) -> dict:
    from vb_plugins.evaluation.depth import align_depth, depth_metrics

    # undecodable pixels count as errors
    clipped = np.clip(np.nan_to_num(pred.astype(np.float64), nan=1e-3, posinf=1e3), 1e-3, 1e3)
    g = gt[valid].astype(np.float64)
    metrics = depth_metrics(clipped[valid], g)
    row = {key: metrics[key] for key in ("delta1", "abs_rel", "rmse")}
    if aligned:  # diagnostics: how much of the error is the global scale (metric) vs the layout (relative)
        for mode, name in (("median", "median_scaled"), ("scale-shift-disparity", "affine_disparity")):
            fitted, _ = align_depth(clipped, gt, valid, mode)
            metrics = depth_metrics(np.clip(fitted[valid], 1e-3, 1e3), g)
            row[f"delta1_{name}"] = metrics["delta1"]
            row[f"abs_rel_{name}"] = metrics["abs_rel"]
    return row


def normals_errors(pred: np.ndarray, gt: np.ndarray, valid: np.ndarray) -> np.ndarray:
    p = pred[valid].astype(np.float64)
    p = p / np.maximum(np.linalg.norm(p, axis=-1, keepdims=True), 1e-12)
    cosine = np.clip((p * gt[valid]).sum(-1), -1.0, 1.0)
    return np.degrees(np.arccos(cosine))


def load_model(args):
    from vb_plugins.generation.bundled import BUNDLED_DIR, load_vbnet

    if args.checkpoint:
        from vb_plugins.training.vbnet_trainer import load_checkpoint_model

        return load_checkpoint_model(Path(args.checkpoint)), f"checkpoint {args.checkpoint}"
    path = Path(args.model) if args.model else BUNDLED_DIR
    model, _meta, _device = load_vbnet(path, "cpu")
    return model, str(path)


def held_out_scenes(count: int = 96, size: int = 64):
    """The held-out scenes (seeds from HELD_OUT_SEED on), rendered on the CPU at ``size`` px."""
    from vb_plugins.training.synthetic import render_scenes

    return list(render_scenes(range(HELD_OUT_SEED, HELD_OUT_SEED + count), size, size))


def score(model, scenes, steps: int | None = None, ensemble: int = 1, device: str = "cpu") -> dict:
    """Depth and normals of ``model`` (a VBNet, moved to ``device``) on ``scenes`` against their ground
    truth, with the constant baseline on the same pixels: ``model_scores``, ``constant_baseline`` and
    ``seconds_per_image``."""
    from vb_plugins.generation.bundled import VBNetGenerator
    from vb_plugins.predict import Predictor

    generator = VBNetGenerator(model.to(device), None, device)
    images = [s.image for s in scenes]
    began = time.perf_counter()
    depth = Predictor("depth", generator, steps=steps, ensemble=ensemble, batch_size=16).predict(images)
    depth_seconds = time.perf_counter() - began
    began = time.perf_counter()
    normals = Predictor("normals", generator, steps=steps, ensemble=ensemble, batch_size=16).predict(images)
    normals_seconds = time.perf_counter() - began

    median_depth = float(np.median(np.concatenate([s.depth[s.valid] for s in scenes])))
    rows, const_rows, errors, const_errors = [], [], [], []
    for scene, d, n in zip(scenes, depth, normals):
        valid = scene.valid & np.isfinite(scene.depth)
        rows.append(depth_row(np.asarray(d.values), scene.depth, valid, aligned=True))
        const_rows.append(depth_row(np.full_like(scene.depth, median_depth), scene.depth, valid))
        errors.append(normals_errors(np.asarray(n.values), scene.normals, valid))
        const_errors.append(normals_errors(np.broadcast_to([0.0, 0.0, 1.0], scene.normals.shape), scene.normals, valid))

    def summary(depth_rows, angle_list):
        angles = np.concatenate(angle_list)
        out = {f"depth_{k}": float(np.mean([r[k] for r in depth_rows])) for k in depth_rows[0]}
        out.update({"normals_mean_deg": float(np.mean([a.mean() for a in angle_list])),
                    "normals_median_deg": float(np.median(angles)),
                    "normals_within_11.25": float(np.mean(angles < 11.25)),
                    "normals_within_30": float(np.mean(angles < 30.0))})
        return out

    return {"model_scores": summary(rows, errors), "constant_baseline": summary(const_rows, const_errors),
            "seconds_per_image": {"depth": depth_seconds / len(images), "normals": normals_seconds / len(images)}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="VBNet model directory (default: the bundled model)")
    parser.add_argument("--checkpoint", help="a `vb train` output directory: score its newest checkpoint's EMA weights")
    parser.add_argument("--scenes", type=int, default=96)
    parser.add_argument("--steps", type=int, default=None, help="sampling steps (default: the model's)")
    parser.add_argument("--ensemble", type=int, default=1)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    model, where = load_model(args)
    size = model.config.resolution
    scenes = held_out_scenes(args.scenes, size)
    results = {"model": where, "scenes": args.scenes, "resolution": size,
               "seeds": [HELD_OUT_SEED, HELD_OUT_SEED + args.scenes - 1],
               "steps": args.steps or model.config.default_steps, "ensemble": args.ensemble}
    results.update(score(model, scenes, args.steps, args.ensemble))
    print(json.dumps(results, indent=2))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()

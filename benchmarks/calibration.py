"""Reliability: fit the generator noise, fit the calibration tables, and check them on held-out scenes.

    python benchmarks/calibration.py bundled-outputs --out runs/bundled     # pictures of the bundled model
    python benchmarks/calibration.py fit-noise --images runs/bundled [--install]
    python benchmarks/calibration.py fit [--noise PATH] [--install]
    python benchmarks/calibration.py run [--scenes 24] [--size 192]

``fit-noise`` reads generated depth pictures (``DIR/depth/*`` or ``DIR/*``) and normal pictures
(``DIR/normals/*``), without ground truth, and fits :mod:`vb_plugins.reliability.noise` by simulated
moments; a third of the pictures are held back and their residual quantiles set beside a simulation on
rendered scenes the fit never saw. JPEG pictures are simulated at their estimated quality, WebP at 80.
``--install`` writes the fit into the package (``vb_plugins/reliability/generator_noise.json``).

``fit`` renders scenes (seeds from 7,000,000), encodes them, degrades each picture with the noise
(amplitude log-uniform in 0.1..1.5 times the fit, correlation 0.5..3x, blur 0.5..1.5x) and lossless /
JPEG q 95/75/50 / WebP 80, decodes exactly and robustly, and fits the tables
(``vb_plugins/reliability/calibration.json`` with ``--install``). Label maps get a few 1-4 px bars
(poles, wires: :func:`vb_plugins.reliability.fitting.with_thin_structures`, in ``run`` too), which
anti-aliasing and JPEG smear past their width.

``run`` scores held-out scenes (seeds from 8,000,000) degraded with the fitted noise at amplitude 1 (and
0.5, 0.25 for the depth shares) and decoded in the default ``auto`` mode: per task and compression the
expected calibration error (10 equal-width bins) and a reliability diagram
(``benchmarks/results/calibration/TASK.png``); for depth the share of pixels away from depth edges with
reliability >= 0.5, the share of far pixels (> 10 m) over 0.5 by reliability and by today's
``confidence``, and at JPEG q75 the share of the absolute error held by the 10 % least reliable pixels
(by each). Results: ``benchmarks/results/calibration.json``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from vb_plugins.errors import VBError
from vb_plugins.reliability import depth_reliability, noise_fit, normals_reliability, semantic_reliability
from vb_plugins.reliability import fitting as F
from vb_plugins.reliability import noise as N
from vb_plugins.reliability.model import expected_calibration_error, load_calibrations, save_calibrations

ROOT = Path(__file__).resolve().parent
RESULTS = ROOT / "results"
PACKAGE = ROOT.parent / "vb_plugins" / "reliability"
FIT_SEED, HELD_OUT_SEED, NOISE_SCENE_SEED, NOISE_CHECK_SEED = 7_000_000, 8_000_000, 5_000_000, 6_000_000
TASKS = ("depth", "normals", "semantic")
BENCH_COMPRESSIONS = ("lossless", "jpeg95", "jpeg75", "jpeg50", "webp80")


def log(message: str) -> None:
    print(message, flush=True)


# -- pictures of the bundled model ---------------------------------------------------------------------
def bundled_outputs(args) -> None:
    from PIL import Image

    from vb_plugins.predict import Predictor
    from vb_plugins.training.synthetic import render_scene

    out = Path(args.out)
    scenes = [render_scene(args.seed + i, args.size, args.size) for i in range(args.count)]
    for task in ("depth", "normals"):
        (out / task).mkdir(parents=True, exist_ok=True)
        for scene, prediction in zip(scenes, Predictor(task).predict([s.image for s in scenes])):
            Image.fromarray(prediction.visualization).save(out / task / f"{scene.kind}-{scene.seed}.png")
    log(f"{len(scenes)} depth and normal pictures of the bundled model in {out}")


# -- noise ------------------------------------------------------------------------------------------------
def _pictures(folder: Path):
    from PIL import Image

    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in (".png", ".jpg", ".jpeg", ".webp"))
    return [np.asarray(Image.open(p).convert("RGB")) for p in files], [N.image_compression(p) for p in files]


def split(items: list):
    """(fit, held back): every third picture is held back."""
    return [x for i, x in enumerate(items) if i % 3 != 2], [x for i, x in enumerate(items) if i % 3 == 2]


def fit_noise(args) -> None:
    folder = Path(args.images)
    depth_dir = folder / "depth" if (folder / "depth").is_dir() else folder
    normals_dir = Path(args.normals) if args.normals else folder / "normals"
    depth, depth_c = _pictures(depth_dir)
    normals, normals_c = _pictures(normals_dir) if normals_dir.is_dir() else ([], [])
    if not depth:
        sys.exit(f"fit-noise: no depth pictures (png, jpg, webp) in {depth_dir}")
    (depth_fit, depth_held), (normals_fit, normals_held) = split(depth), split(normals)
    height, width = np.median([p.shape[:2] for p in depth], axis=0).astype(int)
    size = (int(min(height, 256)), int(min(width, 256)))
    scenes = noise_fit.simulation_scenes(args.scenes, *size, seed=NOISE_SCENE_SEED)
    noise = N.GeneratorNoise(source=args.source or f"{len(depth)} depth and {len(normals)} normal pictures in {folder}")
    noise.depth, _ = noise_fit.fit_depth_noise(depth_fit, split(depth_c)[0], scenes, log=log)
    if normals_fit:
        noise.normals, _ = noise_fit.fit_normals_noise(normals_fit, split(normals_c)[0], scenes, log=log)
    else:
        log("no normal pictures: the normals (and label) noise keeps the shipped fit")
        noise.normals = N.load_noise().normals
    check_scenes = noise_fit.simulation_scenes(max(8, args.scenes // 2), *size, seed=NOISE_CHECK_SEED)
    noise.notes = {
        "pictures": {"depth": len(depth), "normals": len(normals), "size": list(size),
                     "compression": sorted({f"{k} {q}" if q else k for k, q in depth_c + normals_c})},
        "fitted_on": "two thirds of the pictures (index % 3 != 2)",
        "check": noise_fit.check_fit(noise, depth_held, normals_held, {"depth": split(depth_c)[1] or [N.LOSSLESS],
                                                               "normals": split(normals_c)[1] or [N.LOSSLESS]},
                             check_scenes),
        "check_fitted_pictures": noise_fit.check_fit(noise, depth_fit, normals_fit, {
            "depth": split(depth_c)[0], "normals": split(normals_c)[0] or [N.LOSSLESS]}, check_scenes),
    }
    out = PACKAGE / "generator_noise.json" if args.install else Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    noise.save(out)
    log(f"noise model written to {out}")
    log("residuals (levels) of the fitted pictures beside the fit simulated on held-back rendered scenes:")
    _print_check(noise.notes["check_fitted_pictures"])
    log("residuals of the held-back pictures beside the same simulation:")
    _print_check(noise.notes["check"])


def _print_check(check: dict) -> None:
    for key, row in check.get("depth", {}).items():
        real, sim = row["pictures"], row["simulated"] or {}
        log(f"  depth segment {key:>10}: pictures q50 {real.get('q50', float('nan')):6.2f} q90 "
            f"{real.get('q90', float('nan')):6.2f} | simulated q50 {sim.get('q50', float('nan')):6.2f} q90 "
            f"{sim.get('q90', float('nan')):6.2f}  ({real['pixels']} / {sim.get('pixels', 0)} px)")
    for key, row in check.get("normals", {}).items():
        log(f"  normals {key:>5}: pictures q50 {row['pictures']['q50']:.3f} q90 {row['pictures']['q90']:.3f} | "
            f"simulated q50 {row['simulated']['q50']:.3f} q90 {row['simulated']['q90']:.3f}")


# -- calibration ------------------------------------------------------------------------------------------
def fit(args) -> None:
    from vb_plugins.training.synthetic import render_scene

    noise = N.load_noise(args.noise)
    started = time.time()
    scenes = [render_scene(FIT_SEED + i, args.size, args.size) for i in range(args.scenes)]
    log(f"rendered {len(scenes)} scenes in {time.time() - started:.0f} s")
    tables = []
    for kind in args.tasks.split(","):
        started = time.time()
        samples = F.collect(kind, scenes, noise, list(F.COMPRESSIONS), seed=TASKS.index(kind), pixels=args.pixels)
        tables += F.fit_tables(kind, samples)
        log(f"{kind}: {sum(len(s[1]) for s in samples.values())} pixels, fitted in {time.time() - started:.0f} s")
    out = PACKAGE / "calibration.json" if args.install else Path(args.out)
    if out.exists():  # refitting some tasks keeps the other tasks' tables
        fitted = {f"{t.task}/{t.mode}" for t in tables}
        tables = [t for key, t in load_calibrations(out).items() if key not in fitted] + tables
        tables.sort(key=lambda t: (TASKS.index(t.task), t.mode))
    save_calibrations(tables, out)
    log(f"calibration tables written to {out}")


# -- held-out evaluation ----------------------------------------------------------------------------------
def depth_edges(depth: np.ndarray, radius: int = 2) -> np.ndarray:
    """Ground-truth depth edges and creases: where inverse depth is not locally linear (1 % of it), or
    sky meets surface, grown by ``radius`` px."""
    import cv2

    q = np.where(np.isfinite(depth), 1.0 / np.maximum(depth, 1e-6), 0.0)
    edge = np.zeros(depth.shape, bool)
    for axis in (0, 1):
        second = np.abs(np.roll(q, 1, axis) - 2 * q + np.roll(q, -1, axis))
        edge |= second > 0.01 * np.maximum(q, 1e-3)
    edge[[0, -1], :] = edge[:, [0, -1]] = False
    size = 2 * radius + 1
    return cv2.dilate(edge.astype(np.uint8), np.ones((size, size), np.uint8)) > 0


def evaluate_picture(kind: str, scene, picture: np.ndarray, legend: str, tables=None) -> dict:
    """Decode ``picture`` in the default mode and score reliability against the truth."""
    _, ok, error, decoding = F.task_samples(kind, scene, picture, "auto", legend)
    from vb_plugins.codecs import DepthCodec, NormalsCodec, SemanticCodec

    if kind == "depth":
        result = depth_reliability(DepthCodec(), picture, decoding, calibration=tables)
    elif kind == "normals":
        result = normals_reliability(NormalsCodec(), picture, decoding, calibration=tables)
    else:
        result = semantic_reliability(SemanticCodec(), picture, decoding, F.legend_for(legend), calibration=tables)
    return {"ok": ok, "error": error, "reliability": result.reliability, "expected": result.expected_error,
            "confidence": np.asarray(decoding.confidence, np.float32), "decoding": decoding}


def least_reliable_share(error: np.ndarray, score: np.ndarray, fraction: float = 0.1) -> float:
    """Share of the summed error held by the ``fraction`` of pixels with the lowest ``score``."""
    total = error.sum()
    if total <= 0:
        return float("nan")
    order = np.argsort(score, kind="stable")[: max(1, int(len(error) * fraction))]
    return float(error[order].sum() / total)


def run(args) -> None:
    from vb_plugins.training.synthetic import render_scene

    noise = N.load_noise(args.noise)
    scenes = [render_scene(HELD_OUT_SEED + i, args.size, args.size) for i in range(args.scenes)]
    results = {"settings": {"scenes": len(scenes), "size": args.size, "seeds": f"{HELD_OUT_SEED}..",
                            "noise": noise.source, "decode_mode": "auto", "ece_bins": 10},
               "ece": {}, "diagrams": {}}
    for kind in args.tasks.split(","):
        fitted = noise.depth if kind == "depth" else noise.normals
        for name in BENCH_COMPRESSIONS:
            how = F.Degradation(1.0, fitted.correlation, fitted.blur, name)
            pooled = _evaluate_all(kind, scenes, noise, how, 11, args.tables)
            ece, diagram = expected_calibration_error(pooled["reliability"], pooled["ok"])
            old_ece, _ = expected_calibration_error(pooled["confidence"], pooled["ok"])
            results["ece"][f"{kind}/{name}"] = {"reliability": round(ece, 4), "today_confidence": round(old_ece, 4),
                                               "within_tolerance": round(float(pooled["ok"].mean()), 4),
                                               "mean_reliability": round(float(pooled["reliability"].mean()), 4)}
            results["diagrams"][f"{kind}/{name}"] = diagram
            log(f"{kind:8} {name:8} ECE {ece:.4f} (today's confidence {old_ece:.4f}); within tolerance "
                f"{pooled['ok'].mean():.3f}, mean reliability {pooled['reliability'].mean():.3f}")
            if kind != "semantic":
                results.setdefault("expected_error", {})[f"{kind}/{name}"] = _error_calibration(kind, pooled)
            if kind == "depth":
                results.setdefault("depth", {})[name] = _depth_shares(pooled)
        _diagram(kind, results["diagrams"], RESULTS / "calibration" / f"{kind}.png")
    for amplitude in (0.5, 0.25) if "depth" in args.tasks.split(",") else ():
        how = F.Degradation(amplitude, noise.depth.correlation, noise.depth.blur, "lossless")
        pooled = _evaluate_all("depth", scenes, noise, how, 11, args.tables)
        results["depth"][f"lossless@{amplitude}"] = _depth_shares(pooled)
        ece, _ = expected_calibration_error(pooled["reliability"], pooled["ok"])
        results["ece"][f"depth/lossless@{amplitude}"] = {"reliability": round(ece, 4)}
        log(f"depth    lossless at amplitude {amplitude}: ECE {ece:.4f}")
    for key, row in results.get("depth", {}).items():
        log(f"depth {key:16} away from edges rel>=0.5 {row['away_from_edges_reliable']:.3f}; far >10 m: "
            f"rel>=0.5 {row['far_reliable']:.3f} "
            f"(of which within tolerance {row['far_within_tolerance_if_reliable']:.3f})"
            f" vs today's confidence>=0.5 {row['far_confident_today']:.3f} (of which "
            f"{row['far_within_tolerance_if_confident_today']:.3f}); all far within tolerance "
            f"{row['far_within_tolerance']:.3f}; 10 % least reliable hold "
            f"{row['least_reliable_error_share']:.3f} of |error| (today's confidence: "
            f"{row['least_confident_error_share_today']:.3f})")
    out = RESULTS / "calibration.json"
    out.write_text(json.dumps(results, indent=1) + "\n")
    log(f"results in {out}")


def _evaluate_all(kind, scenes, noise, how, seed, tables=None) -> dict:
    rng = np.random.default_rng(seed)
    keys = ("ok", "error", "reliability", "expected", "confidence", "far", "edge", "truth", "decoded")
    pooled = {key: [] for key in keys}
    for i, scene in enumerate(scenes):
        legend = list(F.LEGENDS)[i % len(F.LEGENDS)]
        scene = F.with_thin_structures(scene) if kind == "semantic" else scene  # as in the fit
        picture = F.degrade(kind, F.clean_picture(kind, scene, legend), noise, how, rng)
        row = evaluate_picture(kind, scene, picture, legend, tables)
        row["far"] = np.isfinite(scene.depth) & (scene.depth > 10.0)  # finite: sky is reported apart
        row["edge"] = depth_edges(scene.depth) if kind == "depth" else np.zeros(scene.depth.shape, bool)
        row["truth"], row["decoded"] = scene.depth, getattr(row["decoding"], "depth", scene.depth)
        if row["expected"] is None:
            row["expected"] = np.zeros(scene.depth.shape, np.float32)
        for key in keys:
            pooled[key].append(np.asarray(row[key]).ravel())
    return {key: np.concatenate(value) for key, value in pooled.items()}


def _depth_shares(p: dict) -> dict:
    away = ~p["edge"]
    far = p["far"]
    finite = np.isfinite(p["truth"]) & np.isfinite(p["decoded"])
    absolute = np.abs(np.clip(p["decoded"][finite], 1e-3, 1000.0) - p["truth"][finite])
    reliable, confident = p["reliability"] >= 0.5, p["confidence"] >= 0.5

    def share(mask) -> float:
        return round(float(mask.mean()), 4) if mask.size else float("nan")

    bands = {"<3 m": (0, 3), "3-10 m": (3, 10), "10-30 m": (10, 30), ">30 m": (30, np.inf)}
    by_depth = {}
    for name, (low, high) in bands.items():
        inside = away & (p["truth"] >= low) & (p["truth"] < high)
        by_depth[name] = {"pixels": int(inside.sum()), "reliable": share(reliable[inside]),
                          "within_tolerance": share(p["ok"][inside]), "confident_today": share(confident[inside])}
    sky = away & ~np.isfinite(p["truth"])
    by_depth["sky"] = {"pixels": int(sky.sum()), "reliable": share(reliable[sky]),
                       "within_tolerance": share(p["ok"][sky]), "confident_today": share(confident[sky])}
    return {
        "away_from_edges_reliable": share(reliable[away]),
        "away_from_edges_within_tolerance": share(p["ok"][away]),
        "away_from_edges_by_depth": by_depth,
        "far_pixels": int(far.sum()),
        "far_reliable": share(reliable[far]),
        "far_confident_today": share(confident[far]),
        "far_within_tolerance": share(p["ok"][far]),
        "far_within_tolerance_if_reliable": share(p["ok"][far & reliable]),
        "far_within_tolerance_if_confident_today": share(p["ok"][far & confident]),
        "least_reliable_error_share": round(least_reliable_share(absolute, p["reliability"][finite]), 4),
        "least_confident_error_share_today": round(least_reliable_share(absolute, p["confidence"][finite]), 4),
    }


def _error_calibration(kind: str, p: dict) -> dict:
    """Mean expected vs mean observed error, overall and in deciles of the expected error (depth: metres,
    finite pixels; normals: degrees, pixels decoded as normals)."""
    if kind == "depth":
        keep = np.isfinite(p["expected"]) & np.isfinite(p["truth"]) & np.isfinite(p["decoded"])
        observed = np.abs(p["decoded"][keep] - p["truth"][keep])
    else:
        keep = p["expected"] < 180.0
        observed = p["error"][keep]
    expected = p["expected"][keep]
    edges = np.unique(np.quantile(expected, np.linspace(0, 1, 11)))
    index = np.clip(np.searchsorted(edges, expected, side="right") - 1, 0, len(edges) - 2)
    rows = [[round(float(expected[index == b].mean()), 4), round(float(observed[index == b].mean()), 4)]
            for b in range(len(edges) - 1) if (index == b).any()]
    return {"mean_expected": round(float(expected.mean()), 4), "mean_observed": round(float(observed.mean()), 4),
            "deciles_expected_observed": rows}


def expected_calibration_error_from(diagram: dict) -> float:
    count = np.asarray(diagram["count"], float)
    gap = np.abs(np.asarray(diagram["predicted"]) - np.asarray(diagram["observed"]))
    return float((gap * count).sum() / max(count.sum(), 1))


def _diagram(kind: str, diagrams: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path.parent.mkdir(parents=True, exist_ok=True)
    figure, (top, bottom) = plt.subplots(2, 1, figsize=(6, 7.5), height_ratios=[3, 1.3], sharex=True)
    top.plot([0, 1], [0, 1], color="0.6", linestyle="--", linewidth=1)
    width = 0.1 / (len(BENCH_COMPRESSIONS) + 1)
    for j, name in enumerate(BENCH_COMPRESSIONS):
        d = diagrams[f"{kind}/{name}"]
        ece = expected_calibration_error_from(d)
        top.plot(d["predicted"], d["observed"], marker="o", markersize=4, label=f"{name} (ECE {ece:.3f})")
        bottom.bar(np.asarray(d["bin"]) * 0.1 + (j + 0.5) * width + 0.5 * width / 2, d["count"], width=width,
                   label=name)
    top.set_ylabel("observed share within tolerance")
    top.set_title(f"{kind}: held-out scenes, fitted generator noise", fontsize=10)
    top.legend(loc="upper left", fontsize=8)
    top.set_xlim(0, 1)
    top.set_ylim(0, 1)
    top.grid(alpha=0.3)
    bottom.set_yscale("log")
    bottom.set_xlabel("predicted reliability")
    bottom.set_ylabel("pixels per bin")
    bottom.grid(alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, dpi=90)
    plt.close(figure)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    p = commands.add_parser("bundled-outputs", help="paint depth and normal pictures with the bundled model")
    p.add_argument("--out", required=True)
    p.add_argument("--count", type=int, default=48)
    p.add_argument("--size", type=int, default=128)
    p.add_argument("--seed", type=int, default=3_000_000)
    p.set_defaults(func=bundled_outputs)
    p = commands.add_parser("fit-noise", help="fit the generator noise to generated pictures (no ground truth)")
    p.add_argument("--images", required=True, help="folder of depth pictures, or with depth/ and normals/")
    p.add_argument("--normals", help="folder of normal pictures (default IMAGES/normals)")
    p.add_argument("--scenes", type=int, default=24, help="rendered scenes to simulate on")
    p.add_argument("--source", help="what the pictures are (recorded in the fit)")
    p.add_argument("--out", default=str(RESULTS / "generator_noise.json"))
    p.add_argument("--install", action="store_true", help="write the fit into the package")
    p.set_defaults(func=fit_noise)
    p = commands.add_parser("fit", help="fit the calibration tables on rendered scenes")
    p.add_argument("--noise", help="noise model JSON (default: the shipped one)")
    p.add_argument("--scenes", type=int, default=96)
    p.add_argument("--size", type=int, default=192)
    p.add_argument("--pixels", type=int, default=3000, help="pixels sampled per picture")
    p.add_argument("--out", default=str(RESULTS / "calibration_tables.json"))
    p.add_argument("--tasks", default=",".join(TASKS))
    p.add_argument("--install", action="store_true", help="write the tables into the package")
    p.set_defaults(func=fit)
    p = commands.add_parser("run", help="reliability diagrams and ECE on held-out scenes")
    p.add_argument("--noise", help="noise model JSON (default: the shipped one)")
    p.add_argument("--tables", help="calibration tables JSON (default: the shipped ones)")
    p.add_argument("--scenes", type=int, default=24)
    p.add_argument("--size", type=int, default=192)
    p.add_argument("--tasks", default=",".join(TASKS))
    p.set_defaults(func=run)
    args = parser.parse_args(argv)
    try:
        args.func(args)
    except VBError as err:  # bad input (a malformed noise or tables file, unreadable pictures): one line
        sys.exit(f"calibration.py {args.command}: {err}")


if __name__ == "__main__":
    main()

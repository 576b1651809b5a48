"""The main job on the bundled example scenes: predict depth and normals with the bundled model, decode,
and measure against the exact ground truth; also the codecs' round trip, lossless and through JPEG.

Everything is offline and runs on a CPU in seconds: ``vb demo``.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vb_plugins.contact_sheets import contact_sheet
from vb_plugins.generation.bundled import BUNDLED_DIR, MODEL_CONFIG
from vb_plugins.io import load_npy, read_rgb, write_npy, write_png, write_text
from vb_plugins.predict import Predictor
from vb_plugins.registry import get_task
from vb_plugins.testing.degrade import jpeg

EXAMPLES_DIR = Path(__file__).resolve().parent / "data" / "examples"


@dataclass
class Example:
    name: str
    image: np.ndarray
    depth: np.ndarray
    normals: np.ndarray
    info: dict


def load_examples(directory: Path = EXAMPLES_DIR) -> list[Example]:
    examples = []
    for image_path in sorted(directory.glob("*.png")):
        stem = image_path.stem
        info_path = directory / f"{stem}.json"
        examples.append(Example(
            stem,
            read_rgb(image_path),
            load_npy(directory / f"{stem}.depth.npy").astype(np.float32),
            load_npy(directory / f"{stem}.normals.npy").astype(np.float32),
            json.loads(info_path.read_text()) if info_path.is_file() else {},
        ))
    return examples


EXAMPLE_SEEDS = {"room": 1_000_000, "outdoor": 1_000_000}  # first seeds of the held-out range
EXAMPLE_SIZE = 128


def example_scenes(count_per_kind: int = 3, size: int = EXAMPLE_SIZE):
    """The bundled examples' scenes: the first rooms and outdoor layouts drawn from held-out seeds."""
    # The renderer imports torch (seconds); only regenerating the examples needs it, `vb demo` does not.
    from vb_plugins.training.synthetic import render_scene

    scenes = []
    for kind, first in EXAMPLE_SEEDS.items():
        scenes += [render_scene(first + i, size, size, kind=kind) for i in range(count_per_kind)]
    return scenes


def write_examples(directory: Path = EXAMPLES_DIR, count_per_kind: int = 3, size: int = EXAMPLE_SIZE) -> list[Path]:
    """(Re)write the bundled examples: ``NAME.png``, ``NAME.depth.npy`` (metres, inf = sky),
    ``NAME.normals.npy`` (camera frame, zeros where nothing was hit) and ``NAME.json`` (intrinsics, seed).
    ``python -m vb_plugins.demo --write-examples`` regenerates them from the renderer."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for scene in example_scenes(count_per_kind, size):
        name = f"{scene.kind}-{scene.seed}"
        write_png(directory / f"{name}.png", scene.image)
        write_npy(directory / f"{name}.depth.npy", np.where(scene.valid, scene.depth, np.inf).astype(np.float32))
        normals = np.where(scene.valid[..., None], scene.normals, 0).astype(np.float32)
        write_npy(directory / f"{name}.normals.npy", normals)
        info = {"seed": scene.seed, "kind": scene.kind, "intrinsics": scene.intrinsics.tolist(),
                "fov_x_deg": scene.fov_x_deg, "fov_y_deg": scene.fov_y_deg,
                "source": "vb_plugins.training.synthetic.render_scene(seed, size, size, kind=kind)"}
        write_text(directory / f"{name}.json", json.dumps(info, indent=2))
        written.append(directory / f"{name}.png")
    return written


def depth_scores(predicted: np.ndarray, truth: np.ndarray) -> dict:
    """δ1 and AbsRel over pixels with finite positive ground truth (sky excluded)."""
    valid = np.isfinite(truth) & (truth > 0) & np.isfinite(predicted) & (predicted > 0)
    p, g = predicted[valid].astype(np.float64), truth[valid].astype(np.float64)
    if not len(g):
        return {"delta1": float("nan"), "abs_rel": float("nan")}
    return {"delta1": float(np.mean(np.maximum(p / g, g / p) < 1.25)), "abs_rel": float(np.mean(np.abs(p - g) / g))}


def normal_scores(predicted: np.ndarray, truth: np.ndarray) -> dict:
    """Mean angular error (degrees) over pixels where both are unit vectors."""
    valid = (np.linalg.norm(truth, axis=-1) > 0.5) & (np.linalg.norm(predicted, axis=-1) > 0.5)
    if not valid.any():
        return {"mean_angle": float("nan")}
    cosine = np.clip((predicted[valid] * truth[valid]).sum(-1), -1, 1)
    return {"mean_angle": float(np.degrees(np.arccos(cosine)).mean())}


def codec_round_trip(examples: list[Example]) -> dict:
    """Encode the ground truth, decode it back (lossless PNG and JPEG q=75), and score it."""
    depth_codec, normals_codec = get_task("depth").codec, get_task("normals").codec
    rows = {}
    for quality in (None, 75):
        depth_rows, normal_rows = [], []
        for example in examples:
            rgb = depth_codec.encode(np.nan_to_num(example.depth, nan=0.0))
            rgb = rgb if quality is None else jpeg(rgb, quality)
            depth_rows.append(depth_scores(depth_codec.decode(rgb).depth, example.depth))
            valid = np.linalg.norm(example.normals, axis=-1) > 0.5
            n_rgb = normals_codec.encode(np.where(valid[..., None], example.normals, [0, 0, 1]))
            n_rgb = n_rgb if quality is None else jpeg(n_rgb, quality)
            decoded = normals_codec.decode(n_rgb).normals
            normal_rows.append(normal_scores(np.where(valid[..., None], decoded, 0), example.normals))
        rows["lossless" if quality is None else f"jpeg{quality}"] = {
            "depth_delta1": float(np.mean([r["delta1"] for r in depth_rows])),
            "depth_abs_rel": float(np.mean([r["abs_rel"] for r in depth_rows])),
            "normals_mean_angle": float(np.mean([r["mean_angle"] for r in normal_rows])),
        }
    return rows


def run_demo(output: Path | None = None, model: str | None = None, log=print) -> dict:
    """Run the main job; returns the measurements (also written to ``output/demo.json`` if given)."""
    examples = load_examples()
    if not examples:
        raise FileNotFoundError(f"no bundled examples in {EXAMPLES_DIR}")
    results: dict = {"examples": [e.name for e in examples]}
    log(f"vb demo: {len(examples)} bundled synthetic scenes (held out from training), exact ground truth")
    round_trip = codec_round_trip(examples)
    results["codec_round_trip"] = round_trip
    for name, row in round_trip.items():
        log(f"  codec round trip ({name}): depth δ1 {row['depth_delta1']:.4f}, AbsRel {row['depth_abs_rel']:.4f}; "
            f"normals mean error {row['normals_mean_angle']:.2f}°")
    if model is None and not (BUNDLED_DIR / MODEL_CONFIG).is_file():
        log("  the bundled model is not installed: prediction skipped")
        return results
    predicted: dict = {}
    for task in ("depth", "normals"):
        predictor = Predictor(task, model)
        began = time.perf_counter()
        predictions = predictor.predict([e.image for e in examples], keys=[e.name for e in examples])
        seconds = time.perf_counter() - began
        scores = [depth_scores(p.values, e.depth) if task == "depth" else normal_scores(p.values, e.normals)
                  for p, e in zip(predictions, examples)]
        predicted[task] = (predictions, scores)
        summary = {key: float(np.mean([s[key] for s in scores])) for key in scores[0]}
        summary["seconds_per_image"] = seconds / len(examples)
        summary["generator"] = predictor.generator.name
        results[task] = summary
        measured = ", ".join(f"{k} {v:.3f}" for k, v in summary.items() if isinstance(v, float))
        log(f"  {task} with {predictor.generator.name}: {measured}")
        if output is not None:
            _save(output, task, predictions)
    if output is not None:
        write_contact_sheets(Path(output), examples, predicted, results)
        write_text(Path(output) / "demo.json", json.dumps(results, indent=2))
        log(f"  outputs written to {output}")
    return results


def write_contact_sheets(output: Path, examples: list[Example], predicted: dict, results: dict) -> list[Path]:
    """One ``NAME.sheet.png`` per scene: input, ground truth, prediction and error for depth and normals
    (:func:`vb_plugins.contact_sheets.contact_sheet`)."""
    depth_predictions, depth_rows = predicted["depth"]
    normal_predictions, normal_rows = predicted["normals"]
    generator = results["depth"]["generator"]
    written = []
    for k, example in enumerate(examples):
        title = (f"{example.name} ({generator}): depth δ1 {depth_rows[k]['delta1']:.3f}, AbsRel "
                 f"{depth_rows[k]['abs_rel']:.3f}; normals mean error {normal_rows[k]['mean_angle']:.1f}°")
        sheet = contact_sheet(example.image, example.depth, depth_predictions[k].values, example.normals,
                              normal_predictions[k].values, title)
        written.append(sheet.save(output / f"{example.name}.sheet.png"))
    return written


def _save(output: Path, task: str, predictions) -> None:
    output = Path(output)
    output.mkdir(parents=True, exist_ok=True)
    for prediction in predictions:
        write_png(output / f"{prediction.key}.{task}.generated.png", prediction.visualization)
        write_png(output / f"{prediction.key}.{task}.png", prediction.preview())
        write_npy(output / f"{prediction.key}.{task}.npy", np.asarray(prediction.values, dtype=np.float32))


if __name__ == "__main__":
    import sys

    if sys.argv[1:] == ["--write-examples"]:
        for path in write_examples():
            print(path)
    else:
        sys.exit("usage: python -m vb_plugins.demo --write-examples   (the main job itself is `vb demo`)")

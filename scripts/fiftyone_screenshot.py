#!/usr/bin/env python
"""Run the predict operator on a small dataset, launch the FiftyOne App on localhost and take headless
Chromium screenshots of a sample showing the depth heatmap and the semantic segmentation.

    python scripts/fiftyone_screenshot.py [--out artifacts/fiftyone] [--port 5151]

Writes into ``--out``: ``modal.png`` (one sample: depth heatmap + segmentation overlays),
``modal_depth.png`` (the same sample with the depth heatmap alone), ``modal_segmentation.png``
(segmentation alone), ``grid.png`` (the grid), ``shots.json`` (per shot: file, time, the media canvas
box in page pixels; the sample's labels) and ``app.log``. ``--shots`` picks a subset. Everything is
isolated and offline: a private mongod in a temporary directory (``FIFTYONE_DATABASE_URI``), the
plugin linked into a temporary ``FIFTYONE_PLUGINS_DIR``, and a weightless ``demo:`` generator that
paints the exact depth and class colours of the drawn scene, chosen by model string like any model.
Needs node and Chromium (``.ci/setup_chromium.sh``); installs playwright-core into
``scripts/node_modules`` with npm on first use (``.ci/setup_playwright.sh`` does it ahead). About a
minute on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
HEIGHT, WIDTH, HORIZON = 240, 320, 90
# Natural colours of the drawn scene, and the legend the segmentation is prompted (and shown) with.
NATURAL = {"sky": (120, 180, 235), "ground": (70, 130, 60), "road": (105, 105, 110), "ball": (240, 140, 30)}
LEGEND = {"sky": "red", "ground": "yellow", "road": "blue", "ball": "lime"}
SHOTS = ("modal", "modal_depth", "modal_segmentation", "grid")
STARTED = time.perf_counter()


def log(message: str) -> None:
    print(f"[{time.perf_counter() - STARTED:6.1f} s] {message}", flush=True)


def draw_scene(index: int) -> np.ndarray:
    """A sky, grass, a road narrowing to the horizon and an orange ball on the road, gently shaded."""
    yy, xx = np.mgrid[:HEIGHT, :WIDTH].astype(np.float32)
    t = np.clip((yy - HORIZON) / (HEIGHT - HORIZON), 0, 1)[..., None]
    image = np.where(yy[..., None] < HORIZON, np.array(NATURAL["sky"]) + 20 * yy[..., None] / HORIZON,
                     np.array(NATURAL["ground"]) * (0.8 + 0.3 * t))
    centre = WIDTH * (0.45 + 0.05 * index)
    road = (yy >= HORIZON) & (np.abs(xx - centre) < 6 + 150 * t[..., 0])
    image[road] = (np.array(NATURAL["road"]) * (0.85 + 0.3 * t))[road]
    radius = 22 + 4 * index
    cx, cy = centre + 60, HEIGHT - 40 - 10 * index - radius * 0.3
    distance = np.sqrt((yy - cy) ** 2 + (xx - cx) ** 2) / radius
    ball = distance <= 1
    image[ball] = (np.array(NATURAL["ball"]) * (1.0 - 0.25 * distance[..., None]))[ball]
    return np.clip(np.rint(image), 0, 255).astype(np.uint8)


def scene_classes(image: np.ndarray) -> np.ndarray:
    """Class index (order of NATURAL) of each pixel: the nearest natural colour."""
    base = np.array(list(NATURAL.values()), np.float32)
    distances = np.linalg.norm(image[..., None, :3].astype(np.float32) - base, axis=-1)
    return distances.argmin(axis=-1)


def paint_segmentation(image: np.ndarray) -> np.ndarray:
    """What a perfect model paints for the semantic prompt: each class in its legend colour."""
    from vb_plugins.codecs.colors import parse_colour

    colours = np.array([parse_colour(LEGEND[name]) for name in NATURAL], np.uint8)
    return colours[scene_classes(image)]


def scene_depth(image: np.ndarray) -> np.ndarray:
    """Metric depth of a drawn scene as a pinhole camera 1.5 m above a flat ground sees it (60 degrees
    horizontal field of view): the ground plane from the horizon row, 60 m sky, a sphere for the ball."""
    height, width = image.shape[:2]
    classes = scene_classes(image)
    focal = (width / 2) / np.tan(np.radians(30))
    horizon = HORIZON * height / HEIGHT
    rows = np.arange(height, dtype=np.float32)[:, None].repeat(width, 1)
    depth = np.minimum(1.5 * focal / np.maximum(rows - horizon, 0.5), 60.0).astype(np.float32)
    depth[classes == 0] = 60.0
    ball = classes == 3
    if ball.any():
        ys, xs = np.nonzero(ball)
        cy, cx, r = ys.mean(), xs.mean(), np.sqrt(ball.sum() / np.pi)
        centre_depth = 1.5 * focal / max(ys.max() - horizon, 0.5)
        radius_m = r * centre_depth / focal
        bulge = np.sqrt(np.clip(1 - ((ys - cy) ** 2 + (xs - cx) ** 2) / r ** 2, 0, 1))
        depth[ys, xs] = centre_depth - radius_m * bulge
    return depth


def use_demo_backend():
    """Register the ``demo:`` backend (``demo:scene-semantic`` / ``demo:scene-depth``) in this process."""
    from vb_plugins import registry
    from vb_plugins.generation.base import GeneratorBackend
    from vb_plugins.hookspecs import hookimpl
    from vb_plugins.testing.generators import PaintingGenerator

    class DemoBackend(GeneratorBackend):
        name = "demo"

        def load(self, model, **options):
            depth_task = registry.get_task("depth")
            paint = (lambda image, prompt: paint_segmentation(image)) if model == "scene-semantic" else \
                (lambda image, prompt: depth_task.encode(scene_depth(image)))
            generator = PaintingGenerator(paint, megapixels=0.077)  # 240 x 320
            generator.name = f"demo:{model}"
            return generator

    class DemoPlugin:
        __name__ = "fiftyone_screenshot_demo"

        @hookimpl
        def vb_generators(self):
            return [DemoBackend()]

    registry.reset_registry(registry.Registry(plugins=[DemoPlugin()]))


def stop_children(keep: set[int]) -> None:
    """Stop this process's children (the App server and its helpers; they call setpgrp, so a process
    group kill misses them), children first, except the pids in ``keep``."""
    import psutil

    procs = [p for p in psutil.Process().children(recursive=True) if p.pid not in keep]
    for proc in reversed(procs):
        try:
            proc.terminate()
        except psutil.NoSuchProcess:
            pass
    _, alive = psutil.wait_procs(procs, timeout=5)
    for proc in alive:
        try:
            proc.kill()
        except psutil.NoSuchProcess:
            pass


def ensure_playwright() -> None:
    if not (HERE / "node_modules" / "playwright-core").is_dir():
        subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--silent"], cwd=HERE, check=True)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "artifacts" / "fiftyone")
    parser.add_argument("--port", type=int, default=0, help="App port (default: a free one)")
    parser.add_argument("--settle-ms", type=int, default=6000)
    parser.add_argument("--color-by", choices=("value", "field"), default="value",
                        help="App colouring; heatmaps use their colour scale only with 'value'")
    parser.add_argument("--shots", default=",".join(SHOTS),
                        help=f"comma-separated subset of {', '.join(SHOTS)} (default: all)")
    args = parser.parse_args(argv)
    args.shots = [name.strip() for name in args.shots.split(",") if name.strip()]
    unknown = sorted(set(args.shots) - set(SHOTS))
    if unknown or not args.shots:
        parser.error(f"--shots: expected names from {', '.join(SHOTS)}, got {args.shots}")
    args.out.mkdir(parents=True, exist_ok=True)
    ensure_playwright()

    sys.path.insert(0, str(ROOT))
    from vb_plugins.fiftyone_tools.database import _free_port, start_private_mongod

    work = Path(tempfile.mkdtemp(prefix="vb_fo_screenshot_"))
    db = start_private_mongod(work / "db")
    try:
        (work / "plugins").mkdir()
        (work / "plugins" / "vb-plugins").symlink_to(ROOT / "fiftyone_plugin", target_is_directory=True)
        os.environ["FIFTYONE_PLUGINS_DIR"] = str(work / "plugins")
        os.environ["FIFTYONE_DEFAULT_DATASET_DIR"] = str(work / "datasets")
        return shoot(args, work, db, _free_port)
    finally:
        stop_children({db.process.pid})
        db.stop()
        log("stopped the App and the database")
        shutil.rmtree(work, ignore_errors=True)


def shoot(args, work: Path, db, free_port) -> int:
    import fiftyone as fo
    import fiftyone.operators as foo
    from PIL import Image

    log("fiftyone imported")
    use_demo_backend()
    samples = []
    for i in range(4):
        path = work / f"scene{i}.png"
        Image.fromarray(draw_scene(i)).save(path)
        samples.append(fo.Sample(filepath=str(path)))
    dataset = fo.Dataset("vb-plugins-demo", persistent=True)
    dataset.add_samples(samples, progress=False)
    for params in ({"task": "depth", "output_field": "depth", "model": "demo:scene-depth", "depth_max": 20.0},
                   {"task": "semantic", "output_field": "segmentation", "model": "demo:scene-semantic",
                    "classes": LEGEND}):
        result = foo.execute_operator("@vb-plugins/fiftyone/predict", ctx={"view": dataset.view(), "params": params})
        log(f"predict {params['task']}: {result.result['message']}")
    # Dense labels are not shown by default: switch both on for the screenshot. The predict operator
    # already stored the viridis colour scale for depth and the prompted colour of every class.
    dataset.app_config.active_fields = fo.ActiveFields(paths=["depth", "segmentation"])
    dataset.app_config.color_scheme.color_by = args.color_by
    dataset.app_config.color_scheme.opacity = 0.5
    dataset.save()
    depth_only = dataset.clone("vb-plugins-demo-depth", persistent=True)
    depth_only.app_config.active_fields = fo.ActiveFields(paths=["depth"])
    depth_only.save()
    segmentation_only = dataset.clone("vb-plugins-demo-segmentation", persistent=True)
    segmentation_only.app_config.active_fields = fo.ActiveFields(paths=["segmentation"])
    segmentation_only.save()
    port = args.port or free_port()
    began = time.perf_counter()
    session = fo.launch_app(dataset, remote=True, port=port, address="127.0.0.1", auto=False)
    log(f"App on http://127.0.0.1:{port} after {time.perf_counter() - began:.1f} s")
    base = f"http://127.0.0.1:{port}/datasets"
    urls = {"grid": f"{base}/{dataset.name}",
            "modal": f"{base}/{dataset.name}?id={dataset.first().id}",
            "modal_depth": f"{base}/{depth_only.name}?id={depth_only.first().id}",
            "modal_segmentation": f"{base}/{segmentation_only.name}?id={segmentation_only.first().id}"}
    command = ["node", str(HERE / "fiftyone_screenshot.js")]
    for name in args.shots:
        command += [str(args.out / f"{name}.png"), urls[name]]
    env = dict(os.environ, SETTLE_MS=str(args.settle_ms))
    completed = subprocess.run(command, env=env, stdout=subprocess.PIPE, text=True)
    log("screenshots taken")
    session.close()
    shots = {}
    for line in completed.stdout.splitlines():
        print(line, flush=True)
        if line.startswith("{"):
            record = json.loads(line)
            shots[Path(record["out"]).stem] = record
    sample = dataset.first()
    summary = {
        "sample": sample.id, "image_size": [WIDTH, HEIGHT], "horizon_row": HORIZON,
        "depth": {"map_path": sample.depth.map_path, "range_mm": list(sample.depth.range)},
        "segmentation": {"mask_path": sample.segmentation.mask_path,
                         "mask_targets": {str(k): v for k, v in dataset.mask_targets["segmentation"].items()},
                         "colours": LEGEND},
        "shots": shots,
    }
    (args.out / "shots.json").write_text(json.dumps(summary, indent=2) + "\n")
    (args.out / "app.log").write_text(f"sample {sample.id}: depth {sample.depth.map_path} range "
                                      f"{sample.depth.range} (mm); segmentation {sample.segmentation.mask_path}; "
                                      f"mask_targets {dataset.mask_targets['segmentation']}\n")
    return completed.returncode


if __name__ == "__main__":
    sys.exit(main())

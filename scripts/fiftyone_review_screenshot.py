#!/usr/bin/env python
"""The review loop in the FiftyOne App, headless: predict a segmentation on drawn street scenes, queue the
least confident samples (``@vb-plugins/fiftyone/review_queue``), open the saved view ``vb-review: seg``
in the App and take Chromium screenshots.

    python scripts/fiftyone_review_screenshot.py [--out artifacts/fiftyone-review]

Each scene has an over-exposed white patch of its own size; the ``demo:`` model cannot tell what it is
and leaves it unlabeled, so the larger the patch, the lower ``seg_confidence_mean``. Writes into
``--out``: ``review_grid.png`` (the saved view: the queue in rank order, scores on the tiles, score
fields in the sidebar), ``review_modal.png`` (the least confident sample with its segmentation and
its scores in the sidebar), ``shots.json`` (per shot: file, time, the page boxes of the grid tiles in DOM
order or of the modal's media canvas; the queue: sample ids, scores, patch sizes, filepaths) and
``app.log``. Isolated and offline like ``fiftyone_screenshot.py`` (whose helpers it uses).
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
sys.path.insert(0, str(HERE))
import fiftyone_screenshot as base  # noqa: E402  (the sibling script: scene drawing, App plumbing)

PATCHES = [8, 44, 20, 56, 0, 32, 14, 50]  # white patch side per sample, in pixels (insertion order)
QUEUE = 6
SHOTS = ("review_grid", "review_modal")
WHITE = 250  # a channel at least this bright is part of a patch
TILE_SELECTOR = "[data-cy=looker]"  # one per grid tile, in DOM order


def draw(index: int) -> np.ndarray:
    """``base.draw_scene`` (4 variants) with a white patch of side ``PATCHES[index]`` in the sky."""
    image = base.draw_scene(index % 4)
    side = PATCHES[index]
    image[8:8 + side, 12:12 + side] = 255
    return image


def paint(image: np.ndarray) -> np.ndarray:
    """What the ``demo:`` model paints: the scene's classes in their legend colours, white left white
    (no class is near white, so the patch decodes as unlabeled with confidence 0)."""
    painted = base.paint_segmentation(image)
    painted[np.all(image >= WHITE, axis=-1)] = 255
    return painted


def use_demo_backend():
    from vb_plugins import registry
    from vb_plugins.generation.base import GeneratorBackend
    from vb_plugins.hookspecs import hookimpl
    from vb_plugins.testing.generators import PaintingGenerator

    class DemoBackend(GeneratorBackend):
        name = "demo"

        def load(self, model, **options):
            generator = PaintingGenerator(lambda image, prompt: paint(image), megapixels=0.077)  # 240 x 320
            generator.name = f"demo:{model}"
            return generator

    class DemoPlugin:
        __name__ = "fiftyone_review_screenshot_demo"

        @hookimpl
        def vb_generators(self):
            return [DemoBackend()]

    registry.reset_registry(registry.Registry(plugins=[DemoPlugin()]))


def scores_first(dataset):
    """Sidebar groups with the scores on top: primitives (scores first) and the class shares open,
    tags and metadata folded."""
    import fiftyone as fo

    groups = fo.DatasetAppConfig.default_sidebar_groups(dataset)
    rank = {"primitives": 0, "seg_class_shares": 1, "labels": 2}
    groups.sort(key=lambda group: rank.get(group.name, 3))
    for group in groups:
        group.expanded = group.name in rank
        if group.name == "primitives":
            group.paths = sorted(group.paths, key=lambda path: not path.startswith("seg_"))
    return groups


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "artifacts" / "fiftyone-review")
    parser.add_argument("--port", type=int, default=0, help="App port (default: a free one)")
    parser.add_argument("--settle-ms", type=int, default=6000)
    parser.add_argument("--shots", default=",".join(SHOTS), help=f"comma-separated subset of {', '.join(SHOTS)}")
    args = parser.parse_args(argv)
    args.shots = [name.strip() for name in args.shots.split(",") if name.strip()]
    if not args.shots or set(args.shots) - set(SHOTS):
        parser.error(f"--shots: expected names from {', '.join(SHOTS)}, got {args.shots}")
    args.out.mkdir(parents=True, exist_ok=True)
    base.ensure_playwright()

    sys.path.insert(0, str(ROOT))
    from vb_plugins.fiftyone_tools.database import _free_port, start_private_mongod

    work = Path(tempfile.mkdtemp(prefix="vb_fo_review_"))
    db = start_private_mongod(work / "db")
    try:
        (work / "plugins").mkdir()
        (work / "plugins" / "vb-plugins").symlink_to(ROOT / "fiftyone_plugin", target_is_directory=True)
        os.environ["FIFTYONE_PLUGINS_DIR"] = str(work / "plugins")
        os.environ["FIFTYONE_DEFAULT_DATASET_DIR"] = str(work / "datasets")
        return shoot(args, work, _free_port)
    finally:
        base.stop_children({db.process.pid})
        db.stop()
        base.log("stopped the App and the database")
        shutil.rmtree(work, ignore_errors=True)


def shoot(args, work: Path, free_port) -> int:
    import fiftyone as fo
    import fiftyone.operators as foo
    from PIL import Image

    base.log("fiftyone imported")
    use_demo_backend()
    samples = []
    for i in range(len(PATCHES)):
        path = work / f"street{i}.png"
        Image.fromarray(draw(i)).save(path)
        samples.append(fo.Sample(filepath=str(path), patch=PATCHES[i]))
    dataset = fo.Dataset("vb-plugins-review", persistent=True)
    dataset.add_samples(samples, progress=False)

    def run(name, params):
        return foo.execute_operator(f"@vb-plugins/fiftyone/{name}", ctx={"view": dataset.view(), "params": params})

    predicted = run("predict", {"task": "semantic", "output_field": "seg", "model": "demo:scene-semantic",
                                "classes": base.LEGEND})
    base.log(f"predict: {predicted.result['message']}")
    queue = run("review_queue", {"field": "seg", "count": QUEUE}).result
    base.log(f"review_queue: {queue['message']}")
    # Tiles show the image, the segmentation and the score; the sidebar lists the score fields.
    dataset.app_config.active_fields = fo.ActiveFields(paths=["seg", "seg_confidence_mean"])
    dataset.app_config.color_scheme.color_by = "value"  # each class in the colour it was prompted with
    dataset.app_config.color_scheme.opacity = 0.5
    dataset.app_config.sidebar_groups = scores_first(dataset)
    dataset.save()
    modal = dataset.clone("vb-plugins-review-modal", persistent=True)  # the segmentation alone
    modal.app_config.active_fields = fo.ActiveFields(paths=["seg"])
    modal.save()
    slug = next(view.slug for view in dataset._doc.saved_views if view.name == queue["view_name"])
    port = args.port or free_port()
    # The session shows the queue too: the App syncs to the session's view once connected, so a session
    # on the whole dataset would replace the view the URL loaded.
    session = fo.launch_app(dataset.load_saved_view(queue["view_name"]), remote=True, port=port,
                            address="127.0.0.1", auto=False)
    base.log(f"App on http://127.0.0.1:{port}")
    urls = {"review_grid": f"http://127.0.0.1:{port}/datasets/{dataset.name}?view={slug}",
            "review_modal": f"http://127.0.0.1:{port}/datasets/{modal.name}?id={queue['ids'][0]}"}
    command = ["node", str(HERE / "fiftyone_screenshot.js")]
    for name in args.shots:
        command += [str(args.out / f"{name}.png"), urls[name]]
    env = dict(os.environ, SETTLE_MS=str(args.settle_ms), TILE_SELECTOR=TILE_SELECTOR, WAIT_FOR_TEXT=queue["view_name"])
    completed = subprocess.run(command, env=env, stdout=subprocess.PIPE, text=True)
    base.log("screenshots taken")
    session.close()
    shots = {}
    for line in completed.stdout.splitlines():
        print(line, flush=True)
        if line.startswith("{"):
            record = json.loads(line)
            shots[Path(record["out"]).stem] = record
    chosen = dataset.select(queue["ids"], ordered=True)
    summary = {"queue": {"ids": queue["ids"], "scores": queue["scores"], "view_name": queue["view_name"],
                         "slug": slug, "patches": chosen.values("patch"),
                         "filepaths": [Path(p).name for p in chosen.values("filepath")]},
               "patches": PATCHES, "image_size": [base.WIDTH, base.HEIGHT], "shots": shots}
    (args.out / "shots.json").write_text(json.dumps(summary, indent=2) + "\n")
    (args.out / "app.log").write_text(f"{predicted.result['message']}\n{queue['message']}\n")
    return completed.returncode


if __name__ == "__main__":
    started = time.perf_counter()
    code = main()
    base.log(f"done in {time.perf_counter() - started:.0f} s")
    sys.exit(code)

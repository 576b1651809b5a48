"""What the per-sample scores (issue 22) add to a FiftyOne prediction run, against the label writing they
ride along with, in the same process and run.

    python benchmarks/fiftyone_scores.py [--samples 40] [--size 512x384] [--rounds 5] [--json out.json]

For semantic (4 classes) and depth (ensemble of 2) predictions of drawn scenes made once in memory by
the weightless ``paint:`` models, it times, per sample and round (alternating, median over rounds):

- ``write``: :meth:`LabelWriter.write` (the label files and label values of a run: the baseline),
- ``score``: :meth:`SampleScorer.from_prediction` (what every run now adds),
- ``backfill``: :meth:`SampleScorer.from_stored` (recomputing the scores from the written files),

and reports ``score / write``. The label files go to a temporary directory (``--work-dir`` to choose).
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def scene(index: int, height: int, width: int) -> np.ndarray:
    """A red band, a blue band and a lime disc on black (the legend's colours), a white patch growing
    with ``index`` (unlabeled) and mild noise, so confidences vary."""
    rng = np.random.default_rng(index)
    image = np.zeros((height, width, 3), np.uint8)
    image[: height // 4] = (255, 0, 0)
    image[3 * height // 4:] = (0, 0, 255)
    yy, xx = np.mgrid[:height, :width]
    image[(yy - height // 2) ** 2 + (xx - width // 3 - index) ** 2 <= (height // 6) ** 2] = (0, 255, 0)
    side = index % (height // 4)
    image[height // 4: height // 4 + side, -side - 1:-1] = 255
    noise = rng.integers(-12, 13, image.shape)
    return np.clip(image.astype(np.int16) + noise, 0, 255).astype(np.uint8)


def predictions(task: str, model: str, count: int, height: int, width: int, **options):
    from vb_plugins.predict import Predictor

    images = [scene(i, height, width) for i in range(count)]
    predictor = Predictor(task, model, megapixels=height * width / 1e6, **options)
    return predictor, list(predictor.predict_iter(images, keys=[f"s{i:04d}" for i in range(count)]))


def time_per_sample(function, items) -> float:
    began = time.perf_counter()
    for item in items:
        function(item)
    return (time.perf_counter() - began) / len(items) * 1000.0


def bench(task: str, model: str, args, work: Path, **options) -> dict:
    from vb_plugins.fiftyone_tools.labels import LabelWriter
    from vb_plugins.fiftyone_tools.scores import SampleScorer

    width, height = (int(v) for v in args.size.split("x"))
    predictor, preds = predictions(task, model, args.samples, height, width, **options)
    writer = LabelWriter(predictor.task, predictor.spec, "F", work / task, with_uncertainty=predictor.ensemble > 1)
    scorer = SampleScorer.for_writer(writer)
    written = {p.key: writer.write(p, p.key) for p in preds}  # warm-up, and the files backfill reads
    rows = {"write": [], "score": [], "backfill": []}
    for _ in range(args.rounds):
        rows["write"].append(time_per_sample(lambda p: writer.write(p, p.key), preds))
        rows["score"].append(time_per_sample(lambda p: scorer.from_prediction(p, written[p.key]), preds))
        rows["backfill"].append(time_per_sample(
            lambda p: scorer.from_stored(written[p.key]["F"], written[p.key].get("F_confidence"),
                                         written[p.key].get("F_uncertainty")), preds))
    medians = {name: statistics.median(values) for name, values in rows.items()}
    return {"task": task, "ensemble": predictor.ensemble, "size": args.size, "samples": args.samples,
            "ms_per_sample": {k: round(v, 3) for k, v in medians.items()},
            "score_over_write": round(medians["score"] / medians["write"], 3),
            "rounds_ms": {k: [round(v, 3) for v in values] for k, values in rows.items()}}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=40)
    parser.add_argument("--size", default="512x384", help="WIDTHxHEIGHT (default 512x384)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--work-dir", help="where label files go (default: a temporary directory)")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    from vb_plugins.fiftyone_tools.database import start_private_mongod
    from vb_plugins.fiftyone_tools.painting import use_paint_backend

    work = Path(tempfile.mkdtemp(prefix="vb_scores_bench_", dir=args.work_dir))
    db = start_private_mongod(work / "db")  # FiftyOne is imported by the label writer: keep it private
    restore = use_paint_backend()
    try:
        results = [bench("semantic", "paint:identity", args, work,
                         classes={"sky": "red", "road": "blue", "ball": "lime", "background": "black"}),
                   bench("depth", "paint:depth", args, work, ensemble=2)]
    finally:
        restore()
        db.stop()
        shutil.rmtree(work, ignore_errors=True)
    for r in results:
        ms = r["ms_per_sample"]
        print(f"{r['task']:<9} ensemble {r['ensemble']} {r['size']}: write {ms['write']:.2f} ms, score "
              f"{ms['score']:.2f} ms ({r['score_over_write']:.2f}x write), backfill {ms['backfill']:.2f} ms per sample")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Ray Data scaling of ``vb predict``: 1 and 2 Ray workers against the single-process engine, one run.

    python benchmarks/ray_scaling.py [--images 32] [--batch-size 2] [--models bundled flux2-klein]
                                     [--json benchmarks/results/ray_scaling.json]

For each model (the bundled VBNet, and a tiny random-weight FLUX.2 klein pipeline built offline) the same
images are predicted and written in the per-image layout by

- the single-process engine (the path of ``vb predict`` without ``--ray``) with one torch thread, and
  with every thread of the machine;
- ``vb_plugins.distributed.predict`` on an embedded local Ray with 1 and with 2 workers of one CPU (so
  one torch thread) each.

Throughput is measured in the steady state: from the moment the first round of batches is done (the
actors have started and loaded their models) to the last image, by the workers' own finish times
(manifest); end-to-end seconds, startup included, are reported beside it.

- Scaling efficiency = images/s with 2 workers / (2 x images/s with 1 worker); target >= 0.8 where
  there is a free core (or GPU) for each worker: two workers cannot scale on cores busy with other work.
- Ray's overhead per image = seconds per image with one Ray worker - seconds per image of the one-thread
  single-process engine (target <= 20 ms); and, less exposed to the machine's other work, the seconds
  per image the driver sees with one worker minus the seconds the worker itself spent (manifest).

Configurations run interleaved, ``--repeat`` times each, and the fastest steady state is kept.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from datetime import datetime
from pathlib import Path

import numpy as np


def make_images(folder: Path, count: int, size=(96, 128)) -> list[Path]:
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        path = folder / f"img{i:03d}.png"
        Image.fromarray(np.random.default_rng(i).integers(0, 256, size + (3,), dtype=np.uint8)).save(path)
        paths.append(path)
    return paths


def steady_rate(stamps: list[float], start: float, warm: int) -> tuple[float, float]:
    """(images/s after the first ``warm`` images, end-to-end seconds) from completion times."""
    warm = min(warm, len(stamps) - 1)
    steady = (len(stamps) - warm) / (stamps[-1] - stamps[warm - 1]) if warm > 0 else len(stamps) / (stamps[-1] - start)
    return steady, stamps[-1] - start


def single_process(images, out: Path, settings, threads: int) -> dict:
    import torch

    from vb_plugins.cli.predict_command import save_prediction
    from vb_plugins.io import write_npy, write_png, write_text
    from vb_plugins.predict import Predictor

    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        predictor = Predictor("depth", settings=settings)
        predictor.predict([str(images[0])])  # load and warm up, as a Ray worker does before its first batch
        shutil.rmtree(out, ignore_errors=True)
        out.mkdir(parents=True)
        start, stamps = time.perf_counter(), []
        for image, prediction in zip(images, predictor.predict_iter([str(p) for p in images])):
            save_prediction(prediction, out, image.stem, predictor.task, write_npy, write_png, write_text)
            stamps.append(time.perf_counter())
    finally:
        torch.set_num_threads(before)
    steady, total = steady_rate(stamps, start, settings.batch_size)
    return {"images_per_s": steady, "seconds_end_to_end": total}


def on_ray(images, out: Path, settings, workers: int) -> dict:
    from vb_plugins import distributed

    shutil.rmtree(out, ignore_errors=True)
    stamps = []
    start = time.perf_counter()
    summary = distributed.predict("depth", [str(p) for p in images], out, settings=settings,
                                  ray=distributed.RayOptions(workers=workers, cpus_per_worker=1, gpus_per_worker=0),
                                  progress=lambda done, total: stamps.append(time.perf_counter()))
    if summary.done != len(images):
        raise SystemExit(f"the Ray run predicted {summary.done} of {len(images)} images: {summary.failed[:1]}")
    rows = [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]
    # when the workers finished each image (the driver may receive finished rows in bursts)
    finished = sorted(datetime.fromisoformat(row["finished"].replace("Z", "+00:00")).timestamp() for row in rows)
    steady, _ = steady_rate(finished, start, workers * settings.batch_size)
    total = stamps[-1] - start
    worker_seconds = float(np.mean([row["seconds"] for row in rows]))  # reading, predicting, writing, per image
    return {"images_per_s": steady, "seconds_end_to_end": total, "seconds_including_model_check": summary.seconds,
            "worker_seconds_per_image": worker_seconds}


def best(runs: list[dict]) -> dict:
    return max(runs, key=lambda r: r["images_per_s"])


def measure(name: str, settings, images, work: Path, repeat: int) -> dict:
    """The four configurations, each with the same :class:`RunSettings`."""
    threads = os.cpu_count() or 1
    configs = {
        "single_process_1_thread": lambda: single_process(images, work / "local1", settings, 1),
        f"single_process_{threads}_threads": lambda: single_process(images, work / "localN", settings, threads),
        "ray_1_worker": lambda: on_ray(images, work / "ray1", settings, 1),
        "ray_2_workers": lambda: on_ray(images, work / "ray2", settings, 2),
    }
    runs: dict[str, list] = {key: [] for key in configs}
    for _ in range(repeat):  # interleaved, so a busy spell of the machine does not land on one configuration
        for key, run in configs.items():
            runs[key].append(run())
    result = {"model": name, "images": len(images), "batch_size": settings.batch_size, "cores": os.cpu_count(),
              "load_average_1min": os.getloadavg()[0], **{key: best(found) for key, found in runs.items()}}
    one, two, local = result["ray_1_worker"], result["ray_2_workers"], result["single_process_1_thread"]
    result["scaling_efficiency"] = two["images_per_s"] / (2 * one["images_per_s"])
    result["ray_overhead_ms_per_image"] = 1000 * (1 / one["images_per_s"] - 1 / local["images_per_s"])
    result["ray_overhead_ms_per_image_vs_worker_time"] = 1000 * (1 / one["images_per_s"]
                                                                 - one["worker_seconds_per_image"])
    result["ray_1_worker_vs_single_process"] = one["images_per_s"] / local["images_per_s"]
    return result


def main() -> None:
    from vb_plugins import distributed
    from vb_plugins.settings import RunSettings
    from vb_plugins.testing.tiny_pipeline import save_tiny_pipeline

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--models", nargs="+", default=["bundled", "flux2-klein"], choices=["bundled", "flux2-klein"])
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()

    print(distributed.connect(None, quiet=True))  # an embedded Ray on this machine, started once
    results = []
    with tempfile.TemporaryDirectory(prefix="vb-ray-bench-") as temp:
        work = Path(temp)
        images = make_images(work / "images", args.images)
        models = {"bundled": lambda: RunSettings(batch_size=args.batch_size),
                  "flux2-klein": lambda: RunSettings(model=str(save_tiny_pipeline("flux2-klein", work / "klein")),
                                                     steps=2, megapixels=0.0164, batch_size=args.batch_size)}
        for name in args.models:
            result = measure(name, models[name](), images, work, args.repeat)
            results.append(result)
            print(f"\n{name}: {args.images} images of 128x96, batch {args.batch_size}, {result['cores']} core(s)")
            for key, value in result.items():
                if isinstance(value, dict):
                    print(f"  {key:28s} {value['images_per_s']:7.2f} images/s  "
                          f"({value['seconds_end_to_end']:.1f} s end to end)")
            print(f"  scaling efficiency (2 workers / 2 x 1 worker): {result['scaling_efficiency']:.2f}")
            print("  Ray overhead per image (1 worker vs 1-thread engine): "
                  f"{result['ray_overhead_ms_per_image']:.1f} ms; "
                  f"driver-observed time per image - the worker's own: "
                  f"{result['ray_overhead_ms_per_image_vs_worker_time']:.1f} ms")
            print(f"  machine load (1-minute average) at the end: {result['load_average_1min']:.1f}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()

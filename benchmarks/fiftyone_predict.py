"""Per-sample overhead of the FiftyOne ``predict`` operator beyond generation, and its memory.

    python benchmarks/fiftyone_predict.py [--samples 1000] [--task depth] [--size 128x96] [--batch-size 8]
                                          [--work-dir /dev/shm] [--json out.json]

Runs ``@vb-plugins/fiftyone/predict`` (immediate execution, as the App or ``execute_operator`` runs it)
on a dataset of ``--samples`` PNG images in a private FiftyOne database, with a generator whose cost is
next to nothing: it returns a precomputed visualization (a depth ramp, or the class colours) for every
input. The engine times every generator call, so

    overhead per sample = (operator wall time - time inside the generator) / samples

which covers reading the image, resizing, decoding the visualization, writing the label files
(PNG + .npy), the database writes and the operator itself. It is split into the core part (the same
Predictor on in-memory images, no FiftyOne) and the FiftyOne part (the rest), and the label file writes
(PNG encoding + file creation) are timed on their own: their cost is set by the disk more than by this
code (``--work-dir /dev/shm`` takes the disk out). Target: <= 5 ms/sample.
Wall time depends on what else the machine runs, so CPU time is reported too: this process plus the
mongod it writes to, minus the generator's share (its wall time, an upper bound of its CPU time).

Memory: the resident set size is sampled every 20 ms during runs of N/4 and N samples (after a warm-up
run), and Python's allocations are traced (tracemalloc) in a second pair of runs; flat memory means the
peak above the starting point does not grow with the number of samples.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import threading
import time
import tracemalloc
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


class RssSampler:
    """Peak resident set size (bytes) of this process while active, sampled every ``interval`` s."""

    def __init__(self, interval: float = 0.02):
        import psutil

        self.process = psutil.Process()
        self.interval = interval
        self.peak = self.start = 0
        self._stop = threading.Event()

    def __enter__(self):
        self.start = self.peak = self.process.memory_info().rss
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self):
        while not self._stop.wait(self.interval):
            self.peak = max(self.peak, self.process.memory_info().rss)

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.process.memory_info().rss)

    @property
    def growth_mb(self) -> float:
        return (self.peak - self.start) / 2 ** 20


def use_constant_backend(task: str, height: int, width: int):
    """Register ``const:<task>``: a generator that returns one precomputed visualization per input."""
    from vb_plugins import registry
    from vb_plugins.generation.base import GeneratorBackend
    from vb_plugins.hookspecs import hookimpl
    from vb_plugins.testing.generators import PaintingGenerator

    def visualization(size):
        h, w = size
        if task == "depth":
            ramp = np.linspace(0.5, 20.0, h, dtype=np.float32)[:, None].repeat(w, axis=1)
            return registry.get_task("depth").encode(ramp)
        colours = np.array([(255, 0, 0), (0, 0, 255), (0, 255, 0)], np.uint8)  # the --classes legend
        return colours[(np.arange(h)[:, None] * 3 // h).repeat(w, axis=1)]

    cache: dict = {}

    def paint(image, prompt):
        shape = image.shape[:2]
        if shape not in cache:
            cache[shape] = visualization(shape)
        return cache[shape]

    class ConstantBackend(GeneratorBackend):
        name = "const"

        def load(self, model, megapixels=None, **options):
            generator = PaintingGenerator(paint, megapixels=height * width / 1e6)
            generator.name = f"const:{model}"
            return generator

    class Plugin:
        __name__ = "fiftyone_predict_benchmark"

        @hookimpl
        def vb_generators(self):
            return [ConstantBackend()]

    registry.reset_registry(registry.Registry(entry_points=False, plugins=[Plugin()]))


def make_images(directory: Path, count: int, height: int, width: int) -> list[str]:
    import cv2

    rng = np.random.default_rng(0)
    paths = []
    for i in range(count):
        image = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
        path = directory / f"image{i:05d}.png"
        cv2.imwrite(str(path), image)
        paths.append(str(path))
    return paths


def params_for(args, field: str, output_dir: Path) -> dict:
    params = {"task": args.task, "output_field": field, "model": f"const:{args.task}",
              "batch_size": args.batch_size, "output_dir": str(output_dir)}
    if args.task == "semantic":
        params["classes"] = {"sky": "red", "road": "blue", "grass": "lime"}
    return params


def cpu_seconds(mongod) -> float:
    """CPU seconds (user + system) used so far by this process and by ``mongod`` (a psutil.Process)."""
    times = os.times()
    database = mongod.cpu_times()
    return times.user + times.system + database.user + database.system


class FileWriteTimer:
    """Time spent inside the label writer's file writes (PNG encoding included), and bytes written.

    Wraps ``labels._write_png`` and ``labels._save_npy`` for the duration of a run; file creation cost
    depends on the disk (a VM disk throttles writeback), so it is reported apart from the rest."""

    def __init__(self):
        self.seconds = 0.0
        self.bytes = 0

    def __enter__(self):
        from vb_plugins.fiftyone_tools import labels

        self._labels = labels
        self._originals = (labels._write_png, labels._save_npy)

        def timed(function):
            def wrapper(path, array):
                began = time.perf_counter()
                function(path, array)
                self.seconds += time.perf_counter() - began
                self.bytes += os.path.getsize(path)
            return wrapper

        labels._write_png, labels._save_npy = (timed(f) for f in self._originals)
        return self

    def __exit__(self, *exc):
        self._labels._write_png, self._labels._save_npy = self._originals


def run_operator(fo, foo, paths: list[str], args, name: str, work: Path, mongod) -> dict:
    """Run the operator on a new dataset of ``paths``; returns its result dict, wall and CPU time."""
    dataset = fo.Dataset(name)
    dataset.add_samples([fo.Sample(filepath=p) for p in paths], progress=False)
    cpu = cpu_seconds(mongod)
    began = time.perf_counter()
    with FileWriteTimer() as files:
        result = foo.execute_operator("@vb-plugins/fiftyone/predict", ctx={
            "view": dataset.view(), "params": params_for(args, "pred", work / name)}).result
    wall = time.perf_counter() - began
    cpu = cpu_seconds(mongod) - cpu
    assert result["predicted"] == len(paths), result
    assert dataset.count("pred") == len(paths)
    dataset.delete()
    shutil.rmtree(work / name, ignore_errors=True)
    return {"wall": wall, "cpu": cpu, "file_seconds": files.seconds, "file_bytes": files.bytes, **result}


def run_core(paths: list[str], args) -> dict:
    """The same Predictor on images already in memory (no FiftyOne): generation + decoding only."""
    import cv2

    from vb_plugins.predict import Predictor

    options = {"classes": params_for(args, "x", Path("."))["classes"]} if args.task == "semantic" else {}
    images = [cv2.cvtColor(cv2.imread(p), cv2.COLOR_BGR2RGB) for p in paths]
    predictor = Predictor(args.task, f"const:{args.task}", batch_size=args.batch_size, **options)
    _ = predictor.generator  # loads the model before the clock starts
    cpu = time.process_time()
    began = time.perf_counter()
    count = sum(1 for _ in predictor.predict_iter(images))
    wall = time.perf_counter() - began
    return {"wall": wall, "cpu": time.process_time() - cpu, "generating": predictor.engine.seconds_generating,
            "count": count}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=1000)
    parser.add_argument("--task", choices=("depth", "semantic"), default="depth")
    parser.add_argument("--size", default="128x96", help="image size WIDTHxHEIGHT (default 128x96)")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--work-dir", help="where the images, label files and database go (default: the "
                        "system temp dir; /dev/shm takes the disk out of the measurement)")
    args = parser.parse_args(argv)
    width, height = (int(v) for v in args.size.lower().split("x"))

    sys.path.insert(0, str(ROOT))
    from vb_plugins.fiftyone_tools.database import start_private_mongod

    work = Path(tempfile.mkdtemp(prefix="vb_fo_bench_", dir=args.work_dir))
    db = start_private_mongod(work / "db")
    try:
        import psutil

        mongod = psutil.Process(db.process.pid)
        (work / "plugins").mkdir()
        (work / "plugins" / "vb-plugins").symlink_to(ROOT / "fiftyone_plugin", target_is_directory=True)
        os.environ["FIFTYONE_PLUGINS_DIR"] = str(work / "plugins")
        os.environ["FIFTYONE_DEFAULT_DATASET_DIR"] = str(work / "datasets")
        os.environ["FIFTYONE_SHOW_PROGRESS_BARS"] = "false"
        import fiftyone as fo
        import fiftyone.operators as foo

        use_constant_backend(args.task, height, width)
        (work / "images").mkdir()
        paths = make_images(work / "images", args.samples, height, width)
        quarter = paths[: max(1, args.samples // 4)]
        run_operator(fo, foo, paths[:50], args, "warmup", work, mongod)  # imports, caches, first writes

        core = run_core(paths, args)
        with RssSampler() as rss_quarter:
            small = run_operator(fo, foo, quarter, args, "quarter", work, mongod)
        with RssSampler() as rss_full:
            full = run_operator(fo, foo, paths, args, "full", work, mongod)
        traced = {}
        for label, subset in (("quarter", quarter), ("full", paths)):
            tracemalloc.start()
            base = tracemalloc.get_traced_memory()[0]
            run_operator(fo, foo, subset, args, f"traced-{label}", work, mongod)
            traced[label] = (tracemalloc.get_traced_memory()[1] - base) / 2 ** 20
            tracemalloc.stop()
    finally:
        db.stop()
        shutil.rmtree(work, ignore_errors=True)

    n = args.samples
    ms = lambda seconds, count=n: 1000.0 * seconds / count  # noqa: E731
    overhead = ms(full["wall"] - full["seconds_generating"])
    core_overhead = ms(core["wall"] - core["generating"])
    cpu_overhead = ms(full["cpu"] - full["seconds_generating"])
    figures = {
        "samples": n, "task": args.task, "image_size": f"{width}x{height}", "batch_size": args.batch_size,
        "operator_ms_per_sample": round(ms(full["wall"]), 3),
        "generation_ms_per_sample": round(ms(full["seconds_generating"]), 3),
        "overhead_ms_per_sample": round(overhead, 3),
        "overhead_cpu_ms_per_sample": round(cpu_overhead, 3),
        "core_decode_ms_per_sample": round(core_overhead, 3),
        "core_decode_cpu_ms_per_sample": round(ms(core["cpu"] - core["generating"]), 3),
        "fiftyone_glue_ms_per_sample": round(overhead - core_overhead, 3),
        "label_file_writes_ms_per_sample": round(ms(full["file_seconds"]), 3),
        "label_file_kb_per_sample": round(full["file_bytes"] / n / 1024, 1),
        "overhead_without_file_writes_ms_per_sample": round(overhead - ms(full["file_seconds"]), 3),
        "overhead_ms_per_sample_at_quarter": round(ms(small["wall"] - small["seconds_generating"], len(quarter)), 3),
        "prompt_encodings": full["prompt_encodings"],
        "rss_peak_growth_mb": {str(len(quarter)): round(rss_quarter.growth_mb, 1),
                               str(n): round(rss_full.growth_mb, 1)},
        "tracemalloc_peak_mb": {str(len(quarter)): round(traced["quarter"], 1), str(n): round(traced["full"], 1)},
        "target_ms_per_sample": 5.0,
        "work_dir": str(Path(args.work_dir or tempfile.gettempdir())),
        "load_average": round(os.getloadavg()[0], 2), "cpu_count": os.cpu_count(),
    }
    print(json.dumps(figures, indent=2))
    print(f"overhead beyond generation: {overhead:.2f} ms/sample wall, {cpu_overhead:.2f} ms CPU (target 5 ms; core "
          f"decode {core_overhead:.2f} ms, FiftyOne {overhead - core_overhead:.2f} ms, of which label file writes "
          f"{ms(full['file_seconds']):.2f} ms for {full['file_bytes'] / n / 1024:.0f} KB); load average "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; peak memory "
          f"above start: RSS {rss_quarter.growth_mb:.1f} MB for {len(quarter)} vs {rss_full.growth_mb:.1f} MB for "
          f"{n} samples, traced {traced['quarter']:.1f} vs {traced['full']:.1f} MB")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

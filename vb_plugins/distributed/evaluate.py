"""``vb eval --ray``: per-image scoring on Ray Data actors, merged in order into the sequential report.

:func:`vb_plugins.evaluation.directory.evaluate_directory` pairs files and builds the accumulator as
always; with ``ray=...`` the pairs go to a pool of actors instead of a loop. Each actor reads an image's
files and scores it into a one-image accumulator with the same per-image code the loop runs; the driver
merges those in the images' order (:mod:`vb_plugins.evaluation.merge`), so numbers, skipped images,
warnings and the first error are those of the sequential run.
"""

from __future__ import annotations

import json
import math
import pickle
from dataclasses import replace
from pathlib import Path

import numpy as np

from vb_plugins.distributed import cluster
from vb_plugins.distributed.options import RayOptions
from vb_plugins.distributed.run import one_line_error
from vb_plugins.errors import VBError
from vb_plugins.evaluation.directory import _directory_evaluator
from vb_plugins.evaluation.merge import merge_image
from vb_plugins.evaluation.runner import DEFAULT, make_accumulator

MAX_BLOCKS = 10_000


class ScoreWorker:
    """A Ray Data callable class: scores each (prediction, ground truth) row into its own accumulator."""

    def __init__(self, task: str, settings, classes, file_settings: dict, indexes: list):
        if isinstance(settings.ignore_index, str) and settings.ignore_index == DEFAULT:
            settings = replace(settings, ignore_index=DEFAULT)  # the sentinel is compared by identity
        self.task, self.settings, self.classes = task, settings, classes
        self.file_settings, self.indexes = file_settings, indexes

    def __call__(self, batch: dict) -> dict:
        parts = [self.score(str(stem), Path(str(prediction)), [Path(p) for p in json.loads(str(truth))])
                 for stem, prediction, truth in zip(batch["stem"], batch["prediction"], batch["ground_truth"])]
        return {"index": np.asarray(batch["index"]), "part": np.array(parts, dtype=object)}

    def score(self, stem: str, prediction: Path, truth: list[Path]) -> bytes:
        accumulator = make_accumulator(self.task, self.settings, classes=self.classes,
                                       ignore_index=-1 if self.task == "semantic" else DEFAULT)
        file_settings, zero_shares = dict(self.file_settings), []
        evaluate_one = _directory_evaluator(self.task, self.settings, accumulator, self.classes, file_settings,
                                            zero_shares)
        try:
            record = evaluate_one(stem, prediction, truth, self.indexes)
        except VBError as error:
            return pickle.dumps({"error": error})
        if record is not None:
            record["prediction"] = str(prediction)
            record["ground_truth"] = [str(p) for p in truth] if len(truth) > 1 else str(truth[0])
        return pickle.dumps({"accumulator": accumulator, "zero_shares": zero_shares,
                             "without_record": file_settings.get("predictions_without_record", 0)})


def score_pairs(task: str, settings, classes, file_settings: dict, zero_shares: list, accumulator, pairs, indexes,
                progress=None, *, ray: RayOptions | None = None, quiet: bool = True) -> None:
    """Score ``pairs`` ((stem, prediction path, ground-truth paths)) on Ray and merge them into
    ``accumulator``, ``file_settings`` and ``zero_shares`` as the sequential loop would. ``ray``: where
    (default: the workers the cluster's CPUs hold, ``cpus_per_worker`` each; GPUs are not used)."""
    import ray as ray_module

    if not pairs:
        return
    ray = ray or RayOptions()
    cluster.connect(ray.address, quiet=quiet)
    cpus = max(ray.cpus_per_worker, 0.001)
    workers = ray.workers or max(1, int(ray_module.cluster_resources().get("CPU", 1) // cpus))
    batch_size = max(1, min(64, math.ceil(len(pairs) / (4 * workers))))
    blocks = min(MAX_BLOCKS, math.ceil(len(pairs) / batch_size))
    with cluster.data_settings(quiet):  # datasets keep the settings they were created with
        _score(pairs, task, settings, classes, file_settings, zero_shares, accumulator, indexes, progress,
               workers, cpus, batch_size, blocks)


def _score(pairs, task, settings, classes, file_settings, zero_shares, accumulator, indexes, progress, workers,
           cpus, batch_size, blocks) -> None:
    import ray.data

    dataset = ray.data.from_items(
        [{"index": i, "stem": stem, "prediction": str(prediction), "ground_truth": json.dumps([str(p) for p in truth])}
         for i, (stem, prediction, truth) in enumerate(pairs)], override_num_blocks=blocks)
    scored = dataset.map_batches(
        ScoreWorker, batch_size=batch_size, batch_format="numpy", num_cpus=cpus,
        compute=ray.data.ActorPoolStrategy(size=min(workers, blocks)),
        fn_constructor_kwargs={"task": task, "settings": settings, "classes": classes,
                               "file_settings": dict(file_settings), "indexes": indexes})
    waiting: dict[int, bytes] = {}
    total, merged = len(pairs), 0
    stream = iter(scored.iter_rows())
    try:
        for row in stream:
            waiting[int(row["index"])] = row["part"]
            while merged in waiting:  # in the images' order, as the loop adds them
                part = pickle.loads(waiting.pop(merged))
                if "error" in part:
                    raise part["error"]
                merge_image(accumulator, part["accumulator"])
                zero_shares.extend(part["zero_shares"])
                if "predictions_without_record" in file_settings:
                    file_settings["predictions_without_record"] += part["without_record"]
                merged += 1
                if progress:
                    progress(merged, total)
    except VBError:
        raise
    except Exception as error:
        raise one_line_error(error) from None
    finally:
        getattr(stream, "close", lambda: None)()

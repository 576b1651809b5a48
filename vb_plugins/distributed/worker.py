"""What runs on the Ray workers of ``vb predict --ray``: one :class:`Predictor` per actor.

An actor loads its model once, then takes batches of ``(input, stem)`` rows from Ray Data: it reads and
decodes each image, predicts the batch, and writes each image's result set into the output folder with
the single-process run's writer (staged, then moved into place with its record last). It returns one
manifest row per image. An image that cannot be read or predicted is returned as ``failed`` with its
error; the batch goes on. A worker process that dies is restarted by Ray and its batch is redone.
"""

from __future__ import annotations

import json
import os
import time
import traceback
from pathlib import Path

import numpy as np

from vb_plugins.cli.predict_command import save_prediction
from vb_plugins.cli.predict_outputs import LOCK_NAME, first_difference
from vb_plugins.distributed.inputs import read_image_source
from vb_plugins.errors import CancelledError, InputError, ModelError, VBError
from vb_plugins.io import write_npy, write_png, write_text
from vb_plugins.predict import Predictor
from vb_plugins.settings import RunSettings
from vb_plugins.tasks.base import TaskSpec


def build_predictor(task: str, spec: TaskSpec, settings: dict) -> Predictor:
    """The run's predictor on a worker, generator not loaded yet: the task spec and the run's
    :class:`RunSettings`, shipped as :meth:`RunSettings.to_dict` and rebuilt here (checked again)."""
    return Predictor(task, spec=spec, settings=RunSettings.from_dict(settings))


def run_description(predictor) -> dict:
    """What a folder's records are compared with: the single-process run's ``current``."""
    return {"task": predictor.task.name, "spec": predictor.spec.to_dict(), "prompts": predictor.prompts,
            "settings": predictor.describe()}


def describe_run(task: str, spec: TaskSpec, settings: dict) -> dict:
    """Load the model where workers run and describe the run (the driver may have no GPU, or no room
    for the model): ``{"current": ..., "notice": ...}``, or ``{"error": one line}``."""
    try:
        predictor = build_predictor(task, spec, settings)
        generator = predictor.generator  # loads and refuses a task the model cannot paint
        return {"current": run_description(predictor), "notice": generator.notice}
    except VBError as error:
        return {"error": str(error), "kind": type(error).__name__}


def worker_name() -> str:
    import ray

    try:
        node = ray.get_runtime_context().get_node_id()[:8]
    except Exception:  # outside Ray (unit tests of the class)
        node = "local"
    return f"{node}:{os.getpid()}"


class PredictWorker:
    """A Ray Data callable class: ``__init__`` once per actor, ``__call__`` per batch of rows."""

    def __init__(self, task: str, spec: TaskSpec, settings: dict, output: str, current: dict, run_id: str):
        self.output = Path(output)
        if not (self.output / LOCK_NAME).is_file():
            raise InputError(f"{output}: the output folder is not visible on this worker ({worker_name()}); "
                             "with a cluster, write to storage every node mounts at the same path")
        self.predictor = build_predictor(task, spec, settings)
        self.generator = self.predictor.generator  # the model, once per actor
        mine = run_description(self.predictor)
        difference = first_difference(current, mine)
        if difference:  # e.g. another vb-plugins or model version on this node
            key, theirs, ours = difference
            raise ModelError(f"worker {worker_name()} would predict with {key} {ours!r}, the run with {theirs!r}; "
                             "install the same vb-plugins and model on every node")
        self.run_id = run_id
        self.name = worker_name()

    def __call__(self, batch: dict) -> dict:
        began = time.perf_counter()
        sources, stems = [str(s) for s in batch["input"]], [str(s) for s in batch["stem"]]
        stale = [json.loads(str(s)) for s in batch["stale"]]
        errors: dict[int, str] = {}
        images, readable = [], []
        for i, source in enumerate(sources):
            try:
                images.append(read_image_source(source))
                readable.append(i)
            except InputError as error:
                errors[i] = str(error)
        task = self.predictor.task
        outcomes = predict_isolating_failures(self.predictor, images, [sources[i] for i in readable])
        for i, (prediction, error) in zip(readable, outcomes):
            if error is not None:
                errors[i] = error
                continue
            try:
                save_prediction(prediction, self.output, stems[i], task, write_npy, write_png, write_text, stale[i])
            except (VBError, OSError) as failure:
                errors[i] = f"{stems[i]}: cannot write the results ({failure})"
        seconds = (time.perf_counter() - began) / max(len(sources), 1)
        now = time.time()
        finished = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now * 1000) % 1000:03d}Z"
        return {
            "stem": np.array(stems, dtype=object),
            "input": np.array(sources, dtype=object),
            "status": np.array(["failed" if i in errors else "done" for i in range(len(sources))], dtype=object),
            "error": np.array([errors.get(i, "") for i in range(len(sources))], dtype=object),
            "seconds": np.full(len(sources), round(seconds, 4)),
            "worker": np.array([self.name] * len(sources), dtype=object),
            "run": np.array([self.run_id] * len(sources), dtype=object),
            "finished": np.array([finished] * len(sources), dtype=object),
        }


def predict_isolating_failures(predictor, images: list, keys: list) -> list[tuple[object, str | None]]:
    """(prediction, None) or (None, one-line error) per image: the batch at once, and if that fails each
    image on its own, so one bad image does not take its neighbours down. A cancel is raised."""
    if not images:
        return []
    try:
        return [(prediction, None) for prediction in predictor.predict(images, keys=keys)]
    except CancelledError:
        raise
    except Exception:  # noqa: BLE001 - retried image by image below, where each failure is recorded
        pass
    outcomes = []
    for image, key in zip(images, keys):
        try:
            outcomes.append((predictor.predict([image], keys=[key])[0], None))
        except CancelledError:
            raise
        except VBError as error:
            outcomes.append((None, str(error)))
        except Exception as error:  # noqa: BLE001 - a worker survives any one image
            traceback.print_exc()
            outcomes.append((None, f"{key}: {type(error).__name__}: {error}".splitlines()[0]))
    return outcomes

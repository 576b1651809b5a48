"""``vb_plugins.distributed.predict``: ``vb predict`` over Ray Data, on one machine or a cluster.

The driver resolves the inputs, checks the output folder exactly as the single-process run does (one run
at a time, one configuration per folder, images already complete are skipped), then streams the images
that are left through ``map_batches`` over a pool of actors (:class:`vb_plugins.distributed.worker.
PredictWorker`, one model each). Each actor gets the task spec and the run's
:class:`vb_plugins.settings.RunSettings` (sent as ``to_dict()``, rebuilt with ``from_dict``); where the
actors run is a :class:`vb_plugins.distributed.options.RayOptions`, which is in no record, so the folder
is the one a single-process run with the same settings writes and resumes. Workers write each image's
result set into the folder with the single-process writer; the driver collects one manifest row per image.
Ray retries the batches of a worker process that dies; images are deterministic (per-image seeds), so a
redone image is the same.

The output folder must be visible at the same path on every node (a shared file system) when the
workers run on other machines.
"""

from __future__ import annotations

import json
import math
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from vb_plugins import errors
from vb_plugins.cli.predict_command import local_path
from vb_plugins.cli.predict_outputs import (
    OutputLock,
    clear_staging,
    existing_outputs,
    read_records,
    refuse_other_settings,
)
from vb_plugins.distributed import cluster
from vb_plugins.distributed.inputs import resolve_inputs
from vb_plugins.distributed.manifest import ManifestAppender, manifest_path, read_manifest, rewrite_manifest
from vb_plugins.distributed.options import RAY_OPTIONS, RayOptions, refuse_what_workers_cannot_run
from vb_plugins.distributed.worker import PredictWorker, describe_run
from vb_plugins.errors import CancelledError, InputError, ModelError, VBError
from vb_plugins.predict import Predictor
from vb_plugins.settings import SETTINGS, RunSettings, split_settings
from vb_plugins.tasks.base import TaskSpec

Progress = Callable[[int, int], None]  # (images finished this run, images to do)
MAX_BLOCKS = 10_000  # one block per batch up to this many: small blocks spread work and retry little


@dataclass
class RunSummary:
    """What a distributed run did. ``failed`` lists ``{"stem", "input", "error"}``."""

    task: str
    output: str
    total: int = 0
    done: int = 0
    skipped: int = 0
    failed: list[dict] = field(default_factory=list)
    cancelled: bool = False
    workers: int = 0
    seconds: float = 0.0
    seconds_streaming: float = 0.0
    cluster: str = ""
    manifest: str = ""
    notice: str | None = None  # the model's note for users (e.g. what the bundled model is)

    @property
    def images_per_second(self) -> float:
        return self.done / self.seconds_streaming if self.seconds_streaming > 0 else 0.0

    def to_dict(self) -> dict:
        return dict(asdict(self), images_per_second=round(self.images_per_second, 3))

    def message(self) -> str:
        parts = [f"{self.done} image(s) predicted into {self.output}"]
        if self.skipped:
            parts.append(f"{self.skipped} already done")
        if self.failed:
            parts.append(f"{len(self.failed)} failed ({self.failed[0]['error']}"
                         + (", ..." if len(self.failed) > 1 else "") + f"; listed in {self.manifest})")
        if self.cancelled:
            parts.append("cancelled")
        return "; ".join(parts)


def resolve_settings(model, settings: RunSettings | None, options: dict) -> tuple[RunSettings, dict]:
    """The run's :class:`RunSettings` (``settings`` with ``model`` and the setting keywords among ``options``
    applied, local files named by absolute paths as single-process records name them) and what is left of
    ``options`` (task options)."""
    if model is not None and not isinstance(model, str):
        raise InputError("model: pass a model string (id, path or backend:model); a generator object cannot be "
                         "sent to Ray workers")
    changes, task_options = split_settings(options)
    if model is not None:
        changes["model"] = model
    settings = (settings or RunSettings()).replace(**changes)
    local = {name: local_path(getattr(settings, name)) for name, declared in SETTINGS.items() if declared.path}
    return settings.replace(**local), task_options


def predict(task: str, inputs, output, model: str | None = None, *, settings: RunSettings | None = None,
            ray: RayOptions | None = None, spec: TaskSpec | None = None, overwrite: bool = False,
            quiet: bool = True, progress: Progress | None = None, should_stop: Callable[[], bool] | None = None,
            **options) -> RunSummary:
    """Predict ``task`` on ``inputs`` into the folder ``output`` with Ray Data; returns a :class:`RunSummary`.

    ``inputs``: folders, globs, text files of paths, files or URIs (:mod:`vb_plugins.distributed.inputs`).
    ``settings``: the run's :class:`vb_plugins.settings.RunSettings` (model, seed, steps, ensemble,
    ``batch_size`` = images per batch an actor takes, ...), the same object a single-process run takes;
    every worker rebuilds it from :meth:`RunSettings.to_dict`. ``ray``: a
    :class:`vb_plugins.distributed.options.RayOptions` (address, workers, GPUs and CPUs per worker).
    ``options``: fields of either given one by one (``workers=2, seed=1``; they replace those of
    ``settings`` / ``ray``), and task options (``classes``, ``expression``, ...) unless ``spec`` is given.
    ``model``: a model string (None: the settings' model, by default the bundled one).
    ``progress(done, total)`` is called as images finish; ``should_stop()`` ends the run early
    (``cancelled``), finished images kept.

    Raises :class:`InputError` / :class:`ModelError` for bad options, inputs, folders or models, before
    anything is written. Images that cannot be read or predicted are recorded in the manifest, not raised.
    """
    began = time.perf_counter()
    ray = RayOptions.of(ray, **{k: options.pop(k) for k in list(options) if k in RAY_OPTIONS})
    settings, task_options = resolve_settings(model, settings, options)
    predictor = Predictor(task, spec=spec, settings=settings, **task_options)  # checked; the model not loaded
    refuse_what_workers_cannot_run(predictor)
    task, spec = predictor.task.name, predictor.spec
    output = Path(output).expanduser()
    items = resolve_inputs(inputs, output)
    if output.exists() and not output.is_dir():
        raise InputError(f"{output}: exists and is not a directory")

    ray = prepare_cluster(ray, quiet)
    summary = RunSummary(task, str(output), total=len(items), workers=ray.workers, cluster=cluster.describe())
    described = describe_remotely(task, spec, settings, ray)
    current, summary.notice = described["current"], described.get("notice")
    try:
        output.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise InputError(f"{output}: cannot create the output folder ({error.strerror or error})") from None
    with cluster.data_settings(quiet):
        _run_locked(summary, items, output, task, spec, settings, current, overwrite, ray, progress, should_stop)
    summary.seconds = time.perf_counter() - began
    return summary


def prepare_cluster(ray: RayOptions, quiet: bool) -> RayOptions:
    """Connect, and fill in the options whose defaults depend on the cluster (workers, gpus_per_worker)."""
    cluster.connect(ray.address, quiet=quiet)
    gpus = cluster.cluster_gpus()
    gpus_per_worker = ray.gpus_per_worker
    if gpus_per_worker is None:
        gpus_per_worker = 1 if gpus >= 1 else 0
    if gpus_per_worker > 0 and gpus < gpus_per_worker:
        raise InputError(f"gpus_per_worker={gpus_per_worker:g}: the Ray cluster has {gpus:g} GPU(s) "
                         "(use gpus_per_worker=0 to run on CPUs)")
    workers = ray.workers
    if workers is None:
        workers = max(1, int(gpus // gpus_per_worker)) if gpus_per_worker > 0 else 1
    return RayOptions.of(ray, workers=workers, gpus_per_worker=gpus_per_worker)


def describe_remotely(task: str, spec: TaskSpec, settings: RunSettings, ray: RayOptions) -> dict:
    """Load the model once where the workers run, for the run's description (and its errors, early)."""
    import ray as ray_module

    remote = ray_module.remote(num_cpus=ray.cpus_per_worker, num_gpus=ray.gpus_per_worker,
                               max_retries=2)(describe_run)
    described = ray_module.get(remote.remote(task, spec, settings.to_dict()))
    if "error" in described:
        raise (ModelError if described.get("kind") == "ModelError" else InputError)(described["error"])
    return described


def _run_locked(summary: RunSummary, items, output: Path, task: str, spec: TaskSpec, settings: RunSettings,
                current: dict, overwrite: bool, placement: RayOptions, progress, should_stop) -> None:
    import ray
    import ray.data

    with OutputLock(output, f"vb predict {task} --ray"):
        clear_staging(output)
        stems = [item.stem for item in items]
        records = read_records(output, stems, overwrite)
        if not overwrite:
            refuse_other_settings(output, records, current)
        todo = [item for item in items if overwrite or item.stem not in records]
        summary.skipped = len(items) - len(todo)
        summary.manifest = str(manifest_path(output))
        rows = read_manifest(output)
        sending = {item.stem for item in todo}
        for item in items:
            if item.stem not in sending and rows.get(item.stem, {}).get("status") != "done":
                rows[item.stem] = {"stem": item.stem, "input": item.source, "status": "done", "run": None}
        if not todo:
            rewrite_manifest(output, rows)
            return
        stale = existing_outputs(output, [item.stem for item in todo])
        blocks = min(MAX_BLOCKS, math.ceil(len(todo) / settings.batch_size))
        dataset = ray.data.from_items(
            [{"input": item.source, "stem": item.stem, "stale": json.dumps(sorted(stale[item.stem]))}
             for item in todo], override_num_blocks=blocks)
        run_id = uuid.uuid4().hex
        results = dataset.map_batches(
            PredictWorker, batch_size=settings.batch_size, batch_format="numpy",
            compute=ray.data.ActorPoolStrategy(size=min(placement.workers, blocks)),  # no idle models
            num_cpus=placement.cpus_per_worker, num_gpus=placement.gpus_per_worker or None,
            fn_constructor_kwargs={"task": task, "spec": spec, "settings": settings.to_dict(),
                                   "output": str(output), "current": current, "run_id": run_id})
        appender = ManifestAppender(output)
        seen: set[str] = set()
        streaming = time.perf_counter()
        stream = iter(results.iter_rows())
        try:
            for row in stream:
                row = {key: (value.item() if hasattr(value, "item") else value) for key, value in row.items()}
                if row["stem"] in seen:  # a retried batch reported twice: its files are the same
                    continue
                seen.add(row["stem"])
                row["error"] = row["error"] or None
                appender.add(row)
                rows[row["stem"]] = row
                if row["status"] == "done":
                    summary.done += 1
                else:
                    summary.failed.append({"stem": row["stem"], "input": row["input"], "error": row["error"]})
                if progress:
                    progress(len(seen), len(todo))
                if should_stop and should_stop():
                    raise CancelledError(f"cancelled after {len(seen)} images")
        except CancelledError:
            summary.cancelled = True
        except VBError:
            raise
        except Exception as error:  # a Ray failure: the error a worker raised, in one line
            raise one_line_error(error) from None
        finally:
            getattr(stream, "close", lambda: None)()  # stops the executor: no more work is sent
            summary.seconds_streaming = time.perf_counter() - streaming
            appender.close()
            clear_staging(output)  # what workers that died mid-image left behind
            rewrite_manifest(output, rows)


def one_line_error(error: Exception) -> Exception:
    """A Ray error from the workers as the vb-plugins error it carries, else one line naming Ray. Ray
    wraps what a worker raised (in Ray Data, as text only): the last ``vb_plugins.errors.X: message``
    in the chain's text is rebuilt as that error."""
    texts, cause = [], error
    for _ in range(8):
        if cause is None:
            break
        if isinstance(cause, VBError) and type(cause).__module__ == errors.__name__:
            return cause
        texts.append(str(cause))
        cause = getattr(cause, "cause", None) or cause.__cause__
    carried = re.findall(r"vb_plugins\.errors\.(\w+): ([^\n]+)", re.sub(r"\x1b\[[0-9;]*m", "", "\n".join(texts)))
    for name, message in reversed(carried):
        kind = getattr(errors, name, None)
        if isinstance(kind, type) and issubclass(kind, VBError):
            return kind(message.strip())
    lines = [line for line in texts[-1].strip().splitlines() if line.strip()] if texts else []
    return ModelError(f"the Ray run failed: {lines[0] if lines else type(error).__name__}")

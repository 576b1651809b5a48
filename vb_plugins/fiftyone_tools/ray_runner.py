"""FiftyOne predict runs on Ray Data: the ``ray`` engine of the ``predict`` operator.

    >>> from vb_plugins.fiftyone_tools.ray_runner import predict_collection_ray
    >>> run = predict_collection_ray(dataset.view(), "depth", "depth", workers=4, address="auto")

The same run as :func:`vb_plugins.fiftyone_tools.runner.predict_collection` (same fields, files, run
record, journal, resume and overwrite rules, skipped samples, ``PredictRun`` result), with the work
spread over Ray actors:

- the driver plans the run against the dataset and sends only sample ids and file paths to Ray Data;
- each actor holds one :class:`vb_plugins.predict.Predictor` and one
  :class:`vb_plugins.fiftyone_tools.labels.LabelWriter`: it reads the images, predicts, writes the label
  files into the run's output directory and returns the label values (in-memory FiftyOne labels that
  point at those files). Workers never touch the database;
- the driver merges the values into the dataset with ``set_values`` every ``write_batch`` samples (side
  fields first, the main field last, then the journal), reports progress, and stops sending work when
  ``should_stop()`` says so (``cancelled``; what was merged stays).

The output directory must be on storage every node mounts at the same path (the App reads it too).
"""

from __future__ import annotations

import functools
import pickle
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from vb_plugins.distributed import cluster
from vb_plugins.distributed.inputs import read_image_source
from vb_plugins.distributed.run import check_resources, describe_remotely, one_line_error, prepare_cluster
from vb_plugins.distributed.worker import build_predictor, predict_isolating_failures
from vb_plugins.errors import CancelledError, InputError, VBError
from vb_plugins.fiftyone_tools.journal import append_journal, remove_journal
from vb_plugins.fiftyone_tools.runner import (
    INFO_KEY,
    PredictRun,
    ProgressCallback,
    _mark_complete,
    check_existing,
    plan_run,
    plan_samples,
    run_signature,
    update_app_config,
)
from vb_plugins.fiftyone_tools.scores import SampleScorer


def predictor_options(predictor, **settings) -> dict:
    """Keyword arguments that rebuild ``predictor`` in a worker: its spec and the run settings it was made
    with (those given; None means the model's default)."""
    return {"spec": predictor.spec, **{key: value for key, value in settings.items() if value is not None}}


class LabelWorker:
    """A Ray Data callable class: predicts a batch of samples and writes their label files."""

    def __init__(self, task: str, model, options: dict, writer: dict):
        from vb_plugins.fiftyone_tools.labels import LabelWriter

        self.predictor = build_predictor(task, model, options)
        self.generator = self.predictor.generator  # the model, once per actor
        writer = dict(writer)
        self.writer = LabelWriter(self.predictor.task, self.predictor.spec, writer.pop("field"),
                                  writer.pop("directory"), **writer)
        self.scorer = SampleScorer.for_writer(self.writer)

    def __call__(self, batch: dict) -> dict:
        ids, paths = [str(i) for i in batch["id"]], [str(p) for p in batch["filepath"]]
        errors: dict[int, str] = {}
        values: dict[int, bytes] = {}
        images, readable = [], []
        for i, path in enumerate(paths):
            try:
                images.append(read_image_source(path))
                readable.append(i)
            except InputError as error:
                errors[i] = str(error)
        outcomes = predict_isolating_failures(self.predictor, images, [ids[i] for i in readable])
        for i, (prediction, error) in zip(readable, outcomes):
            if error is not None:
                errors[i] = error
                continue
            try:
                labels = self.writer.write(prediction, ids[i])
                labels.update(self.scorer.from_prediction(prediction, labels))  # per-sample scores (issue 22)
                values[i] = pickle.dumps(labels)
            except (VBError, OSError) as failure:
                errors[i] = f"cannot write the label files ({failure})"
        return {"id": np.array(ids, dtype=object),
                "error": np.array([errors.get(i, "") for i in range(len(ids))], dtype=object),
                "values": np.array([values.get(i, b"") for i in range(len(ids))], dtype=object)}


def predict_collection_ray(samples, task: str, output_field: str, model=None, *, address: str | None = None,
                           workers: int | None = None, gpus_per_worker: float | None = None,
                           cpus_per_worker: float = 1.0, classes=None, expression=None,
                           task_options: dict | None = None, overwrite: bool = False, batch_size: int = 4,
                           ensemble: int = 1, seed: int = 0, steps: int | None = None, dialect: str | None = None,
                           megapixels: float | None = None, device: str | None = None, output_dir=None,
                           save_visualizations: bool = True, save_confidence: bool = True,
                           depth_max: float | None = None, write_batch: int | None = None,
                           progress: ProgressCallback | None = None, should_stop: Callable[[], bool] | None = None,
                           quiet: bool = True) -> PredictRun:
    """:func:`vb_plugins.fiftyone_tools.runner.predict_collection` on Ray (see the module docstring).
    ``address``, ``workers``, ``gpus_per_worker``, ``cpus_per_worker``: as
    :func:`vb_plugins.distributed.predict`. ``model`` must be a model string (or None)."""
    import ray.data


    began = time.perf_counter()
    if model is not None and not isinstance(model, str):
        raise InputError("model: pass a model string (id, path or backend:model); a generator object cannot be "
                         "sent to Ray workers")
    check_resources(workers, gpus_per_worker, cpus_per_worker, batch_size)
    dataset = samples._dataset
    predictor, writer = plan_run(dataset, task, output_field, model, classes=classes, expression=expression,
                                 task_options=task_options, batch_size=batch_size, ensemble=ensemble, seed=seed,
                                 steps=steps, dialect=dialect, megapixels=megapixels, device=device,
                                 output_dir=output_dir, save_visualizations=save_visualizations,
                                 save_confidence=save_confidence, depth_max=depth_max)
    directory, fields = writer.directory, writer.fields
    signature = run_signature(predictor, model)
    check_existing(dataset, fields, writer.kind, signature, overwrite)
    scorer = SampleScorer.for_writer(writer)  # the workers compute the same scores
    scorer.check(dataset)
    plan = plan_samples(samples, output_field, signature, overwrite, directory)
    ids, filepaths = plan.ids, plan.filepaths
    run = PredictRun(predictor.task.name, output_field, str(directory), target=len(samples),
                     already_done=len(samples) - len(ids), fields=list(fields.all))
    if not ids:
        run.seconds = time.perf_counter() - began
        return run

    workers, gpus_per_worker = prepare_cluster(address, quiet, workers, gpus_per_worker)
    options = predictor_options(predictor, dialect=dialect, steps=steps, megapixels=megapixels, ensemble=ensemble,
                                batch_size=batch_size, seed=seed, device=device)
    current = describe_remotely(predictor.task.name, model, options, cpus_per_worker, gpus_per_worker)["current"]
    directory.mkdir(parents=True, exist_ok=True)
    append_journal(plan.journal, plan.adopt)
    info = dict(dataset.info or {})
    runs = dict(info.get(INFO_KEY, {}))
    runs[output_field] = {"signature": signature, "settings": current["settings"], "output_dir": str(directory),
                          "fields": list(fields.all), "prompts": current["prompts"], "run_id": plan.run_id,
                          "journal": str(plan.journal), "complete": False, "engine": "ray"}
    info[INFO_KEY] = runs
    dataset.info = info
    update_app_config(dataset, writer)  # saves the dataset
    scorer.declare(dataset)
    if plan.superseded and Path(plan.superseded) != plan.journal:
        remove_journal(plan.superseded)

    write_batch = write_batch or max(16, 4 * predictor.batch_size)
    path_of = dict(zip(ids, filepaths))
    pending: dict[str, dict] = {name: {} for name in scorer.fields + list(fields.all)}  # write order
    seen: set[str] = set()
    total = len(ids)

    def flush():
        written = list(pending[fields.main])
        for name in pending:  # scores and side fields first: a set main field means the sample is complete
            if pending[name]:
                dataset.set_values(name, pending[name], key_field="id", validate=False, progress=False)
                pending[name].clear()
        append_journal(plan.journal, written)  # after the write: a listed sample holds this run's labels

    last_report = [0.0]

    def report(force: bool = False):
        now = time.perf_counter()
        if progress and (force or now - last_report[0] >= 0.5):
            last_report[0] = now
            done = run.predicted + len(run.skipped)
            progress(done, total, f"{done}/{total} samples ({run.predicted} labelled, {len(run.skipped)} skipped)")

    finished = False
    settings = cluster.data_settings(quiet)  # datasets keep the settings they were created with
    settings.__enter__()
    stream = None
    try:
        blocks = min(10_000, -(-len(ids) // predictor.batch_size))
        labelled = ray.data.from_items([{"id": i, "filepath": f} for i, f in zip(ids, filepaths)],
                                       override_num_blocks=blocks).map_batches(
            LabelWorker, batch_size=predictor.batch_size, batch_format="numpy",
            compute=ray.data.ActorPoolStrategy(size=min(workers, blocks)), num_cpus=cpus_per_worker,
            num_gpus=gpus_per_worker or None,
            fn_constructor_kwargs={"task": predictor.task.name, "model": model, "options": options,
                                   "writer": {"field": output_field, "directory": str(directory),
                                              "with_uncertainty": ensemble > 1, "depth_max": depth_max,
                                              "save_visualizations": save_visualizations,
                                              "save_confidence": save_confidence}})
        stream = iter(labelled.iter_rows())
        for row in stream:
            sample_id = str(row["id"])
            if sample_id in seen:  # a retried batch reported twice
                continue
            seen.add(sample_id)
            if row["error"]:
                run.skipped.append({"id": sample_id, "filepath": path_of[sample_id], "reason": str(row["error"])})
            else:
                for name, value in pickle.loads(row["values"]).items():
                    pending[name][sample_id] = value
                run.predicted += 1
            if len(pending[fields.main]) >= write_batch:
                flush()
                report(force=True)
            else:
                report()
            if should_stop and should_stop():
                raise CancelledError(f"cancelled after {run.predicted} samples")
        finished = True
    except CancelledError:
        run.cancelled = True
    except VBError:
        raise
    except Exception as error:  # a Ray failure: the error a worker raised, in one line
        raise one_line_error(error) from None
    finally:
        if stream is not None:
            getattr(stream, "close", lambda: None)()  # stops the executor: no more work is sent
        settings.__exit__(None, None, None)
        flush()
        report(force=True)
        if finished and not run.skipped:
            _mark_complete(dataset, output_field, plan.run_id)
        run.seconds = time.perf_counter() - began
    return run


ENGINES = ("local", "ray")
ENGINE_PARAMS = ("ray_address", "workers", "gpus_per_worker")


def parse_engine_params(params: dict) -> tuple[str, dict, dict[str, str]]:
    """The operator's engine params -> (engine, keyword arguments of :func:`predict_collection_ray`,
    {param: error}). ``engine``: ``local`` (default) or ``ray``; ``ray_address`` (empty: ``RAY_ADDRESS`` or
    a Ray started on this machine), ``workers``, ``gpus_per_worker``."""
    errors: dict[str, str] = {}
    engine = params.get("engine") or "local"
    if engine not in ENGINES:
        errors["engine"] = f"engine {engine!r}: expected local or ray"
    options: dict = {}
    address = params.get("ray_address")
    options["address"] = (str(address).strip() or None) if address is not None else None
    for key, kind, low in (("workers", int, 1), ("gpus_per_worker", float, 0)):
        value = params.get(key)
        if value in (None, ""):
            continue
        try:
            if isinstance(value, bool) or kind(value) != float(value) or kind(value) < low:
                raise ValueError
            options[key] = kind(value)
        except (TypeError, ValueError):
            expected = "a whole number" if kind is int else "a number"
            errors[key] = f"{key}={value!r}: expected {expected} of at least {low}"
    if engine == "local" and any(params.get(k) not in (None, "") for k in ENGINE_PARAMS):
        errors.setdefault("engine", "ray_address, workers and gpus_per_worker need engine 'ray'")
    return engine, options, errors


def engine_runner(params: dict, local_runner):
    """The function that runs the operator's prediction: ``local_runner`` or the Ray run with the params'
    engine options bound. Raises :class:`InputError` for bad engine params."""
    engine, options, errors = parse_engine_params(params)
    if errors:
        raise InputError("; ".join(errors.values()))
    if engine == "local":
        return local_runner
    return functools.partial(predict_collection_ray, **options)


def add_engine_inputs(inputs, types, params: dict, errors: dict) -> None:
    """The operator form's engine choice, and the Ray fields when ``ray`` is chosen."""
    engines = types.RadioGroup()
    engines.add_choice("local", label="This process")
    engines.add_choice("ray", label="Ray", description="Spread the work over a Ray cluster's workers")
    inputs.enum("engine", engines.values(), default="local", label="Engine", view=engines,
                description="Where images are predicted; labels are written to the dataset from here either way")
    engine, _, problems = parse_engine_params(params)
    errors.update(problems)
    if engine == "ray":
        inputs.str("ray_address", default="", label="Ray address",
                   description="Empty: RAY_ADDRESS, else a Ray started on this machine; 'auto' or ray://HOST:10001 "
                               "for a cluster. Label files go to the output directory, which every node must see")
        inputs.int("workers", label="Workers", description="Model copies (default: one per GPU, else 1)")
        inputs.float("gpus_per_worker", label="GPUs per worker", description="Default 1 with GPUs, else 0")

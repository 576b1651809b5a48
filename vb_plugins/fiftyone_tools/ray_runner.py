"""FiftyOne predict runs on Ray Data: the ``ray`` engine of the ``predict`` operator.

    >>> from vb_plugins.fiftyone_tools.ray_runner import predict_collection_ray
    >>> run = predict_collection_ray(dataset.view(), "depth", "depth", settings=RunSettings(ensemble=3),
    ...                              ray=RayOptions(address="auto", workers=4))

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
from vb_plugins.distributed.options import RAY_OPTIONS, RayOptions, param_name, refuse_what_workers_cannot_run
from vb_plugins.distributed.run import describe_remotely, one_line_error, prepare_cluster
from vb_plugins.distributed.worker import build_predictor, predict_isolating_failures
from vb_plugins.errors import CancelledError, InputError, VBError
from vb_plugins.fiftyone_tools.journal import append_journal, remove_journal
from vb_plugins.fiftyone_tools.labels import LabelWriter
from vb_plugins.fiftyone_tools.runner import (
    INFO_KEY,
    PredictRun,
    ProgressCallback,
    _mark_complete,
    plan_run,
    start_run,
    update_app_config,
)
from vb_plugins.fiftyone_tools.scores import SampleScorer
from vb_plugins.settings import RunSettings


class LabelWorker:
    """A Ray Data callable class: predicts a batch of samples and writes their label files. It is given the
    run's task spec and :class:`RunSettings` (as :meth:`RunSettings.to_dict`) and the label writer's
    arguments, and builds its own predictor, label writer and scorer from them."""

    def __init__(self, task: str, spec, settings: dict, writer: dict):
        self.predictor = build_predictor(task, spec, settings)
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


def predict_collection_ray(samples, task: str, output_field: str, model=None, *, settings: RunSettings | None = None,
                           ray: RayOptions | None = None, classes=None, expression=None,
                           task_options: dict | None = None, overwrite: bool = False, output_dir=None,
                           save_visualizations: bool = True, save_confidence: bool = True,
                           depth_max: float | None = None, write_batch: int | None = None,
                           progress: ProgressCallback | None = None, should_stop: Callable[[], bool] | None = None,
                           quiet: bool = True, **keywords) -> PredictRun:
    """:func:`vb_plugins.fiftyone_tools.runner.predict_collection` on Ray (see the module docstring), with the
    same arguments and ``ray``, a :class:`vb_plugins.distributed.options.RayOptions` (address, workers,
    GPUs and CPUs per worker). ``keywords``: fields of :class:`RunSettings` or :class:`RayOptions` given one
    by one. ``model`` must be a model string (or None). The run signature is the local engine's, so either
    engine resumes a field the other wrote."""
    began = time.perf_counter()
    if model is not None and not isinstance(model, str):
        raise InputError("model: pass a model string (id, path or backend:model); a generator object cannot be "
                         "sent to Ray workers")
    ray = RayOptions.of(ray, **{k: keywords.pop(k) for k in list(keywords) if k in RAY_OPTIONS})
    dataset = samples._dataset
    predictor, writer = plan_run(dataset, task, output_field, model, settings=settings, classes=classes,
                                 expression=expression, task_options=task_options, output_dir=output_dir,
                                 save_visualizations=save_visualizations, save_confidence=save_confidence,
                                 depth_max=depth_max, **keywords)
    refuse_what_workers_cannot_run(predictor)
    settings = predictor.settings
    directory, fields = writer.directory, writer.fields
    # the same start as the local engine; the workers compute the same scores
    signature, scorer, plan, run = start_run(samples, output_field, predictor, writer, overwrite)
    ids, filepaths = plan.ids, plan.filepaths
    if not ids:
        run.seconds = time.perf_counter() - began
        return run

    ray = prepare_cluster(ray, quiet)
    current = describe_remotely(predictor.task.name, predictor.spec, settings, ray)["current"]
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

    write_batch = write_batch or max(16, 4 * settings.batch_size)
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
    import ray.data as ray_data

    data_context = cluster.data_settings(quiet)  # datasets keep the settings they were created with
    data_context.__enter__()
    stream = None
    try:
        blocks = min(10_000, -(-len(ids) // settings.batch_size))
        labelled = ray_data.from_items([{"id": i, "filepath": f} for i, f in zip(ids, filepaths)],
                                       override_num_blocks=blocks).map_batches(
            LabelWorker, batch_size=settings.batch_size, batch_format="numpy",
            compute=ray_data.ActorPoolStrategy(size=min(ray.workers, blocks)), num_cpus=ray.cpus_per_worker,
            num_gpus=ray.gpus_per_worker or None,
            fn_constructor_kwargs={"task": predictor.task.name, "spec": predictor.spec, "settings": settings.to_dict(),
                                   "writer": {"field": output_field, "directory": str(directory),
                                              "with_uncertainty": writer.with_uncertainty, "depth_max": depth_max,
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
        data_context.__exit__(None, None, None)
        flush()
        report(force=True)
        if finished and not run.skipped:
            _mark_complete(dataset, output_field, plan.run_id)
        run.seconds = time.perf_counter() - began
    return run


ENGINES = ("local", "ray")
ENGINE_PARAMS = tuple(param_name(name) for name in RAY_OPTIONS)  # ray_address, workers, gpus/cpus_per_worker


def parse_engine_params(params: dict) -> tuple[str, RayOptions | None, dict[str, str]]:
    """The operator's engine params -> (engine, the :class:`RayOptions` of the Ray fields, {param: error}).
    ``engine``: ``local`` (default) or ``ray``; the Ray fields (``ray_address``, ``workers``,
    ``gpus_per_worker``, ``cpus_per_worker``) are declared by :class:`RayOptions`."""
    errors: dict[str, str] = {}
    engine = params.get("engine") or "local"
    if engine not in ENGINES:
        errors["engine"] = f"engine {engine!r}: expected local or ray"
    ray = RayOptions.parse(params, errors)
    if engine == "local" and any(params.get(k) not in (None, "") for k in ENGINE_PARAMS):
        errors.setdefault("engine", f"{', '.join(ENGINE_PARAMS)} need engine 'ray'")
    return engine, ray, errors


def engine_runner(params: dict, local_runner):
    """The function that runs the operator's prediction: ``local_runner`` or the Ray run with the params'
    :class:`RayOptions` bound. Raises :class:`InputError` for bad engine params."""
    engine, ray, errors = parse_engine_params(params)
    if errors:
        raise InputError("; ".join(errors.values()))
    if engine == "local":
        return local_runner
    return functools.partial(predict_collection_ray, ray=ray)


def add_engine_inputs(inputs, types, params: dict, errors: dict) -> None:
    """The operator form's engine choice, and the Ray fields (from :class:`RayOptions`) when ``ray`` is
    chosen."""
    engines = types.RadioGroup()
    engines.add_choice("local", label="This process")
    engines.add_choice("ray", label="Ray", description="Spread the work over a Ray cluster's workers")
    inputs.enum("engine", engines.values(), default="local", label="Engine", view=engines,
                description="Where images are predicted; labels are written to the dataset from here either way")
    engine, _, problems = parse_engine_params(params)
    errors.update(problems)
    if engine != "ray":
        return
    for name, declared in RAY_OPTIONS.items():
        meta = declared.metadata
        common = {"label": meta["label"], "description": meta["help"]}
        if name == "address":
            inputs.str(param_name(name), default="", label=meta["label"],
                       description=meta["help"] + ". Label files go to the output directory, which every node "
                                                  "must see")
        elif declared.type.startswith("int"):
            inputs.int(name, default=declared.default, min=meta["low"], **common)
        else:
            inputs.float(name, default=declared.default, min=meta["low"], **common)

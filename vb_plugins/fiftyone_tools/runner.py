"""Run a task over a FiftyOne collection and store the results as native labels.

This is what the plugin's ``predict`` operator calls, and what code users call directly:

    >>> from vb_plugins.fiftyone_tools import predict_collection
    >>> run = predict_collection(dataset.take(100), "semantic", "seg", classes="road, car, sky")
    >>> run.predicted, run.skipped

- **Batched through the engine**: one :class:`vb_plugins.predict.Predictor` serves the whole run, so each
  prompt is encoded once; images go to the generator ``batch_size`` at a time.
- **Writes in batches**: labels are written with ``set_values`` once per ``write_batch`` samples, side
  fields first and the main field last, so a sample whose main field is set is complete.
- **Resumable**: the run's settings are recorded in ``dataset.info["vb_plugins"][field]`` with a run id
  and a journal of the samples it wrote (:mod:`vb_plugins.fiftyone_tools.journal`); a re-run with the
  same settings does only what is left: samples without the field, and samples whose value is not
  from that run (what an interrupted ``overwrite`` left from the previous run). An ``overwrite`` run
  starts a new run over every sample, unless it resumes an interrupted ``overwrite`` with the same
  settings. An existing field written differently (or not by vb-plugins) is never touched without
  ``overwrite``; ``complete`` in the record says whether the last run finished with every sample
  labelled (a re-run retries skipped samples).
- **Bad samples** (missing or unreadable files) are skipped and reported, not fatal.
- **Cancellable**: ``should_stop()`` is polled between batches; finished work is kept.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import NamedTuple

from vb_plugins.errors import CancelledError, InputError
from vb_plugins.fiftyone_tools.guidance import GuidedLabelWriter
from vb_plugins.fiftyone_tools.journal import append_journal, journal_path, new_run_id, read_journal, remove_journal
from vb_plugins.fiftyone_tools.labels import LabelWriter, storage_for
from vb_plugins.fiftyone_tools.scores import SampleScorer
from vb_plugins.io import read_rgb
from vb_plugins.predict import Predictor
from vb_plugins.profiles import DEFAULT_PROFILE
from vb_plugins.reasoning.guided import GuidedPredictor, guided
from vb_plugins.settings import SETTINGS, RunSettings

INFO_KEY = "vb_plugins"
FIELD_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
RESERVED = {"id", "filepath", "tags", "metadata", "media_type", "group", "created_at", "last_modified_at"}

ProgressCallback = Callable[[int, int, str], None]  # (samples done, samples to do, message)


@dataclass
class PredictRun:
    """What a run did. ``skipped`` lists ``{"id", "filepath", "reason"}`` for samples that could not be
    read, ``failed`` the same for samples whose vision-language model question failed (rewriter, gate);
    ``already_done`` counts samples skipped because their field was already set."""

    task: str
    field: str
    output_dir: str
    target: int = 0
    already_done: int = 0
    predicted: int = 0
    skipped: list[dict] = field(default_factory=list)
    cancelled: bool = False
    seconds: float = 0.0
    seconds_generating: float = 0.0
    prompt_encodings: int = 0
    fields: list[str] = field(default_factory=list)
    failed: list[dict] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)

    def message(self) -> str:
        parts = [f"{self.predicted} sample(s) labelled in {self.field!r}"]
        if self.already_done:
            parts.append(f"{self.already_done} already done")
        if self.skipped:
            parts.append(f"{len(self.skipped)} skipped (unreadable: {self.skipped[0]['reason']}"
                         + (", ..." if len(self.skipped) > 1 else "") + ")")
        if self.failed:
            parts.append(f"{len(self.failed)} failed ({self.failed[0]['reason']}" + (", ..." if len(self.failed) > 1
                                                                                  else "") + ")")
        if self.cancelled:
            parts.append("cancelled")
        return "; ".join(parts)


def default_output_dir(dataset, field: str) -> Path:
    """``<fiftyone default_dataset_dir>/vb-plugins/<dataset name>/<field>``."""
    import fiftyone as fo

    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", dataset.name).strip("-") or "dataset"
    return Path(fo.config.default_dataset_dir).expanduser() / "vb-plugins" / slug / field


def check_field_name(name: str) -> str:
    if not isinstance(name, str) or not FIELD_NAME.match(name or ""):
        raise InputError(f"output field {name!r}: use letters, digits and underscores, starting with a letter")
    if name in RESERVED:
        raise InputError(f"output field {name!r}: reserved by FiftyOne")
    return name


def run_signature(predictor, model=None) -> dict:
    """What decides a run's results (:meth:`RunSettings.signature`); a field is resumed only by a run with
    the same signature. ``model`` is accepted for older callers; the predictor knows its model."""
    signature = {"task": predictor.task.name, "spec": predictor.spec.to_dict(), **predictor.settings.signature(),
                 "model": predictor.model_name or ""}
    if getattr(predictor, "custom_prompt", None) is not None:  # absent otherwise: older signatures still match
        signature["prompt"] = predictor.custom_prompt
    # The profile the run used, chosen or detected (the default one is left out, as before profiles existed).
    signature.pop("profile", None)
    profile = predictor.profile
    if profile.name != DEFAULT_PROFILE or profile.source:
        signature["profile"] = profile.source or profile.name
    return signature


def _existing_record(dataset, name: str) -> dict | None:
    return (dataset.info or {}).get(INFO_KEY, {}).get(name)


def field_conflict(dataset, fields, kind, signature: dict, overwrite: bool) -> str | None:
    """Why this run may not write its fields (None if it may): an existing field not written by
    vb-plugins, or written with other settings, is protected unless ``overwrite``; a field holding
    another type of value is never reused."""
    schema = dataset.get_field_schema()
    present = sorted((name for name in fields.all if name in schema), key=lambda n: n != fields.main)
    if not present:
        return None
    record = _existing_record(dataset, fields.main)
    ours = record is not None and record.get("signature") == signature
    if not overwrite and not ours:
        if record is None:
            why = "was not written by vb-plugins"
        else:
            recorded = record.get("signature", {})
            changed = sorted(k for k in set(signature) | set(recorded) if recorded.get(k) != signature.get(k))
            why = f"was written with other settings ({', '.join(changed)})"
        return (f"field {present[0]!r} already exists and {why}; choose another output field or set "
                "overwrite to replace its values")
    expected = _expected_types(fields, kind)
    for name in present:
        want, have = expected.get(name), schema[name]
        if want is None:
            continue
        document_type = getattr(have, "document_type", None)
        found = document_type.__name__ if document_type is not None else type(have).__name__
        if found != ("StringField" if want == "str" else want):
            return (f"field {name!r} holds {found} values, not {want}; choose another output field or "
                    "delete it first")
    return None


def existing_state(dataset, fields, signature: dict) -> str | None:
    """"resume" when the field exists from a run with the same settings, else None."""
    record = _existing_record(dataset, fields.main)
    if fields.main in dataset.get_field_schema() and record is not None and record.get("signature") == signature:
        return "resume"
    return None


@dataclass
class RunPlan:
    """Which samples a run does and under which run id (see :func:`plan_samples`)."""

    run_id: str
    journal: Path
    ids: list[str]
    filepaths: list[str]
    adopt: list[str] = field(default_factory=list)  # ids a legacy run wrote, journaled as this run's
    superseded: str | None = None  # the journal of the run this one replaces


def plan_samples(samples, output_field: str, signature: dict, overwrite: bool, directory: Path) -> RunPlan:
    """The samples of ``samples`` to predict: all of them for a new ``overwrite`` run; else those without
    the field and those the recorded run with these settings did not write (its journal)."""
    dataset = samples._dataset
    present = output_field in dataset.get_field_schema()
    record = _existing_record(dataset, output_field) if present else None
    same = record is not None and record.get("signature") == signature
    resumable = same and bool(record.get("run_id")) and bool(record.get("journal"))
    ids, filepaths = samples.values(["id", "filepath"]) if len(samples) else ([], [])
    old_journal = (_existing_record(dataset, output_field) or {}).get("journal")
    if resumable and (not overwrite or not record.get("complete", True)):
        # the recorded run goes on: redo what it did not write
        done = read_journal(record["journal"]) & set(samples.exists(output_field).values("id"))
        todo = [(i, f) for i, f in zip(ids, filepaths) if i not in done]
        return RunPlan(record["run_id"], Path(record["journal"]), [i for i, _ in todo], [f for _, f in todo])
    run_id = new_run_id()
    plan = RunPlan(run_id, journal_path(directory, run_id), list(ids), list(filepaths), superseded=old_journal)
    if not overwrite and present:
        # same settings, written before runs had journals: what is there counts as this run's
        plan.adopt = list(dataset.exists(output_field).values("id"))
        done = set(plan.adopt)
        todo = [(i, f) for i, f in zip(ids, filepaths) if i not in done]
        plan.ids, plan.filepaths = [i for i, _ in todo], [f for _, f in todo]
    return plan


class RunStart(NamedTuple):
    """What both engines (local, Ray) start a run from (see :func:`start_run`)."""

    signature: dict
    scorer: SampleScorer
    plan: RunPlan
    run: PredictRun


def start_run(samples, output_field: str, predictor, writer, overwrite: bool) -> RunStart:
    """Refuse a protected existing field, check the score fields, and plan which samples the run does."""
    dataset = samples._dataset
    signature = run_signature(predictor)
    check_existing(dataset, writer.fields, writer.kind, signature, overwrite)
    scorer = SampleScorer.for_writer(writer)  # per-sample scores (issue 22), written with the labels
    scorer.check(dataset)
    plan = plan_samples(samples, output_field, signature, overwrite, writer.directory)
    run = PredictRun(predictor.task.name, output_field, str(writer.directory), target=len(samples),
                     already_done=len(samples) - len(plan.ids), fields=list(writer.fields.all))
    return RunStart(signature, scorer, plan, run)


def check_existing(dataset, fields, kind, signature: dict, overwrite: bool) -> None:
    conflict = field_conflict(dataset, fields, kind, signature, overwrite)
    if conflict:
        raise InputError(conflict)


def _expected_types(fields, kind) -> dict[str, str]:
    types = {fields.main: storage_for(kind).field_type, **dict(fields.types)}
    for name in fields.all:
        if name.endswith(("_confidence", "_uncertainty", "_expected_error")):
            types[name] = "Heatmap"
        elif name.endswith(("_generated", "_values_path")):
            types[name] = "str"
    return types


def update_app_config(dataset, writer) -> None:
    """Mask targets for the field, media fields for path-valued outputs, and App colours (prompted
    class colours for segmentation, viridis for depth) unless the dataset already set some."""
    import fiftyone as fo

    fields = writer.fields
    targets = writer.mask_targets()
    further = writer.side_mask_targets()
    if targets is not None or further:
        mask_targets = dict(dataset.mask_targets or {})
        if targets is not None:
            mask_targets[fields.main] = targets
        mask_targets.update(further)
        dataset.mask_targets = mask_targets
    _describe_fields(dataset, writer, dict(fields.types))
    config = dataset.app_config
    for name in fields.media:
        if name not in config.media_fields:
            config.media_fields.append(name)
    scheme = config.color_scheme or fo.ColorScheme()
    colorscales = list(scheme.colorscales or [])
    entries = list(scheme.fields or [])
    known = {entry.get("path") for entry in colorscales} | {entry.get("path") for entry in entries}
    if writer.kind.name == "depth" and fields.main not in known:
        colorscales.append({"path": fields.main, "name": "viridis"})
    for name in fields.side:
        if name.endswith(("_confidence", "_uncertainty", "_expected_error")) and name not in known:
            colorscales.append({"path": name, "name": "magma"})
    colours = writer.mask_colours()
    if colours and fields.main not in known:
        entries.append({"path": fields.main, "maskTargetsColors": colours})
    scheme.colorscales = colorscales or None
    scheme.fields = entries or None
    config.color_scheme = scheme
    dataset.save()


def _describe_fields(dataset, writer, types: dict[str, str]) -> None:
    """Give the fields whose values need words (relative depth is not metres) their description: declared
    before any value is written, or set on a field that exists."""
    import fiftyone as fo

    types = {writer.fields.main: writer.storage.field_type, **types}
    schema = dataset.get_field_schema()
    for name, text in writer.field_descriptions().items():
        if name in schema:
            field = dataset.get_field(name)
            if field.description != text:
                field.description = text
                field.save()
        else:
            dataset.add_sample_field(name, fo.EmbeddedDocumentField, embedded_doc_type=getattr(fo, types[name]),
                                     description=text)


def _mark_complete(dataset, output_field: str, run_id: str) -> None:
    info = dict(dataset.info or {})
    runs = dict(info.get(INFO_KEY, {}))
    record = runs.get(output_field)
    if record and record.get("run_id") == run_id:
        runs[output_field] = {**record, "complete": True}
        info[INFO_KEY] = runs
        dataset.info = info
        dataset.save()


def _read_image(filepath: str):
    """A sample's image; anything that cannot be read safely (a decompression bomb included: see
    :func:`vb_plugins.io.read_rgb`) is an :class:`InputError`, so the sample is skipped and listed."""
    return read_rgb(filepath, exif_transpose=True)


def plan_run(dataset, task: str, output_field: str, model=None, *, settings: RunSettings | None = None,
             classes=None, expression=None, task_options: dict | None = None, output_dir=None,
             save_visualizations: bool = True, save_confidence: bool = True, depth_max: float | None = None,
             predictor=None, prompt: str | None = None, save_expected_error: bool = False, **setting_keywords):
    """The predictor (generator not loaded yet) and label writer of a run; validates every option.
    ``settings`` (a :class:`RunSettings`) or its fields as keywords (``batch_size=2``) set the run; with a
    ``rewriter`` or ``gate`` among them, a vision-language model runs first (:mod:`vb_plugins.reasoning`).
    ``prompt``: a custom prompt, painted as given; the legend is read from it (see :class:`Predictor`)."""
    check_field_name(output_field)
    unknown = sorted(set(setting_keywords) - set(SETTINGS))
    if unknown:
        raise TypeError(f"plan_run() got unexpected keyword argument(s) {', '.join(unknown)}")
    if predictor is None:
        options = dict(task_options or {})
        if classes not in (None, "", [], {}):
            options["classes"] = classes
        if expression not in (None, ""):
            options["expression"] = expression
        predictor = guided(Predictor(task, model, settings=settings, prompt=prompt, **setting_keywords, **options))
    directory = Path(output_dir).expanduser() if output_dir else default_output_dir(dataset, output_field)
    options = dict(with_uncertainty=predictor.ensemble > 1, save_visualizations=save_visualizations,
                   save_confidence=save_confidence, depth_max=depth_max,
                   save_expected_error=save_expected_error)
    if isinstance(predictor, GuidedPredictor) and (predictor.rewriter_model, predictor.gate_model) != (None, None):
        writer = GuidedLabelWriter(predictor.task, predictor.spec, output_field, directory, **options,
                                   guidance="rewrite" if predictor.rewriter_model is not None else "gate")
    else:
        writer = LabelWriter(predictor.task, predictor.spec, output_field, directory, **options)
    return predictor, writer


def predict_collection(samples, task: str, output_field: str, model=None, *, settings: RunSettings | None = None,
                       classes=None, expression=None, task_options: dict | None = None, overwrite: bool = False,
                       output_dir=None, save_visualizations: bool = True, save_confidence: bool = True,
                       depth_max: float | None = None, write_batch: int | None = None,
                       progress: ProgressCallback | None = None, should_stop: Callable[[], bool] | None = None,
                       predictor=None, prompt: str | None = None, save_expected_error: bool = False,
                       **setting_keywords) -> PredictRun:
    """Predict ``task`` on every sample of ``samples`` (a Dataset or DatasetView) into ``output_field``.

    ``model``: model string (``None``/"" = bundled model, a pipeline directory, a Hub id, ``backend:model``)
    or a :class:`vb_plugins.generation.Generator`. ``settings``: a :class:`vb_plugins.settings.RunSettings`
    (model, LoRA, dtype, steps, guidance, ensemble, batch size, seed, ...), or its fields as keywords
    (``batch_size=2, ensemble=3``). ``classes`` / ``expression`` / ``task_options`` build the task spec;
    ``prompt``, a custom prompt, is painted as given and the legend is read from it instead.
    ``output_dir``: where files go (default :func:`default_output_dir`). ``save_expected_error``: also store
    ``F_expected_error`` (depth and normals; off by default). ``write_batch``: samples per
    database write (default ``max(16, 4 * batch_size)``). ``progress(done, total, message)`` is called after
    each write; ``should_stop()`` stops the run after the current batch (the result has ``cancelled=True``).
    ``rewriter`` (referring: ``expression`` is the reasoning query it rewrites per image) or ``gate`` (semantic,
    instance: classes checked first; ``gate_threshold``), settings like the others: a vision-language model
    (``gemini:MODEL``, a folder), see :mod:`vb_plugins.reasoning`; its answers land in ``<field>_rewrite`` /
    ``<field>_gate`` (:mod:`vb_plugins.fiftyone_tools.guidance`); a sample whose question failed is listed in
    ``failed`` and the run goes on. Raises :class:`InputError` for bad options or a protected existing field.
    """
    began = time.perf_counter()
    dataset = samples._dataset
    predictor, writer = plan_run(dataset, task, output_field, model, settings=settings, classes=classes,
                                 expression=expression, task_options=task_options, output_dir=output_dir,
                                 save_visualizations=save_visualizations, save_confidence=save_confidence,
                                 depth_max=depth_max, predictor=predictor, prompt=prompt,
                                 save_expected_error=save_expected_error, **setting_keywords)
    directory, fields = writer.directory, writer.fields
    signature, scorer, plan, run = start_run(samples, output_field, predictor, writer, overwrite)
    ids, filepaths = plan.ids, plan.filepaths
    if not ids:
        run.seconds = time.perf_counter() - began
        return run

    _ = predictor.generator  # load (and fail on a bad model) before anything is written
    if isinstance(predictor, GuidedPredictor):
        predictor.load()  # and the vision-language model
    directory.mkdir(parents=True, exist_ok=True)
    append_journal(plan.journal, plan.adopt)
    info = dict(dataset.info or {})
    runs = dict(info.get(INFO_KEY, {}))
    runs[output_field] = {"signature": signature, "settings": predictor.describe(), "output_dir": str(directory),
                          "fields": list(fields.all), "prompts": predictor.prompts, "run_id": plan.run_id,
                          "journal": str(plan.journal), "complete": False}
    info[INFO_KEY] = runs
    dataset.info = info
    update_app_config(dataset, writer)  # saves the dataset
    scorer.declare(dataset)
    if plan.superseded and Path(plan.superseded) != plan.journal:
        remove_journal(plan.superseded)

    write_batch = write_batch or max(16, 4 * predictor.batch_size)
    pending: dict[str, dict] = {name: {} for name in scorer.fields + list(fields.all)}  # write order
    total = len(ids)

    def flush():
        written = list(pending[fields.main])
        for name in pending:  # scores and side fields first: a set main field means the sample is complete
            values = pending[name]
            if values:
                dataset.set_values(name, values, key_field="id", validate=False, progress=False)
                values.clear()
        append_journal(plan.journal, written)  # after the write: a listed sample holds this run's labels

    last_report = [0.0]
    finished = False

    def report(force: bool = False):
        now = time.perf_counter()
        if progress and (force or now - last_report[0] >= 0.5):
            last_report[0] = now
            done = run.predicted + len(run.skipped)
            progress(done, total, f"{done}/{total} samples ({run.predicted} labelled, {len(run.skipped)} skipped)")

    try:
        for start in range(0, total, write_batch):
            if should_stop and should_stop():
                raise CancelledError(f"cancelled after {run.predicted} samples")
            chunk_ids, images = [], []
            for sample_id, filepath in zip(ids[start:start + write_batch], filepaths[start:start + write_batch]):
                try:
                    images.append(_read_image(filepath))
                    chunk_ids.append(sample_id)
                except InputError as error:
                    run.skipped.append({"id": sample_id, "filepath": filepath, "reason": str(error)})
            failing = {"on_error": _failure_recorder(run, dict(zip(ids, filepaths)))} \
                if isinstance(predictor, GuidedPredictor) else {}
            for prediction in predictor.predict_iter(images, keys=chunk_ids, should_stop=should_stop, **failing):
                values = writer.write(prediction, prediction.key)
                values.update(scorer.from_prediction(prediction, values))
                for name, value in values.items():
                    pending[name][prediction.key] = value
                run.predicted += 1
                report()
            flush()
            report(force=True)
        finished = True
    except CancelledError:
        run.cancelled = True
    finally:
        flush()
        if finished and not run.skipped and not run.failed:  # every sample of the run holds its labels
            _mark_complete(dataset, output_field, plan.run_id)
        engine = predictor.engine
        if engine is not None:
            run.seconds_generating = engine.seconds_generating
            run.prompt_encodings = engine.prompt_encodings
        run.seconds = time.perf_counter() - began
    return run


def _failure_recorder(run: PredictRun, filepaths: dict):
    """``on_error`` for a guided run: the sample's question failed; it is listed and the run goes on."""

    def record(sample_id, error) -> None:
        run.failed.append({"id": sample_id, "filepath": filepaths.get(sample_id), "reason": str(error)})

    return record

"""Per-sample scores of a prediction field: numbers a reviewer sorts and filters the App's grid by.

Every prediction run writes them next to its labels (same batched ``set_values``, before the main
field), and :func:`backfill_scores` recomputes them from the files of an existing run without
generating again. For an output field ``F``:

=======================  ==========  ============================================================
field                    type        value
=======================  ==========  ============================================================
``F_confidence_mean``    float       mean per-pixel decoding confidence (the calibrated reliability)
                                     over the image, 0..1 (the mean of the ``F_confidence`` map as stored)
``F_uncertainty_mean``   float       ensembles only: mean per-pixel spread of the samples, in the
                                     label's units (metres for depth, degrees for normals, the
                                     disagreeing fraction of samples for labels, masks, instances)
``F_unlabeled_share``    float       semantic: share of pixels no class was decoded for (value 0)
``F_class_shares.KEY``   float       semantic: share of pixels of each class; ``KEY`` is the class
                                     name in lower case with other characters as ``_`` (the field's
                                     ``info`` names the class and its mask value)
``F_mask_share``         float       referring: share of pixels inside the mask
``F_instance_count``     int         instance: number of instances (detections) in ``F``
=======================  ==========  ============================================================

Each is declared with its type and a description, so the App's sidebar sorts and filters by it.
Means are exact: they are taken over the maps *as stored* (16-bit PNG units, summed as integers, then
divided once), so a backfill from the files reproduces what the run wrote, bit for bit.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from vb_plugins.errors import InputError

CONFIDENCE_MEAN = "_confidence_mean"
UNCERTAINTY_MEAN = "_uncertainty_mean"
UNLABELED_SHARE = "_unlabeled_share"
CLASS_SHARES = "_class_shares"
MASK_SHARE = "_mask_share"
INSTANCE_COUNT = "_instance_count"
CONFIDENCE_SCALE = 1000.0  # PNG units per unit of F_confidence (labels.UNIT_SCALE)


def per_pixel_confidence(prediction) -> np.ndarray:
    """The per-pixel map ``F_confidence_mean`` averages: the calibrated reliability (``confidence`` is its
    older name, and the ``F_confidence`` map holds it)."""
    return getattr(prediction, "reliability", prediction.confidence)


def class_keys(names) -> list[str]:
    """Field-safe keys for class names (mask values 1..K): lower case, other characters as ``_``;
    a key that is empty, starts with a digit or repeats another gets the mask value."""
    keys: list[str] = []
    for value, name in enumerate(names, start=1):
        key = re.sub(r"[^0-9a-z]+", "_", str(name).lower()).strip("_")
        if not key or key[0].isdigit() or key in keys:
            key = f"class_{value}" if not key else f"{key}_{value}" if key in keys else f"c_{key}"
        keys.append(key)
    return keys


def map_mean(png: np.ndarray, scale: float) -> float:
    """Mean of a stored 16-bit map in its units: integer sum / (pixels * scale), so the same PNG gives
    the same float wherever it is computed."""
    png = np.asarray(png)
    return int(png.sum(dtype=np.uint64)) / (png.size * float(scale)) if png.size else 0.0


def _quantized(values, scale: float) -> np.ndarray:
    from vb_plugins.fiftyone_tools.labels import quantize

    return quantize(values, scale)


@dataclass
class SampleScorer:
    """The score fields of one label field and how to compute them.

    ``kind``: how the field stores values (``depth``, ``normals``, ``labels``, ``mask``, ``instances``,
    ``image``); ``class_names``: semantic classes for mask values 1..K; ``uncertainty``: whether the
    run writes ``F_uncertainty`` (ensembles); ``units``: the uncertainty's units.
    """

    field: str
    kind: str
    class_names: tuple[str, ...] = ()
    uncertainty: bool = False
    units: str = "fraction"

    @classmethod
    def for_writer(cls, writer) -> SampleScorer:
        """The scores of a run's :class:`~vb_plugins.fiftyone_tools.labels.LabelWriter`."""
        kind = writer.kind.stored_as  # scored as the adapters store it (a plugin kind stored as labels too)
        names = tuple(writer.spec.class_names) if kind == "labels" else ()
        units = {"depth": "m", "normals": "deg"}.get(kind, "fraction")
        return cls(writer.field, kind, names, writer.with_uncertainty, units)

    # -- fields ---------------------------------------------------------------------------------------
    @property
    def fields(self) -> list[str]:
        """Top-level score fields, in write order."""
        f = self.field
        names = [f + CONFIDENCE_MEAN]
        if self.uncertainty:
            names.append(f + UNCERTAINTY_MEAN)
        if self.kind == "labels":
            names += [f + UNLABELED_SHARE, f + CLASS_SHARES]
        elif self.kind == "mask":
            names.append(f + MASK_SHARE)
        elif self.kind == "instances":
            names.append(f + INSTANCE_COUNT)
        return names

    def _declarations(self) -> list[tuple[str, type, str, dict]]:
        """(path, field type, description, info) of every score field and subfield."""
        import fiftyone as fo

        f = self.field
        spread = {"m": "metres", "deg": "degrees"}.get(self.units, "fraction of ensemble samples that disagree")
        out = [(f + CONFIDENCE_MEAN, fo.FloatField,
                f"vb-plugins: mean per-pixel decoding confidence of {f} over the image (0..1; the mean of "
                f"{f}_confidence)", {})]
        if self.uncertainty:
            out.append((f + UNCERTAINTY_MEAN, fo.FloatField,
                        f"vb-plugins: mean ensemble spread of {f} over the image, in {spread}", {}))
        if self.kind == "labels":
            out.append((f + UNLABELED_SHARE, fo.FloatField,
                        f"vb-plugins: share of pixels of {f} with no class (mask value 0)", {}))
            out.append((f + CLASS_SHARES, fo.EmbeddedDocumentField,
                        f"vb-plugins: share of pixels of {f} per class", {}))
            for value, (name, key) in enumerate(zip(self.class_names, class_keys(self.class_names)), start=1):
                out.append((f"{f}{CLASS_SHARES}.{key}", fo.FloatField,
                            f"vb-plugins: share of pixels of {f} labelled {name!r} (mask value {value})",
                            {"class": name, "mask_value": value}))
        elif self.kind == "mask":
            out.append((f + MASK_SHARE, fo.FloatField, f"vb-plugins: share of pixels inside the {f} mask", {}))
        elif self.kind == "instances":
            out.append((f + INSTANCE_COUNT, fo.IntField, f"vb-plugins: number of instances in {f}", {}))
        return out

    def check(self, dataset) -> None:
        """An existing field of a score's name that holds another type is an :class:`InputError`
        (nothing is written); same-typed fields are this field's scores from an earlier run."""
        schema = dataset.get_field_schema(flat=True)
        for path, ftype, _, _ in self._declarations():
            have = schema.get(path)
            if have is not None and type(have) is not ftype:
                raise InputError(f"field {path!r} holds {type(have).__name__} values, not the "
                                 f"{ftype.__name__} score vb-plugins writes there; rename or delete it first")

    def declare(self, dataset) -> None:
        """Add the score fields (typed, described) that the dataset lacks, so the App can sort and
        filter by them before any value is written."""
        import fiftyone as fo

        self.check(dataset)
        schema = dataset.get_field_schema(flat=True)
        for path, ftype, description, info in self._declarations():
            if path in schema:
                continue
            extra = {"embedded_doc_type": fo.DynamicEmbeddedDocument} if ftype is fo.EmbeddedDocumentField else {}
            dataset.add_sample_field(path, ftype, description=description, info=info or None, **extra)

    # -- values -----------------------------------------------------------------------------------------
    def from_prediction(self, prediction, values: dict) -> dict:
        """Scores of a fresh prediction; ``values``: what the label writer returned for the sample
        (its heatmaps give the stored scales, its main label the instances)."""
        f = self.field
        confidence = values.get(f"{f}_confidence")
        scale = getattr(confidence, "scale", None) or CONFIDENCE_SCALE
        scores = {f + CONFIDENCE_MEAN: map_mean(_quantized(per_pixel_confidence(prediction), scale), scale)}
        spread = values.get(f"{f}_uncertainty")
        if self.uncertainty and spread is not None:
            scores[f + UNCERTAINTY_MEAN] = map_mean(_quantized(prediction.uncertainty, spread.scale), spread.scale)
        scores.update(self._label_scores(prediction.values, values.get(f)))
        return scores

    def from_stored(self, label, confidence=None, uncertainty=None) -> tuple[dict, list[str]]:
        """Scores recomputed from a sample's stored label and heatmaps; also the names of the scores
        that could not be (their map is missing)."""
        from vb_plugins.fiftyone_tools.labels import read_label_values

        f = self.field
        scores, missing = {}, []
        if confidence is not None:
            scores[f + CONFIDENCE_MEAN] = map_mean(_stored_map(confidence), confidence.scale or CONFIDENCE_SCALE)
        else:
            missing.append(f + CONFIDENCE_MEAN)
        if self.uncertainty:
            if uncertainty is not None:
                scores[f + UNCERTAINTY_MEAN] = map_mean(_stored_map(uncertainty), uncertainty.scale)
            else:
                missing.append(f + UNCERTAINTY_MEAN)
        array = read_label_values(label, self.kind) if self.kind in ("labels", "mask") else None
        scores.update(self._label_scores(array, label))
        return scores, missing

    def _label_scores(self, array, label) -> dict:
        import fiftyone as fo

        f = self.field
        if self.kind == "labels":
            labels = np.asarray(array).astype(np.int64)
            counts = np.bincount(labels.ravel(), minlength=len(self.class_names) + 1)
            total = labels.size or 1
            shares = {key: int(counts[value]) / total
                      for value, key in enumerate(class_keys(self.class_names), start=1)}
            return {f + UNLABELED_SHARE: int(counts[0]) / total, f + CLASS_SHARES: fo.DynamicEmbeddedDocument(**shares)}
        if self.kind == "mask":
            mask = np.asarray(array)
            return {f + MASK_SHARE: int(np.count_nonzero(mask)) / (mask.size or 1)}
        if self.kind == "instances":
            return {f + INSTANCE_COUNT: len(label.detections) if label is not None else 0}
        return {}


def _stored_map(heatmap) -> np.ndarray:
    """A heatmap's stored 16-bit map (file or inline), as written by the label writer."""
    from vb_plugins.io import read_image

    path = getattr(heatmap, "map_path", None)
    if path:
        return read_image(path)
    if heatmap.map is None:
        raise InputError(f"heatmap {heatmap.id}: has neither a map nor a map_path")
    return np.asarray(heatmap.map)


def scorer_for_field(dataset, field: str) -> SampleScorer:
    """The scorer of an existing label field: from its vb-plugins run record, else from its type."""
    from vb_plugins.fiftyone_tools.runner import INFO_KEY
    from vb_plugins.registry import get_task

    schema = dataset.get_field_schema()
    if field not in schema:
        raise InputError(f"field {field!r}: no such field on dataset {dataset.name!r}")
    record = (dataset.info or {}).get(INFO_KEY, {}).get(field)
    if record:
        kind = get_task(record["signature"]["task"]).kind.stored_as
    else:
        document = getattr(schema[field], "document_type", None)
        kind = {"Segmentation": "labels", "Detections": "instances", "Heatmap": "depth"}.get(
            getattr(document, "__name__", ""), "image")
    names: tuple[str, ...] = ()
    if kind == "labels":
        targets = (dataset.mask_targets or {}).get(field) or dataset.default_mask_targets or {}
        values = sorted(int(k) for k in targets if int(k) > 0)
        if values != list(range(1, len(values) + 1)):
            raise InputError(f"field {field!r}: mask targets must name classes 1..K to score class shares, "
                             f"got {values}")
        names = tuple(str(targets.get(v, targets.get(str(v)))) for v in values)
    uncertainty = f"{field}_uncertainty" in schema
    units = {"depth": "m", "normals": "deg"}.get(kind, "fraction")
    return SampleScorer(field, kind, names, uncertainty, units)


@dataclass
class Backfill:
    """What :func:`backfill_scores` did: samples scored, and samples (ids) left without some score."""

    field: str
    scored: int = 0
    fields: tuple[str, ...] = ()
    incomplete: dict | None = None  # score field -> number of samples whose map was missing
    skipped: list | None = None  # {"id", "reason"} for labels whose files could not be read

    def message(self) -> str:
        parts = [f"scores of {self.field!r} written for {self.scored} sample(s)"]
        for name, count in (self.incomplete or {}).items():
            parts.append(f"{name} not written for {count} sample(s) (no stored map)")
        if self.skipped:
            parts.append(f"{len(self.skipped)} skipped ({self.skipped[0]['reason']}"
                         + (", ..." if len(self.skipped) > 1 else "") + ")")
        return "; ".join(parts)


def backfill_scores(samples, field: str, *, write_batch: int = 256,
                    progress: Callable[[int, int, str], None] | None = None) -> Backfill:
    """Recompute the scores of ``field`` on ``samples`` from the stored labels and heatmaps (no
    generation) and write them; the values equal what a fresh run writes. Samples without ``field``
    are left alone; a label whose file cannot be read is skipped and listed."""
    dataset = samples._dataset
    scorer = scorer_for_field(dataset, field)
    scorer.declare(dataset)
    schema = dataset.get_field_schema()
    side = [name if name in schema else None for name in (f"{field}_confidence", f"{field}_uncertainty")]
    view = samples.exists(field)
    paths = ["id", field] + [name for name in side if name]
    result = Backfill(field, fields=tuple(scorer.fields), incomplete={}, skipped=[])
    ids = view.values("id")
    for start in range(0, len(ids), write_batch):
        chunk = view.select(ids[start:start + write_batch], ordered=True)
        columns = dict(zip(paths, chunk.values(paths)))
        pending: dict[str, dict] = {name: {} for name in scorer.fields}
        for i, sample_id in enumerate(columns["id"]):
            maps = [columns[name][i] if name else None for name in side]
            try:
                scores, missing = scorer.from_stored(columns[field][i], *maps)
            except InputError as error:
                result.skipped.append({"id": sample_id, "reason": str(error)})
                continue
            for name in missing:
                result.incomplete[name] = result.incomplete.get(name, 0) + 1
            for name, value in scores.items():
                pending[name][sample_id] = value
            result.scored += 1
        for name, values in pending.items():
            if values:
                dataset.set_values(name, values, key_field="id", validate=False, progress=False)
        if progress:
            done = min(start + write_batch, len(ids))
            progress(done, len(ids), f"{done}/{len(ids)} samples scored")
    return result

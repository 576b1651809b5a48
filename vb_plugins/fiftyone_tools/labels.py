"""Predictions -> files on disk + native FiftyOne label values.

Every array goes to a file under the run's directory (one file set per sample, named by sample id);
the database holds labels that point at them. For an output field ``F`` and sample id ``ID``:

==============  ==================================================================================
task kind       what lands on the sample
==============  ==================================================================================
depth           ``F``: ``fo.Heatmap(map_path=ID.depth.png, range=[lo, hi])``. The PNG is 16-bit,
                **millimetres**: pixel ``p`` = round(depth_m * 1000) clipped to 1..65535, 0 = no depth
                (non-finite or non-positive; depth beyond 65.535 m saturates at 65535). ``range`` is in
                the PNG's units (millimetres, as the App requires): ``[0, hi]`` with ``hi`` the sample's
                largest depth in mm (or ``depth_max`` metres * 1000). Metres = p / ``scale`` with the
                label attribute ``scale`` = 1000.0 (PNG units per metre). The exact float32 metres are
                in ``values_path`` (``ID.depth.npy``, H x W).
normals         ``F``: path of ``ID.normals.png``, the LUB colour encoding (x right, y up, z towards the
                camera; R = (1 - nx)/2, G = (1 + ny)/2, B = (1 + nz)/2), a media field the App can show
                (``app_config.media_fields``); ``F_values_path``: ``ID.normals.npy``, float32 H x W x 3.
labels          ``F``: ``fo.Segmentation(mask_path=ID.semantic.png)``, class i of the legend = value i + 1,
  (semantic)    0 = unlabeled; the dataset's ``mask_targets[F]`` = {i + 1: name}; the App colours each class
                with the colour it was prompted with.
instances       ``F``: ``fo.Detections``, one ``fo.Detection`` per instance: ``label`` (its class, or
                "object"), relative ``bounding_box``, ``mask_path`` (ID.instance-K.png, 0/1 cropped to the
                box, FiftyOne's convention), ``confidence`` (mean reliability over its pixels).
mask            ``F``: ``fo.Segmentation(mask_path=ID.referring.png)`` with values 0/1 and
  (referring)   ``mask_targets[F]`` = {1: expression}; the label's ``expression`` attribute repeats it.
                Several referred objects (a prompt naming two): values 0..K, ``mask_targets[F]`` = {k: object}.
image (other)   ``F``: path of ``ID.TASK.png`` (the task's preview, a media field); ``F_values_path``: .npy.
relative-depth  ``F``: a 16-bit ``fo.Heatmap`` of the [0, 1] values, ``units`` "relative" (not metres); alpha
alpha           mattes the same with ``units`` "alpha" and, with a threshold, ``F_mask``: ``fo.Segmentation``
                (see :mod:`vb_plugins.fiftyone_tools.gray_labels`).
==============  ==================================================================================

Alongside: ``F_confidence`` (the reliability: the calibrated probability that a pixel was read within the
task's tolerance; ``fo.Heatmap``, 16-bit PNG, ``scale`` = 1000 per unit, range [0, 1000]),
``F_uncertainty`` with an ensemble (``fo.Heatmap``, 16-bit PNG; units in the label's ``units``:
metres for depth with ``scale`` 1000, degrees for normals with ``scale`` 100, disagreement fraction
for labels/masks/instances with ``scale`` 1000; ``range`` [0, sample maximum] in PNG units), and
``F_expected_error`` when asked (``save_expected_error``; depth and normals: ``fo.Heatmap``, 16-bit PNG,
metres with ``scale`` 1000 or degrees with ``scale`` 100, the largest value for infinite ones, ``range``
[0, sample maximum] in PNG units), and ``F_generated``: path of the first generated visualization (a media
field); every generated image
(ensemble samples, passes) is on disk as ``ID.generated[-K].png`` and listed in the main label's
``visualizations`` attribute (for string fields: ``F_generated_paths``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vb_plugins.codecs.normals import NormalsCodec
from vb_plugins.codecs.semantic import label_dtype
from vb_plugins.errors import InputError
from vb_plugins.fiftyone_tools.gray_labels import AlphaStorage, RelativeDepthStorage
from vb_plugins.fiftyone_tools.storage_base import (
    UINT16_MAX,
    Storage,
    _has,
    _read_media,
    _save_npy,
    _write_png,
    quantize,
)
from vb_plugins.io import load_npy, read_image
from vb_plugins.kinds import get_value_kind

DEPTH_SCALE = 1000.0  # PNG units per metre: millimetres
UNIT_SCALE = 1000.0  # PNG units per unit for [0, 1] maps (confidence, disagreement)
DEGREE_SCALE = 100.0  # PNG units per degree (normal uncertainty)


def depth_png(depth: np.ndarray) -> np.ndarray:
    """Metres -> uint16 millimetres, 0 for no depth (non-finite or <= 0), valid depth at least 1 mm."""
    depth = np.asarray(depth, dtype=np.float32)
    valid = np.isfinite(depth) & (depth > 0)
    millimetres = np.clip(np.rint(np.where(valid, depth, 0.0) * np.float32(DEPTH_SCALE)), 1, UINT16_MAX)
    return np.where(valid, millimetres, 0).astype(np.uint16)


def _upper(png: np.ndarray) -> int:
    """A display maximum for a uint16 map: its largest value (at least 1)."""
    return max(int(png.max()) if png.size else 0, 1)


@dataclass(frozen=True)
class OutputFields:
    """The fields one run writes, in write order: side fields first, the main field last (its value
    on a sample means the sample is complete)."""

    main: str
    kind: str  # how the main field is stored: "label" or "path"
    side: tuple[str, ...]
    media: tuple[str, ...]  # string fields holding image paths (app_config.media_fields)
    types: tuple[tuple[str, str], ...] = ()  # (field, FiftyOne label type) of the storage form's further fields

    @property
    def all(self) -> tuple[str, ...]:
        return self.side + (self.main,)


class LabelWriter:
    """Writes one prediction's files under ``directory`` and returns ``{field: value}`` for the sample.

    ``field`` is the main output field; the side fields are ``field + "_confidence"``,
    ``"_uncertainty"`` (``with_uncertainty``), ``"_generated"`` and, for path-valued tasks,
    ``"_values_path"``. See the module docstring for the exact storage conventions.
    """

    def __init__(self, task, spec, field: str, directory: str | Path, *, with_uncertainty: bool = False,
                 save_visualizations: bool = True, save_confidence: bool = True,
                 depth_max: float | None = None, save_expected_error: bool = False):
        self.task = task
        self.spec = spec
        self.field = field
        self.directory = Path(directory)
        self.kind = task.kind
        self.storage = storage_for(self.kind)
        self.with_uncertainty = with_uncertainty
        self.save_visualizations = save_visualizations
        self.save_confidence = save_confidence
        self.save_expected_error = save_expected_error and self.kind.spread_units in SPREAD_SCALES
        if depth_max is not None and not (np.isfinite(depth_max) and 0 < depth_max <= UINT16_MAX / DEPTH_SCALE):
            raise InputError(f"depth_max={depth_max}: must be a positive number of metres up to 65.5")
        self.depth_max = depth_max

    # -- fields and dataset settings ----------------------------------------------------------------
    @property
    def fields(self) -> OutputFields:
        f = self.field
        path_valued = self.storage.path_valued
        side = []
        if path_valued:
            side.append(f"{f}_values_path")
        if self.save_confidence:
            side.append(f"{f}_confidence")
        if self.with_uncertainty:
            side.append(f"{f}_uncertainty")
        if self.save_expected_error:
            side.append(f"{f}_expected_error")
        media = []
        if self.save_visualizations:
            side.append(f"{f}_generated")
            media.append(f"{f}_generated")
            if path_valued:
                side.append(f"{f}_generated_paths")
        if path_valued:
            media.append(f)
        further = self.storage.side_fields(self)
        side.extend(further)
        return OutputFields(f, "path" if path_valued else "label", tuple(side), tuple(media), tuple(further.items()))

    def mask_targets(self) -> dict[int, str] | None:
        """The dataset's ``mask_targets`` for the main field (semantic and referring)."""
        return self.storage.mask_targets(self.spec)

    def mask_colours(self) -> list[dict] | None:
        """App colours per mask value: the colours each class was prompted with."""
        return self.storage.mask_colours(self.spec)

    def side_mask_targets(self) -> dict[str, dict[int, str]]:
        """``mask_targets`` of the storage form's further segmentation fields (matting's ``F_mask``)."""
        return self.storage.side_mask_targets(self)

    def field_descriptions(self) -> dict[str, str]:
        """Descriptions of the fields whose values need one (relative depth: unitless, not metres)."""
        return self.storage.field_descriptions(self)

    # -- writing ------------------------------------------------------------------------------------
    def path(self, sample_id: str, suffix: str) -> Path:
        return self.directory / f"{sample_id}.{suffix}"

    def write(self, prediction, sample_id: str) -> dict:
        """Write files for ``prediction`` and return the field values for sample ``sample_id``."""
        import fiftyone as fo

        self.directory.mkdir(parents=True, exist_ok=True)
        values: dict = {}
        f = self.field
        generated = []
        if self.save_visualizations:
            for k, image in enumerate(prediction.visualizations):
                path = self.path(sample_id, "generated.png" if k == 0 else f"generated-{k}.png")
                _write_png(path, np.asarray(image, dtype=np.uint8))
                generated.append(str(path))
            values[f"{f}_generated"] = generated[0] if generated else None  # none: nothing was generated
        if self.save_confidence:
            path = self.path(sample_id, "confidence.png")
            _write_png(path, quantize(prediction.confidence, UNIT_SCALE))
            values[f"{f}_confidence"] = fo.Heatmap(map_path=str(path), range=[0, int(UNIT_SCALE)], scale=UNIT_SCALE,
                                                   units="fraction")
        if self.with_uncertainty and prediction.uncertainty is not None:
            scale, units = SPREAD_SCALES.get(self.kind.spread_units, (UNIT_SCALE, "fraction"))
            png = quantize(prediction.uncertainty, scale)
            path = self.path(sample_id, "uncertainty.png")
            _write_png(path, png)
            values[f"{f}_uncertainty"] = fo.Heatmap(map_path=str(path), range=[0, _upper(png)], scale=scale,
                                                    units=units)
        if self.save_expected_error and prediction.expected_error is not None:
            scale, units = SPREAD_SCALES[self.kind.spread_units]
            error = np.asarray(prediction.expected_error, np.float32)
            png = quantize(np.where(np.isposinf(error), UINT16_MAX / scale, error), scale)
            path = self.path(sample_id, "expected_error.png")
            _write_png(path, png)
            values[f"{f}_expected_error"] = fo.Heatmap(map_path=str(path), range=[0, _upper(png)], scale=scale,
                                                       units=units)
        main = self.storage.main(self, prediction, sample_id, values)
        if self.fields.kind == "label" and generated:
            main["visualizations"] = generated
        elif generated:
            values[f"{f}_generated_paths"] = generated
        values[f] = main
        return values


class DepthStorage(Storage):
    field_type = "Heatmap"

    def main(self, writer, prediction, sample_id, values):
        import fiftyone as fo

        depth = np.asarray(prediction.values, dtype=np.float32)
        npy = writer.path(sample_id, "depth.npy")
        _save_npy(npy, depth)
        png = depth_png(depth)
        path = writer.path(sample_id, "depth.png")
        _write_png(path, png)
        upper = int(round(writer.depth_max * DEPTH_SCALE)) if writer.depth_max else _upper(png)
        return fo.Heatmap(map_path=str(path), range=[0, upper], scale=DEPTH_SCALE, units="mm",
                          values_path=str(npy))

    def read(self, label, scale=None):
        path = getattr(label, "values_path", None) if _has(label, "values_path") else None
        if path:
            return load_npy(path).astype(np.float32)
        array = _read_media(label, "map_path", label.get_map) if hasattr(label, "get_map") else None
        if array is None:
            raise InputError(f"heatmap {label.id}: has neither a map nor a map_path")
        own = label["scale"] if _has(label, "scale") else None
        factor = scale or own
        if factor is None:
            if array.dtype.kind == "f":
                return array.astype(np.float32)
            raise InputError(f"heatmap {label.id}: integer depth map with unknown units; give its scale "
                             "(PNG units per metre, e.g. 1000 for millimetres)")
        return array.astype(np.float32) / float(factor)


class ArrayStorage(Storage):
    """Any array: ``.npy`` values beside a viewable PNG whose path is the main field (a media field)."""

    path_valued = True

    def main(self, writer, prediction, sample_id, values):
        npy = writer.path(sample_id, f"{writer.task.name}.npy")
        _save_npy(npy, np.asarray(prediction.values))
        path = writer.path(sample_id, f"{writer.task.name}.png")
        _write_png(path, prediction.preview())
        values[f"{writer.field}_values_path"] = str(npy)
        return str(path)

    def read(self, label, scale=None):
        path = str(label)
        if path.endswith(".npy"):
            return load_npy(path)
        raise InputError(f"{path}: values are read from the .npy beside it (the field's _values_path)")


class NormalsStorage(ArrayStorage):
    def main(self, writer, prediction, sample_id, values):
        normals = np.asarray(prediction.values, dtype=np.float32)
        npy = writer.path(sample_id, "normals.npy")
        _save_npy(npy, normals)
        path = writer.path(sample_id, "normals.png")
        _write_png(path, prediction.preview())  # LUB encoding; invalid pixels black
        values[f"{writer.field}_values_path"] = str(npy)
        return str(path)

    def read(self, label, scale=None):
        path = str(label)
        if path.endswith(".npy"):
            return load_npy(path).astype(np.float32)
        return NormalsCodec().decode(read_image(path)[..., :3]).values


class LabelsStorage(Storage):
    field_type = "Segmentation"

    def main(self, writer, prediction, sample_id, values):
        import fiftyone as fo

        labels = np.asarray(prediction.values).astype(label_dtype(len(writer.spec.classes)))
        path = writer.path(sample_id, "semantic.png")
        _write_png(path, labels)
        return fo.Segmentation(mask_path=str(path))

    def read(self, label, scale=None):
        return np.asarray(_read_media(label, "mask_path", label.get_mask))

    def mask_targets(self, spec):
        return {i + 1: name for i, name in enumerate(spec.class_names)}

    def mask_colours(self, spec):
        return [{"intTarget": i + 1, "color": "#%02x%02x%02x" % tuple(colour)}
                for i, (_, colour) in enumerate(spec.classes)]


class MaskStorage(LabelsStorage):
    def main(self, writer, prediction, sample_id, values):
        import fiftyone as fo

        path = writer.path(sample_id, "referring.png")
        if writer.spec.classes:  # several referred objects (a prompt naming two): object k = value k
            _write_png(path, np.asarray(prediction.values).astype(label_dtype(len(writer.spec.classes))))
        else:
            _write_png(path, np.asarray(prediction.values, dtype=bool).astype(np.uint8))
        return fo.Segmentation(mask_path=str(path), expression=writer.spec.expression)

    def mask_targets(self, spec):
        return super().mask_targets(spec) if spec.classes else {1: spec.expression or "target"}

    def mask_colours(self, spec):
        return super().mask_colours(spec) if spec.classes else None


class InstancesStorage(Storage):
    field_type = "Detections"

    def main(self, writer, prediction, sample_id, values):
        import fiftyone as fo

        ids = np.asarray(prediction.values)
        height, width = ids.shape
        confidence = np.asarray(prediction.confidence, dtype=np.float32)
        classes = list(prediction.extras.get("classes", []))
        detections = []
        for k in range(1, int(ids.max()) + 1 if ids.size else 1):
            mask = ids == k
            rows, cols = np.nonzero(mask.any(axis=1))[0], np.nonzero(mask.any(axis=0))[0]
            if not len(rows):
                continue
            top, bottom, left, right = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
            path = writer.path(sample_id, f"instance-{k}.png")
            _write_png(path, mask[top:bottom, left:right].astype(np.uint8))
            label = classes[k - 1] if k - 1 < len(classes) and classes[k - 1] else "object"
            detections.append(fo.Detection(
                label=label, mask_path=str(path), index=k,
                bounding_box=[left / width, top / height, (right - left) / width, (bottom - top) / height],
                confidence=float(confidence[mask].mean())))
        return fo.Detections(detections=detections)

    def read(self, label, scale=None):
        height, width = scale
        masks = []
        for detection in label.detections:
            full = np.zeros((height, width), bool)
            if detection.has_mask:
                x, y, w, h = detection.bounding_box
                left, top = int(round(x * width)), int(round(y * height))
                crop = np.asarray(_read_media(detection, "mask_path", detection.get_mask)).astype(bool)
                bottom, right = min(top + crop.shape[0], height), min(left + crop.shape[1], width)
                full[top:bottom, left:right] = crop[: bottom - top, : right - left]
            masks.append(full)
        return np.stack(masks) if masks else np.zeros((0, height, width), bool)


# Storage forms by ValueKind.stored_as.
STORAGE: dict[str, Storage] = {"depth": DepthStorage(), "normals": NormalsStorage(), "labels": LabelsStorage(),
                               "mask": MaskStorage(), "instances": InstancesStorage(), "image": ArrayStorage(),
                               "relative-depth": RelativeDepthStorage(), "alpha": AlphaStorage()}
# Units of the ensemble spread -> (PNG units per unit, the units the label names).
SPREAD_SCALES = {"m": (DEPTH_SCALE, "m"), "deg": (DEGREE_SCALE, "deg")}


def storage_for(kind) -> Storage:
    """The storage of a value kind (a :class:`ValueKind` or its name); a kind FiftyOne cannot store is a
    one-line error."""
    kind = get_value_kind(kind)
    if kind.stored_as not in STORAGE:
        raise InputError(f"value kind {kind.name!r}: stored as {kind.stored_as!r}, which the FiftyOne labels do "
                         f"not know; expected one of {', '.join(STORAGE)}")
    return STORAGE[kind.stored_as]


def read_label_values(label, kind, scale=None) -> np.ndarray:
    """Arrays back from a stored label (ours or any FiftyOne label of the matching type).

    ``kind`` (a value kind or its name): ``depth`` (H x W metres: our ``values_path`` if present; else the
    heatmap's ``map`` / ``map_path`` divided by ``scale``, or by the label's ``scale`` attribute; an inline
    float ``map`` is taken as metres), ``normals`` (a path to .npy / a LUB-encoded PNG), ``labels`` / ``mask``
    (a Segmentation's mask), ``instances`` (bool N x H x W from a Detections' masks, needs the image size in
    ``scale`` as (height, width)).
    """
    return storage_for(kind).read(label, scale)

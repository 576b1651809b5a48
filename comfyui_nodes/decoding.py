"""The decoders: generated visualizations (IMAGE batches) -> metric depth, normals, labels, masks.

Decoding is the core's :meth:`vb_plugins.predict.Predictor.decode` (the same steps ``vb predict`` runs):
images are decoded at the size they were generated, samples of one input are combined (median depth,
mean normals, majority labels), and only then are the values resized to the target size: the
reference image's size, an explicit size, or the generated size. Native edit graphs rescale (and
sometimes centre-crop) their input; ``fit="stretch"`` undoes a rescale, ``fit="crop"`` undoes a
centre crop (pixels outside the generated view are reported as no data).

A batch holds ``group`` consecutive images per input image: ``passes x samples`` as VB Generate
makes them (image-major, then pass, then sample). With a group that is not a multiple of the spec's
passes, every image is read as the spec's first pass (the prompt VB Prompt shows).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from vb_plugins.errors import InputError
from vb_plugins.generated import Generated
from vb_plugins.placement import check_fit, check_side
from vb_plugins.predict import Prediction, Predictor
from vb_plugins.registry import get_task
from vb_plugins.settings import SETTINGS

from .tensors import image_batch, mask_tensor, spatial_size

PREVIEW_NORMALISATION = ("batch", "fixed")
COLORMAPS = ("inferno", "turbo", "viridis", "magma", "gray")


def decode_modes() -> tuple[str, ...]:
    return tuple(SETTINGS["decode_mode"].choices)


@dataclass(eq=False)
class DecodedBatch:
    """Decoded values of a batch at the target size (one :class:`vb_plugins.predict.Prediction` per input).

    - ``values``: per input image, the combined values (depth H x W metres, normals H x W x 3,
      labels / instance ids H x W, mask H x W bool, or what a plugin task decodes),
    - ``confidence``: float32 ``[B, H, W]`` in 0..1, the reliability (calibrated probability that a pixel
      was read within the task's tolerance; 0 where ``inside`` is False),
    - ``expected_error``: float32 ``[B, H, W]`` in the task's unit (depth: metres, normals: degrees; NaN
      where ``inside`` is False), None for label tasks,
    - ``spread``: float32 ``[B, H, W]`` disagreement between samples (None for one sample per input),
      in the task's unit (metres, degrees, fraction of samples),
    - ``inside``: bool ``[B, H, W]``, pixels a generated pixel covers (False in crop padding and
      where the input was transparent),
    - ``extras``: per input, what the task's combine step reports (class names, instance colours).
    """

    task: object
    spec: object
    values: list[np.ndarray]
    confidence: np.ndarray
    spread: np.ndarray | None
    inside: np.ndarray
    extras: list[dict] = field(default_factory=list)
    generated_size: tuple[int, int] = (0, 0)
    predictions: list[Prediction] = field(default_factory=list)
    expected_error: np.ndarray | None = None

    @classmethod
    def from_predictions(cls, task, spec, predictions: list[Prediction], generated_size) -> DecodedBatch:
        inside = [np.ones(p.confidence.shape, bool) if p.inside is None else p.inside for p in predictions]
        spread = None if any(p.uncertainty is None for p in predictions) else \
            np.stack([p.uncertainty for p in predictions]).astype(np.float32)
        errors = [p.expected_error for p in predictions]
        error = None if any(e is None for e in errors) else np.stack(errors).astype(np.float32)
        return cls(task, spec, [p.values for p in predictions], np.stack([p.confidence for p in predictions]),
                   spread, np.stack(inside), [dict(p.extras) for p in predictions], tuple(generated_size), predictions,
                   error)

    @property
    def kind(self) -> str:
        return self.task.kind.name

    def stacked(self) -> np.ndarray:
        return np.stack(self.values)

    def previews(self) -> np.ndarray:
        """uint8 ``[B, H, W, 3]`` from the task's own preview (labels painted in legend colours, ...)."""
        pictures = []
        for i, prediction in enumerate(self.predictions):
            try:
                picture = np.asarray(prediction.preview(self.task), dtype=np.uint8)
            except (AttributeError, NotImplementedError, TypeError):
                # A plugin task whose preview wants its own decoding object: show the values plainly.
                picture = _plain_preview(prediction.values)
            pictures.append(np.where(self.inside[i][..., None], picture, 0).astype(np.uint8))
        return np.stack(pictures)

    def uncertainty(self, scale: float | None = None) -> np.ndarray:
        """float32 ``[B, H, W]`` in 0..1: ``1 - confidence``, raised to the samples' disagreement
        (``spread / scale``, clipped) where several samples were combined; 1 where nothing was decoded."""
        uncertain = 1.0 - self.confidence
        if self.spread is not None:
            relative = self.spread if scale is None else self.spread / scale
            uncertain = np.maximum(uncertain, np.clip(np.nan_to_num(relative, nan=1.0), 0.0, 1.0))
        return np.where(self.inside, uncertain, 1.0).astype(np.float32)


def _plain_preview(values) -> np.ndarray:
    """uint8 ``H x W x 3`` gray picture of any decoded values (min..max of the finite ones)."""
    array = np.asarray(values, dtype=np.float64)
    if array.ndim == 3:
        array = np.linalg.norm(array, axis=2)
    finite = np.isfinite(array)
    low, high = (array[finite].min(), array[finite].max()) if finite.any() else (0.0, 1.0)
    scaled = np.where(finite, (array - low) / max(high - low, 1e-12), 0.0)
    return np.repeat(np.rint(scaled * 255.0).astype(np.uint8)[..., None], 3, axis=2)


def check_decode_options(mode=None, group=None, fit=None, width=None, height=None) -> None:
    """Widget checks shared by validation and execution (None: not known yet, e.g. a linked input): the
    core's rules for the decode mode, the fit and the target size."""
    if mode is not None:
        SETTINGS["decode_mode"].validate(mode)
    if group is not None and (not isinstance(group, int) or isinstance(group, bool) or group < 1):
        raise InputError(f"group={group!r}: must be a whole number of at least 1 (images per input image)")
    if fit is not None:
        check_fit(fit)
    for name, value in (("width", width), ("height", height)):
        if value is not None:
            check_side(name, value)


def resolve_spec(spec, kind: str | None, default_task: str | None):
    """The spec to decode with: the given one (checked to be of ``kind``), else ``default_task``'s default."""
    if spec is None:
        if default_task is None:
            raise InputError("spec: connect the spec output of VB Prompt (it names the task and its colours)")
        task = get_task(default_task)
        return task, task.make_spec()
    if not hasattr(spec, "task") or not hasattr(spec, "options"):
        raise InputError(f"spec: expected a task spec from VB Prompt, got {type(spec).__name__}")
    task = get_task(spec.task)
    if kind is not None and task.kind.name != kind:
        raise InputError(f"spec: task {spec.task!r} decodes to {task.kind.name}, this node decodes {kind}; "
                         "use the matching VB Decode node")
    return task, spec


def prompted_spec(task, spec, prompt):
    """The spec to decode with when the node's ``prompt`` input holds the prompt the images were painted
    with: the legend (classes and colours, background, referring objects, depth scheme) read from it as
    ``vb decode --prompt`` reads it, the spec's other options (tolerance, passes, ...) kept. A blank prompt
    keeps ``spec``; a prompt that cannot be read is a one-line error quoting the part."""
    if prompt is None or not str(prompt).strip():
        return spec
    return task.make_spec(prompt=str(prompt), **dict(spec.options))


def check_prompt(prompt, task_name: str | None) -> None:
    """The prompt input checked for ``task_name`` before anything runs (None: the task is not known yet)."""
    if task_name is not None and prompt is not None and str(prompt).strip():
        get_task(task_name).make_spec(prompt=str(prompt))


def decode_batch(image, spec=None, *, kind: str | None = None, default_task: str | None = None,
                 mode: str = "auto", group: int = 1, reference=None, width: int = 0, height: int = 0,
                 fit: str = "stretch", prompt: str | None = None) -> DecodedBatch:
    """Decode an IMAGE batch with ``spec`` (or ``default_task``'s default spec; the legend read from
    ``prompt`` when one is given) through :meth:`vb_plugins.predict.Predictor.decode`; see the module
    docstring."""
    check_decode_options(mode, group, fit, width, height)
    task, spec = resolve_spec(spec, kind, default_task)
    spec = prompted_spec(task, spec, prompt)
    rgb, opaque = image_batch(image, "image", task, spec)
    predictor = Predictor(task, spec=spec)
    generated = Generated.from_batch(task.name, spec, rgb, group, len(predictor.passes), covered=opaque)
    size = spatial_size(reference, "reference") if reference is not None else None
    predictions = predictor.decode(generated, mode=mode, size=size, width=width, height=height, fit=fit)
    return DecodedBatch.from_predictions(task, spec, predictions, rgb.shape[1:3])


# -- per-kind outputs --------------------------------------------------------------------------------

@dataclass(frozen=True, eq=False)
class DepthMaps:
    """What the VB_DEPTH socket carries: metric depth for a batch.

    - ``depth``: float32 ``[B, H, W]`` metres; ``inf`` where the colour is the far end of the path
      (sky), NaN where nothing was decoded,
    - ``valid``: bool ``[B, H, W]``, finite depth with reliability (``confidence``) at least the node's
      ``min_confidence``: a far pixel read as well as the encoding allows is valid,
    - ``confidence``: float32 ``[B, H, W]`` in 0..1, the reliability; ``spread``: metres between samples, or None,
    - ``spec``: the task spec it was decoded with (colour scheme and curve: VB Encode re-encodes with it),
    - ``expected_error``: float32 ``[B, H, W]`` metres (inf at the far end of the path), or None.
    """

    depth: np.ndarray
    valid: np.ndarray
    confidence: np.ndarray
    spread: np.ndarray | None
    spec: object
    expected_error: np.ndarray | None = None

    def tensor(self):
        import torch

        return torch.from_numpy(np.ascontiguousarray(self.depth))


@dataclass(frozen=True, eq=False)
class NormalMaps:
    """What the VB_NORMALS socket carries: float32 ``[B, H, W, 3]`` unit normals in the spec's
    convention (camera frame by default: x right, y up, z towards the camera; zeros where invalid),
    ``valid``, ``confidence`` (the reliability), ``spread`` (degrees between samples, or None) and
    ``expected_error`` (degrees, or None)."""

    normals: np.ndarray
    valid: np.ndarray
    confidence: np.ndarray
    spread: np.ndarray | None
    spec: object
    expected_error: np.ndarray | None = None


@dataclass(frozen=True, eq=False)
class LabelMaps:
    """What the VB_LABELS socket carries: int32 ``[B, H, W]`` labels (semantic: i + 1 = the spec's
    i-th class, 0 = unlabeled; instance: ids 1..N per image, 0 = background), with per-image
    ``extras`` (instance colours and classes) and the spec."""

    labels: np.ndarray
    kind: str
    confidence: np.ndarray
    extras: list[dict]
    spec: object


def depth_outputs(batch: DecodedBatch, min_confidence: float = 0.0) -> DepthMaps:
    depth = batch.stacked().astype(np.float32)
    valid = batch.inside & np.isfinite(depth) & (batch.confidence >= min_confidence)
    return DepthMaps(depth, valid, batch.confidence, batch.spread, batch.spec, batch.expected_error)


def depth_preview(depth: np.ndarray, valid: np.ndarray, normalisation: str = "batch",
                  colormap: str = "inferno") -> np.ndarray:
    """uint8 ``[B, H, W, 3]`` picture of metric depth, near bright, invalid pixels black.

    ``batch``: inverse depth between its 2nd and 98th percentiles over the whole batch (the same
    scale for every frame, so a sequence does not flicker). ``fixed``: ``(1 + d / 10) ** -2``, the
    Vision Banana curve's fixed metric mapping (1 at 0 m, 0.25 at 10 m, 0 at infinity), the same in
    every run.
    """
    import matplotlib

    if normalisation not in PREVIEW_NORMALISATION:
        raise InputError(f"preview {normalisation!r}: expected one of {', '.join(PREVIEW_NORMALISATION)}")
    if colormap not in COLORMAPS:
        raise InputError(f"colormap {colormap!r}: expected one of {', '.join(COLORMAPS)}")
    depth = np.asarray(depth, dtype=np.float64)
    shown = valid & np.isfinite(depth) & (depth >= 0)
    if normalisation == "fixed":
        scaled = np.where(shown, (1.0 + np.where(shown, depth, 0.0) / 10.0) ** -2, 0.0)
    else:
        inverse = np.where(shown & (depth > 0), 1.0 / np.where(depth > 0, depth, 1.0), 0.0)
        positive = inverse[shown & (depth > 0)]
        if positive.size:
            low, high = np.percentile(positive, [2, 98])
            scaled = np.clip((inverse - low) / max(high - low, 1e-9), 0.0, 1.0)
            scaled = np.where(shown & (depth == 0), 1.0, scaled)
        else:
            scaled = np.where(shown, 1.0, 0.0)
        scaled = np.where(shown, scaled, 0.0)
    rgb = matplotlib.colormaps[colormap](scaled)[..., :3]
    return np.where(shown[..., None], np.rint(rgb * 255.0), 0).astype(np.uint8)


@dataclass(frozen=True, eq=False)
class RelativeDepthMaps:
    """What the VB_RELATIVE_DEPTH socket carries: relative depth for a batch, unitless, never metres.

    - ``values``: float32 ``[B, H, W]`` in 0..1 as the spec reads them (``encodes=inverse``: relative inverse
      depth, 1 = nearest; ``encodes=depth``: relative depth, 0 = nearest); NaN where nothing was decoded,
    - ``valid``: bool ``[B, H, W]``, decoded with confidence at least the node's threshold,
    - ``confidence``: float32 ``[B, H, W]`` (the gray's channel agreement); ``spread`` between samples or None,
    - ``spec``: the task spec it was decoded with.
    """

    values: np.ndarray
    valid: np.ndarray
    confidence: np.ndarray
    spread: np.ndarray | None
    spec: object

    def tensor(self):
        import torch

        return torch.from_numpy(np.ascontiguousarray(self.values))


def relative_depth_outputs(batch: DecodedBatch, min_confidence: float = 0.0) -> RelativeDepthMaps:
    values = batch.stacked().astype(np.float32)
    valid = batch.inside & np.isfinite(values) & (batch.confidence >= min_confidence)
    return RelativeDepthMaps(np.where(batch.inside, values, np.nan).astype(np.float32), valid, batch.confidence,
                             batch.spread, batch.spec)


def unit_preview(values: np.ndarray, valid: np.ndarray, colormap: str = "inferno") -> np.ndarray:
    """uint8 ``[B, H, W, 3]`` picture of values in 0..1 through ``colormap``, invalid pixels black. The values
    are shown as they are (no per-frame normalisation), so a sequence does not flicker."""
    import matplotlib

    if colormap not in COLORMAPS:
        raise InputError(f"colormap {colormap!r}: expected one of {', '.join(COLORMAPS)}")
    scaled = np.clip(np.nan_to_num(np.asarray(values, dtype=np.float64), nan=0.0), 0.0, 1.0)
    rgb = matplotlib.colormaps[colormap](scaled)[..., :3]
    return np.where(valid[..., None], np.rint(rgb * 255.0), 0).astype(np.uint8)


def alpha_outputs(batch: DecodedBatch) -> np.ndarray:
    """Matting: float32 ``[B, H, W]`` alpha in 0..1, 0 where nothing was decoded."""
    alpha = np.nan_to_num(batch.stacked().astype(np.float32), nan=0.0)
    return np.clip(np.where(batch.inside, alpha, 0.0), 0.0, 1.0).astype(np.float32)


def normals_outputs(batch: DecodedBatch) -> NormalMaps:
    normals = batch.stacked().astype(np.float32)
    valid = batch.inside & (np.linalg.norm(normals, axis=-1) > 0.5)
    return NormalMaps(normals, valid, batch.confidence, batch.spread, batch.spec, batch.expected_error)


def label_outputs(batch: DecodedBatch) -> LabelMaps:
    labels = batch.stacked().astype(np.int32)
    return LabelMaps(labels, batch.kind, batch.confidence, batch.extras, batch.spec)


def class_masks(labels: LabelMaps) -> np.ndarray:
    """Semantic: bool ``[B * K, H, W]``, image-major, one mask per class of the legend (K classes)."""
    count = len(labels.spec.classes)
    masks = [labels.labels[i] == k for i in range(len(labels.labels)) for k in range(1, count + 1)]
    return np.stack(masks)


def select_class(labels: LabelMaps, name: str) -> np.ndarray:
    """Semantic: bool ``[B, H, W]`` of the class called ``name`` (empty: every labelled pixel)."""
    names = labels.spec.class_names
    if not name or not name.strip():
        return labels.labels > 0
    if name.strip() not in names:
        raise InputError(f"select {name!r}: not a class of the legend ({', '.join(names)})")
    return labels.labels == names.index(name.strip()) + 1


def instance_masks(labels: LabelMaps) -> tuple[np.ndarray, list[dict]]:
    """Instance: bool ``[N, H, W]`` for every instance of every image (image-major), and one record per
    instance (``image``, ``id``, ``class``, ``colour``). With no instance at all, one empty mask (a MASK
    batch cannot be empty) and no records."""
    masks, records = [], []
    for i, ids in enumerate(labels.labels):
        classes = list(labels.extras[i].get("classes", []))
        colours = np.asarray(labels.extras[i].get("colours", np.zeros((0, 3), np.uint8)))
        for k in range(1, int(ids.max()) + 1 if ids.size else 1):
            mask = ids == k
            if not mask.any():
                continue
            masks.append(mask)
            records.append({"image": i, "id": k, "class": classes[k - 1] if k - 1 < len(classes) else None,
                            "colour": [int(v) for v in colours[k - 1]] if k - 1 < len(colours) else None,
                            "area": int(mask.sum())})
    if not masks:
        return np.zeros((1,) + labels.labels.shape[1:], dtype=bool), []
    return np.stack(masks), records


def referring_mask(batch: DecodedBatch) -> np.ndarray:
    """bool ``[B, H, W]``; with several referred objects (a prompt naming two), one mask per object,
    image-major ``[B * K, H, W]`` in the order the prompt names them."""
    count = len(batch.spec.classes) if getattr(batch.spec, "classes", None) else 0
    if count:
        return np.stack([(np.asarray(v) == k) & inside for v, inside in zip(batch.values, batch.inside)
                         for k in range(1, count + 1)])
    return np.stack([np.asarray(v, dtype=bool) for v in batch.values]) & batch.inside


def with_expected_error(result):
    """A depth or normals operation's result with the expected error appended as the node's last output (so
    saved workflows keep their links): a float MASK ``[B, H, W]`` in metres or degrees, not clipped to 0..1;
    inf where nothing was decoded or the error is unbounded (depth at the far end of the path)."""
    outputs, *rest = result
    maps = outputs[0]
    error = maps.expected_error
    if error is None:
        error = np.full(maps.valid.shape, np.inf, np.float32)
    return (*outputs, mask_tensor(np.nan_to_num(error, nan=np.inf, posinf=np.inf))), *rest

"""VB Encode: decoded values (or masks) -> the visualization a generator should paint, as an IMAGE.

For training data (pairs of input and target visualization) and for visual checks (encode what a
decoder read and compare it with what the generator painted).
"""

from __future__ import annotations

import numpy as np

from vb_plugins import get_task
from vb_plugins.errors import InputError

from .decoding import DepthMaps, LabelMaps, NormalMaps
from .tensors import mask_batch


def _task_for(spec, fallback_spec, expected_kinds: tuple[str, ...], what: str):
    chosen = spec if spec is not None else fallback_spec
    if chosen is None:
        raise InputError(f"spec: encoding {what} needs a spec from VB Prompt")
    task = get_task(chosen.task)
    if task.kind.name not in expected_kinds:
        raise InputError(f"spec: task {chosen.task!r} encodes {task.kind.name}, but {what} were connected")
    return task, chosen


def encode_values(depth: DepthMaps | None = None, normals: NormalMaps | None = None,
                  labels: LabelMaps | None = None, mask=None, spec=None) -> np.ndarray:
    """Exactly one of ``depth``, ``normals``, ``labels`` or ``mask`` (a MASK tensor, for referring) ->
    uint8 ``[B, H, W, 3]``. ``spec`` overrides the colours (depth scheme, legend, referring colours);
    by default the spec the values were decoded with is used. Pixels without a value (NaN depth, zero
    normals) are painted black."""
    given = [name for name, value in (("depth", depth), ("normals", normals), ("labels", labels),
                                      ("mask", mask)) if value is not None]
    if len(given) != 1:
        raise InputError("VB Encode: connect exactly one of depth, normals, labels or mask"
                         + (f" (got {', '.join(given)})" if given else ""))
    if depth is not None:
        task, spec = _task_for(spec, depth.spec, ("depth",), "depth maps")
        return np.stack([_encode_depth(task, spec, d) for d in depth.depth])
    if normals is not None:
        task, spec = _task_for(spec, normals.spec, ("normals",), "normal maps")
        return np.stack([_encode_normals(task, spec, n) for n in normals.normals])
    if labels is not None:
        kind = "labels" if labels.kind == "labels" else "instances"
        task, spec = _task_for(spec, labels.spec, (kind,), f"{kind}")
        if kind == "instances":
            return np.stack([_encode_instances(task, spec, ids, extras)
                             for ids, extras in zip(labels.labels, labels.extras)])
        return np.stack([task.encode(values, spec) for values in labels.labels])
    masks = mask_batch(mask, "mask") >= 0.5
    if spec is None:
        spec = get_task("referring").make_spec(expression="the object")
    task, spec = _task_for(spec, None, ("mask",), "masks")
    return np.stack([task.encode(m, spec) for m in masks])


def _encode_depth(task, spec, depth: np.ndarray) -> np.ndarray:
    codec = task.codec_for(spec) if hasattr(task, "codec_for") else task.codec
    return codec.encode(depth, invalid="fill", fill=(0, 0, 0))


def _encode_normals(task, spec, normals: np.ndarray) -> np.ndarray:
    convention = spec.option("convention", "camera")
    return task.codec.encode(normals, convention=convention, invalid="fill", fill=(0, 0, 0))


def _encode_instances(task, spec, ids: np.ndarray, extras: dict) -> np.ndarray:
    colours = extras.get("colours")
    count = int(ids.max()) if ids.size else 0
    if colours is not None and len(colours) >= count and count:
        return task.codec.encode(ids, colours=[tuple(int(v) for v in c) for c in colours[:count]],
                                 background=spec.background)
    return task.encode(ids, spec)

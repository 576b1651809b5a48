"""Hand a review queue to the user's annotation backend (CVAT, Label Studio, Labelbox, or any backend in
FiftyOne's annotation config) through FiftyOne's own ``view.annotate()``: no backend code here.

    >>> from vb_plugins.fiftyone_tools.annotation import send_to_annotation
    >>> results = send_to_annotation(dataset.load_saved_view("vb-review: seg"), "seg")
    >>> dataset.load_annotations(results.key)            # later: the corrections land in ``seg``

The label schema edits the prediction field in place: a semantic field as ``segmentation`` with the
field's mask targets, a referring mask the same with its one target, instances as ``instances``
(detections with masks) with the run's classes. Depth and normals have no annotation type.

A built-in backend counts as configured when FiftyOne's annotation config holds its credentials
(``FIFTYONE_CVAT_USERNAME`` and ``FIFTYONE_CVAT_PASSWORD``, ``FIFTYONE_LABELSTUDIO_API_KEY``,
``FIFTYONE_LABELBOX_API_KEY``, or the same keys in ``~/.fiftyone/annotation_config.json``): without
them FiftyOne would stop and prompt for them on the server, so the request is refused with one line.
Backends the user added to the config (their own ``config_cls``) are used as configured.
"""

from __future__ import annotations

import re

from vb_plugins.errors import InputError

CREDENTIALS = {"cvat": ("username", "password"), "labelstudio": ("api_key",), "labelbox": ("api_key",)}


def configured_backend(name: str | None = None) -> str:
    """``name`` (default: FiftyOne's default backend) if it is configured; else an :class:`InputError`
    saying what to set."""
    import fiftyone as fo

    name = name or fo.annotation_config.default_backend
    backends = fo.annotation_config.backends or {}
    if name not in backends:
        raise InputError(f"annotation backend {name!r}: not in FiftyOne's annotation config (configured: "
                         f"{', '.join(sorted(backends)) or 'none'})")
    needed = CREDENTIALS.get(name, ())
    if any(not backends[name].get(key) for key in needed):
        variables = " and ".join(f"FIFTYONE_{name.upper()}_{key.upper()}" for key in needed)
        raise InputError(f"no annotation backend configured: {name!r} has no credentials; set {variables} "
                         "(or add them to FiftyOne's annotation config) and restart FiftyOne")
    return name


def label_schema(dataset, field: str) -> dict:
    """The ``label_schema`` for ``view.annotate()`` that edits ``field`` in place."""
    from vb_plugins.fiftyone_tools.scores import scorer_for_field

    scorer = scorer_for_field(dataset, field)
    if scorer.kind in ("labels", "mask"):
        targets = (dataset.mask_targets or {}).get(field) or dataset.default_mask_targets or {}
        if not targets:
            raise InputError(f"field {field!r}: no mask targets name its values; set dataset.mask_targets[{field!r}]")
        return {field: {"type": "segmentation", "mask_targets": {int(k): str(v) for k, v in targets.items()}}}
    if scorer.kind == "instances":
        return {field: {"type": "instances", "classes": instance_classes(dataset, field)}}
    raise InputError(f"field {field!r} holds {scorer.kind} values; annotation backends edit segmentations and "
                     "instances only")


def instance_classes(dataset, field: str) -> list[str]:
    """The classes a reviewer may give instances: the run's prompted classes, then any other label
    already in the field."""
    from vb_plugins.fiftyone_tools.runner import INFO_KEY

    record = (dataset.info or {}).get(INFO_KEY, {}).get(field) or {}
    prompted = list((record.get("signature", {}).get("spec") or {}).get("classes") or {})
    present = [label for label in dataset.distinct(f"{field}.detections.label") if label not in prompted]
    return prompted + present or ["object"]


def annotation_key(dataset, field: str) -> str:
    """A new annotation run key ``vb_review_F`` (``_2``, ``_3``, ... when taken)."""
    base = "vb_review_" + re.sub(r"[^A-Za-z0-9_]", "_", field)
    taken = set(dataset.list_annotation_runs())
    key, n = base, 1
    while key in taken:
        n += 1
        key = f"{base}_{n}"
    return key


def send_to_annotation(view, field: str, *, backend: str | None = None, anno_key: str | None = None,
                       launch_editor: bool = False, **backend_options):
    """``view.annotate()`` with the schema of ``field`` on a configured backend; returns FiftyOne's
    annotation results (``results.key`` is the run's key for ``dataset.load_annotations``)."""
    dataset = view._dataset
    name = configured_backend(backend)
    schema = label_schema(dataset, field)
    key = anno_key or annotation_key(dataset, field)
    if key in dataset.list_annotation_runs():
        raise InputError(f"anno_key {key!r}: an annotation run with this key exists; choose another")
    return view.annotate(key, label_schema=schema, backend=name, launch_editor=launch_editor, **backend_options)

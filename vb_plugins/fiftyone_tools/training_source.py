"""Ground truth from a FiftyOne dataset, for `vb train` (``data: [{type: fiftyone, dataset: NAME, ...}]``).

    data:
      - type: fiftyone
        dataset: nyu-train          # a persistent dataset in the user's FiftyOne database
        saved_view: "vb-review: seg"  # optional: only the samples of this saved view (e.g. a review queue)
        view_tag: review            # optional: only samples with this tag (within the saved view, if any)
        depth_field: depth          # fo.Heatmap (metres, or integer map + depth_scale units per metre)
        depth_scale: 1000           # optional, e.g. 1000 for a millimetre PNG
        normals_field: normals      # a path to .npy (camera frame) or a LUB-encoded PNG
        semantic_field: gt_seg      # fo.Segmentation; class names from the dataset's mask_targets
        instance_field: gt_inst     # fo.Detections with instance masks

Only the fields named are read. Samples are listed once (ids in dataset order) and loaded lazily, so
a large dataset streams; FiftyOne is imported only when this source is used. The source type registers
itself through the ``vb_data_sources`` hook (this module is one of vb_plugins.builtin.DEFAULT_PLUGINS).
"""

from __future__ import annotations

import numpy as np

from vb_plugins.errors import InputError
from vb_plugins.fiftyone_tools.labels import read_label_values
from vb_plugins.hookspecs import hookimpl
from vb_plugins.io import read_rgb
from vb_plugins.training.data import GroundTruth
from vb_plugins.training.sources import DataSourceType

TASK_FIELDS = {"depth": "depth_field", "normals": "normals_field", "semantic": "semantic_field",
               "instance": "instance_field"}


def select_samples(dataset, saved_view: str | None = None, view_tag: str | None = None):
    """The training samples: the saved view's (or the dataset's), with ``view_tag`` if given."""
    if saved_view:
        if not dataset.has_saved_view(saved_view):
            known = ", ".join(repr(name) for name in dataset.list_saved_views()) or "none"
            raise InputError(f"saved_view {saved_view!r}: dataset {dataset.name!r} has no such saved view "
                             f"(saved views: {known})")
        view = dataset.load_saved_view(saved_view)
    else:
        view = dataset.view()
    return view.match_tags(view_tag) if view_tag else view


class FiftyOneSource:
    def __init__(self, dataset: str, view_tag: str | None = None, depth_field: str | None = None,
                 depth_scale: float | None = None, normals_field: str | None = None,
                 semantic_field: str | None = None, instance_field: str | None = None,
                 saved_view: str | None = None):
        try:
            import fiftyone as fo
        except ImportError:
            raise InputError("data source 'fiftyone' needs FiftyOne: pip install 'fiftyone>=1.5' "
                             "(or vb-plugins with its [fiftyone] extra)") from None
        if not fo.dataset_exists(dataset):
            raise InputError(f"FiftyOne dataset {dataset!r}: does not exist")
        self.dataset = fo.load_dataset(dataset)
        self.fields = {"depth_field": depth_field, "normals_field": normals_field,
                       "semantic_field": semantic_field, "instance_field": instance_field}
        schema = self.dataset.get_field_schema()
        for key, name in self.fields.items():
            if name and name not in schema:
                raise InputError(f"{key}={name!r}: dataset {dataset!r} has no such field")
        self.depth_scale = depth_scale
        self.ids = select_samples(self.dataset, saved_view, view_tag).values("id")
        if not self.ids:
            chosen = ", ".join([f"saved view {saved_view!r}"] * bool(saved_view)
                               + [f"tag {view_tag!r}"] * bool(view_tag))
            raise InputError(f"FiftyOne dataset {dataset!r}{f' ({chosen})' if chosen else ''}: no samples")
        self.class_names = self._class_names(semantic_field)

    def _class_names(self, field: str | None) -> list[str]:
        """Names for ids 1..K from the field's (or the dataset's default) mask targets."""
        if not field:
            return []
        targets = self.dataset.mask_targets.get(field) or self.dataset.default_mask_targets or {}
        ids = sorted(int(k) for k in targets if int(k) > 0)
        if not ids:
            raise InputError(f"semantic_field={field!r}: the dataset has no mask_targets naming its classes")
        if ids != list(range(1, len(ids) + 1)):
            raise InputError(f"semantic_field={field!r}: mask targets must be 1..K (0 = unlabeled), got {ids}")
        return [str(targets.get(i, targets.get(str(i)))) for i in ids]

    def check(self, tasks) -> None:
        """Every sample has the ground truth of every task (reported with sample ids, before training)."""
        for task in tasks:
            key = TASK_FIELDS.get(task)
            if key is None or not self.fields[key]:
                raise InputError(f"task {task!r}: the fiftyone source names no {key or 'field'} for it")
            values = self.dataset.select(self.ids).values(self.fields[key])
            missing = [i for i, v in zip(self.ids, values) if v is None]
            if missing:
                raise InputError(f"{self.fields[key]}: {len(missing)} sample(s) lack ground truth for {task}, "
                                 f"e.g. {missing[:3]}")

    def __len__(self) -> int:
        return len(self.ids)

    def load(self, index: int) -> GroundTruth:
        sample = self.dataset[self.ids[index % len(self.ids)]]
        image = read_rgb(sample.filepath)
        gt = GroundTruth(image, key=sample.id, class_names=self.class_names)
        f = self.fields
        if f["depth_field"] and sample[f["depth_field"]] is not None:
            gt.depth = read_label_values(sample[f["depth_field"]], "depth", self.depth_scale)
        if f["normals_field"] and sample[f["normals_field"]] is not None:
            gt.normals = read_label_values(sample[f["normals_field"]], "normals")
        if f["semantic_field"] and sample[f["semantic_field"]] is not None:
            gt.semantic = read_label_values(sample[f["semantic_field"]], "labels").astype(np.int64)
        if f["instance_field"] and sample[f["instance_field"]] is not None:
            masks = read_label_values(sample[f["instance_field"]], "instances", image.shape[:2])
            ids = np.zeros(image.shape[:2], np.int32)
            for i, mask in enumerate(masks, start=1):
                ids[mask & (ids == 0)] = i
            gt.instance = ids
        return gt


SETTINGS = {"type": str, "dataset": str, "view_tag": str | None, "depth_field": str | None,
            "depth_scale": float | None, "normals_field": str | None, "semantic_field": str | None,
            "instance_field": str | None, "saved_view": str | None}


def _build(config) -> FiftyOneSource:
    return FiftyOneSource(**{k: v for k, v in config.items() if k != "type"})


@hookimpl
def vb_data_sources():
    return [DataSourceType("fiftyone", _build, SETTINGS, ("dataset",), description="a FiftyOne dataset's fields")]

"""vb-plugins as a FiftyOne model, for ``apply_model`` in code.

    >>> from vb_plugins.fiftyone_tools import VBModel
    >>> model = VBModel("semantic", "black-forest-labs/FLUX.2-klein-4B", classes="road, car, sky",
    ...                 output_dir="/data/preds/seg")
    >>> dataset.apply_model(model, label_field="seg", batch_size=8)
    >>> dataset.mask_targets = {**dataset.mask_targets, "seg": model.mask_targets}; dataset.save()

The labels are exactly those of the ``predict`` operator (files under ``output_dir``, named by sample
id; see :mod:`vb_plugins.fiftyone_tools.labels`), one ``fo.Heatmap`` / ``fo.Segmentation`` /
``fo.Detections`` per image. With ``side_fields=True`` each prediction is a dict
``{TASK: label, "confidence": heatmap, "uncertainty": heatmap}`` and ``apply_model(...,
label_field="vb")`` stores ``vb_TASK``, ``vb_confidence`` and ``vb_uncertainty``. Normals are stored
as image paths, which ``apply_model`` cannot store: use :func:`predict_collection` (or the operator),
which also records mask targets, App colours, resumption and skipped samples.

Leave ``apply_model``'s own ``output_dir`` unset: it would re-export heatmaps as 8-bit PNGs.
``apply_model`` reads the images itself and, with ``skip_failures``, skips the whole batch that holds
an unreadable file; :func:`predict_collection` skips (and reports) only that sample.
This module imports fiftyone; nothing in the core imports it.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import fiftyone.core.models as fom
import numpy as np

from vb_plugins.errors import InputError
from vb_plugins.fiftyone_tools.labels import LabelWriter, storage_for
from vb_plugins.fiftyone_tools.runner import default_output_dir
from vb_plugins.predict import Predictor


class VBModel(fom.SamplesMixin, fom.Model):
    """A vb-plugins task as a FiftyOne image model (see the module docstring).

    ``model``: model string or :class:`vb_plugins.generation.Generator` (None: the bundled model);
    ``output_dir``: where label files go (default: ``<dataset dir>/vb-plugins/<dataset>/vb_<task>_model``);
    other keyword arguments go to :class:`vb_plugins.predict.Predictor` (``classes``, ``expression``,
    ``ensemble``, ``batch_size``, ``seed``, ``steps``, ``dialect``, ``device``, ...).
    """

    def __init__(self, task: str, model=None, *, output_dir=None, side_fields: bool = False,
                 save_visualizations: bool = True, depth_max: float | None = None, **options):
        fom.SamplesMixin.__init__(self)
        self.predictor = Predictor(task, model, **options)
        if storage_for(self.predictor.task.kind).path_valued:
            raise InputError(f"task {self.predictor.task.name!r} is stored as image paths, which apply_model cannot "
                             "store; use vb_plugins.fiftyone_tools.predict_collection")
        self.output_dir = output_dir
        self.side_fields = side_fields
        self.save_visualizations = save_visualizations
        self.depth_max = depth_max
        self._writers: dict[str, object] = {}

    # -- fiftyone.core.models.Model -----------------------------------------------------------------
    @property
    def media_type(self):
        return "image"

    @property
    def ragged_batches(self):
        return False

    @property
    def transforms(self):
        return None

    @property
    def preprocess(self):
        return False

    @preprocess.setter
    def preprocess(self, value):
        pass

    @property
    def mask_targets(self) -> dict[int, str] | None:
        """The ``mask_targets`` to store for the label field (semantic, referring), else None."""
        return self._writer(None).mask_targets()

    def predict(self, arg, sample=None):
        return self.predict_all([arg], samples=None if sample is None else [sample])[0]

    def predict_all(self, args, samples=None):
        """``args``: uint8 RGB arrays (as apply_model reads them) or PIL images."""
        images = [np.asarray(a.convert("RGB")) if hasattr(a, "convert") else np.asarray(a) for a in args]
        keys = [s.id for s in samples] if samples is not None else [uuid.uuid4().hex for _ in images]
        dataset = samples[0].dataset if samples is not None and len(samples) else None
        writer = self._writer(dataset)
        outputs = []
        for prediction in self.predictor.predict_iter(images, keys=keys):
            values = writer.write(prediction, prediction.key)
            main = values[writer.field]
            if self.side_fields:
                label = {self.predictor.task.name: main}
                for side in ("confidence", "uncertainty"):
                    if f"{writer.field}_{side}" in values:
                        label[side] = values[f"{writer.field}_{side}"]
                outputs.append(label)
            else:
                outputs.append(main)
        return outputs

    def _writer(self, dataset):
        field = f"vb_{self.predictor.task.name}_model"
        if self.output_dir:
            directory = Path(self.output_dir).expanduser()
        elif dataset is not None:
            directory = default_output_dir(dataset, field)
        else:
            directory = Path.cwd() / "vb-plugins-labels"
        key = str(directory)
        if key not in self._writers:
            self._writers[key] = LabelWriter(self.predictor.task, self.predictor.spec, field, directory,
                                             with_uncertainty=self.side_fields and self.predictor.ensemble > 1,
                                             save_visualizations=self.save_visualizations,
                                             save_confidence=self.side_fields, depth_max=self.depth_max)
        return self._writers[key]

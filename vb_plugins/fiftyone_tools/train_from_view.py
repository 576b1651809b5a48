"""Back to training: a `vb train` run (VBNet or LoRA) on the samples of a saved view or a tag, with the
fields a reviewer corrected as ground truth. What the plugin's ``train`` operator calls.

    >>> from vb_plugins.fiftyone_tools.train_from_view import training_config, run_training
    >>> config = training_config(dataset, {"semantic": "seg"}, view_tag="review", steps=500)
    >>> model_dir = run_training(config)        # vb predict semantic IMG -o OUT --model model_dir

The data source is ``{type: fiftyone, dataset, saved_view, view_tag, <task>_field}``, exactly what a
``vb train`` config would name (:mod:`vb_plugins.fiftyone_tools.training_source`), so a run started from
the App can be resumed or repeated from the command line with its ``config.json``.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path

from vb_plugins.errors import InputError

TASK_FIELDS = {"depth": "depth_field", "normals": "normals_field", "semantic": "semantic_field",
               "instance": "instance_field"}
FIELD_TYPES = {"depth": "Heatmap", "normals": "StringField", "semantic": "Segmentation", "instance": "Detections"}


def default_output_dir(dataset) -> Path:
    """``<fiftyone default_dataset_dir>/vb-plugins/<dataset>/train-<UTC time>``: a new run each time
    (pass the same ``output_dir`` again to resume one)."""
    import fiftyone as fo

    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", dataset.name).strip("-") or "dataset"
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    return Path(fo.config.default_dataset_dir).expanduser() / "vb-plugins" / slug / f"train-{stamp}"


def training_config(dataset, fields: dict[str, str], *, saved_view: str | None = None,
                    view_tag: str | None = None, method: str = "full", model: str | None = None,
                    output_dir=None, settings: dict | None = None):
    """A checked :class:`~vb_plugins.training.config.TrainConfig` for ``dataset``'s samples in
    ``saved_view`` and/or with ``view_tag``; ``fields``: task -> ground-truth field (``depth``,
    ``normals``, ``semantic``, ``instance``); ``settings``: any other `vb train` setting (``steps``,
    ``batch_size``, ``vbnet``, ``lora``, ...)."""
    from vb_plugins.training.config import TrainConfig

    fields = {task: name for task, name in (fields or {}).items() if name}
    unknown = sorted(set(fields) - set(TASK_FIELDS))
    if unknown:
        raise InputError(f"fields: no training task {', '.join(unknown)} (expected {', '.join(TASK_FIELDS)})")
    if not fields:
        raise InputError("fields: name at least one corrected field (semantic, instance, depth or normals)")
    if not saved_view and not view_tag:
        raise InputError("choose the samples to train on: a saved view (e.g. 'vb-review: F') or a tag (e.g. 'review')")
    if method not in ("full", "lora"):
        raise InputError(f"method {method!r}: expected 'full' (VBNet) or 'lora'")
    schema = dataset.get_field_schema()
    for task, name in fields.items():
        have = schema.get(name)
        kind = getattr(getattr(have, "document_type", None), "__name__", type(have).__name__)
        if have is not None and kind != FIELD_TYPES[task]:
            raise InputError(f"{TASK_FIELDS[task]} {name!r}: holds {kind} labels, not {FIELD_TYPES[task]}")
    settings = dict(settings or {})
    clash = sorted(set(settings) & {"tasks", "data", "method", "model", "output_dir"})
    if clash:
        raise InputError(f"settings: {', '.join(clash)} are set by the operator's own parameters")
    source = {"type": "fiftyone", "dataset": dataset.name, "saved_view": saved_view or None,
              "view_tag": view_tag or None, **{TASK_FIELDS[task]: name for task, name in fields.items()}}
    known = set(TrainConfig.__dataclass_fields__)
    extra = sorted(set(settings) - known)
    if extra:
        raise InputError(f"settings: unknown setting(s) {', '.join(extra)}")
    config = TrainConfig(output_dir=str(output_dir or default_output_dir(dataset)), method=method,
                         model=model or ("vbnet" if method == "full" else None), tasks=list(fields),
                         data=[source], **settings)
    config.validate()
    from vb_plugins.training.sources import source_from_config

    source_from_config(config.data[0]).check(config.tasks)  # fields exist and every sample has them
    return config


def run_training(config, progress: Callable[[int, int, str], None] | None = None,
                 should_stop: Callable[[], bool] | None = None, log=print) -> Path:
    """Train (resuming from ``config.output_dir``'s newest checkpoint) and return the exported model
    (VBNet directory, or the LoRA adapter directory). ``progress(step, steps, message)`` is called at
    most twice a second; ``should_stop()`` is polled after every step."""
    last = [0.0]

    def after_step(step: int) -> bool:
        now = time.monotonic()
        if progress and (now - last[0] >= 0.5 or step == config.steps):
            last[0] = now
            progress(step, config.steps, f"step {step}/{config.steps}")
        return bool(should_stop and should_stop())

    if config.method == "full":
        from vb_plugins.training.vbnet_trainer import train_vbnet

        return train_vbnet(config, progress=False, log=log, should_stop=after_step)
    from vb_plugins.training.lora_trainer import train_lora

    return train_lora(config, progress=False, log=log, should_stop=after_step)

"""``@vb-plugins/fiftyone/evaluate``: a prediction field against a ground-truth field.

Params: ``pred_field``, ``gt_field``, ``task`` (default: inferred from the prediction field),
``dataset_preset`` (depth: nyu, kitti, ...; semantic: cityscapes, ...), ``alignment`` (depth: none,
scale, scale_shift, ...), ``gt_depth_scale`` (PNG units per metre of integer ground-truth depth),
``eval_key`` (store per-sample metrics as ``<eval_key>_<metric>``), ``target``, ``delegate``.
"""

import fiftyone.operators as foo
import fiftyone.operators.types as types

from vb_plugins.errors import InputError
from vb_plugins.evaluation import EvalSettings, make_accumulator
from vb_plugins.fiftyone_tools.evaluate import evaluate_fields, infer_task

from ._common import add_target, mark_errors, progress_reporter, summary_output, target_view

TASKS = ("depth", "normals", "semantic", "referring", "instance")


def _settings(params):
    options = {}
    if params.get("dataset_preset"):
        options["dataset"] = params["dataset_preset"]
    if params.get("alignment"):
        options["alignment"] = params["alignment"]
    return EvalSettings(**options)


def _check(ctx):
    """{param: error} for the form and for execute."""
    errors = {}
    dataset = ctx.dataset
    schema = dataset.get_field_schema() if dataset is not None else {}
    for key in ("pred_field", "gt_field"):
        name = ctx.params.get(key)
        if not name:
            errors[key] = f"{key}: required"
        elif name not in schema:
            errors[key] = f"{key}: no field {name!r} on this dataset"
    task = ctx.params.get("task") or None
    if task is not None and task not in TASKS:
        errors["task"] = f"task {task!r}: expected one of {', '.join(TASKS)}"
    if not errors:
        try:
            task = task or infer_task(dataset, ctx.params["pred_field"])
            if task != "semantic":
                make_accumulator(task, _settings(ctx.params))
        except InputError as error:
            errors["dataset_preset" if "dataset" in str(error) else "task"] = str(error)
    scale = ctx.params.get("gt_depth_scale")
    if scale not in (None, "") and (isinstance(scale, bool) or not isinstance(scale, int | float) or scale <= 0):
        errors["gt_depth_scale"] = f"gt_depth_scale={scale!r}: expected a positive number (PNG units per metre)"
    return errors


class Evaluate(foo.Operator):
    @property
    def config(self):
        return foo.OperatorConfig(
            name="evaluate",
            label="vb-plugins: Evaluate predictions against ground truth",
            description="Depth, normals, semantic, referring and instance metrics with the published protocols",
            dynamic=True,
            allow_immediate_execution=True,
            allow_delegated_execution=True,
            disable_schema_validation=True,
            icon="query_stats",
        )

    def resolve_delegation(self, ctx):
        return True if ctx.params.get("delegate") else None

    def resolve_input(self, ctx):
        inputs = types.Object()
        add_target(inputs, ctx, "Evaluate")
        fields = sorted(ctx.dataset.get_field_schema()) if ctx.dataset is not None else []
        for key, label in (("pred_field", "Prediction field"), ("gt_field", "Ground-truth field")):
            choices = types.Dropdown(label=label)
            for name in fields:
                choices.add_choice(name, label=name)
            inputs.enum(key, choices.values(), required=True, label=label, view=choices)
        tasks = types.Dropdown(label="Task")
        for name in TASKS:
            tasks.add_choice(name, label=name)
        inputs.enum("task", tasks.values(), label="Task", description="Default: inferred from the prediction field",
                    view=tasks)
        inputs.str("dataset_preset", default="", label="Protocol preset",
                   description="Depth: nyu, kitti, eth3d, diode, ...; semantic: cityscapes, ... (default none)")
        inputs.str("alignment", default="", label="Depth alignment",
                   description="none (metric), scale (median), scale_shift, ...")
        inputs.float("gt_depth_scale", label="Ground-truth depth PNG units per metre",
                     description="For integer depth maps without a `scale` attribute, e.g. 1000 (mm) or 256 (KITTI)")
        inputs.str("eval_key", default="", label="Store per-sample metrics as",
                   description="Prefix of per-sample metric fields (empty: do not store)")
        inputs.bool("delegate", default=False, label="Delegate")
        mark_errors(inputs, _check(ctx))
        return types.Property(inputs, view=types.View(label="Evaluate with vb-plugins"))

    def execute(self, ctx):
        errors = _check(ctx)
        if errors:
            raise InputError("; ".join(errors.values()))
        report = evaluate_fields(target_view(ctx), ctx.params["pred_field"], ctx.params["gt_field"],
                                 ctx.params.get("task") or None, eval_key=ctx.params.get("eval_key") or None,
                                 settings=_settings(ctx.params), gt_depth_scale=ctx.params.get("gt_depth_scale"),
                                 progress=progress_reporter(ctx))
        if not ctx.delegated and ctx.params.get("eval_key"):
            ctx.trigger("reload_dataset")
        return {"task": report["task"], "aggregate": report["aggregate"], "skipped": report["skipped"][:100],
                "protocol": report["protocol"]}

    def resolve_output(self, ctx):
        result = ctx.results or {}
        aggregate = result.get("aggregate") or {}
        metrics = aggregate.get("metrics") or {}
        lines = [f"**{result.get('task', '')}**: {aggregate.get('images', 0)} image(s) scored, "
                 f"{aggregate.get('skipped', 0)} skipped"]
        lines += [f"- {name}: {value:.4f}" if isinstance(value, float) else f"- {name}: {value}"
                  for name, value in metrics.items()]
        return summary_output(ctx, lines)

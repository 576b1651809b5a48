"""``@vb-plugins/fiftyone/train``: a `vb train` run (VBNet or LoRA) on reviewed samples.

Params: the samples, ``saved_view`` (e.g. ``vb-review: seg``; default: the saved view loaded in the App)
and/or ``view_tag`` (e.g. ``review``); the corrected fields ``semantic_field``, ``instance_field``,
``depth_field``, ``normals_field`` (at least one: each names a task); ``method`` (``full``: a VBNet,
``lora``: an adapter for a diffusers pipeline), ``model`` (``vbnet`` or a VBNet directory to fine-tune;
for LoRA the pipeline id or directory), ``steps``, ``batch_size``, ``learning_rate``, ``settings`` (JSON
object of any other `vb train` setting: ``vbnet``, ``lora``, ``augment``, ``resolution``, ...),
``output_dir`` (default a new ``train-<time>`` folder under the dataset's vb-plugins directory; an
existing run's folder resumes it), ``delegate`` (recommended: training takes a while; progress shows in
the App's runs page, and marking the run failed there stops it at the next step).
"""

import json

import fiftyone.operators as foo
import fiftyone.operators.types as types

from vb_plugins.errors import InputError

from ._common import StopPoller, mark_errors, progress_reporter, summary_output

FIELD_TYPES = {"semantic_field": ("Segmentation",), "instance_field": ("Detections",),
               "depth_field": ("Heatmap",), "normals_field": ("StringField",)}
FORM_KEYS = ("saved_view", "view_tag", "method", "model", "steps", "batch_size", "learning_rate", "settings")
TASK_OF = {"semantic_field": "semantic", "instance_field": "instance", "depth_field": "depth",
           "normals_field": "normals"}


def _loaded_saved_view(ctx):
    view = ctx.view
    return view.name if getattr(view, "is_saved", False) else None


def _config(ctx):
    """(config, errors): the checked training config, or the errors per form field."""
    from vb_plugins.fiftyone_tools.train_from_view import training_config

    params = ctx.params
    errors = {}
    if ctx.dataset is None:
        return None, {"dataset": "no dataset"}
    settings = params.get("settings") or {}
    if isinstance(settings, str):
        try:
            settings = json.loads(settings) if settings.strip() else {}
        except json.JSONDecodeError as error:
            errors["settings"] = f"settings: not valid JSON ({error.msg})"
    if not isinstance(settings, dict):
        errors.setdefault("settings", "settings: expected a JSON object")
    for key in ("steps", "batch_size", "learning_rate"):
        if params.get(key) not in (None, ""):
            settings = {**settings, key: params[key]}
    fields = {TASK_OF[key]: params.get(key) for key in FIELD_TYPES if params.get(key)}
    if errors:
        return None, errors
    try:
        config = training_config(ctx.dataset, fields, saved_view=params.get("saved_view") or None,
                                 view_tag=params.get("view_tag") or None, method=params.get("method") or "full",
                                 model=params.get("model") or None, output_dir=params.get("output_dir") or None,
                                 settings=settings)
    except InputError as error:
        message = str(error)
        first = message.split(":")[0].split("=")[0].split(" ")[0]  # errors start with the setting they name
        return None, {first if first in FORM_KEYS else "fields": message}
    return config, {}


class Train(foo.Operator):
    @property
    def config(self):
        return foo.OperatorConfig(
            name="train",
            label="vb-plugins: Train on reviewed samples (VBNet or LoRA)",
            description="Start a vb train run on a saved view or tagged samples, with the corrected fields as "
                        "ground truth",
            dynamic=True,
            allow_immediate_execution=True,
            allow_delegated_execution=True,
            default_choice_to_delegated=True,
            disable_schema_validation=True,
            icon="model_training",
        )

    def resolve_delegation(self, ctx):
        delegate = ctx.params.get("delegate")
        return None if delegate is None else bool(delegate)

    def resolve_run_name(self, ctx):
        chosen = ctx.params.get("saved_view") or f"tag {ctx.params.get('view_tag') or ''}"
        return f"vb-plugins train {ctx.params.get('method') or 'full'} on {chosen}"

    def resolve_input(self, ctx):
        inputs = types.Object()
        dataset = ctx.dataset
        saved = dataset.list_saved_views() if dataset is not None else []
        choices = types.Dropdown(label="Saved view")
        for name in saved:
            choices.add_choice(name, label=name)
        inputs.enum("saved_view", choices.values(), default=_loaded_saved_view(ctx), label="Saved view",
                    description="The samples to train on (e.g. a review queue, 'vb-review: <field>')", view=choices)
        inputs.str("view_tag", default="" if _loaded_saved_view(ctx) else "review", label="Tag",
                   description="Only samples with this tag (e.g. 'review'); empty: every sample of the saved view")
        schema = dataset.get_field_schema() if dataset is not None else {}
        for key, kinds in FIELD_TYPES.items():
            names = types.Dropdown(label=key.replace("_", " "))
            for name, field in sorted(schema.items()):
                kind = getattr(getattr(field, "document_type", None), "__name__", type(field).__name__)
                if kind in kinds:
                    names.add_choice(name, label=name)
            inputs.enum(key, names.values(), label=f"Corrected {TASK_OF[key]} field", view=names)
        methods = types.RadioGroup()
        methods.add_choice("full", label="VBNet (train or fine-tune a small model)")
        methods.add_choice("lora", label="LoRA (adapter for a diffusers image-editing pipeline)")
        inputs.enum("method", methods.values(), default="full", label="Method", view=methods)
        inputs.str("model", default="", label="Model",
                   description="VBNet: empty for a new one, or a VBNet directory to fine-tune; LoRA: the pipeline "
                               "id or directory")
        inputs.int("steps", default=1000, min=1, label="Steps")
        inputs.int("batch_size", default=8, min=1, label="Batch size")
        inputs.float("learning_rate", label="Learning rate", description="Default: vb train's")
        inputs.str("settings", default="", label="Other settings (JSON)",
                   description='Any vb train setting, e.g. {"vbnet": {"channels": [32, 64]}, "resolution": 256}')
        inputs.str("output_dir", default="", label="Output directory",
                   description="Default: a new train-<time> folder; an existing run's folder resumes it")
        inputs.bool("delegate", default=True, label="Delegate",
                    description="Run on a delegated-operations worker; progress in the runs page")
        if ctx.params.get("semantic_field") or ctx.params.get("instance_field") or ctx.params.get("depth_field") \
                or ctx.params.get("normals_field"):
            mark_errors(inputs, _config(ctx)[1])
        return types.Property(inputs, view=types.View(label="Train with vb-plugins"))

    def execute(self, ctx):
        from vb_plugins.fiftyone_tools.train_from_view import run_training

        config, errors = _config(ctx)
        if errors:
            raise InputError("; ".join(errors.values()))
        notes = []
        exported = run_training(config, progress=progress_reporter(ctx), should_stop=StopPoller(ctx),
                                log=notes.append)
        return {"model": str(exported), "output_dir": config.output_dir, "steps": config.steps,
                "tasks": list(config.tasks), "samples": config.data[0], "notes": notes[-20:],
                "message": f"{config.method} training: {config.steps} steps; model written to {exported}"}

    def resolve_output(self, ctx):
        result = ctx.results or {}
        usage = f"Predict with it: `vb predict TASK IMAGES -o OUT --model {result.get('model', '')}`"
        return summary_output(ctx, [result.get("message", ""), usage])

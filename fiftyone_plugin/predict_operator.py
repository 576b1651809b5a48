"""``@vb-plugins/fiftyone/predict``: run a vb-plugins task and store native labels.

Params (``ctx.params``; only ``task`` matters, everything else has a default): ``task``,
``output_field`` (default ``vb_<task>``), ``classes`` (JSON mapping, JSON list or "a, b"), ``colours``
(form: class -> colour overrides), ``expression``, ``colour`` / ``background`` / ``scheme`` (task
options), ``prompt`` (a custom prompt, painted as given; the legend is read from it instead), ``options``
(JSON object of other task options), ``target`` (``DATASET`` | ``CURRENT_VIEW`` | ``SELECTED_SAMPLES``),
``overwrite``, ``output_dir``, ``depth_max`` (metres, heatmap display range),
``threshold`` (matting: also a binary ``<field>_mask`` Segmentation at this alpha), ``encodes`` (relative depth:
``inverse`` or ``depth``),
``write_batch`` (samples per database write), ``save_visualizations``, ``save_confidence``,
``save_expected_error`` (off by default: ``<field>_expected_error``, metres or degrees, depth and normals),
``delegate``; and every run setting of :class:`vb_plugins.settings.RunSettings` by its name: ``model``
(id or path; empty = the bundled model), ``lora``, ``transformer_weights``, ``device``, ``dtype``,
``cpu_offload``, ``seed``, ``steps``, ``guidance``, ``megapixels``, ``ensemble``, ``batch_size``,
``dialect``, ``decode_mode``, ``profile`` (a model profile name or JSON profile file; empty: detected from
the model, see `vb profiles`); ``rewriter`` (referring: a vision-language model that rewrites the expression,
a reasoning query, per image) or ``gate`` + ``gate_threshold`` (semantic / instance: classes checked for
presence first), see :mod:`vb_plugins.fiftyone_tools.guidance`; ``engine`` (``local`` | ``ray``) and, with
``ray``, every option of :class:`vb_plugins.distributed.options.RayOptions`: ``ray_address``, ``workers``,
``gpus_per_worker``, ``cpus_per_worker`` (see :mod:`vb_plugins.fiftyone_tools.ray_runner`).
"""

import fiftyone.operators as foo
import fiftyone.operators.types as types

from vb_plugins.codecs.colors import parse_colour
from vb_plugins.errors import InputError
from vb_plugins.fiftyone_tools.params import class_legend, colour_key, hex_colour, parse_predict_params
from vb_plugins.fiftyone_tools.ray_runner import add_engine_inputs, engine_runner
from vb_plugins.fiftyone_tools.runner import existing_state, field_conflict, plan_run, predict_collection, run_signature
from vb_plugins.registry import get_task, list_tasks
from vb_plugins.settings import SETTINGS

from ._common import StopPoller, add_target, mark_errors, progress_reporter, summary_output, target_view


def add_setting_inputs(inputs):
    """One form field per run setting, as :mod:`vb_plugins.settings` declares it (label, help, default,
    bounds, choices): the form offers every setting ``vb predict`` has. Those for some tasks only (the
    rewriter, the presence gate) say so in their help; the params of other tasks list them as ignored."""
    for name, declared in SETTINGS.items():
        if not declared.form:
            continue
        common = {"label": declared.label or name, "description": declared.help}
        if declared.choices:
            inputs.enum(name, list(declared.choices), default=declared.default, **common)
        elif declared.type is bool:
            inputs.bool(name, default=declared.default, **common)
        elif declared.type is int:
            inputs.int(name, default=declared.default, min=declared.low, **common)
        elif declared.type is float:
            inputs.float(name, default=declared.default, min=declared.low, max=declared.high, **common)
        else:
            inputs.str(name, default=declared.default or "", **common)


class Predict(foo.Operator):
    @property
    def config(self):
        return foo.OperatorConfig(
            name="predict",
            label="vb-plugins: Predict depth, normals or segmentation",
            description="Run an image generator as a depth / normals / segmentation model on samples and "
                        "store the results as labels",
            dynamic=True,
            allow_immediate_execution=True,
            allow_delegated_execution=True,
            # Checks live in resolve_input (custom errors); FiftyOne's type checks would reject a mapping
            # or list passed as `classes` from code.
            disable_schema_validation=True,
            icon="auto_awesome",
        )

    def resolve_delegation(self, ctx):
        return True if ctx.params.get("delegate") else None

    def resolve_run_name(self, ctx):
        task = ctx.params.get("task") or "depth"
        return f"vb-plugins predict {task} -> {ctx.params.get('output_field') or 'vb_' + task}"

    def resolve_input(self, ctx):
        inputs = types.Object()
        kwargs, errors = parse_predict_params(ctx.params)
        add_target(inputs, ctx, "Predict on")

        tasks = types.Dropdown(label="Task")
        for name in list_tasks():
            tasks.add_choice(name, label=name, description=get_task(name).description)
        inputs.enum("task", tasks.values(), default="depth", required=True, label="Task", view=tasks)
        task_name = kwargs.get("task") or "depth"
        task = get_task(task_name) if "task" not in errors else None

        custom = bool(str(ctx.params.get("prompt") or "").strip())
        inputs.str("prompt", default="", label="Custom prompt (optional)",
                   description="Paint with this prompt instead of the task's own; the legend (classes and colours, "
                               "background, referring objects, depth scheme) is read from it, so leave Classes "
                               "and the expression empty. A part it cannot read is named here")
        if task is not None and "classes" in task.uses:
            inputs.str("classes", required=task.name == "semantic" and not custom, label="Classes",
                       description='Class names ("road, car, sky"), a JSON list, or a JSON mapping to colours '
                                   '({"road": "gray", "car": "#ff0000"}); missing colours are assigned')
            self._colour_fields(inputs, task, ctx.params, errors)
        if task is not None and "expression" in task.uses:
            inputs.str("expression", required=not custom, label="Referring expression",
                       description='The object to segment, e.g. "the red car on the left"; with a rewriter, a '
                                   'reasoning query such as "the object that keeps food cold"')
        if task is not None and "colour" in task.uses:
            inputs.str("colour", default="", label="Target colour", description="Colour the model paints the "
                                                                                "object in (default white)")
        inputs.str("output_field", default=f"vb_{task_name}", required=True, label="Output field",
                   description="Sample field for the labels; confidence, uncertainty and the generated images "
                               "go to <field>_confidence, <field>_uncertainty and <field>_generated")
        add_setting_inputs(inputs)
        inputs.bool("overwrite", default=False, label="Overwrite existing values",
                    description="Replace values already in the output field (otherwise labelled samples are "
                                "skipped, which resumes an interrupted run)")
        inputs.str("output_dir", default="", label="Output directory",
                   description="Where label files (depth maps, masks, generated images) are written; default "
                               "<FiftyOne dataset dir>/vb-plugins/<dataset>/<field>")
        inputs.bool("delegate", default=False, label="Delegate",
                    description="Queue the run for a delegated-operations worker (`fiftyone delegated launch`)")
        add_engine_inputs(inputs, types, ctx.params, errors)
        inputs.str("options", default="", label="Task options (JSON)",
                   description='Other task options, e.g. {"tolerance": 40, "passes": 3}')
        if task is not None and "threshold" in task.options:
            inputs.float("threshold", default=0.0, label="Foreground threshold",
                         description="Also store a Segmentation <field>_mask, 1 where alpha is above this value "
                                     "(0: only the alpha heatmap)")
        if task is not None and "encodes" in task.options:
            encodes = types.RadioGroup()
            encodes.add_choice("inverse", label="inverse depth, near bright (Open Vision Banana)")
            encodes.add_choice("depth", label="depth, near dark (Edit2Perceive)")
            inputs.enum("encodes", encodes.values(), default="inverse", label="The gray encodes", view=encodes)
        if task is not None and task.kind.name == "depth":
            inputs.float("depth_max", label="Depth display range (m)",
                         description="Heatmap range 0..this many metres for every sample (default: each "
                                     "sample's own maximum)")
        self._check_field(ctx, inputs, kwargs, errors)
        mark_errors(inputs, errors)
        return types.Property(inputs, view=types.View(label="Predict with vb-plugins"))

    def _colour_fields(self, inputs, task, params, errors):
        """One editable colour per class, pre-filled with the colour it will be prompted with."""
        if "classes" in errors or not params.get("classes"):
            return
        try:
            legend = class_legend(task, params["classes"])
        except InputError:
            return
        colours = types.Object()
        given = params.get("colours") or {}
        for name, colour in legend:
            key = colour_key(name)
            prop = colours.str(key, default=hex_colour(colour), label=name)
            value = given.get(key) if isinstance(given, dict) else None
            if value:
                try:
                    parse_colour(value, f"colour of {name!r}")
                except InputError as error:
                    prop.invalid, prop.error_message = True, str(error)
                    errors.pop("colours", None)
        inputs.define_property("colours", colours, label="Class colours",
                               description="The colour each class is painted in (CSS name, #rrggbb or "
                                           "(r, g, b)); edit to taste")

    def _check_field(self, ctx, inputs, kwargs, errors):
        """Tell the user, before running, whether the output field is new, resumed or protected."""
        if errors or ctx.dataset is None:
            return
        plan = {k: v for k, v in kwargs.items()
                if k not in ("overwrite", "ignored", "task", "output_field", "write_batch")}
        try:
            predictor, writer = plan_run(ctx.dataset, kwargs["task"], kwargs["output_field"], **plan)
        except InputError as error:
            errors.setdefault("options", str(error))
            return
        signature = run_signature(predictor)
        conflict = field_conflict(ctx.dataset, writer.fields, writer.kind, signature, kwargs["overwrite"])
        if conflict:
            errors["output_field"] = conflict
        elif existing_state(ctx.dataset, writer.fields, signature) == "resume" and not kwargs["overwrite"]:
            inputs.view("resume", types.Notice(label=f"{kwargs['output_field']!r} exists from a run with the same "
                                                     "settings: samples already labelled are skipped"))

    def execute(self, ctx):
        kwargs, errors = parse_predict_params(ctx.params)
        if errors:
            raise InputError("; ".join(errors.values()))
        ignored = kwargs.pop("ignored")
        view = target_view(ctx)
        runner = engine_runner(ctx.params, predict_collection)  # engine "local" (default) or "ray"
        run = runner(view, progress=progress_reporter(ctx), should_stop=StopPoller(ctx), **kwargs)
        if not ctx.delegated:
            ctx.trigger("reload_dataset")
        result = run.to_dict()
        result["skipped_count"] = len(run.skipped)
        result["skipped"] = run.skipped[:100]
        result["failed"] = run.failed[:100]
        result["ignored_params"] = ignored
        result["message"] = run.message()
        return result

    def resolve_output(self, ctx):
        result = ctx.results or {}
        lines = [result.get("message", "")]
        if result.get("skipped"):
            lines.append("Skipped: " + "; ".join(f"{s['filepath']} ({s['reason']})" for s in result["skipped"][:10]))
        if result.get("failed"):
            lines.append("Failed: " + "; ".join(f"{s['filepath']} ({s['reason']})" for s in result["failed"][:10]))
        if result.get("output_dir"):
            lines.append(f"Files: `{result['output_dir']}`")
        return summary_output(ctx, lines)

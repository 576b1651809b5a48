"""``@vb-plugins/fiftyone/relative_to_metres``: relative depth -> metres from a field of sparse known depths.

Params: ``relative_field`` (a relative-depth heatmap field written by ``predict``), ``known_field`` (a
depth heatmap of known depths, 0 / NaN = unknown), ``known_scale`` (its PNG units per metre, when its labels
carry no ``scale``), ``output_field`` (default ``<relative_field>_metres``), ``output_dir``, ``overwrite``,
``target``. A per-image least-squares scale and shift (in inverse depth or depth, as the relative field
encodes); samples with fewer than 2 known points are skipped and listed.
"""

import fiftyone.operators as foo
import fiftyone.operators.types as types

from vb_plugins.errors import InputError
from vb_plugins.fiftyone_tools.metric_depth import metres_from_field

from ._common import add_target, mark_errors, progress_reporter, summary_output, target_view


def _heatmap_fields(ctx) -> list[str]:
    if ctx.dataset is None:
        return []
    return [name for name, field in ctx.dataset.get_field_schema().items()
            if getattr(getattr(field, "document_type", None), "__name__", "") == "Heatmap"]


def _check(ctx) -> dict:
    errors = {}
    fields = _heatmap_fields(ctx)
    for key in ("relative_field", "known_field"):
        name = ctx.params.get(key)
        if not name:
            errors[key] = f"{key}: required"
        elif name not in fields:
            errors[key] = f"{key}: no heatmap field {name!r} on this dataset"
    scale = ctx.params.get("known_scale")
    if scale not in (None, "") and (isinstance(scale, bool) or not isinstance(scale, int | float) or scale <= 0):
        errors["known_scale"] = f"known_scale={scale!r}: expected a positive number of PNG units per metre"
    return errors


class RelativeToMetres(foo.Operator):
    @property
    def config(self):
        return foo.OperatorConfig(
            name="relative_to_metres",
            label="vb-plugins: Relative depth to metres",
            description="Fit each image's relative depth to sparse known depths (least-squares scale and shift)",
            dynamic=True,
            allow_immediate_execution=True,
            allow_delegated_execution=True,
            disable_schema_validation=True,
            icon="straighten",
        )

    def resolve_input(self, ctx):
        inputs = types.Object()
        add_target(inputs, ctx, "Convert")
        choices = types.Dropdown(label="Heatmap field")
        for name in _heatmap_fields(ctx):
            choices.add_choice(name, label=name)
        inputs.enum("relative_field", choices.values(), required=True, label="Relative depth field", view=choices)
        inputs.enum("known_field", choices.values(), required=True, label="Known depths field", view=choices,
                    description="Depth heatmaps with a few known depths (0 or NaN where unknown)")
        inputs.float("known_scale", label="Known depths: PNG units per metre",
                     description="Only for heatmaps whose labels carry no scale (e.g. 1000 for millimetres)")
        relative = ctx.params.get("relative_field") or "relative_depth"
        inputs.str("output_field", default=f"{relative}_metres", required=True, label="Output field")
        inputs.str("output_dir", default="", label="Output directory")
        inputs.bool("overwrite", default=False, label="Overwrite an existing output field")
        mark_errors(inputs, _check(ctx))
        return types.Property(inputs, view=types.View(label="Relative depth to metres with vb-plugins"))

    def execute(self, ctx):
        errors = _check(ctx)
        if errors:
            raise InputError("; ".join(errors.values()))
        params = ctx.params
        result = metres_from_field(
            target_view(ctx), params["relative_field"], params["known_field"],
            params.get("output_field") or f"{params['relative_field']}_metres",
            known_scale=params.get("known_scale") or None, output_dir=params.get("output_dir") or None,
            overwrite=bool(params.get("overwrite")), progress=progress_reporter(ctx))
        result["skipped"] = result["skipped"][:100]
        return result

    def resolve_output(self, ctx):
        result = ctx.results or {}
        return summary_output(ctx, [f"{result.get('written', 0)} sample(s) in metres, "
                                    f"{len(result.get('skipped', []))} skipped"])

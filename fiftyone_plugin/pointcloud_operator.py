"""``@vb-plugins/fiftyone/depth_to_3d``: point clouds from a depth field, as 3D scenes in a grouped dataset.

Params: ``depth_field`` (a ``fo.Heatmap`` of metric depth, e.g. written by ``predict``),
``dataset_name`` (grouped dataset to create or extend; default ``<dataset>-3d``), ``fov`` (assumed
horizontal field of view, degrees, default 60), ``max_depth`` (metres), ``max_points``,
``output_dir``, ``target``, ``delegate``. Re-runs skip samples already converted.
"""

import fiftyone.operators as foo
import fiftyone.operators.types as types

from vb_plugins.errors import InputError
from vb_plugins.fiftyone_tools.pointclouds import depth_to_point_clouds

from ._common import StopPoller, add_target, mark_errors, progress_reporter, summary_output, target_view


def _check(ctx):
    errors = {}
    name = ctx.params.get("depth_field")
    schema = ctx.dataset.get_field_schema() if ctx.dataset is not None else {}
    if not name:
        errors["depth_field"] = "depth_field: required"
    elif name not in schema:
        errors["depth_field"] = f"depth_field: no field {name!r} on this dataset"
    elif getattr(getattr(schema[name], "document_type", None), "__name__", "") != "Heatmap":
        errors["depth_field"] = f"depth_field: {name!r} does not hold depth heatmaps"
    fov = ctx.params.get("fov", 60.0)
    if fov in (None, ""):
        fov = 60.0
    if isinstance(fov, bool) or not isinstance(fov, int | float) or not 1 < fov < 179:
        errors["fov"] = f"fov={fov!r}: expected degrees between 1 and 179"
    return errors


class DepthTo3D(foo.Operator):
    @property
    def config(self):
        return foo.OperatorConfig(
            name="depth_to_3d",
            label="vb-plugins: Depth to 3D point clouds",
            description="Unproject metric depth into coloured point clouds (3D scenes in a grouped dataset)",
            dynamic=True,
            allow_immediate_execution=True,
            allow_delegated_execution=True,
            disable_schema_validation=True,
            icon="view_in_ar",
        )

    def resolve_delegation(self, ctx):
        return True if ctx.params.get("delegate") else None

    def resolve_input(self, ctx):
        inputs = types.Object()
        add_target(inputs, ctx, "Convert")
        choices = types.Dropdown(label="Depth field")
        if ctx.dataset is not None:
            for name, field in ctx.dataset.get_field_schema().items():
                if getattr(getattr(field, "document_type", None), "__name__", "") == "Heatmap":
                    choices.add_choice(name, label=name)
        inputs.enum("depth_field", choices.values(), required=True, label="Depth field", view=choices)
        default_name = f"{ctx.dataset.name}-3d" if ctx.dataset is not None else ""
        inputs.str("dataset_name", default=default_name, label="3D dataset",
                   description="Grouped dataset to create or extend (slices: image, 3d)")
        inputs.float("fov", default=60.0, label="Horizontal field of view (degrees)",
                     description="Assumed camera field of view for unprojection")
        inputs.float("max_depth", label="Maximum depth (m)", description="Leave out farther points")
        inputs.int("max_points", default=200000, min=1, label="Maximum points per cloud")
        inputs.str("output_dir", default="", label="Output directory", description="Where .ply and .fo3d files go")
        inputs.bool("delegate", default=False, label="Delegate")
        mark_errors(inputs, _check(ctx))
        return types.Property(inputs, view=types.View(label="Depth to 3D with vb-plugins"))

    def execute(self, ctx):
        errors = _check(ctx)
        if errors:
            raise InputError("; ".join(errors.values()))
        params = ctx.params
        result = depth_to_point_clouds(
            target_view(ctx), params["depth_field"], params.get("dataset_name") or None,
            params.get("output_dir") or None, fov=float(params.get("fov") or 60.0),
            max_depth=params.get("max_depth") or None, max_points=params.get("max_points") or 200000,
            progress=progress_reporter(ctx), should_stop=StopPoller(ctx))
        result["skipped"] = result["skipped"][:100]
        return result

    def resolve_output(self, ctx):
        result = ctx.results or {}
        return summary_output(ctx, [f"{result.get('added', 0)} point cloud(s) added to "
                                    f"`{result.get('dataset', '')}` ({result.get('already_done', 0)} already there, "
                                    f"{len(result.get('skipped', []))} skipped)"])

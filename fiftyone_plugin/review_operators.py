"""``@vb-plugins/fiftyone/review_queue`` and ``@vb-plugins/fiftyone/backfill_scores``.

``review_queue`` params: ``field`` (a prediction field with scores), ``count`` (default 50), ``ranking``
(``least_confident`` | ``most_uncertain`` | ``disagreement``), ``other_field`` (for ``disagreement``:
another model's field or ground truth), ``classes`` (optional: only samples containing one of these
classes, "a, b"), ``tag`` (default ``review``), ``target``; ``annotate`` (hand the queue to the
annotation backend), ``annotation_backend`` (default: FiftyOne's default backend), ``anno_key``,
``launch_editor``. It tags the chosen samples, saves the view ``vb-review: F`` and opens it in the App.

``backfill_scores`` params: ``field``, ``target``, ``delegate``: recompute a field's per-sample scores
from its stored files (runs made before scores existed, or after files were edited).
"""

import fiftyone.operators as foo
import fiftyone.operators.types as types

from vb_plugins.errors import InputError

from ._common import add_target, mark_errors, progress_reporter, summary_output, target_view

RANKING_LABELS = {"least_confident": "Least confident (lowest F_confidence_mean)",
                  "most_uncertain": "Most uncertain (highest F_uncertainty_mean; ensembles)",
                  "disagreement": "Disagreement with another field (model or ground truth)"}


def _label_fields(dataset, kinds=("Segmentation", "Detections", "Heatmap")) -> list[str]:
    if dataset is None:
        return []
    return sorted(name for name, field in dataset.get_field_schema().items()
                  if getattr(getattr(field, "document_type", None), "__name__", "") in kinds)


def _scored_fields(dataset) -> list[str]:
    if dataset is None:
        return []
    schema = dataset.get_field_schema()
    return sorted(name for name in schema if f"{name}_confidence_mean" in schema)


def _dropdown(inputs, key, names, label, description="", required=True):
    choices = types.Dropdown(label=label)
    for name in names:
        choices.add_choice(name, label=name)
    inputs.enum(key, choices.values(), required=required, label=label, description=description, view=choices)


def _queue_errors(ctx) -> dict:
    from vb_plugins.fiftyone_tools.review import RANKINGS

    errors = {}
    params = ctx.params
    schema = ctx.dataset.get_field_schema() if ctx.dataset is not None else {}
    field = params.get("field")
    if not field:
        errors["field"] = "field: required"
    elif field not in schema:
        errors["field"] = f"field: no field {field!r} on this dataset"
    ranking = params.get("ranking") or "least_confident"
    if ranking not in RANKINGS:
        errors["ranking"] = f"ranking {ranking!r}: expected one of {', '.join(RANKINGS)}"
    elif ranking == "disagreement":
        other = params.get("other_field")
        if not other:
            errors["other_field"] = "other_field: required to rank by disagreement"
        elif other not in schema:
            errors["other_field"] = f"other_field: no field {other!r} on this dataset"
    count = params.get("count", 50)
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        errors["count"] = f"count={count!r}: expected a positive whole number of samples"
    if params.get("annotate") and "field" not in errors:
        from vb_plugins.fiftyone_tools.annotation import configured_backend, label_schema

        try:
            configured_backend(params.get("annotation_backend") or None)
        except InputError as error:
            errors["annotation_backend"] = str(error)
        try:
            label_schema(ctx.dataset, field)
        except InputError as error:
            errors["annotate"] = str(error)
    return errors


class ReviewQueue(foo.Operator):
    @property
    def config(self):
        return foo.OperatorConfig(
            name="review_queue",
            label="vb-plugins: Review queue (least confident first)",
            description="Tag the samples a prediction is least sure of, save them as a view and open it; "
                        "optionally send them to your annotation backend",
            dynamic=True,
            allow_immediate_execution=True,
            allow_delegated_execution=False,
            disable_schema_validation=True,
            icon="fact_check",
        )

    def resolve_input(self, ctx):
        inputs = types.Object()
        add_target(inputs, ctx, "Queue from")
        _dropdown(inputs, "field", _scored_fields(ctx.dataset), "Prediction field",
                  "A field written by vb-plugins predict (or backfilled): it has <field>_confidence_mean")
        inputs.int("count", default=50, min=1, label="How many", description="Samples to queue")
        rankings = types.RadioGroup()
        for name, label in RANKING_LABELS.items():
            rankings.add_choice(name, label=label)
        inputs.enum("ranking", rankings.values(), default="least_confident", label="Ranking", view=rankings)
        if ctx.params.get("ranking") == "disagreement":
            _dropdown(inputs, "other_field", _label_fields(ctx.dataset, ("Segmentation", "Detections", "Heatmap",
                                                                         "StringField")),
                      "Compare with", "Another model's field, or ground truth: per-sample metrics of the "
                                      "evaluate operator, stored as <field>_vs_<other>_<metric>")
        inputs.str("classes", default="", label="Only samples with these classes",
                   description='Optional, e.g. "car, person" (semantic: pixels of the class; instance: a detection)')
        inputs.str("tag", default="review", label="Tag", description="Added to the queued samples (once)")
        inputs.bool("annotate", default=False, label="Send to annotation backend",
                    description="Hand the queue to FiftyOne's annotate() (CVAT, Label Studio, ...) to correct "
                                "the field in place; load the corrections with dataset.load_annotations")
        if ctx.params.get("annotate"):
            inputs.str("annotation_backend", default="", label="Annotation backend",
                       description="Default: FiftyOne's default backend")
            inputs.str("anno_key", default="", label="Annotation run key", description="Default: vb_review_<field>")
            inputs.bool("launch_editor", default=False, label="Open the editor")
        mark_errors(inputs, _queue_errors(ctx))
        return types.Property(inputs, view=types.View(label="Review queue"))

    def execute(self, ctx):
        from vb_plugins.fiftyone_tools.review import review_queue

        errors = _queue_errors(ctx)
        if errors:
            raise InputError("; ".join(errors.values()))
        params = ctx.params
        queue = review_queue(target_view(ctx), params["field"], params.get("count", 50),
                             params.get("ranking") or "least_confident", other_field=params.get("other_field"),
                             classes=params.get("classes") or None, tag=params.get("tag") or "review",
                             progress=progress_reporter(ctx))
        result = queue.to_dict()
        result["message"] = queue.message()
        saved = ctx.dataset.load_saved_view(queue.view_name)
        if params.get("annotate"):
            from vb_plugins.fiftyone_tools.annotation import send_to_annotation

            annotation = send_to_annotation(saved, params["field"], backend=params.get("annotation_backend") or None,
                                            anno_key=params.get("anno_key") or None,
                                            launch_editor=bool(params.get("launch_editor")))
            result["anno_key"] = annotation.key
            result["message"] += f"; sent to {annotation.config.name} as annotation run {annotation.key!r}"
        if not ctx.delegated:
            ctx.ops.reload_dataset()  # the new tags and the saved view
            ctx.ops.set_view(view=saved)  # open the queue, in rank order
        return result

    def resolve_output(self, ctx):
        result = ctx.results or {}
        return summary_output(ctx, [result.get("message", "")])


class BackfillScores(foo.Operator):
    @property
    def config(self):
        return foo.OperatorConfig(
            name="backfill_scores",
            label="vb-plugins: Backfill per-sample scores",
            description="Recompute a field's per-sample scores (mean confidence, uncertainty, class shares, "
                        "instance count) from its stored files, without generating again",
            dynamic=True,
            allow_immediate_execution=True,
            allow_delegated_execution=True,
            disable_schema_validation=True,
            icon="functions",
        )

    def resolve_delegation(self, ctx):
        return True if ctx.params.get("delegate") else None

    def _errors(self, ctx):
        field = ctx.params.get("field")
        schema = ctx.dataset.get_field_schema() if ctx.dataset is not None else {}
        if not field:
            return {"field": "field: required"}
        if field not in schema:
            return {"field": f"field: no field {field!r} on this dataset"}
        return {}

    def resolve_input(self, ctx):
        inputs = types.Object()
        add_target(inputs, ctx, "Score")
        _dropdown(inputs, "field", _label_fields(ctx.dataset), "Label field")
        inputs.bool("delegate", default=False, label="Delegate")
        mark_errors(inputs, self._errors(ctx))
        return types.Property(inputs, view=types.View(label="Backfill scores"))

    def execute(self, ctx):
        from vb_plugins.fiftyone_tools.scores import backfill_scores

        errors = self._errors(ctx)
        if errors:
            raise InputError("; ".join(errors.values()))
        result = backfill_scores(target_view(ctx), ctx.params["field"], progress=progress_reporter(ctx))
        if not ctx.delegated:
            ctx.ops.reload_dataset()
        return {"field": result.field, "scored": result.scored, "fields": list(result.fields),
                "incomplete": result.incomplete, "skipped": result.skipped[:100], "message": result.message()}

    def resolve_output(self, ctx):
        return summary_output(ctx, [(ctx.results or {}).get("message", "")])

"""Helpers shared by the operators: target views, progress, cancellation, form errors."""

import time

import fiftyone.operators.types as types

from vb_plugins.errors import InputError
from vb_plugins.fiftyone_tools.params import TARGETS


def target_view(ctx, param="target"):
    """The samples to process: ``DATASET``, ``CURRENT_VIEW`` (the default: the current view, or the
    dataset when no view is applied) or ``SELECTED_SAMPLES`` (``ctx.selected``)."""
    target = ctx.params.get(param)
    if target not in (None, "") and target not in TARGETS:
        raise InputError(f"target {target!r}: expected DATASET, CURRENT_VIEW or SELECTED_SAMPLES")
    if target == "SELECTED_SAMPLES" and not ctx.selected:
        raise InputError("target SELECTED_SAMPLES: no samples are selected")
    return ctx.target_view(param_name=param)


def add_target(inputs, ctx, action):
    """The App's target chooser (dataset / current view / selected samples) as param ``target``."""
    return inputs.view_target(ctx, name="target", action_description=action, dataset_label="Entire dataset",
                              current_view_label="Current view", selected_samples_label="Selected samples")


class StopPoller:
    """``should_stop()`` for delegated runs: true once the run is no longer "running" (marked failed
    from the App's runs page or ``fiftyone delegated fail ID``). Polls the database at most every
    ``interval`` seconds; always false for immediate runs."""

    def __init__(self, ctx, interval: float = 1.0):
        self.run_doc = ctx.request_params.get("run_doc") if ctx.delegated else None
        self.interval = interval
        self.checked = 0.0
        self.stopped = False

    def __call__(self) -> bool:
        if self.run_doc is None or self.stopped:
            return self.stopped
        now = time.monotonic()
        if now - self.checked >= self.interval:
            self.checked = now
            from fiftyone.operators.delegated import DelegatedOperationService

            operation = DelegatedOperationService().get(self.run_doc)
            self.stopped = operation is not None and operation.run_state != "running"
        return self.stopped


def progress_reporter(ctx):
    """``progress(done, total, message)`` -> ``ctx.set_progress`` (the runs page shows it)."""

    def report(done, total, message):
        ctx.set_progress(progress=done / max(total, 1), label=message)

    return report


def mark_errors(inputs, errors: dict):
    """Show each error on its form field (creating a text field for keys without one) and in a banner;
    an invalid property makes FiftyOne refuse to execute, in the App and from code alike."""
    if not errors:
        return
    for key, message in errors.items():
        prop = inputs.properties.get(key)
        if prop is None:
            prop = inputs.str(key, label=key.replace("_", " ").capitalize())
        prop.invalid = True
        prop.error_message = message
    inputs.view("errors", types.Error(label="Fix before running", description="; ".join(errors.values())))


def summary_output(ctx, lines: list[str]):
    outputs = types.Object()
    outputs.md("\n\n".join(lines), name="summary")
    return types.Property(outputs)

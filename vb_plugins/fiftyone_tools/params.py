"""Operator parameters -> validated arguments of :func:`predict_collection`, with per-parameter errors.

The plugin's form and its ``execute`` share this, so a bad colour or class list is reported on the
form field before anything runs, and the same check guards calls from code. The run settings (model,
LoRA, dtype, guidance, ...) are read as :mod:`vb_plugins.settings` declares them, so the form has every
setting the CLI has. No fiftyone import.
"""

from __future__ import annotations

import json
import re

from vb_plugins.codecs.colors import parse_class_colours, parse_colour
from vb_plugins.errors import InputError
from vb_plugins.fiftyone_tools.runner import check_field_name
from vb_plugins.predict import Predictor
from vb_plugins.registry import get_task, list_tasks
from vb_plugins.settings import SETTINGS, RunSettings

TARGETS = ("DATASET", "CURRENT_VIEW", "SELECTED_SAMPLES", "BASE_VIEW", "DATASET_VIEW")


def colour_key(name: str) -> str:
    """Form key of a class's colour field: the class name made safe for a form path."""
    return "c_" + re.sub(r"[^A-Za-z0-9]+", "_", name).strip("_").lower()


def hex_colour(rgb) -> str:
    return "#%02x%02x%02x" % tuple(int(v) for v in rgb)


def _blank(value) -> bool:
    return value is None or (isinstance(value, str) and not value.strip()) or value in ([], {})


def class_legend(task, classes, colours: dict | None = None) -> list[tuple[str, tuple[int, int, int]]]:
    """The legend a run will prompt with: ``classes`` (JSON mapping, JSON list, "a, b" or a mapping /
    list object) with colours from ``colours`` (form key or class name -> colour) taking precedence;
    classes still without a colour get well-separated ones. Two classes may not share a colour."""
    legend = parse_class_colours(classes, "classes")
    overrides = {}
    for key, value in (colours or {}).items():
        if not _blank(value):
            overrides[key] = value
    given = []
    for name, colour in legend:
        override = overrides.get(colour_key(name), overrides.get(name))
        if override is not None:
            colour = parse_colour(override, f"colour of {name!r}")
        given.append((name, colour))
    resolved = task.resolve_classes([[name, colour] for name, colour in given])
    seen: dict[tuple, str] = {}
    for name, colour in resolved:
        if tuple(colour) in seen:
            raise InputError(f"classes {seen[tuple(colour)]!r} and {name!r} share the colour {hex_colour(colour)}; "
                             "each class needs its own colour")
        seen[tuple(colour)] = name
    return list(resolved)


def _number(params, key, default, kind, errors, minimum=None):
    """A numeric param that is not a run setting (``write_batch``, ``depth_max``)."""
    value = params.get(key, default)
    if _blank(value):
        return default
    try:
        if isinstance(value, bool):
            raise ValueError
        number = kind(value)
        if kind is int and number != float(value):
            raise ValueError
    except (TypeError, ValueError):
        errors[key] = f"{key}={value!r}: expected {'a whole number' if kind is int else 'a number'}"
        return default
    if minimum is not None and number < minimum:
        errors[key] = f"{key}={value!r}: must be at least {minimum}"
        return default
    return number


def parse_settings(params: dict, errors: dict[str, str], task=None, ignored: list | None = None) -> RunSettings | None:
    """The run settings among ``params`` (every field of :class:`RunSettings` the form shows), each
    parsed and checked by its own declaration; an error is recorded under the setting's name. None when
    one is invalid. Settings declared for other tasks than ``task`` (a rewriter for depth) go to ``ignored``,
    as does a gate threshold without a gate."""
    values = {}
    for name, declared in SETTINGS.items():
        if not declared.form or _blank(params.get(name)):
            continue
        if task is not None and declared.applies is not None and not declared.applies(task):
            if ignored is not None:
                ignored.append(name)
            continue
        if name == "gate_threshold" and _blank(params.get("gate")):
            if ignored is not None:
                ignored.append(name)
            continue
        try:
            values[name] = declared.validate(declared.parse(params[name]))
        except InputError as error:
            errors[name] = str(error)
    if any(name in errors for name in SETTINGS):
        return None
    return RunSettings(**values)


def _options(value, errors) -> dict:
    if _blank(value):
        return {}
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as error:
            errors["options"] = f"options: invalid JSON ({error.msg} at position {error.pos})"
            return {}
    if not isinstance(value, dict):
        errors["options"] = "options: expected a JSON object of task options, e.g. {\"tolerance\": 40}"
        return {}
    return dict(value)


def parse_predict_params(params: dict) -> tuple[dict, dict[str, str]]:
    """``(kwargs for predict_collection, {param: error message})``. Errors name the parameter; with
    errors the kwargs are incomplete and must not be used. Task options the chosen task does not use
    (e.g. ``classes`` for depth, left over from the form) are dropped and listed in ``kwargs["ignored"]``.
    """
    errors: dict[str, str] = {}
    kwargs: dict = {}
    task_name = params.get("task") or "depth"
    try:
        task = get_task(task_name)
    except InputError:
        errors["task"] = f"task {task_name!r}: not one of {', '.join(list_tasks())}"
        return kwargs, errors
    kwargs["task"] = task.name
    field = params.get("output_field") or f"vb_{task.name}"
    try:
        kwargs["output_field"] = check_field_name(field)
    except InputError as error:
        errors["output_field"] = str(error)
    ignored: list[str] = []
    kwargs["settings"] = parse_settings(params, errors, task, ignored)
    target = params.get("target")
    if not _blank(target) and target not in TARGETS:
        errors["target"] = f"target {target!r}: expected DATASET, CURRENT_VIEW or SELECTED_SAMPLES"
    for key in ("overwrite", "save_visualizations", "save_confidence", "save_expected_error", "delegate"):
        value = params.get(key)
        if value is not None and not isinstance(value, bool):
            errors[key] = f"{key}={value!r}: expected true or false"
    kwargs["overwrite"] = bool(params.get("overwrite") or False)
    kwargs["save_visualizations"] = params.get("save_visualizations", True) is not False
    kwargs["save_confidence"] = params.get("save_confidence", True) is not False
    kwargs["save_expected_error"] = params.get("save_expected_error", False) is True
    kwargs["write_batch"] = _number(params, "write_batch", None, int, errors, 1)
    depth_max = _number(params, "depth_max", None, float, errors)
    kwargs["depth_max"] = depth_max or None
    kwargs["output_dir"] = None if _blank(params.get("output_dir")) else str(params["output_dir"]).strip()

    options = _options(params.get("options"), errors)
    for key in ("colour", "background", "scheme"):  # form fields shown only for the tasks using them
        if not _blank(params.get(key)):
            if key in task.uses:
                options.setdefault(key, params[key])
            else:
                ignored.append(key)
    for key in ("threshold", "encodes"):  # task options with a form field of their own (matting, relative depth)
        if not _blank(params.get(key)):
            if key in task.options:
                options.setdefault(key, params[key])
            else:
                ignored.append(key)
    if "classes" in task.uses:
        if not _blank(params.get("classes")):
            try:
                kwargs["classes"] = [[name, hex_colour(c)] for name, c in
                                     class_legend(task, params["classes"], params.get("colours"))]
            except InputError as error:
                message = str(error)
                key = "colours" if "colour of" in message and not _blank(params.get("colours")) else "classes"
                errors[key] = message
    elif not _blank(params.get("classes")):
        ignored.append("classes")
    if "expression" in task.uses:
        if not _blank(params.get("expression")):
            kwargs["expression"] = str(params["expression"]).strip()
    elif not _blank(params.get("expression")):
        ignored.append("expression")
    prompt = params.get("prompt")
    if not _blank(prompt):  # a custom prompt: painted as given, the legend read from it
        if isinstance(prompt, str):
            kwargs["prompt"] = prompt.strip()
        else:
            errors["prompt"] = f"prompt: expected text, got {type(prompt).__name__}"
    kwargs["task_options"] = options
    kwargs["ignored"] = ignored
    if not errors:  # the task's own checks (required classes / expression, option values), as the model's
        try:         # profile decodes it (Open Vision Banana's depth is relative-depth)
            spec_options = dict(options)
            for key in ("classes", "expression", "prompt"):
                if key in kwargs:
                    spec_options[key] = kwargs[key]
            Predictor(task.name, settings=kwargs["settings"], **spec_options)
        except InputError as error:
            message = str(error)
            key = "prompt" if "prompt" in kwargs and "prompt" in message else \
                "profile" if message.startswith(("profile ", "unknown profile")) else \
                "classes" if "classes" in message else "expression" if "expression" in message else "options"
            errors[key] = message
    return kwargs, errors

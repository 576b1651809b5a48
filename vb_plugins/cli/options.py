"""Task options shared by the sub-commands that take a task (encode, decode, prompt, predict, ...)."""

from __future__ import annotations

import argparse

from vb_plugins.errors import InputError
from vb_plugins.registry import get_task
from vb_plugins.settings import SETTINGS, RunSettings


def add_task_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("task options")
    group.add_argument("--classes", help='class legend: JSON {"cat": "red", ...}, JSON list, or "cat,dog"')
    group.add_argument("--expression", help="referring expression (the phrase naming the object)")
    group.add_argument("--colour", "--color", dest="colour", help="target colour (referring)")
    group.add_argument("--background", help="background colour (instance, referring)")
    group.add_argument("--scheme", help="depth colour scheme (see `vb schemes`)")
    group.add_argument("--tolerance", type=float, help="colour tolerance in 8-bit levels (segmentation)")
    group.add_argument("--min-area", type=int, help="smallest instance kept, in pixels (instance)")
    group.add_argument("--set", dest="settings", action="append", default=[], metavar="KEY=VALUE",
                       help="any other task option, e.g. --set lam=-2.5 (repeatable)")


def task_and_spec(args: argparse.Namespace):
    """The task named by ``args.task`` and the validated spec from the task options."""
    task = get_task(args.task)
    given = {
        "classes": args.classes,
        "expression": args.expression,
        "colour": args.colour,
        "background": args.background,
        "scheme": args.scheme,
        "tolerance": args.tolerance,
        "min_area": args.min_area,
        "prompt": getattr(args, "prompt", None),  # `vb decode --prompt`: the legend read from the prompt
    }
    for setting in args.settings:
        key, sep, value = setting.partition("=")
        if not sep or not key.strip():
            raise InputError(f"--set {setting!r}: expected KEY=VALUE")
        given[key.strip().replace("-", "_")] = value
    return task, task.make_spec(**given)


def add_run_options(parser: argparse.ArgumentParser) -> None:
    """One option per run setting (:mod:`vb_plugins.settings`), with its declared type, default and help.
    Values are checked by :class:`RunSettings` (one-line errors), not by argparse."""
    for name, declared in SETTINGS.items():
        if declared.option is None:
            continue
        if declared.type is bool:
            parser.add_argument(declared.option, dest=name, action="store_true", help=declared.help)
            continue
        default = f" (default {declared.default})" if declared.default is not None else ""
        parser.add_argument(declared.option, dest=name, type=declared.type, default=declared.default,
                            metavar=declared.metavar, help=declared.help + default)


def run_settings(args: argparse.Namespace, local_path=None) -> RunSettings:
    """The :class:`RunSettings` of the options :func:`add_run_options` added; ``local_path`` turns the
    settings that name local files or folders into the form records keep."""
    values = {name: getattr(args, name) for name, declared in SETTINGS.items() if declared.option is not None}
    if local_path is not None:
        values.update({name: local_path(values[name]) for name, declared in SETTINGS.items()
                       if declared.path and declared.option is not None})
    return RunSettings(**values)

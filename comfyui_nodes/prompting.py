"""VB Prompt: task + options -> a validated task spec and its prompt.

Every choice comes from the plugin registry at the time ComfyUI asks for the node list, so a task,
colour scheme or prompt dialect registered by a third-party plugin shows up without changes here.
"""

from __future__ import annotations

import json

from vb_plugins import get_task, list_dialects, list_schemes, list_tasks
from vb_plugins.codecs.colors import parse_colour
from vb_plugins.errors import InputError

DEFAULT = "(default)"


def task_choices() -> list[str]:
    return list_tasks()


def dialect_choices() -> list[str]:
    return list_dialects()


def scheme_choices() -> list[str]:
    return [DEFAULT, *list_schemes()]


def _check_choice(value, choices: list[str], what: str) -> str:
    if value not in choices:
        raise InputError(f"{what} {value!r}: not one of {', '.join(map(str, choices))}")
    return value


def parse_options(text) -> dict:
    """The options widget: a JSON object of extra spec fields, e.g. ``{"tolerance": 40, "colour": "red"}``."""
    if text is None or not str(text).strip():
        return {}
    try:
        options = json.loads(text)
    except json.JSONDecodeError as error:
        raise InputError(f"options: not valid JSON ({error.msg} at line {error.lineno} column {error.colno}); "
                         'expected an object such as {"tolerance": 40}') from None
    if not isinstance(options, dict):
        raise InputError(f"options: expected a JSON object such as {{\"tolerance\": 40}}, got {type(options).__name__}")
    return options


def build_spec(task: str, classes: str = "", expression: str = "", scheme: str = DEFAULT, options: str = ""):
    """Widgets -> :class:`vb_plugins.tasks.TaskSpec` (validated by the task; errors name the widget).

    Empty widgets are left out, so a field the task does not use may stay empty; a filled one that the
    task does not use is an error (the task lists what it accepts).
    """
    task_object = get_task(_check_choice(task, task_choices(), "task"))
    given = dict(parse_options(options))
    if classes and str(classes).strip():
        given["classes"] = _classes_value(str(classes))
    if expression and str(expression).strip():
        given["expression"] = str(expression).strip()
    if scheme not in (None, "", DEFAULT):
        given["scheme"] = _check_choice(scheme, scheme_choices(), "scheme")
    try:
        spec = task_object.make_spec(**given)
    except InputError as error:
        message = str(error)
        if "classes" in given and "colour" in message.lower() and not message.startswith("classes"):
            message = f"classes: {message}"
        raise InputError(message) from None
    _check_distinct_colours(spec)
    return spec


def _check_distinct_colours(spec) -> None:
    """Two classes in one colour cannot be told apart when decoding: refuse the legend now."""
    seen: dict[tuple, str] = {}
    for name, colour in spec.classes:
        if tuple(colour) in seen:
            raise InputError(f"classes: {seen[tuple(colour)]!r} and {name!r} share the colour {tuple(colour)}")
        seen[tuple(colour)] = name


def _classes_value(text: str):
    """The legend widget -> what ``make_spec`` takes.

    JSON (an object ``{"cat": "red"}`` or a list) is parsed as JSON. Otherwise entries are separated
    by new lines or by commas outside brackets, each ``name: colour``, ``name = colour``,
    ``name in colour`` or a bare ``name`` (a colour is then assigned). Colours are CSS names,
    ``#RRGGBB``, ``(r, g, b)`` or ``<r, g, b>``.
    """
    stripped = text.strip()
    if stripped[:1] in "{[":
        try:
            return json.loads(stripped)
        except json.JSONDecodeError as error:
            raise InputError(f"classes: not valid JSON ({error.msg} at line {error.lineno} column {error.colno})") \
                from None
    legend = []
    for entry in _split_entries(stripped):
        name, colour = entry, None
        for separator in (":", "="):
            if separator in entry:
                name, _, colour_text = entry.rpartition(separator)
                try:
                    colour = parse_colour(colour_text.strip(), f"colour of {name.strip()!r}")
                except InputError as error:
                    raise InputError(f"classes: {error}") from None
                break
        else:
            head, found, tail = entry.rpartition(" in ")
            if found and head.strip():
                try:  # "cat in red"; a name that merely contains " in " stays a name
                    colour, name = parse_colour(tail.strip(), "colour"), head
                except InputError:
                    pass
        if not name.strip():
            raise InputError(f"classes: entry {entry!r} has no class name")
        legend.append((name.strip(), colour))
    return legend


def _split_entries(text: str) -> list[str]:
    """Split on new lines and on commas that are not inside (), <> or []."""
    entries, depth, current = [], 0, []
    for char in text:
        if char in "(<[":
            depth += 1
        elif char in ")>]":
            depth = max(0, depth - 1)
        if (char == "\n" or (char == "," and depth == 0)):
            entries.append("".join(current))
            current = []
        else:
            current.append(char)
    entries.append("".join(current))
    entries = [e.strip() for e in entries if e.strip()]
    if not entries:
        raise InputError("classes: empty class list")
    return entries


def render_prompt(spec, dialect: str) -> str:
    _check_choice(dialect, dialect_choices(), "dialect")
    return get_task(spec.task).prompt(spec, dialect)


def legend_text(spec) -> str:
    """The spec as JSON (classes with the colours they were given or assigned)."""
    return spec.to_json()


def make_prompt(task: str, classes: str = "", expression: str = "", dialect: str = "vision-banana",
                scheme: str = DEFAULT, options: str = ""):
    """(spec, prompt, spec JSON): what VB Prompt outputs."""
    spec = build_spec(task, classes, expression, scheme, options)
    return spec, render_prompt(spec, dialect), legend_text(spec)

"""Tasks: what is predicted. A task owns a codec, validates its spec and builds its prompt."""

from __future__ import annotations

import functools
import inspect
import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from vb_plugins import names
from vb_plugins.codecs._modes import decode_mode, resolve_mode
from vb_plugins.codecs.colors import RGB, check_distinct_colours, palette, parse_class_colours, parse_colour, word_table
from vb_plugins.codecs.colour_words import colour_word, legend_words
from vb_plugins.errors import InputError
from vb_plugins.io import load_npy, write_npy
from vb_plugins.kinds import ValueKind, get_value_kind
from vb_plugins.prompt_legend import spec_fields
from vb_plugins.prompts import DEFAULT_DIALECT


@dataclass(frozen=True)
class TaskSpec:
    """Everything a task needs besides the image: classes and their colours, a referring expression,
    colours, a depth colour scheme, and task-specific options. Immutable and JSON-serialisable.

    ``classes`` is an ordered tuple of ``(name, (r, g, b))``; label ``i + 1`` is class ``i``.
    ``colour_words`` holds ``((r, g, b), word)`` for the colours that were given as colour words
    (``"green"``, ``"light purple"``): those are matched to what the generator painted when decoding
    (:mod:`vb_plugins.codecs.legend_matching`); colours given as RGB or hex are decoded exactly.
    """

    task: str
    classes: tuple[tuple[str, RGB], ...] = ()
    expression: str | None = None
    colour: RGB | None = None
    background: RGB | None = None
    scheme: str | None = None
    options: tuple[tuple[str, Any], ...] = field(default=())
    colour_words: tuple[tuple[RGB, str], ...] = ()

    def option(self, key: str, default=None):
        return dict(self.options).get(key, default)

    @property
    def class_names(self) -> list[str]:
        return [name for name, _ in self.classes]

    @property
    def class_colours(self) -> np.ndarray:
        return np.array([colour for _, colour in self.classes], dtype=np.uint8).reshape(-1, 3)

    def to_dict(self) -> dict:
        """Plain JSON-friendly dict (the form written to prediction records)."""
        data: dict[str, Any] = {"task": self.task}
        if self.classes:
            data["classes"] = {name: list(colour) for name, colour in self.classes}
        for key in ("expression", "scheme"):
            if getattr(self, key) is not None:
                data[key] = getattr(self, key)
        for key in ("colour", "background"):
            if getattr(self, key) is not None:
                data[key] = list(getattr(self, key))
        if self.options:
            data["options"] = dict(self.options)
        if self.colour_words:
            data["colour_words"] = {word: list(colour) for colour, word in self.colour_words}
        return data

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    def with_classes(self, classes) -> TaskSpec:
        """A copy with another legend (e.g. a permuted one for voting)."""
        return replace(self, classes=tuple((name, tuple(colour)) for name, colour in classes))


def _colour_words(values: dict, kwargs: dict, words: dict) -> tuple[tuple[RGB, str], ...]:
    """The spec's colours that were given as words: from the raw fields, plus ``words`` (a table given or
    read from a prompt), kept only where the spec has that colour."""
    words = dict(words)
    given_words = legend_words(values.get("classes"))
    for name, colour in kwargs.get("classes", ()):
        if name in given_words:
            words[colour] = given_words[name]
    for key in ("colour", "background"):
        word = colour_word(values.get(key))
        if word is not None:
            words[kwargs[key]] = word
    used = {tuple(c) for _, c in kwargs.get("classes", ())} | {kwargs.get("colour"), kwargs.get("background")}
    return tuple(sorted((tuple(colour), word) for colour, word in words.items() if tuple(colour) in used))


def spec_from_dict(data: dict, task: Task | None = None) -> TaskSpec:
    """Rebuild a spec written by :meth:`TaskSpec.to_dict` through its task (so it is validated again):
    ``task``, or the registered task the data names."""
    data = dict(data)
    name = data.pop("task")
    task = task if task is not None else names.task(name)
    if task.name != name:
        raise InputError(f"spec is for task {name!r}, not {task.name!r}")
    options = data.pop("options", {}) or {}
    return task.make_spec(**data, **options)


class Task:
    """Base class of tasks. Subclasses set ``name``, ``description``, ``options`` and implement the codec
    glue; the built-in tasks are registered through the same plugin hook as third-party ones.

    ``value_kind`` names the kind of the decoded values (:mod:`vb_plugins.kinds`): ``depth`` (H x W
    metres), ``normals`` (H x W x 3 unit vectors), ``labels`` (H x W class ids), ``instances`` (H x W
    instance ids), ``mask`` (H x W bool), or ``image`` (any per-pixel array). The kind combines samples,
    resizes and fills values, and tells adapters how to store them.
    """

    name: str = ""
    description: str = ""
    value_kind: str = "image"
    # Spec options this task accepts beyond the common fields, with their defaults.
    options: dict[str, Any] = {}
    # Which common TaskSpec fields the task uses.
    uses: frozenset[str] = frozenset()
    # File suffixes `vb encode` reads values from / `vb decode` writes values to.
    value_suffixes: tuple[str, ...] = (".npy",)

    def __repr__(self) -> str:
        return f"<task {self.name!r}>"

    @property
    def kind(self) -> ValueKind:
        """The :class:`vb_plugins.kinds.ValueKind` of ``value_kind`` (an unknown name is an error)."""
        return get_value_kind(self.value_kind)

    # -- spec ---------------------------------------------------------------------------------------
    def make_spec(self, **given) -> TaskSpec:
        """Validate options into a :class:`TaskSpec`. Unknown options are rejected by name.

        Common fields: ``classes`` (mapping name -> colour, list of names, JSON or comma-separated text),
        ``expression``, ``colour``, ``background``, ``scheme``; anything else must be in ``options``.
        ``prompt``: the text a generator was given; the legend (classes and colours, background,
        referring objects, depth scheme) is read from it (:mod:`vb_plugins.prompt_legend`) instead of
        being given as fields. ``colour_words``: ``{word: colour}`` of colours given as words (as
        :meth:`TaskSpec.to_dict` writes it); colours given as words in the fields are found by themselves.
        """
        common = {"classes", "expression", "colour", "color", "background", "scheme"}
        values = {k: v for k, v in given.items() if v is not None}
        if "color" in values:
            values["colour"] = values.pop("color")
        words = word_table(values.pop("colour_words")) if "colour_words" in values else {}
        if "prompt" in values:
            prompt = values.pop("prompt")
            clash = sorted(k for k in values if k in common)
            if clash:
                raise InputError(f"task {self.name!r}: the legend comes from the prompt; drop {', '.join(clash)} "
                                 "or the prompt")
            fields = spec_fields(self, prompt)
            words.update(fields.pop("colour_words", {}))
            values.update(fields)
        unknown = sorted(k for k in values if k not in common and k not in self.options)
        unused = sorted(k for k in values if k in common and k.replace("color", "colour") not in self.uses)
        if unknown or unused:
            accepted = sorted(self.uses | set(self.options))
            raise InputError(f"task {self.name!r}: unknown option(s) {', '.join(unknown + unused)}; "
                             f"accepted: {', '.join(accepted) or 'none'}")
        kwargs: dict[str, Any] = {"task": self.name}
        if "classes" in values:
            kwargs["classes"] = self.resolve_classes(values["classes"])
        if "expression" in values:
            expression = str(values["expression"]).strip()
            if not expression:
                raise InputError(f"task {self.name!r}: expression is empty")
            kwargs["expression"] = expression
        for key in ("colour", "background"):
            if key in values:
                kwargs[key] = parse_colour(values[key], key)
        if "scheme" in values:
            names.scheme(values["scheme"])  # a registered scheme (plugins included)
            kwargs["scheme"] = values["scheme"]
        options = {k: self.check_option(k, values[k]) for k in self.options if k in values}
        kwargs["options"] = tuple(sorted(options.items()))
        kwargs["colour_words"] = _colour_words(values, kwargs, words)
        spec = TaskSpec(**kwargs)
        self.validate_spec(spec)
        return spec

    def resolve_classes(self, classes) -> tuple[tuple[str, RGB], ...]:
        """Parse a legend and give classes without a colour a well-separated one."""
        legend = parse_class_colours(classes)
        taken = [colour for _, colour in legend if colour is not None]
        avoid = list(taken) + list(self.reserved_colours())
        check_distinct_colours(legend)  # the same refusal `vb decode` gives, before any prompt is written
        fresh = iter(palette(sum(colour is None for _, colour in legend), avoid=avoid))
        return tuple((name, colour if colour is not None else next(fresh)) for name, colour in legend)

    def reserved_colours(self) -> tuple[RGB, ...]:
        """Colours auto-assigned class colours must keep away from (e.g. the background)."""
        return ()

    def check_option(self, key: str, value):
        """Validate one task-specific option; the default coerces to the type of its default."""
        default = self.options[key]
        try:
            if isinstance(default, bool):
                if isinstance(value, str):
                    if value.lower() not in ("true", "false", "1", "0", "yes", "no"):
                        raise ValueError
                    return value.lower() in ("true", "1", "yes")
                return bool(value)
            if isinstance(default, int):
                return int(value)
            if isinstance(default, float):
                return float(value)
        except (TypeError, ValueError):
            raise InputError(f"task {self.name!r}: option {key}={value!r} is not a valid "
                             f"{type(default).__name__}") from None
        return value

    def validate_spec(self, spec: TaskSpec) -> None:
        """Raise :class:`InputError` if ``spec`` cannot be used (e.g. a required field is missing)."""

    # -- prompt -------------------------------------------------------------------------------------
    def prompt(self, spec: TaskSpec | None = None, dialect=None) -> str:
        """The prompt for ``spec`` in ``dialect`` (a name or object; default: the Vision Banana wording)."""
        spec = spec if spec is not None else self.make_spec()
        dialect = names.dialect(dialect or DEFAULT_DIALECT) if not hasattr(dialect, "render") else dialect
        text = dialect.render(self, spec)
        return text if text is not None else self.default_prompt(spec)

    def default_prompt(self, spec: TaskSpec) -> str:
        """The prompt used when a dialect has no wording for this task."""
        raise NotImplementedError(f"task {self.name!r} has no default prompt")

    # -- codec glue ---------------------------------------------------------------------------------
    @property
    def codec(self):
        """The task's codec with default settings (``task.codec.encode(...)`` / ``.decode(...)``)."""
        raise NotImplementedError

    def encode(self, values, spec: TaskSpec | None = None) -> np.ndarray:
        """Ground-truth values -> the RGB visualization a generator should paint (uint8 H x W x 3)."""
        raise NotImplementedError

    def decode(self, image, spec: TaskSpec | None = None, mode: str | None = None):
        """A generated visualization -> a :class:`vb_plugins.codecs.Decoding` (``.values``, ``.confidence``).

        ``mode``: ``auto`` | ``exact`` | ``robust`` (None: the default, ``auto`` unless
        :func:`vb_plugins.codecs.decode_mode` set another). Callers that accept any task call
        :func:`decode_in_mode`, which also serves plugin tasks whose ``decode`` takes no mode."""
        raise NotImplementedError

    def preview(self, decoding, spec: TaskSpec | None = None) -> np.ndarray:
        """A viewable uint8 RGB picture of decoded values."""
        raise NotImplementedError

    # -- prediction (used by the engine) -------------------------------------------------------------
    def passes(self, spec: TaskSpec) -> list[TaskSpec]:
        """The specs to generate for one prediction (several for legend voting or one class per pass)."""
        return [spec]

    def combine(self, decodings: list[list], spec: TaskSpec):
        """Combine decodings, ``decodings[pass][sample]``, into an :class:`vb_plugins.ensemble.Combined`:
        by default the rule of the task's value kind (median depth, mean normals, majority labels, ...)."""
        return self.kind.combine(decodings, [s.class_names[0] if s.classes else None for s in self.passes(spec)])

    # -- files (used by `vb encode` / `vb decode`) ---------------------------------------------------
    def load_values(self, path: Path, spec: TaskSpec) -> np.ndarray:
        return load_npy(path)

    def save_values(self, decoding, path: Path, spec: TaskSpec, overwrite: bool = True) -> Path:
        return write_npy(path, np.asarray(decoding.values), overwrite=overwrite)


def decode_in_mode(task, image, spec: TaskSpec | None, mode: str | None):
    """``task.decode(image, spec, mode=mode)``; a task whose ``decode`` takes no ``mode`` (a plugin written
    before it had one) decodes with ``mode`` as the default of :func:`vb_plugins.codecs.decode_mode`."""
    if _takes_mode(type(task).decode):
        return task.decode(image, spec, mode=mode)
    with decode_mode(resolve_mode(mode)):
        return task.decode(image, spec)


@functools.lru_cache(maxsize=64)
def _takes_mode(decode) -> bool:
    parameters = inspect.signature(decode).parameters
    return "mode" in parameters or any(p.kind is p.VAR_KEYWORD for p in parameters.values())

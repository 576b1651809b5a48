"""What a model profile is: per task, the prompt, the encoding the model paints and the generation defaults,
plus how the checkpoint's weights load. Frozen, validated once when made, and the same as JSON.

A profile's JSON form (what ``vb profiles NAME --json`` prints, what a profile file or a ``vb_profile.json``
in a model folder holds)::

    {"name": "my-ovb", "extends": "open-vision-banana",
     "tasks": {"depth": {"prompt": "Generate relative inverse depth ...", "steps": 8}}}

``extends`` names a registered profile whose fields the file's fields replace (a task's fields one by one).
Prompts are templates: ``{expression}``, ``{legend}`` (the class legend as JSON), ``{classes}`` (the class
names), ``{class}`` (the one class of an instance pass, else "object"), ``{colour}``, ``{background}`` and
``{task}`` are filled in; any other text, other braces included, is kept as written.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from vb_plugins.errors import InputError

# Larger than any open image-editing model's working size; the same bound RunSettings.megapixels has.
MAX_MEGAPIXELS = 16.0
DEFAULT_PROFILE = "vision-banana"
PLACEHOLDERS = ("expression", "legend", "classes", "class", "colour", "background", "task")
_PLACEHOLDER = re.compile(r"\{(" + "|".join(PLACEHOLDERS) + r")\}")
NAMINGS = ("diffusers", "diffsynth")


def _text(owner: str, key: str, value, optional: bool = True) -> str | None:
    if value is None and optional:
        return None
    if not isinstance(value, str) or (not optional and not value.strip()):
        raise InputError(f"{owner}: {key}={value!r} must be {'text' if optional else 'non-empty text'}")
    return value.strip() or None if optional else value.strip()


def _number(owner: str, key: str, value, whole: bool = False, high: float | None = None):
    """None, or a positive number (a whole one for ``whole``) at most ``high``."""
    if value is None:
        return None
    bad = isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value)
    if whole and not bad and float(value).is_integer():
        value = int(value)
    if bad or (whole and not isinstance(value, int)) or value < (1 if whole else 0) \
            or (not whole and key != "guidance" and value == 0) or (high is not None and value > high):
        rule = "a whole number of at least 1" if whole else "a number of at least 0" if key == "guidance" \
            else f"a number above 0{f' and at most {high:g}' if high else ''}"
        raise InputError(f"{owner}: {key}={value!r} must be {rule}")
    return value


def _size(owner: str, value) -> tuple[int, int] | None:
    """(height, width) from [h, w], "HxW" or one number for a square."""
    if value is None:
        return None
    if isinstance(value, str):
        parts = value.lower().replace(" ", "").split("x")
        try:
            value = [int(p) for p in parts]
        except ValueError:
            value = None
    if isinstance(value, int) and not isinstance(value, bool):
        value = [value, value]
    if (not isinstance(value, list | tuple) or len(value) != 2
            or not all(isinstance(v, int) and not isinstance(v, bool) and 16 <= v <= 8192 for v in value)):
        raise InputError(f"{owner}: size must be [height, width] (or \"768x768\") in pixels from 16 to 8192")
    return int(value[0]), int(value[1])


def _pairs(owner: str, value) -> tuple[tuple[str, Any], ...]:
    if value is None:
        return ()
    if isinstance(value, tuple) and all(isinstance(p, tuple) and len(p) == 2 for p in value):
        value = dict(value)
    if not isinstance(value, Mapping) or not all(isinstance(k, str) and k for k in value):
        raise InputError(f"{owner}: options must be a JSON object of task options, e.g. {{\"inverse\": true}}")
    return tuple(sorted((k, tuple(v) if isinstance(v, list) else v) for k, v in value.items()))


@dataclass(frozen=True)
class Defaults:
    """Generation defaults (None: the next level's: the task's, then the profile's, then the model family's).
    ``size`` paints at exactly (height, width), the values resized back to the input afterwards;
    ``megapixels`` keeps the input's aspect ratio. A run's own --steps / --guidance / --megapixels win."""

    steps: int | None = None
    guidance: float | None = None
    megapixels: float | None = None
    size: tuple[int, int] | None = None

    def checked(self, owner: str) -> Defaults:
        return Defaults(_number(owner, "steps", self.steps, whole=True),
                        _number(owner, "guidance", self.guidance),
                        _number(owner, "megapixels", self.megapixels, high=MAX_MEGAPIXELS),
                        _size(owner, self.size))


@dataclass(frozen=True)
class TaskProfile:
    """How a profile's model does one task: ``task`` is the name a user asks for (``depth``); the painting is
    decoded by the registered task ``decode_as`` (default: the same) with spec ``options`` (e.g.
    ``inverse``, ``background``); ``prompt`` is a template (see the module docstring), else ``dialect``
    names a registered wording (else the profile's, else the model's); ``paints`` says what the model paints,
    for people; ``lora_file`` / ``transformer_file`` name the checkpoint's files for this task."""

    task: str
    paints: str = ""
    decode_as: str = ""
    options: tuple[tuple[str, Any], ...] = ()
    prompt: str | None = None
    dialect: str | None = None
    defaults: Defaults = Defaults()
    lora_file: str | None = None
    transformer_file: str | None = None

    def __post_init__(self):
        owner = f"task {self.task!r}"
        if not isinstance(self.task, str) or not self.task.strip():
            raise InputError(f"profile task {self.task!r}: needs a task name")
        set_ = object.__setattr__
        set_(self, "task", self.task.strip())
        set_(self, "paints", _text(owner, "paints", self.paints) or "")
        set_(self, "decode_as", _text(owner, "decode_as", self.decode_as) or self.task)
        set_(self, "options", _pairs(owner, self.options))
        for key in ("prompt", "dialect", "lora_file", "transformer_file"):
            set_(self, key, _text(owner, key, getattr(self, key)))
        if not isinstance(self.defaults, Defaults):
            raise InputError(f"{owner}: defaults must be a Defaults")
        set_(self, "defaults", self.defaults.checked(owner))

    def render(self, spec, task_name: str | None = None) -> str:
        """The prompt template filled in for ``spec`` (a :class:`vb_plugins.tasks.base.TaskSpec`)."""
        values = placeholder_values(spec, task_name or self.task)

        def fill(match):
            value = values[match.group(1)]
            if value is None:
                raise InputError(f"prompt of task {self.task!r}: {{{match.group(1)}}} needs a {match.group(1)} "
                                 "(give it as a task option)")
            return value

        return _PLACEHOLDER.sub(fill, self.prompt or "")

    def to_dict(self) -> dict:
        data: dict[str, Any] = {"paints": self.paints}
        if self.decode_as != self.task:
            data["decode_as"] = self.decode_as
        if self.options:
            data["options"] = {k: list(v) if isinstance(v, tuple) else v for k, v in self.options}
        for key in ("prompt", "dialect", "lora_file", "transformer_file"):
            if getattr(self, key) is not None:
                data[key] = getattr(self, key)
        data.update(_defaults_dict(self.defaults))
        return data


def placeholder_values(spec, task_name: str) -> dict[str, str | None]:
    """What each prompt placeholder stands for, for one spec (None where the spec lacks it)."""
    from vb_plugins.prompts import colour_text, json_legend  # the prompt module's own colour wording

    classes = getattr(spec, "classes", ())
    return {
        "expression": getattr(spec, "expression", None),
        "legend": json_legend(spec) if classes else None,
        "classes": ", ".join(name for name, _ in classes) if classes else None,
        "class": classes[0][0] if classes else "object",
        "colour": colour_text(spec, spec.colour) if getattr(spec, "colour", None) else None,
        "background": colour_text(spec, spec.background) if getattr(spec, "background", None) else None,
        "task": task_name,
    }


def _defaults_dict(defaults: Defaults) -> dict:
    data = {k: getattr(defaults, k) for k in ("steps", "guidance", "megapixels") if getattr(defaults, k) is not None}
    if defaults.size is not None:
        data["size"] = list(defaults.size)
    return data


@dataclass(frozen=True)
class Weights:
    """How the checkpoint's weights load: ``base`` the pipeline its files go on (a Hub id; empty: the
    checkpoint is a whole pipeline), ``naming`` the tensors' key naming (``diffsynth`` is converted on load),
    ``kind`` what its per-task files are (``lora``, ``transformer`` or ``pipeline``)."""

    base: str = ""
    naming: str = "diffusers"
    kind: str = "pipeline"

    def checked(self, owner: str) -> Weights:
        if self.naming not in NAMINGS:
            raise InputError(f"{owner}: weights naming {self.naming!r}: expected one of {', '.join(NAMINGS)}")
        kinds = ("pipeline", "lora", "transformer", "lora or transformer")
        if self.kind not in kinds:
            raise InputError(f"{owner}: weights kind {self.kind!r}: expected one of {', '.join(kinds)}")
        return Weights(_text(owner, "weights base", self.base) or "", self.naming, self.kind)


@dataclass(frozen=True)
class Profile:
    """A model profile (see the module docstring). ``tasks`` are the tasks the model paints; with
    ``other_tasks`` any other registered task is asked for in the model's own dialect and decoded as itself
    (the Vision Banana profile: a model tuned on the task codes). ``hub_ids`` pick this profile when a run's
    model is one of them (or a Hugging Face cache folder of one)."""

    name: str
    description: str = ""
    tasks: tuple[TaskProfile, ...] = ()
    other_tasks: bool = False
    base_model: str = ""
    licence: str = "see model card"
    hub_ids: tuple[str, ...] = ()
    dialect: str | None = None
    defaults: Defaults = Defaults()
    weights: Weights = Weights()
    source: str = field(default="", compare=False)  # where it was read from (a file), for messages

    def __post_init__(self):
        if not isinstance(self.name, str) or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", self.name or ""):
            raise InputError(f"profile name {self.name!r}: use letters, digits, '.', '_' and '-'")
        owner = f"profile {self.name!r}"
        set_ = object.__setattr__
        set_(self, "description", _text(owner, "description", self.description) or "")
        set_(self, "base_model", _text(owner, "base_model", self.base_model) or "")
        set_(self, "licence", _text(owner, "licence", self.licence) or "see model card")
        set_(self, "dialect", _text(owner, "dialect", self.dialect))
        if not isinstance(self.other_tasks, bool):
            raise InputError(f"{owner}: other_tasks={self.other_tasks!r} must be true or false")
        tasks = tuple(self.tasks)
        if not all(isinstance(t, TaskProfile) for t in tasks):
            raise InputError(f"{owner}: tasks must be TaskProfile objects")
        seen = [t.task for t in tasks]
        if len(set(seen)) != len(seen):
            raise InputError(f"{owner}: task {next(n for n in seen if seen.count(n) > 1)!r} is listed twice")
        if not tasks and not self.other_tasks:
            raise InputError(f"{owner}: names no tasks")
        set_(self, "tasks", tasks)
        hub_ids = (self.hub_ids,) if isinstance(self.hub_ids, str) else tuple(self.hub_ids)
        if not all(isinstance(h, str) and re.fullmatch(r"[^/\s]+/[^/\s]+", h) for h in hub_ids):
            raise InputError(f"{owner}: hub_ids must be Hugging Face ids like \"org/name\"")
        set_(self, "hub_ids", hub_ids)
        set_(self, "defaults", self.defaults.checked(owner))
        set_(self, "weights", self.weights.checked(owner))

    @property
    def task_names(self) -> list[str]:
        return [t.task for t in self.tasks]

    def entry(self, task: str) -> TaskProfile | None:
        """The task a user asks for by name (or by the name of the task that decodes it), else None."""
        for entry in self.tasks:
            if entry.task == task:
                return entry
        return next((entry for entry in self.tasks if entry.decode_as == task), None)

    def defaults_for(self, entry: TaskProfile | None) -> Defaults:
        """The task's defaults over the profile's."""
        own = entry.defaults if entry is not None else Defaults()
        return Defaults(*(getattr(own, k) if getattr(own, k) is not None else getattr(self.defaults, k)
                          for k in ("steps", "guidance", "megapixels", "size")))

    # -- JSON -----------------------------------------------------------------------------------------
    def to_dict(self) -> dict:
        data: dict[str, Any] = {"name": self.name, "description": self.description, "base_model": self.base_model,
                                "licence": self.licence, "hub_ids": list(self.hub_ids),
                                "tasks": {t.task: t.to_dict() for t in self.tasks}}
        if self.other_tasks:
            data["other_tasks"] = True
        if self.dialect is not None:
            data["dialect"] = self.dialect
        data.update(_defaults_dict(self.defaults))
        data["weights"] = {"base": self.weights.base, "naming": self.weights.naming, "kind": self.weights.kind}
        return data

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, ensure_ascii=False)

    @classmethod
    def from_dict(cls, data: Mapping, source: str = "") -> Profile:
        """A profile from its JSON form (no ``extends``: see :func:`vb_plugins.profiles.resolve.profile_from_data`);
        an unknown key is refused by name."""
        where = f"profile {source or data.get('name', '?')!r}"
        if not isinstance(data, Mapping):
            raise InputError(f"{where}: expected a JSON object")
        data = dict(data)
        _refuse_unknown(where, data, PROFILE_KEYS)
        if not data.get("name"):
            raise InputError(f"{where}: needs a \"name\" (or \"extends\": a registered profile to start from)")
        tasks = data.pop("tasks", {}) or {}
        if not isinstance(tasks, Mapping):
            raise InputError(f"{where}: tasks must be a JSON object of task name -> its fields")
        entries = []
        for name, entry in tasks.items():
            if not isinstance(entry, Mapping):
                raise InputError(f"{where}: task {name!r} must be a JSON object of its fields")
            entry = dict(entry)
            _refuse_unknown(f"{where}, task {name!r}", entry, TASK_KEYS)
            entries.append(TaskProfile(name, defaults=_pop_defaults(entry), **entry))
        weights = data.pop("weights", None) or {}
        if not isinstance(weights, Mapping):
            raise InputError(f"{where}: weights must be a JSON object (base, naming, kind)")
        _refuse_unknown(f"{where}, weights", dict(weights), ("base", "naming", "kind"))
        defaults = _pop_defaults(data)
        hub_ids = data.pop("hub_ids", ()) or ()
        return cls(tasks=tuple(entries), defaults=defaults, weights=Weights(**weights),
                   hub_ids=tuple(hub_ids) if isinstance(hub_ids, list) else hub_ids, source=source, **data)


DEFAULT_KEYS = ("steps", "guidance", "megapixels", "size")
TASK_KEYS = ("paints", "decode_as", "options", "prompt", "dialect", "lora_file", "transformer_file", *DEFAULT_KEYS)
PROFILE_KEYS = ("name", "description", "tasks", "other_tasks", "base_model", "licence", "hub_ids", "dialect",
                "weights", *DEFAULT_KEYS)
TEXT_KEYS = {f.name for f in fields(TaskProfile) if f.type in ("str", "str | None")} | \
    {"description", "base_model", "licence", "name", "base", "naming", "kind"}


def _pop_defaults(data: dict) -> Defaults:
    return Defaults(*(data.pop(k, None) for k in DEFAULT_KEYS))


def _refuse_unknown(where: str, data: Mapping, known) -> None:
    unknown = sorted(set(data) - set(known))
    if unknown:
        raise InputError(f"{where}: unknown field(s) {', '.join(unknown)}; accepted: {', '.join(known)}")


__all__ = ["Profile", "TaskProfile", "Defaults", "Weights", "DEFAULT_PROFILE", "PLACEHOLDERS", "placeholder_values"]

"""Which profile a run uses: the one named (a registered name, or a JSON profile file), else the one its model
says (a ``vb_profile.json`` in the model folder, or a Hub id a profile lists, also as a Hugging Face cache
folder ``models--ORG--NAME``), else ``vision-banana``; then ``profile_overrides`` change it field by field.

Overrides are ``{"depth.prompt": "...", "steps": 8, "semantic.options.tolerance": 40}``: ``FIELD`` (a
profile field), ``TASK.FIELD`` (a task's field; a task the profile lacks is added) or
``TASK.options.OPTION``. Values may be text as a command line gives them; they are converted to the field's
type and the profile is checked again as a whole.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path, PurePath
from typing import Any

from vb_plugins.errors import InputError, UnknownNameError
from vb_plugins.profiles.model import DEFAULT_PROFILE, PROFILE_KEYS, TASK_KEYS, TEXT_KEYS, Profile
from vb_plugins.registry import get_registry

PROFILE_FILE = "vb_profile.json"  # in a model folder: the profile of the model there
_CACHE_FOLDER = re.compile(r"models--([^/\\]+?)--([^/\\]+)")


def get_profile(name: str) -> Profile:
    """The registered profile called ``name``; an unknown name is one line listing the known ones."""
    try:
        return get_registry().get("profile", name)
    except UnknownNameError:
        known = ", ".join(get_registry().names("profile"))
        raise UnknownNameError(f"unknown profile {name!r}; known: {known} (or a JSON profile file)") from None


def list_profiles() -> list[str]:
    return get_registry().names("profile")


def is_profile_file(value: str) -> bool:
    return str(value).lower().endswith(".json") or Path(value).expanduser().is_file()


def check_profile(value) -> str:
    """A run setting's profile: a registered name, or an existing JSON profile file (made absolute)."""
    if not isinstance(value, str | PurePath):
        raise InputError(f"profile={value!r}: must be a profile name or a JSON profile file")
    value = str(value).strip()
    if value in get_registry().names("profile"):
        return value
    if is_profile_file(value):
        path = Path(value).expanduser()
        if not path.is_file():
            raise InputError(f"profile {value}: no such file")
        return str(path.resolve())
    get_profile(value)  # the one-line "unknown profile" error
    return value


def read_profile_file(path) -> Profile:
    """A profile from a JSON file (see :mod:`vb_plugins.profiles.model`); errors name the file."""
    path = Path(path).expanduser()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise InputError(f"profile file {path}: cannot be read ({error.strerror or error})") from None
    except ValueError as error:
        raise InputError(f"profile file {path}: not valid JSON ({error})") from None
    try:
        return profile_from_data(data, source=str(path))
    except InputError as error:
        message = str(error)
        raise InputError(message if str(path) in message else f"profile file {path}: {message}") from None


def profile_from_data(data, source: str = "") -> Profile:
    """A profile from its JSON form; with ``"extends": NAME`` the fields given replace those of profile NAME
    (a task's fields one by one), and the name stays NAME's unless given."""
    if not isinstance(data, Mapping):
        raise InputError("expected a JSON object")
    data = dict(data)
    base = data.pop("extends", None)
    if base is None:
        return Profile.from_dict(data, source)
    if not isinstance(base, str):
        raise InputError(f"extends={base!r}: must name a registered profile")
    return Profile.from_dict(merge(get_profile(base).to_dict(), data), source)


def merge(base: dict, patch: Mapping) -> dict:
    """``base`` with ``patch``'s fields: tasks merged task by task (their options option by option) and the
    weights field by field; other fields replaced."""
    merged = dict(base)
    for key, value in patch.items():
        if key == "tasks" and isinstance(value, Mapping):
            tasks = {name: dict(entry) for name, entry in merged.get("tasks", {}).items()}
            for name, entry in value.items():
                current = tasks.setdefault(name, {})
                if not isinstance(entry, Mapping):
                    raise InputError(f"task {name!r} must be a JSON object of its fields")
                for field_name, field_value in entry.items():
                    if field_name == "options" and isinstance(field_value, Mapping):
                        current["options"] = {**current.get("options", {}), **field_value}
                    else:
                        current[field_name] = field_value
            merged["tasks"] = tasks
        elif key == "weights" and isinstance(value, Mapping):
            merged["weights"] = {**merged.get("weights", {}), **value}
        else:
            merged[key] = value
    return merged


def _coerce(key: str, value, where: str):
    """A command-line text value -> the type of field ``key``."""
    if not isinstance(value, str) or key in TEXT_KEYS or key == "size":
        return value
    text = value.strip()
    if key in ("steps", "guidance", "megapixels"):
        try:
            number = float(text)
        except ValueError:
            raise InputError(f"{where}={value!r}: expected a number") from None
        return int(number) if key == "steps" and number.is_integer() else number
    if key == "other_tasks":
        if text.lower() not in ("true", "false"):
            raise InputError(f"{where}={value!r}: expected true or false")
        return text.lower() == "true"
    if key == "hub_ids":
        return [part.strip() for part in text.split(",") if part.strip()]
    try:  # a task option: JSON where it parses (numbers, true/false, lists), else the text
        return json.loads(text)
    except ValueError:
        return value


def apply_overrides(profile: Profile, overrides: Mapping[str, Any]) -> Profile:
    """``profile`` with ``overrides`` (see the module docstring), checked again as a whole."""
    if not overrides:
        return profile
    data = profile.to_dict()
    for key, value in overrides.items():
        where = f"profile override {key}"
        parts = str(key).strip().split(".")
        if len(parts) == 1 and parts[0] in PROFILE_KEYS and parts[0] not in ("tasks", "weights", "name"):
            data[parts[0]] = _coerce(parts[0], value, where)
        elif len(parts) == 2 and parts[0] == "weights" and parts[1] in ("base", "naming", "kind"):
            data.setdefault("weights", {})[parts[1]] = value
        elif len(parts) == 2 and parts[1] in TASK_KEYS and parts[1] != "options":
            data["tasks"].setdefault(parts[0], {})[parts[1]] = _coerce(parts[1], value, where)
        elif len(parts) == 3 and parts[1] == "options" and parts[2]:
            entry = data["tasks"].setdefault(parts[0], {})
            entry["options"] = {**entry.get("options", {}), parts[2]: _coerce("option", value, where)}
        else:
            raise InputError(f"{where}: expected FIELD, TASK.FIELD or TASK.options.OPTION (task fields: "
                             f"{', '.join(k for k in TASK_KEYS if k != 'options')})")
    try:
        return Profile.from_dict(data, profile.source)
    except InputError as error:
        raise InputError(f"profile {profile.name!r} with overrides: {error}") from None


def hub_id(model: str | None) -> str | None:
    """The Hugging Face id a model string names: ``org/name`` itself, or a path inside the cache folder
    ``models--org--name`` (a snapshot, a file in one); else None."""
    if not model:
        return None
    text = str(model)
    prefix, sep, rest = text.partition(":")
    if sep and "/" not in prefix and len(prefix) > 1:  # backend:model
        text = rest
    for part in reversed(PurePath(text).parts):
        match = _CACHE_FOLDER.fullmatch(part)
        if match:
            return f"{match.group(1)}/{match.group(2)}"
    if re.fullmatch(r"[A-Za-z0-9][\w.-]*/[\w.-]+", text) and not Path(text).exists():
        return text
    return None


def detect_profile(model: str | None, *weights: str | None) -> Profile:
    """The profile a model folder's ``vb_profile.json`` gives, else that of the first known Hub id among the
    model and its weight files, else the default profile."""
    if model and not hub_id(model):
        folder = Path(str(model)).expanduser()
        if folder.is_dir() and (folder / PROFILE_FILE).is_file():
            return read_profile_file(folder / PROFILE_FILE)
    known = {hub.casefold(): name for name in list_profiles() for hub in get_profile(name).hub_ids}
    for candidate in (model, *weights):
        found = hub_id(candidate)
        if found and found.casefold() in known:
            return get_profile(known[found.casefold()])
    if model and hub_id(model):  # a cache snapshot folder may carry its own profile file too
        folder = Path(str(model)).expanduser()
        if folder.is_dir() and (folder / PROFILE_FILE).is_file():
            return read_profile_file(folder / PROFILE_FILE)
    return get_profile(DEFAULT_PROFILE)


def resolve_profile(profile: str | None = None, model: str | None = None, overrides: Mapping | None = None,
                    weights: tuple = ()) -> Profile:
    """The profile of a run (see the module docstring): ``profile`` a name or JSON file (None: detected
    from ``model`` and the ``weights`` files), with ``overrides``."""
    if profile:
        chosen = get_profile(profile) if profile in list_profiles() else \
            read_profile_file(profile) if is_profile_file(profile) else get_profile(profile)
    else:
        chosen = detect_profile(model, *weights)
    return apply_overrides(chosen, overrides or {})


__all__ = ["get_profile", "list_profiles", "check_profile", "read_profile_file", "profile_from_data", "merge",
           "apply_overrides", "hub_id", "detect_profile", "resolve_profile", "PROFILE_FILE"]

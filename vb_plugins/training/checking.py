"""Settings read from YAML or JSON, checked against type hints: one-line errors naming the key.

Numbers written as text are read for float settings (YAML reads ``1e-3``, with no dot, as text); a bool
is never an int; lists of ``X`` and ``X | None`` are checked item by item.
"""

from __future__ import annotations

import math
import types
import typing
from typing import Any

from vb_plugins.errors import InputError

WRONG = object()
_NAMES = {int: "an integer", float: "a number", str: "a string", dict: "a mapping", list: "a list"}


def checked_value(value: Any, hint) -> Any:
    """``value`` as type ``hint`` (int, float, str, dict, list[X], X | None), or ``WRONG``."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        options = typing.get_args(hint)
        if value is None and type(None) in options:
            return None
        return checked_value(value, next(o for o in options if o is not type(None)))
    if typing.get_origin(hint) in (list, tuple):  # tuple[X, ...]: YAML and JSON give lists
        if not isinstance(value, list | tuple):
            return WRONG
        item = typing.get_args(hint)[0]
        items = [checked_value(v, item) for v in value]
        return WRONG if any(v is WRONG for v in items) else items
    if isinstance(value, bool):  # a bool is an int to Python, never to a config
        return WRONG
    if hint is int:
        if isinstance(value, float) and value.is_integer():
            return int(value)
        return value if isinstance(value, int) else WRONG
    if hint is float:
        if isinstance(value, str):
            try:
                value = float(value)
            except ValueError:
                return WRONG
        # ints stay ints: the run's fingerprint (which resumes compare) hashes the values as given
        return value if isinstance(value, int | float) and not math.isnan(value) else WRONG
    return value if isinstance(value, hint) else WRONG


def describe_type(hint) -> str:
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        inner = next(o for o in typing.get_args(hint) if o is not type(None))
        return f"{describe_type(inner)} or null"
    if typing.get_origin(hint) in (list, tuple):
        item = typing.get_args(hint)[0]
        return "a list of " + {str: "names", dict: "mappings", int: "integers", float: "numbers"}.get(
            item, describe_type(item))
    return _NAMES.get(hint, hint.__name__)


def shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def check_section(section: str, values: Any, hints: dict[str, Any], required: tuple[str, ...] = (),
                  allow_unknown: bool = False) -> dict:
    """A nested mapping of settings (``vbnet``, ``augment``, a data source) checked against ``hints``
    (key -> type); returns it with values read as their types. Unknown keys (unless ``allow_unknown``),
    missing ``required`` keys and wrong types are one-line :class:`InputError` s naming ``section.key``."""
    if not isinstance(values, dict):
        raise InputError(f"{section}: expected a mapping, got {shown(values)}")
    unknown = sorted(str(k) for k in values if k not in hints)
    if unknown and not allow_unknown:
        raise InputError(f"{section}: unknown setting(s) {', '.join(unknown)} (known: {', '.join(hints)})")
    missing = [k for k in required if k not in values]
    if missing:
        raise InputError(f"{section}: missing setting(s) {', '.join(missing)}")
    checked = dict(values)
    for key, value in values.items():
        if key in hints:
            checked[key] = checked_value(value, hints[key])
            if checked[key] is WRONG:
                raise InputError(f"{section}.{key}: expected {describe_type(hints[key])}, got {shown(value)}")
    return checked

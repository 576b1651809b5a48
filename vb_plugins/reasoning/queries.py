"""Texts per image from a JSON file (``--queries FILE``, the ``queries`` run setting): ``{image file name or
stem: text}``, a query per image (referring, ReasonSeg) or a noun phrase per image (instance, SA-Co)."""

from __future__ import annotations

import json
from pathlib import Path

from vb_plugins.errors import InputError


def read_query_table(path, name: str = "queries") -> dict[str, str]:
    """The JSON object in ``path``: non-empty texts keyed by image file name, stem or path. Errors name the
    file (``name``: how the messages call the setting, e.g. ``--queries``)."""
    try:
        table = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as error:
        raise InputError(f"{name} {path}: cannot read it ({error.strerror or error})") from None
    except ValueError as error:
        raise InputError(f"{name} {path}: not valid JSON ({error})") from None
    if not isinstance(table, dict) or not all(isinstance(v, str) and v.strip() for v in table.values()):
        raise InputError(f"{name} {path}: expected a JSON object of non-empty texts, "
                         '{"image.jpg": "the object that keeps food cold", ...}')
    return table


def texts_for(table: dict[str, str], images: list[Path], path, name: str = "queries") -> dict[str, str]:
    """``{str(image): text}`` for every image of ``images``, found in ``table`` by the path as given, the file
    name or the stem; an image without a text is an error naming it."""
    texts, missing = {}, []
    for image in images:
        key = next((k for k in (str(image), image.name, image.stem) if k in table), None)
        if key is None:
            missing.append(image.name)
        else:
            texts[str(image)] = table[key]
    if missing:
        more = f" and {len(missing) - 3} more" if len(missing) > 3 else ""
        raise InputError(f"{name} {path}: no text for {', '.join(missing[:3])}{more} (keys are image file "
                         "names or stems)")
    return texts


__all__ = ["read_query_table", "texts_for"]

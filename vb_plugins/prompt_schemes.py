"""Depth colour schemes named in a prompt: by name (``Visualized in the plasma color palette.``, ``in the
viridis color map``) or by listing the scheme's colours in order (``rainbow (black-red-yellow-green-cyan-
blue-violet-white)``, ``nearest surfaces black, then red, yellow, ... farthest and sky white``: the Vision
Banana path). Part of reading a legend from a prompt (:mod:`vb_plugins.prompt_legend`).
"""

from __future__ import annotations

import re

from vb_plugins import names
from vb_plugins.codecs.colour_words import word_readings
from vb_plugins.codecs.delta_e import rgb_delta_e
from vb_plugins.codecs.depth import DEFAULT_SCHEME
from vb_plugins.errors import InputError

_SCHEME_NAMED = re.compile(
    r"(?:in|using|with|as)\s+(?:the\s+|a\s+)?(?P<name>[\w-]+)\s+(?:colou?r\s*(?:palette|map|scheme|ramp)|palette|"
    r"colou?rmap|cmap)",
    re.IGNORECASE,
)
_SCHEME_ALIASES = {"grayscale": "gray", "greyscale": "gray", "grey": "gray"}
_SEQUENCE_WORDS = re.compile(r"[a-z]+", re.IGNORECASE)
_SEQUENCE_DELTA_E = 30.0  # ΔE00 within which a named colour stands for a scheme's vertex


def read_scheme(text: str) -> str | None:
    """The registered colour scheme a prompt names (by name, or by listing its colours in order), or None
    when it names none (the default path)."""
    registered = names.listing("colour scheme")
    for match in _SCHEME_NAMED.finditer(text):
        name = match.group("name").lower()
        name = _SCHEME_ALIASES.get(name, name)
        if name in registered:
            return None if name == DEFAULT_SCHEME else name
        if name in ("rainbow", "false", "same", "following", "this", "that", "its", "their"):
            continue
        raise InputError(f"prompt: cannot read {match.group(0)!r}: colour scheme {name!r} is not "
                         f"registered ({', '.join(registered)}; see `vb schemes`)")
    found = _scheme_by_colours(text, registered)
    return None if found == DEFAULT_SCHEME else found


def _scheme_by_colours(text: str, registered: list[str]) -> str | None:
    """A scheme whose vertex colours the prompt names in order (``black-red-yellow-...-white``): each
    vertex matched by a colour word within ``_SEQUENCE_DELTA_E``, at most two other words skipped."""
    words = [w.lower() for w in _SEQUENCE_WORDS.findall(text)]
    colours = [(i, word_readings(w)) for i, w in enumerate(words) if word_readings(w)]
    for name in registered:
        vertices = getattr(names.scheme(name), "vertices", None)
        if vertices is None or not 4 <= len(vertices) <= 16:
            continue
        targets = [tuple(int(round(c * 255)) for c in v) for v in vertices]
        for start in range(len(colours)):
            k, skipped, position = 0, 0, start
            while position < len(colours) and k < len(targets) and skipped <= 2:
                readings = colours[position][1]
                if rgb_delta_e(readings, targets[k]).min() <= _SEQUENCE_DELTA_E:
                    k += 1
                else:
                    skipped += 1
                position += 1
            if k == len(targets):
                return name
    return None

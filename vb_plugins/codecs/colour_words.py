"""Colour words as real prompts write them, and hex codes as generators read them.

Vocabulary (looked up in this order; case, surrounding space and hyphens do not matter):

1. CSS names, spaces ignored (``"light blue"`` = CSS ``lightblue``), from matplotlib's W3C table;
2. the XKCD colour-survey names (``"light purple"``, ``"blurple"``, ``"robin's egg"``), from
   ``matplotlib.colors.XKCD_COLORS``;
3. a modifier before a colour of 1. or 2., where no name above has the compound: ``solid X`` is X
   (a flat fill), ``light X`` is X mixed halfway with white, ``pale X`` X mixed 70 % toward white,
   ``dark X`` X at 60 % of its channel values, ``deep X`` X at 70 %, ``bright X`` X scaled until its
   largest channel is 255 (same hue and saturation). ``light purple`` is XKCD's own value, not the rule.

A word can mean several colours: CSS ``green`` is (0, 128, 0), XKCD's (21, 176, 26), and generators paint
(0, 255, 0) for it. :func:`word_readings` lists them all, so that matching a word to what was painted
(:mod:`vb_plugins.codecs.legend_matching`) accepts any; :func:`resolve_word` gives the first (the CSS value
where there is one, so legends that worked before decode the same). The readings of a word are: its CSS
value, its XKCD value, the modifier rule applied to each reading of the base colour, and, for the CSS
colours whose channels are all 0 or 128 (green, maroon, navy, olive, purple, teal), the same colour at
full intensity (128 -> 255), which is what "green" means outside CSS.

Malformed hex codes (:func:`read_hex`): a generator reads ``#40FFC`` left to right as 40 / FF / C, i.e.
red 0x40 and green 0xFF whole and a lone leading digit of blue; like CSS's ``#RGB`` shorthand the lone
digit is doubled, so ``#40FFC`` is (64, 255, 204) -- the pixels a generator paints for it lie within a
few levels of that. Eight digits are CSS's ``#RRGGBBAA``: the colour is the first six (alpha does not
change a painted pixel). Four digits (``#RGBA`` or a cut ``#RRGG``?), seven digits (which one is extra?)
and fewer than three digits are ambiguous and refused with a suggestion. Legends typed as options read
hex strictly (a typo there is refused with this suggestion); prompts, which a generator has already read,
are read leniently.
"""

from __future__ import annotations

import difflib
import functools
import json
import re
from collections.abc import Iterable, Mapping

from matplotlib.colors import CSS4_COLORS, XKCD_COLORS, to_rgb

from vb_plugins.errors import InputError

RGB = tuple[int, int, int]

MODIFIERS = ("solid", "light", "pale", "dark", "deep", "bright")
_HEX = re.compile(r"^#([0-9a-z]*)$", re.IGNORECASE)


def _rgb(colour: str) -> RGB:
    return tuple(int(round(channel * 255)) for channel in to_rgb(colour))  # type: ignore[return-value]


def normalise_word(text: str) -> str:
    """Lower case, single spaces, hyphens and underscores as spaces, surrounding quotes dropped."""
    text = text.strip().strip("\"'").lower().replace("-", " ").replace("_", " ")
    return " ".join(text.split())


@functools.lru_cache(maxsize=1)
def css_names() -> dict[str, RGB]:
    """CSS4 colour names (no spaces) -> RGB."""
    return {name: _rgb(value) for name, value in CSS4_COLORS.items()}


@functools.lru_cache(maxsize=1)
def xkcd_names() -> dict[str, RGB]:
    """XKCD colour-survey names (with spaces, e.g. ``"light purple"``) -> RGB."""
    return {name.removeprefix("xkcd:"): _rgb(value) for name, value in XKCD_COLORS.items()}


@functools.lru_cache(maxsize=1)
def _xkcd_spaceless() -> dict[str, RGB]:
    table: dict[str, RGB] = {}
    for name, rgb in xkcd_names().items():
        table.setdefault(name.replace(" ", ""), rgb)
    return table


@functools.lru_cache(maxsize=1)
def vocabulary() -> tuple[str, ...]:
    """Every colour name the vocabulary knows (modifier compounds aside), for suggestions."""
    return tuple(sorted(set(css_names()) | set(xkcd_names())))


def _apply_modifier(modifier: str, rgb: RGB) -> RGB:
    channels = [float(c) for c in rgb]
    if modifier == "light":
        channels = [c + (255.0 - c) * 0.5 for c in channels]
    elif modifier == "pale":
        channels = [c + (255.0 - c) * 0.7 for c in channels]
    elif modifier == "dark":
        channels = [c * 0.6 for c in channels]
    elif modifier == "deep":
        channels = [c * 0.7 for c in channels]
    elif modifier == "bright":
        top = max(channels)
        channels = [c * 255.0 / top for c in channels] if top > 0 else [255.0] * 3
    return tuple(int(round(min(255.0, c))) for c in channels)  # type: ignore[return-value]


def _full_intensity(rgb: RGB) -> RGB | None:
    """(0, 128, 0) -> (0, 255, 0): the CSS basic colours at half intensity, as generators paint them."""
    if set(rgb) <= {0, 128} and len(set(rgb)) > 1:
        return tuple(255 if c == 128 else 0 for c in rgb)  # type: ignore[return-value]
    return None


@functools.lru_cache(maxsize=4096)
def word_readings(word: str) -> tuple[RGB, ...]:
    """Every colour ``word`` can mean (see the module docstring), the primary reading first; empty if
    the word is not a colour."""
    key = normalise_word(word)
    if not key:
        return ()
    readings: list[RGB] = []
    css = css_names().get(key.replace(" ", ""))
    if css is not None:
        readings.append(css)
    xkcd = xkcd_names().get(key) or _xkcd_spaceless().get(key.replace(" ", ""))
    if xkcd is not None:
        readings.append(xkcd)
    first, _, rest = key.partition(" ")
    if first in MODIFIERS and rest:
        readings += [_apply_modifier(first, base) for base in word_readings(rest)]
    if css is not None and (full := _full_intensity(css)) is not None:
        readings.append(full)
    return tuple(dict.fromkeys(readings))


def resolve_word(word: str) -> RGB | None:
    """The primary colour of a word (CSS value first, then XKCD, then the modifier rule), or None."""
    readings = word_readings(word)
    return readings[0] if readings else None


def suggest(word: str, cutoff: float = 0.75) -> str | None:
    """The closest vocabulary name to a word that is not a colour (difflib ratio >= ``cutoff``), or None."""
    key = normalise_word(word)
    close = difflib.get_close_matches(key, vocabulary(), n=1, cutoff=cutoff)
    if close:
        return close[0]
    first, _, rest = key.partition(" ")
    if first in MODIFIERS and rest:  # "bright crimsn" -> "bright crimson" (a modifier and a name)
        inner = suggest(rest, cutoff)
        if inner is not None:
            return f"{first} {inner}"
    return None


def read_hex(text: str, lenient: bool = True) -> RGB:
    """Read a ``#...`` code. ``#RRGGBB`` and ``#RGB`` always; with ``lenient`` also what a generator makes
    of a malformed one (five digits, eight digits; see the module docstring). Otherwise an InputError
    that says how it would be read, or why it cannot be."""
    match = _HEX.match(text.strip())
    if not match:
        raise InputError(f"{text!r}: not a hex colour")
    digits = match.group(1).lower()
    shown = text.strip()
    if any(ch not in "0123456789abcdef" for ch in digits):
        bad = sorted({ch for ch in digits if ch not in "0123456789abcdef"})
        raise InputError(f"{shown!r}: {', '.join(map(repr, bad))} is not a hex digit (0-9, a-f)")
    if len(digits) == 6:
        return tuple(int(digits[i:i + 2], 16) for i in (0, 2, 4))  # type: ignore[return-value]
    if len(digits) == 3:
        return tuple(int(ch * 2, 16) for ch in digits)  # type: ignore[return-value]
    if len(digits) == 5:
        reading = digits[:4] + digits[4] * 2
        if lenient:
            return read_hex("#" + reading)
        raise InputError(f"{shown!r}: 5 hex digits; a generator reads it as #{reading} (the lone last digit "
                         f"doubled, like #RGB), write that")
    if len(digits) == 8:
        if lenient:
            return read_hex("#" + digits[:6])
        raise InputError(f"{shown!r}: #RRGGBBAA has an alpha channel that a painted pixel does not; "
                         f"write #{digits[:6]}")
    if len(digits) == 4:
        raise InputError(f"{shown!r}: 4 hex digits are ambiguous (#RGBA, or #RRGGBB cut short?); write six, "
                         f"e.g. #{''.join(ch * 2 for ch in digits[:3])} for the #RGBA reading")
    if len(digits) == 7:
        raise InputError(f"{shown!r}: 7 hex digits, one too many; write six, e.g. #{digits[:6]}")
    raise InputError(f"{shown!r}: {len(digits)} hex digit(s); write #RRGGBB")


def unknown_word_message(word: str) -> str:
    """The tail of an error for a word that is no colour: a suggestion where one is close."""
    suggestion = suggest(word)
    return f"; did you mean {suggestion!r}?" if suggestion else ""


def colour_word(value) -> str | None:
    """The normalised colour word ``value`` names (``" Light Purple "`` -> ``"light purple"``), or None when
    it is not a word (an RGB sequence, a hex code, a triplet) or no colour."""
    if not isinstance(value, str):
        return None
    text = value.strip()
    if not text or text[0] in "#(<[" or text.lower().startswith("rgb"):
        return None
    return normalise_word(text) if word_readings(text) else None


def legend_words(value) -> dict[str, str]:
    """Class name -> colour word, for the entries of a legend (JSON text, mapping or ``(name, colour)``
    pairs) whose colour was given as a word. Malformed legends give {} here; parsing them reports why."""
    if isinstance(value, str):
        text = value.strip()
        if not text or text[0] not in "{[":
            return {}
        try:
            value = json.loads(text)
        except ValueError:
            return {}
    if isinstance(value, Mapping):
        items = list(value.items())
    elif isinstance(value, Iterable):
        items = [tuple(entry) for entry in value if isinstance(entry, tuple | list) and len(entry) == 2]
    else:
        return {}
    return {name.strip(): word for name, colour in items
            if isinstance(name, str) and (word := colour_word(colour)) is not None}

"""Colours as prompts write them, and palettes of well-separated colours.

Accepted spellings (case-insensitive, surrounding whitespace ignored): CSS names (``"red"``,
``"rebeccapurple"``), XKCD colour-survey names and modifiers (``"light purple"``, ``"bright teal"``; see
:mod:`vb_plugins.codecs.colour_words`), ``#RRGGBB`` and ``#RGB``, ``(r, g, b)``, ``<r, g, b>``, ``[r, g, b]``,
``RGB(r, g, b)``, and sequences of three integers 0..255.
"""

from __future__ import annotations

import functools
import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence

import numpy as np
from matplotlib.colors import CSS4_COLORS

from vb_plugins.codecs.colour_words import normalise_word, read_hex, resolve_word, unknown_word_message
from vb_plugins.errors import InputError

RGB = tuple[int, int, int]

_TRIPLET = re.compile(r"^(?:rgb\s*)?[(<\[]\s*(\d{1,3})\s*,\s*(\d{1,3})\s*,\s*(\d{1,3})\s*[)>\]]$", re.IGNORECASE)
_HEX6 = re.compile(r"^#([0-9a-f]{6})$", re.IGNORECASE)
_HEX3 = re.compile(r"^#([0-9a-f]{3})$", re.IGNORECASE)


@functools.lru_cache(maxsize=1)
def css_colours() -> dict[str, RGB]:
    """CSS4 colour names -> RGB, from matplotlib's table (the W3C list)."""
    return {name: parse_colour(hexcode) for name, hexcode in CSS4_COLORS.items()}


def parse_colour(value, name: str = "colour") -> RGB:
    """Parse one colour into an ``(r, g, b)`` tuple of ints 0..255; ``name`` labels errors."""
    if isinstance(value, str):
        text = value.strip()
        key = text.lower().replace(" ", "")
        if match := _HEX6.match(text):
            digits = match.group(1)
            return tuple(int(digits[i : i + 2], 16) for i in (0, 2, 4))  # type: ignore[return-value]
        if match := _HEX3.match(text):
            return tuple(int(ch * 2, 16) for ch in match.group(1))  # type: ignore[return-value]
        if match := _TRIPLET.match(text):
            return _checked_triplet([int(g) for g in match.groups()], value, name)
        if key in CSS4_COLORS:
            return css_colours()[key]
        return _colour_from_vocabulary(text, value, name)
    if isinstance(value, Sequence | np.ndarray) and len(value) == 3:
        try:
            numbers = [float(v) for v in value]
        except (TypeError, ValueError, OverflowError):
            raise InputError(f"{name} {value!r}: expected three numbers 0..255") from None
        if not all(math.isfinite(n) for n in numbers):
            raise InputError(f"{name} {value!r}: components must be finite numbers 0..255 (found NaN or infinity)")
        if any(n != int(n) for n in numbers):
            raise InputError(f"{name} {value!r}: expected three integers 0..255")
        return _checked_triplet([int(n) for n in numbers], value, name)
    raise InputError(f"{name} {value!r}: expected a colour string or three integers 0..255")


def _colour_from_vocabulary(text: str, value, name: str) -> RGB:
    """XKCD names and modifiers (``"light purple"``); a malformed hex code is refused with how a generator
    reads it (see :mod:`vb_plugins.codecs.colour_words`)."""
    if text.startswith("#"):
        try:
            return read_hex(text, lenient=False)
        except InputError as error:
            raise InputError(f"{name} {error}") from None
    rgb = resolve_word(text)
    if rgb is not None:
        return rgb
    raise InputError(f"{name} {value!r}: not a CSS colour name, an XKCD colour name, #RRGGBB, (r, g, b), "
                     f"<r, g, b> or RGB(r, g, b){unknown_word_message(text)}")


def _checked_triplet(values: list[int], original, name: str) -> RGB:
    if any(v < 0 or v > 255 for v in values):
        raise InputError(f"{name} {original!r}: components must lie in 0..255")
    return (values[0], values[1], values[2])


def format_colour(rgb: RGB, style: str = "triplet") -> str:
    """Write a colour for a prompt: ``triplet`` -> ``<r, g, b>``, ``hex`` -> ``#rrggbb``,
    ``paren`` -> ``(r, g, b)``, ``name`` -> the CSS name when the colour has one (else the triplet)."""
    r, g, b = (int(v) for v in rgb)
    if style == "hex":
        return f"#{r:02x}{g:02x}{b:02x}"
    if style == "paren":
        return f"({r}, {g}, {b})"
    if style == "name":
        named = colour_name(rgb)
        if named is not None:
            return named
    elif style != "triplet":
        raise InputError(f"colour style {style!r}: expected 'triplet', 'paren', 'hex' or 'name'")
    return f"<{r}, {g}, {b}>"


@functools.lru_cache(maxsize=1)
def _names_by_rgb() -> dict[RGB, str]:
    # Several CSS names share a value (aqua/cyan, fuchsia/magenta, grey/gray); keep the one prompts use.
    preferred = {"cyan", "magenta", "gray", "darkgray", "lightgray", "dimgray", "slategray", "darkslategray",
                 "lightslategray"}
    table: dict[RGB, str] = {}
    for css_name, rgb in sorted(css_colours().items()):
        if rgb not in table or css_name in preferred:
            table[rgb] = css_name
    return table


def colour_name(rgb: RGB) -> str | None:
    """The CSS name of an exact colour, or None."""
    return _names_by_rgb().get(tuple(int(v) for v in rgb))  # type: ignore[arg-type]


def parse_class_colours(value, name: str = "classes") -> list[tuple[str, RGB | None]]:
    """Parse a class legend: a JSON object / mapping ``{class: colour}``, a JSON list / sequence of class
    names (colours to be assigned) or of ``(name, colour)`` pairs, or a comma-separated string of names.
    Order is kept; colours may be None (to be assigned).
    """
    if isinstance(value, str):
        text = value.strip()
        if not text:
            raise InputError(f"{name}: empty class list")
        if text[0] in "{[":
            try:
                value = json.loads(text)
            except json.JSONDecodeError as error:
                raise InputError(f"{name}: invalid JSON ({error.msg} at position {error.pos})") from None
            except RecursionError:
                raise InputError(f"{name}: JSON nested too deeply to be a class legend") from None
        else:
            value = [part.strip() for part in text.split(",")]
    if isinstance(value, Mapping):
        items = list(value.items())
    elif isinstance(value, Iterable):
        # A list of names, or of (name, colour) pairs.
        items = [tuple(entry) if isinstance(entry, tuple | list) and len(entry) == 2 else (entry, None)
                 for entry in value]
    else:
        raise InputError(f"{name}: expected a mapping of class -> colour or a list of class names")
    legend: list[tuple[str, RGB | None]] = []
    seen: set[str] = set()
    for class_name, colour in items:
        if not isinstance(class_name, str) or not class_name.strip():
            raise InputError(f"{name}: class names must be non-empty strings, got {class_name!r}")
        class_name = class_name.strip()
        if class_name in seen:
            raise InputError(f"{name}: class {class_name!r} appears twice")
        seen.add(class_name)
        legend.append((class_name, None if colour is None else parse_colour(colour, f"colour of {class_name!r}")))
    if not legend:
        raise InputError(f"{name}: empty class list")
    return legend


def check_distinct_colours(legend, name: str = "classes") -> None:
    """Two classes in one colour cannot be told apart when decoding: the one check every legend passes
    (``vb prompt``, ``vb decode``, the FiftyOne and ComfyUI forms). Classes without a colour are skipped."""
    seen: dict[RGB, str] = {}
    for class_name, colour in legend:
        if colour is None:
            continue
        colour = tuple(int(v) for v in colour)
        if colour in seen:
            raise InputError(f"{name}: {seen[colour]!r} and {class_name!r} share the colour {colour}")
        seen[colour] = class_name


def rgb_to_lab(rgb) -> np.ndarray:
    """sRGB (uint8 or float 0..1, any leading shape, last axis 3) -> CIELAB (D65), float32."""
    import cv2

    array = np.asarray(rgb)
    flat = array.reshape(-1, 1, 3)
    flat = flat.astype(np.float32) / 255.0 if array.dtype == np.uint8 else flat.astype(np.float32)
    return cv2.cvtColor(flat, cv2.COLOR_RGB2LAB).reshape(array.shape[:-1] + (3,))


# Candidates that have plain names first: models follow "red" more reliably than "<178, 34, 34>".
_PLAIN_NAMES = (
    "red", "lime", "blue", "yellow", "cyan", "magenta", "orange", "purple", "green", "pink", "brown",
    "navy", "teal", "olive", "maroon", "gold", "turquoise", "violet", "indigo", "coral", "salmon",
    "khaki", "orchid", "crimson", "chocolate", "skyblue", "springgreen", "deeppink", "darkorange",
    "slateblue", "tomato", "plum", "tan", "sienna", "steelblue", "yellowgreen", "hotpink", "gray",
)


def palette(
    count: int,
    avoid: Iterable = ("white", "black"),
    named: bool = True,
    min_distance: float = 0.0,
) -> list[RGB]:
    """``count`` colours, greedily chosen so that each is as far as possible (CIELAB distance) from every
    colour already chosen and from the ``avoid`` colours (the background). Deterministic.

    With ``named`` the candidates are plain CSS colours (better prompts); for more than they can separate
    (or ``named=False``) a 6-level RGB grid joins the candidates.
    """
    if count < 0:
        raise InputError(f"palette size {count}: must be >= 0")
    fixed = [parse_colour(c, "colour to avoid") for c in avoid]
    candidates = [css_colours()[n] for n in _PLAIN_NAMES] if named else []
    grid = [(r, g, b) for r in range(0, 256, 51) for g in range(0, 256, 51) for b in range(0, 256, 51)]
    if not named or count > len(candidates) // 2:
        candidates += [c for c in grid if c not in candidates]
    candidates = [c for c in dict.fromkeys(candidates) if c not in fixed]
    if count > len(candidates):
        raise InputError(f"palette size {count}: at most {len(candidates)} distinct colours are available")
    lab = rgb_to_lab(np.array(candidates, dtype=np.uint8))
    nearest = np.full(len(candidates), np.inf, dtype=np.float32)
    for colour in fixed:
        nearest = np.minimum(nearest, np.linalg.norm(lab - rgb_to_lab(np.array([colour], np.uint8))[0], axis=1))
    chosen: list[RGB] = []
    for _ in range(count):
        index = int(np.argmax(nearest))
        if nearest[index] < min_distance:
            raise InputError(f"palette size {count}: cannot keep colours {min_distance:g} apart in CIELAB")
        chosen.append(candidates[index])
        nearest = np.minimum(nearest, np.linalg.norm(lab - lab[index], axis=1))
        nearest[index] = -1.0
    return chosen


def word_table(value, name: str = "colour_words") -> dict[RGB, str]:
    """Parse a table of colour words: a mapping ``{word: colour}`` (as specs write it) or ``(colour, word)``
    pairs (as specs hold it) -> ``{rgb: word}``."""
    if isinstance(value, Mapping):
        pairs = [(colour, word) for word, colour in value.items()]
    else:
        try:
            pairs = [(colour, word) for colour, word in value]
        except (TypeError, ValueError):
            raise InputError(f"{name}: expected a mapping of colour word -> colour") from None
    table: dict[RGB, str] = {}
    for colour, word in pairs:
        if not isinstance(word, str) or not word.strip():
            raise InputError(f"{name}: colour words must be non-empty strings, got {word!r}")
        table[parse_colour(colour, f"{name}[{word!r}]")] = normalise_word(word)
    return table

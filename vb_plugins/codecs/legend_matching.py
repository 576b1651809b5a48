"""Legend entries given as colour words, matched to the colours a generator actually painted.

"green" is (0, 128, 0) in CSS, but generators paint (0, 255, 0) for it; a decoder that trusts one RGB
per word misses most of the object. For entries given as *words* the decoder instead:

1. finds the painted colours: modes of the image's colour histogram, kept when enough of their pixels
   are solid (inside a 5 x 5 neighbourhood of the same mode: anti-aliased rims and JPEG smear between
   two regions are not painted colours), each the mean colour of its solid pixels;
2. assigns painted colours to legend entries one to one (:func:`scipy.optimize.linear_sum_assignment`),
   at the CIEDE2000 difference between the painted colour and the nearest reading of the entry's word
   (:func:`vb_plugins.codecs.colour_words.word_readings`; a reading other than the word's first costs
   ``SECONDARY_COST`` more, so of two painted greens the CSS one goes to a "green" entry and the other to
   a "lime" entry); a word takes no colour farther than ``MAX_DELTA_E``. Entries given exactly (RGB,
   hex) take part only to claim the painted colour that is theirs, and keep their colour;
3. decodes with each matched word entry's colour replaced by what was painted (snapped to the word's
   reading when within ``SNAP_LEVELS``, so an image painted exactly in the legend's colours decodes
   exactly as before). Entries that found nothing keep their nominal colour.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vb_plugins.codecs._arrays import as_rgb
from vb_plugins.codecs._instances import _colour_modes, _colour_noise, _interior
from vb_plugins.codecs._nearest import nearest_colours
from vb_plugins.codecs.colour_words import RGB, word_readings
from vb_plugins.codecs.delta_e import rgb_delta_e

MAX_DELTA_E = 30.0  # ΔE00: the farthest a painted colour may be from a reading of its word
SECONDARY_COST = 1.0  # ΔE00 added when a word matches through a reading other than its first
EXACT_CLAIM = 10.0  # ΔE00: how near a painted colour must be to an exact entry for that entry to claim it
SNAP_LEVELS = 24.0  # 8-bit RGB distance within which a painted colour is taken as the word's reading
MIN_SHARE = 0.002  # smallest share of the image's pixels (solid ones) that makes a painted colour
_MAX_PIXELS = 1 << 18  # painted colours are found on a regular subsample of larger images
_MAX_MODES = 512  # more colour modes than this: a texture or noise, not flat painted colours
_FORBIDDEN = 1e6


@dataclass(frozen=True)
class LegendEntry:
    """One colour of a legend: ``key`` names it (a class, ``"background"``, the referred object),
    ``colour`` is its nominal RGB, ``word`` the colour word it was given as (None: given exactly)."""

    key: str
    colour: RGB
    word: str | None = None


@dataclass(frozen=True)
class Match:
    """How one legend entry was read: ``colour`` is what decoding used; ``painted`` the painted colour it
    was matched to (None if none), ``delta_e`` its CIEDE2000 difference from the word, ``share`` its share
    of the image."""

    key: str
    word: str | None
    nominal: RGB
    colour: RGB
    painted: RGB | None = None
    delta_e: float | None = None
    share: float = 0.0

    def to_dict(self) -> dict:
        return {"given": self.word if self.word is not None else list(self.nominal), "nominal": list(self.nominal),
                "decoded_as": list(self.colour), "painted": None if self.painted is None else list(self.painted),
                "delta_e": None if self.delta_e is None else round(float(self.delta_e), 2),
                "share": round(float(self.share), 4)}


def painted_colours(image) -> tuple[np.ndarray, np.ndarray]:
    """The colours painted in ``image`` (uint8 or float RGB): (K x 3 float mean colours, K shares of the
    image's pixels), largest first."""
    rgb = as_rgb(image, "image")
    if rgb.dtype != np.uint8:
        rgb = np.rint(np.clip(rgb, 0, 1) * 255.0).astype(np.uint8)
    step = int(np.ceil(np.sqrt(rgb.shape[0] * rgb.shape[1] / _MAX_PIXELS)))
    rgb = np.ascontiguousarray(rgb[::step, ::step])
    count = rgb.shape[0] * rgb.shape[1]
    fine = float(np.clip(3.0 * np.sqrt(3.0) * _colour_noise(rgb), 8.0, 24.0))
    modes = _colour_modes(rgb, fine, max(4, int(MIN_SHARE * count / 4)))
    if not len(modes) or len(modes) > _MAX_MODES:  # texture or noise: no flat colours to match
        return np.zeros((0, 3)), np.zeros(0)
    index, distance, _ = nearest_colours(rgb, modes)
    mode_map = np.where(distance <= max(2.0 * fine, 24.0), index + 1, 0).astype(np.int32)
    solid = _interior(mode_map)
    members = mode_map[solid]
    counts = np.bincount(members, minlength=len(modes) + 1)[1:].astype(np.float64)
    pixels = rgb[solid].astype(np.float64)
    sums = np.stack([np.bincount(members, weights=pixels[:, c], minlength=len(modes) + 1)[1:] for c in range(3)], 1)
    keep = counts >= max(1.0, MIN_SHARE * count)
    centres = sums[keep] / counts[keep, None]
    shares = counts[keep] / count
    order = np.argsort(-shares, kind="stable")
    return centres[order], shares[order]


def match_entries(image, entries: list[LegendEntry]) -> list[Match]:
    """Match legend entries to painted colours (see the module docstring); one :class:`Match` per entry,
    in order."""
    from scipy.optimize import linear_sum_assignment

    centres, shares = painted_colours(image)
    unmatched = [Match(e.key, e.word, e.colour, e.colour) for e in entries]
    if not len(centres) or not any(e.word is not None for e in entries):
        return unmatched
    cost = np.full((len(entries), len(centres)), _FORBIDDEN)
    for row, entry in enumerate(entries):
        readings = (word_readings(entry.word) or (entry.colour,)) if entry.word is not None else (entry.colour,)
        # The entry's own nominal colour first: it may be a reading other than the word's first.
        readings = tuple(dict.fromkeys((entry.colour,) + tuple(readings)))
        differences = rgb_delta_e(np.array(readings, np.float64)[:, None], centres[None])
        differences[1:] += SECONDARY_COST
        best = differences.min(axis=0)
        limit = MAX_DELTA_E if entry.word is not None else EXACT_CLAIM
        cost[row] = np.where(best <= limit, best + 1e-3 * (1.0 - shares / shares.max()), _FORBIDDEN)
    rows, cols = linear_sum_assignment(cost)
    result = list(unmatched)
    taken = {e.colour for e in entries}
    for row, col in sorted(zip(rows, cols), key=lambda pair: -shares[pair[1]]):
        entry = entries[row]
        if cost[row, col] >= _FORBIDDEN:
            continue
        centre = centres[col]
        painted = tuple(int(v) for v in np.clip(np.rint(centre), 0, 255))
        colour = entry.colour
        if entry.word is not None:
            colour = _snapped(entry, centre, painted, taken)
            taken.add(colour)
        result[row] = Match(entry.key, entry.word, entry.colour, colour, painted,  # type: ignore[arg-type]
                            float(cost[row, col]), float(shares[col]))
    return result


def _snapped(entry: LegendEntry, centre: np.ndarray, painted: RGB, taken: set) -> RGB:
    """The colour to decode a matched word entry with: its nearest reading when the painted colour is
    within SNAP_LEVELS of one, else the painted colour; never a colour another entry decodes with."""
    readings = tuple(dict.fromkeys((entry.colour,) + word_readings(entry.word or "")))
    distances = np.linalg.norm(np.array(readings, np.float64) - centre, axis=1)
    nearest = readings[int(np.argmin(distances))]
    for candidate in ((nearest,) if distances.min() <= SNAP_LEVELS else ()) + (painted,):
        if candidate == entry.colour or candidate not in taken:
            return candidate
    return entry.colour


# -- the legends of task specs --------------------------------------------------------------------------

def spec_words(spec) -> dict[RGB, str]:
    """The spec's colours that were given as words -> the word."""
    return {tuple(rgb): word for rgb, word in getattr(spec, "colour_words", ())}


def matched_classes(image, spec) -> tuple[list[tuple[str, RGB]], dict]:
    """The legend to decode ``spec.classes`` with, and the record of the matching ({} when no class colour
    is a word: the legend is returned as it is)."""
    words = spec_words(spec)
    classes = [(name, tuple(colour)) for name, colour in spec.classes]
    if not any(colour in words for _, colour in classes):
        return classes, {}
    matches = match_entries(image, [LegendEntry(name, colour, words.get(colour)) for name, colour in classes])
    return [(m.key, m.colour) for m in matches], {m.key: m.to_dict() for m in matches}


def matched_colours(image, keyed: list[tuple[str, RGB]], spec) -> tuple[list[RGB], dict]:
    """Like :func:`matched_classes` for loose colours (a referring target and its background)."""
    words = spec_words(spec)
    if not any(tuple(colour) in words for _, colour in keyed):
        return [tuple(colour) for _, colour in keyed], {}
    matches = match_entries(image, [LegendEntry(key, tuple(colour), words.get(tuple(colour))) for key, colour in keyed])
    return [m.colour for m in matches], {m.key: m.to_dict() for m in matches}


def with_matching(combined, decodings):
    """Put the decodings' matching records into ``combined.extras["matched_colours"]`` (one per generated
    image, in order) when any colour word was matched; returns ``combined``."""
    records = [getattr(d, "matched", None) or {} for per_pass in decodings for d in per_pass]
    if any(records):
        combined.extras["matched_colours"] = records
    return combined

"""What a rewriter and a presence gate ask a vision-language model, and how its answers are read. No I/O.

A rewrite turns a reasoning query ("the object that keeps food cold") into a plain referring expression
("the white refrigerator") that an image generator can paint, or says that nothing in the image fits
("absent"). A presence check asks whether any instance of a phrase is in the image, with a score in [0, 1].

Models answer in free text (local models) or in JSON (Gemini with a response schema). The readers here
accept both and never fail on odd text: a rewrite keeps the first line of a reply, cleaned of labels,
quotes and markup and cut to :data:`MAX_EXPRESSION_CHARS`; only an empty reply is an error. A presence
answer that is neither yes nor no is an error only where the backend has no score of its own.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import asdict, dataclass

ABSENT = "absent"
MAX_EXPRESSION_CHARS = 160  # a referring expression is a noun phrase, not a paragraph
ANSWER_CHARS = 300  # characters of a raw answer kept in records

REWRITE_PROMPT = (
    "Look at the image and read this request, which may describe something indirectly: \"{query}\"\n"
    "Reply with a short referring expression that names the one object or region the request means, plainly "
    "and as it looks in this image (for example: the white refrigerator on the left). If nothing in the image "
    "fits the request, reply with the single word absent. Reply with the expression only."
)
PRESENCE_PROMPT = "Is there at least one {phrase} in this image? Answer yes or no."

# JSON schemas (the OpenAPI subset Gemini's responseSchema takes) for the structured form of each answer.
REWRITE_SCHEMA = {
    "type": "OBJECT",
    "properties": {
        "absent": {"type": "BOOLEAN", "description": "true when nothing in the image fits the request"},
        "expression": {"type": "STRING", "description": "a short referring expression naming what the request "
                                                         "means; empty when absent"},
    },
    "required": ["absent", "expression"],
}
PRESENCE_SCHEMA = {
    "type": "OBJECT",
    "properties": {
        "present": {"type": "BOOLEAN"},
        "score": {"type": "NUMBER", "description": "probability from 0 to 1 that at least one is in the image"},
    },
    "required": ["present", "score"],
}
REWRITE_JSON_NOTE = (" Answer in JSON: {\"absent\": false, \"expression\": \"...\"}, or {\"absent\": true, "
                     "\"expression\": \"\"} when nothing fits.")
PRESENCE_JSON_NOTE = (" Answer in JSON: {\"present\": true or false, \"score\": the probability from 0 to 1 that "
                      "at least one is in the image}.")

_ABSENT_WORDS = {"absent", "none", "nothing", "n/a", "na", "null", "not present", "no match", "no such object",
                 "not found", "not in the image", "no object"}
_LABEL = re.compile(r"^\s*(?:the\s+)?(?:referring\s+)?(?:expression|answer|output|object|result)\s*(?:is)?\s*[:=-]\s*",
                    re.IGNORECASE)
_YES = {"yes", "y", "true", "present", "1"}
_NO = {"no", "n", "false", "absent", "0", "none"}


class AnswerError(ValueError):
    """A reply that cannot be read; ``str()`` is a one-line reason (the caller adds the model and input)."""


@dataclass(frozen=True)
class Rewrite:
    """A rewriter's answer for one image and query: ``expression`` to paint, or None when nothing fits."""

    query: str
    expression: str | None
    answer: str  # what the model said, on one line, cut to ANSWER_CHARS
    model: str

    @property
    def absent(self) -> bool:
        return self.expression is None

    def to_dict(self) -> dict:
        return {**asdict(self), "absent": self.absent}


@dataclass(frozen=True)
class Presence:
    """A presence gate's answer for one image and phrase: ``score`` in [0, 1]; ``present`` = score >= threshold."""

    phrase: str
    present: bool
    score: float
    answer: str
    model: str

    def to_dict(self) -> dict:
        return asdict(self)


def one_line(text, limit: int = ANSWER_CHARS) -> str:
    """``text`` on one line, without control characters, cut to ``limit`` characters."""
    text = "".join(c if c.isprintable() else " " for c in str(text)).replace("\ufffd", " ")
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def rewrite_prompt(query: str, structured: bool = False) -> str:
    return REWRITE_PROMPT.format(query=one_line(query, 500)) + (REWRITE_JSON_NOTE if structured else "")


def presence_prompt(phrase: str, structured: bool = False) -> str:
    return PRESENCE_PROMPT.format(phrase=one_line(phrase, 200)) + (PRESENCE_JSON_NOTE if structured else "")


def _json_object(text: str) -> dict | None:
    """The JSON object in ``text`` (bare or in a ```json fence), else None."""
    stripped = text.strip()
    fenced = re.fullmatch(r"```(?:json)?\s*(.*?)\s*```", stripped, re.DOTALL | re.IGNORECASE)
    if fenced:
        stripped = fenced.group(1)
    if not stripped.startswith("{"):
        return None
    try:
        value = json.loads(stripped)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _flag(value) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _YES | _NO:
        return value.strip().lower() in _YES
    return None


def parse_rewrite(text: str) -> str | None:
    """The referring expression in a rewriter's reply, or None for "absent". Raises :class:`AnswerError` for
    a reply with nothing usable in it."""
    data = _json_object(text)
    if data is not None:
        if _flag(data.get("absent")) is True:
            return None
        text = str(data.get("expression") or "")
    lines = [line for line in (one_line(line, 10_000) for line in str(text).splitlines()) if line]
    line = lines[0] if lines else ""
    for _ in range(2):  # markup around a label around the expression: **Answer: "the cup".**
        line = _LABEL.sub("", line.strip(" \t\"'`*_#>")).rstrip(".;,:!").strip(" \"'`*_")
    if not line:
        raise AnswerError("the answer holds no expression")
    if line.lower() in _ABSENT_WORDS:
        return None
    if len(line) > MAX_EXPRESSION_CHARS:  # a talkative model: keep the first sentence, then whole words
        line = re.split(r"(?<=[.!?])\s", line, maxsplit=1)[0].rstrip(".!?")
        if len(line) > MAX_EXPRESSION_CHARS:
            line = line[:MAX_EXPRESSION_CHARS].rsplit(" ", 1)[0] or line[:MAX_EXPRESSION_CHARS]
    return line


def parse_presence(text: str) -> tuple[bool | None, float | None]:
    """(present, score) read from a presence reply; either is None where the reply does not say. A JSON
    ``score`` (or ``confidence``) outside [0, 1] or not a number is ignored."""
    data = _json_object(text)
    if data is not None:
        present = _flag(data.get("present"))
        score = data.get("score", data.get("confidence"))
        valid = isinstance(score, int | float) and not isinstance(score, bool) and math.isfinite(score) \
            and 0.0 <= score <= 1.0
        return present, float(score) if valid else None
    words = re.findall(r"[a-z0-9]+", one_line(text).lower())
    if words and words[0] in _YES | _NO:
        return words[0] in _YES, None
    return None, None


def decide(present: bool | None, score: float | None, threshold: float) -> tuple[bool, float]:
    """(present, score) from what a reply said: the score decides against ``threshold``; a bare yes / no
    counts as score 1 / 0. Raises :class:`AnswerError` when the reply said neither."""
    if score is None:
        if present is None:
            raise AnswerError("the answer is neither yes nor no")
        score = 1.0 if present else 0.0
    return score >= threshold, float(score)


__all__ = ["ABSENT", "AnswerError", "Presence", "Rewrite", "decide", "one_line", "parse_presence", "parse_rewrite",
           "presence_prompt", "rewrite_prompt", "PRESENCE_SCHEMA", "REWRITE_SCHEMA"]

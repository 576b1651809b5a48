"""Reading a task's legend back from the prompt a generator was given.

A user who prompted a model has the prompt, not a JSON legend. :func:`spec_fields` reads from the prompt's
own text what a task needs -- the class legend, the background, the referring objects and their colours,
the depth colour scheme -- and :meth:`vb_plugins.tasks.base.Task.make_spec` (``prompt=``) builds the spec
from it. Forms read, in any order and with singular or plural verbs:

- JSON-like legends: ``{"cat": "red", "exit sign": "light purple"}``, the paper's ``{"cat": "red", "cat ears":
  <255, 165, 0>}`` (bare triplets), single quotes;
- sentences: ``The macaron cakes are represented by (255, 255, 0).``, ``The menu is #80C000.``, ``The stretching
  cat is rendered in green, the cat that is cleaning itself is in cyan.``, ``Background is RGB(88, 50, 82).``,
  ``The background is set to white color.``, ``cat in red, sky in <135, 206, 235>``, ``cat: red``, ``sky = #87ceeb``;
  verbs: *is / are* (``represented by``, ``rendered / painted / drawn / shown / colored / marked / labeled ...
  in``, ``set to``, ``in``, or none); ``background``, ``everything else``, ``the rest`` name the background;
- ``Paint the cat in this photo solid white and everything else solid black.``; instance subjects: ``Each price
  tag is colored differently.``, ``Paint each price tag in this photo a different solid color``;
- depth colour schemes: ``Visualized in the plasma color palette.``, ``in the viridis color map``, a named
  sequence of the scheme's colours (``rainbow (black-red-yellow-green-cyan-blue-violet-white)``, ``nearest
  surfaces black, then red, yellow, ... farthest and sky white``) -- the Vision Banana path.

Every prompt that ``vb prompt`` writes, in every built-in dialect, reads back to its legend. Colours: every
spelling :func:`vb_plugins.codecs.colors.parse_colour` accepts, and malformed hex read the way a generator
reads it (:func:`vb_plugins.codecs.colour_words.read_hex`). Colours given as words are remembered as words
(the spec's ``colour_words``), so decoding matches them to what was painted. Names keep their words; a
sentence's capital first letter is undone (``The cat`` -> ``the cat``) and class names lose a leading
article (referring expressions keep it). A legend clause whose colour cannot be read is an
:class:`~vb_plugins.errors.InputError` that quotes it; sentences that are no legend are ignored.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from vb_plugins.codecs.colors import parse_colour
from vb_plugins.codecs.colour_words import (
    MODIFIERS,
    RGB,
    normalise_word,
    read_hex,
    suggest,
    unknown_word_message,
    word_readings,
)
from vb_plugins.errors import InputError
from vb_plugins.prompt_schemes import read_scheme

BACKGROUND_NAMES = frozenset({
    "background", "everything else", "the rest", "rest", "all other pixels", "other pixels", "all else",
    "anything else", "remaining pixels", "everything other",
})
_TRIPLET_TEXT = r"(?:\brgba?\s*)?[(<\[]\s*[-+]?\d[\d.\s%+-]*,[\d.\s,%+-]*[)>\]]"
_LITERAL = re.compile(_TRIPLET_TEXT + r"|#[0-9a-z]+\b", re.IGNORECASE)
_TRIPLET = re.compile(r"^(?:rgba?\s*)?[(<\[](?P<body>[^)>\]]*)[)>\]]$", re.IGNORECASE)
_JSON_BLOCK = re.compile(r"\{[^{}]*\}")
_PAIR = re.compile(
    r"""\s*(?P<q>["'])(?P<name>.*?)(?P=q)\s*:\s*"""
    r"""(?P<value>(?P<vq>["']).*?(?P=vq)|""" + _TRIPLET_TEXT + r"""|[^,}]+?)\s*(?:,|$)""",
    re.IGNORECASE,
)
_HOLE = re.compile("\x01(\\d+)\x02")
_SENTENCES = re.compile(r"(?<=[.!?;])\s+|\n+")
_CLAUSES = re.compile(r",|;|\s+and\s+", re.IGNORECASE)
_VERBS = (r"represented|rendered|drawn|painted|shown|displayed|marked|highlighted|filled|colou?red|labell?ed|"
          r"depicted|visuali[sz]ed|denoted|indicated|encoded|segmented|masked|given|assigned")
_STRONG = re.compile(
    rf"(?<!\w)(?:(?:is|are)\s+(?:{_VERBS})(?:\s+(?:in|as|with|by|using|to))?(?:\s+(?:the\s+)?colou?r(?:\s+of)?)?"
    r"|(?:is|are)\s+set\s+to|(?:has|have)\s+(?:the\s+)?colou?r(?:\s+of)?)(?!\w)",
    re.IGNORECASE,
)
_WEAK = re.compile(r"(?<!\w)(?:(?:is|are)\s+in|is|are|in|by|solid)(?!\w)|[:=]", re.IGNORECASE)
_PAINT = re.compile(r"^paint\s+(?P<rest>.+)$", re.IGNORECASE)
_PAINT_JOIN = re.compile(r"(?<!\w)(?:in\s+this\s+(?:photo|image|picture)\s+)?(?:solid|in)(?!\w)", re.IGNORECASE)
_IN_THIS_PHOTO = re.compile(r"\s+in\s+this\s+(?:photo|image|picture)$", re.IGNORECASE)
_SUBJECT = re.compile(
    r"^(?:paint\s+)?(?:each|every)\s+(?P<subject>.+?)\s+(?:(?:is|are)\s+(?:colou?red|painted|rendered|drawn|shown)"
    r"(?:\s+in)?(?:\s+a)?\s+different(?:ly|\s+(?:solid\s+)?colou?rs?)?|in\s+this\s+(?:photo|image|picture)\s+"
    r"(?:in\s+)?a\s+different\s+(?:solid\s+)?colou?r)$",
    re.IGNORECASE,
)
_ARTICLE = re.compile(r"^(?:a|an|the)\s+", re.IGNORECASE)
_COLOUR_NOUN = re.compile(r"^(?:the\s+)?colou?r\s+(?:of\s+)?|\s+colou?r(?:ed)?$", re.IGNORECASE)
_UNNAMED_SUBJECTS = {"object", "objects", "instance", "instances", "thing", "things"}  # no class named


@dataclass(frozen=True)
class Mention:
    """A name given a colour in the prompt. ``word``: the colour word (None for an exact RGB / hex);
    ``background``: the name means the background; ``literal``: the name was quoted (JSON)."""

    name: str
    colour: RGB
    word: str | None
    background: bool
    literal: bool
    text: str


@dataclass(frozen=True)
class PromptLegend:
    """What a prompt says about colours: the mentions in order, an instance subject, the background."""

    mentions: tuple[Mention, ...]
    subject: str | None

    @property
    def background(self) -> Mention | None:
        found = [m for m in self.mentions if m.background]
        return found[-1] if found else None

    @property
    def named(self) -> list[Mention]:
        return [m for m in self.mentions if not m.background]


# -- colours ------------------------------------------------------------------------------------------------

def read_colour(text: str) -> tuple[RGB, str | None] | None:
    """A colour phrase of a prompt -> (rgb, word or None for exact spellings), or None when it is no colour.
    Malformed triplets and ambiguous hex raise :class:`InputError`."""
    phrase = _clean_colour_phrase(text)
    if not phrase:
        return None
    if match := _TRIPLET.match(phrase):
        parts = [p.strip() for p in match.group("body").split(",")]
        if len(parts) == 4 and phrase.lower().startswith("rgba"):
            parts = parts[:3]  # the alpha of rgba() does not change a painted pixel
        if len(parts) != 3:
            raise InputError(f"{phrase!r}: expected three numbers 0..255, got {len(parts)}")
        try:
            numbers = [round(float(p[:-1]) * 2.55) if p.endswith("%") else float(p) for p in parts]
        except ValueError:
            raise InputError(f"{phrase!r}: expected three numbers 0..255") from None
        return parse_colour(numbers, "colour"), None
    if phrase.startswith("#"):
        rgb = read_hex(phrase, lenient=True)
        digits = len(phrase) - 1
        return rgb, (None if digits in (3, 6) else phrase.lower())  # a malformed code is a guess: match it
    readings = word_readings(phrase)
    return (readings[0], normalise_word(phrase)) if readings else None


def _clean_colour_phrase(text: str) -> str:
    phrase = text.strip().strip("\"'`").strip().rstrip(".,;:!?").strip().strip("\"'`")
    for _ in range(3):
        before = phrase
        phrase = _ARTICLE.sub("", phrase)
        phrase = _COLOUR_NOUN.sub("", phrase).strip()
        phrase = re.sub(r"^solid\s+", "", phrase, flags=re.IGNORECASE)  # a flat fill: no change of colour
        if phrase == before:
            break
    return phrase.strip()


def _looks_like_colour(text: str, strong: bool = False) -> bool:
    """Whether an unreadable phrase was meant as a colour (then the prompt is refused, not skimmed). After a
    colour verb ("is rendered in") one word is taken as a colour; after "is" / "in", only a near miss."""
    if _LITERAL.search(text) or re.search(r"colou?r(?:ed)?\s*$", text.strip(), re.IGNORECASE):
        return True
    phrase = normalise_word(_clean_colour_phrase(text))
    words = phrase.split()
    if not words or len(words) > 3:
        return False
    if strong and len(words) == 1:
        return True
    # A near miss of a colour name ("blurplish"), not any word that shares letters with one ("kitchen").
    return any(w in MODIFIERS for w in words) or suggest(phrase, cutoff=0.75 if strong else 0.85) is not None


# -- legends ------------------------------------------------------------------------------------------------

def read_legend(text: str) -> PromptLegend:
    """Read every name-colour pair, the background and an instance subject from a prompt."""
    if not isinstance(text, str) or not text.strip():
        raise InputError("prompt: empty")
    mentions: list[Mention] = []
    subject: str | None = None
    position = 0
    for block in _JSON_BLOCK.finditer(text):
        found, subject_here = _read_prose(text[position:block.start()])
        mentions += found
        subject = subject or subject_here
        mentions += _read_json_block(block.group(0))
        position = block.end()
    found, subject_here = _read_prose(text[position:])
    return PromptLegend(tuple(mentions + found), subject or subject_here)


def _read_json_block(block: str) -> list[Mention]:
    inner = block[1:-1]
    if ":" not in inner:
        return []
    mentions, covered = [], 0
    for pair in _PAIR.finditer(inner):
        if inner[covered:pair.start()].strip(" ,\n\t"):
            break
        covered = pair.end()
        name = pair.group("name").strip()
        value = pair.group("value").strip()
        colour = _colour_or_error(value, block)
        if colour is None:
            raise InputError(f"prompt: cannot read {_short(block)!r}: {value!r} is not a colour"
                             f"{unknown_word_message(_clean_colour_phrase(value))}")
        mentions.append(Mention(name, colour[0], colour[1], name.lower() in BACKGROUND_NAMES, True, block))
    rest = inner[covered:].strip(" ,\n\t")
    if rest:
        raise InputError(f"prompt: cannot read {_short(block)!r}: {_short(rest)!r} is not a \"name\": colour pair")
    return mentions


def _colour_or_error(phrase: str, context: str):
    try:
        return read_colour(phrase)
    except InputError as error:
        raise InputError(f"prompt: cannot read {_short(context)!r}: {error}") from None


def _read_prose(text: str) -> tuple[list[Mention], str | None]:
    literals: list[str] = []

    def hole(match: re.Match) -> str:
        literals.append(match.group(0))
        return f"\x01{len(literals) - 1}\x02"

    protected = _LITERAL.sub(hole, text)
    mentions: list[Mention] = []
    subject = None
    for sentence in _SENTENCES.split(protected):
        sentence = sentence.strip().rstrip(".!?;").strip()
        if not sentence:
            continue
        pending: list[str] = []
        pending_from_start = True  # whether the pending clauses begin the sentence
        clauses = [c.strip() for c in _CLAUSES.split(sentence) if c.strip()]
        for index, clause in enumerate(clauses):
            # The clause alone, else joined to the unread clauses before it ("the cat, which is asleep, is red").
            candidates = [(clause, index == 0)] + ([(", ".join(pending + [clause]), pending_from_start)]
                                                   if pending else [])
            for candidate, initial in candidates:
                found = _read_clause(candidate, literals, initial)
                if found is not None:
                    break
            if found is None:
                pending_from_start = pending_from_start if pending else index == 0
                pending.append(clause)
                continue
            _refuse_unread(pending, literals)
            pending = []
            if isinstance(found, str):
                subject = subject or found
            else:
                mentions.append(found)
        _refuse_unread(pending, literals)
    return mentions, subject


def _refuse_unread(clauses: list[str], literals: list[str]) -> None:
    for clause in clauses:
        if _HOLE.search(clause):
            raise InputError(f"prompt: cannot read {_short(_restore(clause, literals))!r}: a colour without a name "
                             "it belongs to")


def _restore(text: str, literals: list[str]) -> str:
    return _HOLE.sub(lambda m: literals[int(m.group(1))], text)


def _read_clause(clause: str, literals: list[str], sentence_initial: bool) -> Mention | str | None:
    """One clause -> a Mention, an instance subject (str), or None when it holds no legend."""
    restored = _restore(clause, literals)
    if match := _SUBJECT.match(restored):
        return match.group("subject").strip()
    attempts: list[tuple[str, str, bool]] = []  # (name, phrase, after a colour verb) that did not read as a colour
    paint = _PAINT.match(clause)
    if paint:
        rest = paint.group("rest")
        for join in reversed(list(_PAINT_JOIN.finditer(rest))):
            name = _IN_THIS_PHOTO.sub("", rest[:join.start()].strip())
            found = _mention(name, rest[join.end():], clause, literals, False, attempts, strong=True)
            if found:
                return found
        words = rest.split()
        for size in (3, 2, 1):  # "Paint the cat red"
            if len(words) > size:
                found = _mention(" ".join(words[:-size]), " ".join(words[-size:]), clause, literals, False, attempts)
                if found:
                    return found
    else:
        for pattern in (_STRONG, _WEAK):
            for join in reversed(list(pattern.finditer(clause))):
                name = clause[:join.start()]
                if ":" in name and join.group(0) != ":":
                    name = name.rsplit(":", 1)[1]  # "same layout: cat in red"
                found = _mention(name, clause[join.end():], clause, literals, sentence_initial, attempts,
                                 strong=pattern is _STRONG)
                if found:
                    return found
    for _name, phrase, strong in attempts:
        if _looks_like_colour(phrase, strong):
            raise InputError(f"prompt: cannot read {_short(restored)!r}: {phrase.strip()!r} is not a colour"
                             f"{unknown_word_message(_clean_colour_phrase(phrase))}")
    return None


def _mention(name: str, phrase: str, clause: str, literals, sentence_initial: bool, attempts: list,
             strong: bool = False) -> Mention | None:
    name = name.strip().strip("\"'`").strip()
    name = re.sub(r"^(?:and|then)\s+", "", name, flags=re.IGNORECASE).strip(" ,")
    phrase = _restore(phrase, literals).strip()
    if not name or not phrase or _HOLE.search(name) or _ARTICLE.sub("", name + " ").strip() == "":
        return None
    colour = _colour_or_error(phrase, _restore(clause, literals))
    if colour is None:
        attempts.append((name, phrase, strong))
        return None
    if sentence_initial:
        name = _sentence_case(name)
    background = _ARTICLE.sub("", name.lower()) in BACKGROUND_NAMES or name.lower() in BACKGROUND_NAMES
    return Mention(_restore(name, literals), colour[0], colour[1], background, False, _restore(clause, literals))


def _sentence_case(name: str) -> str:
    """Undo a sentence's capital: "The cat" -> "the cat"; "NYC taxi", "I" and "McDonald's sign" stay."""
    first = name.split(" ", 1)[0]
    if len(first) > 1 and first[0].isupper() and first[1:].islower():
        return name[0].lower() + name[1:]
    return name


def _short(text: str, limit: int = 90) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


# -- spec fields ---------------------------------------------------------------------------------------------

def spec_fields(task, text: str) -> dict:
    """The :meth:`~vb_plugins.tasks.base.Task.make_spec` fields ``task`` needs, read from a prompt:
    ``classes``, ``expression`` and ``colour`` (one referring object) or ``classes`` (several),
    ``background``, ``scheme``, and ``colour_words`` ({rgb: word} for colours given as words)."""
    if not isinstance(text, str) or not text.strip():
        raise InputError("prompt: empty")
    uses = set(task.uses)
    fields: dict = {}
    if uses & {"classes", "expression", "colour", "background"}:
        legend = read_legend(text)
        named = legend.named
        background = legend.background
        if "expression" in uses:
            if not named:
                raise InputError(f"prompt {_short(text)!r}: names no object with a colour (e.g. 'The cat is "
                                 "represented by a solid yellow.')")
            if len(named) == 1:
                fields["expression"], fields["colour"] = named[0].name, named[0].colour
            elif "classes" in uses:
                fields["classes"] = _unique_classes(named, strip_articles=False)
            else:
                raise InputError(f"prompt {_short(text)!r}: names {len(named)} objects; task {task.name!r} "
                                 "reads one")
        elif "classes" in uses:
            mentions = list(legend.mentions) if "background" not in uses else named
            classes = _unique_classes(mentions, strip_articles=True)
            if not classes and legend.subject and legend.subject.lower() not in _UNNAMED_SUBJECTS:
                classes = [(legend.subject, None)]
            if classes:
                fields["classes"] = classes
            elif "background" not in uses:
                raise InputError(f"prompt {_short(text)!r}: no class legend found (e.g. '{{\"cat\": \"red\"}}' or "
                                 "'The cat is represented by (255, 0, 0).')")
        if "background" in uses and background is not None:
            fields["background"] = background.colour
        fields["colour_words"] = {m.colour: m.word for m in legend.mentions if m.word is not None}
    if "scheme" in uses:
        scheme = read_scheme(text)
        if scheme is not None:
            fields["scheme"] = scheme
    return fields


def _unique_classes(mentions: list[Mention], strip_articles: bool) -> list[tuple[str, RGB | None]]:
    classes: dict[str, RGB] = {}
    for mention in mentions:
        name = mention.name
        if mention.background and not mention.literal:
            name = "background"
        elif strip_articles and not mention.literal:
            name = _ARTICLE.sub("", name).strip() or name
        if name in classes and classes[name] != mention.colour:
            raise InputError(f"prompt: {name!r} is given two colours, {classes[name]} and {mention.colour} "
                             f"(in {_short(mention.text)!r})")
        classes[name] = mention.colour
    return list(classes.items())

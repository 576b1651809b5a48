"""Reading a vision-language model's answers: free text from local models, JSON from Gemini."""

import pytest

from vb_plugins.reasoning.answers import (
    MAX_EXPRESSION_CHARS,
    AnswerError,
    decide,
    parse_presence,
    parse_rewrite,
    presence_prompt,
    rewrite_prompt,
)


@pytest.mark.parametrize("answer, expression", [
    ("the white refrigerator", "the white refrigerator"),
    ('"the white refrigerator".', "the white refrigerator"),
    ("Referring expression: the white refrigerator\nIt keeps food cold.", "the white refrigerator"),
    ("**The answer is: the fridge on the left**", "the fridge on the left"),
    ("`the mug`", "the mug"),
    ('{"absent": false, "expression": "the mug on the desk"}', "the mug on the desk"),
    ('```json\n{"absent": false, "expression": "the mug"}\n```', "the mug"),
    ("  \n\n  the lamp\t\u0007  ", "the lamp"),
])
def test_rewrite_answers_give_the_expression(answer, expression):
    assert parse_rewrite(answer) == expression


@pytest.mark.parametrize("answer", ["absent", "Absent.", "ABSENT", "none", "Nothing", '"absent"',
                                    '{"absent": true, "expression": ""}', '{"absent": "yes", "expression": "x"}'])
def test_absent_answers_give_none(answer):
    assert parse_rewrite(answer) is None


@pytest.mark.parametrize("answer", ["", "   ", '""', "\n\n", '{"absent": false, "expression": ""}', "**"])
def test_an_empty_answer_is_an_error(answer):
    with pytest.raises(AnswerError, match="no expression"):
        parse_rewrite(answer)


def test_a_rambling_answer_is_cut_to_its_first_sentence_or_whole_words():
    long = "the cup on the left " * 20
    assert parse_rewrite("the cup on the left. " + long) == "the cup on the left"
    cut = parse_rewrite(long)
    assert len(cut) <= MAX_EXPRESSION_CHARS and long.startswith(cut) and not cut.endswith(" ")


def test_random_bytes_never_raise_anything_but_answer_error():
    import random

    rng = random.Random(0)
    for _ in range(300):
        text = "".join(chr(rng.choice([rng.randrange(0, 0x250), 0xFFFD, 0x0A])) for _ in range(rng.randrange(60)))
        try:
            expression = parse_rewrite(text)
        except AnswerError:
            continue
        assert expression is None or (expression and "\n" not in expression and len(expression) <= 160)


@pytest.mark.parametrize("answer, said", [
    ("Yes", (True, None)), ("yes, there is a cat", (True, None)), ("No.", (False, None)),
    ('{"present": true, "score": 0.8}', (True, 0.8)), ('{"present": false, "score": 0.1}', (False, 0.1)),
    ('{"present": false, "confidence": 0.3}', (False, 0.3)), ('{"present": true, "score": 7}', (True, None)),
    ('{"present": true, "score": "high"}', (True, None)), ("maybe", (None, None)), ("", (None, None)),
])
def test_presence_answers(answer, said):
    assert parse_presence(answer) == said


def test_the_score_decides_and_a_bare_answer_counts_as_certain():
    assert decide(True, 0.3, 0.5) == (False, 0.3)  # the score wins over the flag
    assert decide(False, 0.7, 0.5) == (True, 0.7)
    assert decide(True, None, 0.5) == (True, 1.0) and decide(False, None, 0.5) == (False, 0.0)
    with pytest.raises(AnswerError, match="neither yes nor no"):
        decide(None, None, 0.5)


def test_prompts_keep_the_question_on_one_line():
    assert "the object that\nkeeps" not in rewrite_prompt("the object that\nkeeps food cold")
    assert "the object that keeps food cold" in rewrite_prompt("the object that\nkeeps food cold")
    assert "JSON" in rewrite_prompt("x", structured=True) and "JSON" not in rewrite_prompt("x")
    assert presence_prompt("traffic light") == "Is there at least one traffic light in this image? Answer yes or no."

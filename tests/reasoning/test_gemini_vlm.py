"""Gemini rewriters and presence gates against a loopback server that speaks the Generative Language format:
the request they send, how answers are read, and the Gemini generator's key handling, retries and errors."""

import json
import logging

import numpy as np
import pytest
from gemini_vlm_fake import KEY, TEXT_MODEL, FakeGeminiVLM, api_error, text_response

from vb_plugins.errors import InputError, ModelError, RemoteAPIError
from vb_plugins.generation.gemini import RetryPolicy
from vb_plugins.reasoning import load_gate, load_rewriter
from vb_plugins.reasoning.gemini import GeminiGate, GeminiRewriter


def photo(shape=(40, 56), seed=0):
    return np.random.default_rng(seed).integers(0, 256, shape + (3,), dtype=np.uint8)


def rewriter(fake, sleeps=None, **options):
    return load_rewriter(f"gemini:{TEXT_MODEL}", api_key=KEY, base_url=fake.base_url,
                         sleep=lambda seconds, stop: (sleeps if sleeps is not None else []).append(seconds),
                         retry=RetryPolicy(max_retries=2), **options)


def gate(fake, threshold=0.5, **options):
    return load_gate(f"gemini:{TEXT_MODEL}", api_key=KEY, base_url=fake.base_url, threshold=threshold,
                     sleep=lambda seconds, stop: None, retry=RetryPolicy(max_retries=2), **options)


def test_a_rewrite_sends_the_query_and_the_image_and_reads_the_json_answer(fake):
    fake.answer = lambda question, image: json.dumps({"absent": False, "expression": "the white refrigerator"})
    image = photo()
    rewrite = rewriter(fake).rewrite(image, "the object that keeps food cold")
    assert isinstance(rewriter(fake), GeminiRewriter)
    assert rewrite.expression == "the white refrigerator" and not rewrite.absent
    assert rewrite.model == f"gemini:{TEXT_MODEL}" and rewrite.query == "the object that keeps food cold"
    [request] = fake.text_requests
    assert '"the object that keeps food cold"' in request["question"]
    sent = request["contents"][0]["parts"][1]["inline_data"]["data"]
    import base64
    import io

    from PIL import Image

    assert np.array_equal(np.asarray(Image.open(io.BytesIO(base64.b64decode(sent)))), image)  # PNG: lossless
    schema = request["generationConfig"]["responseSchema"]
    assert set(schema["properties"]) == {"absent", "expression"}


def test_an_absent_answer_and_thought_parts(fake):
    fake.answer = lambda question, image: (200, text_response('{"absent": true, "expression": ""}',
                                                              thought="Looking for a fridge... none."))
    rewrite = rewriter(fake).rewrite(photo(), "the object that keeps food cold")
    assert rewrite.absent and rewrite.expression is None and "Looking" not in rewrite.answer


def test_a_presence_check_reads_present_and_score_and_the_threshold_decides(fake):
    scores = {"cat": 0.92, "dog": 0.05, "bird": 0.4}
    fake.answer = lambda question, image: json.dumps(
        {"present": True, "score": next(s for name, s in scores.items() if f" {name} " in question)})
    strict = gate(fake, threshold=0.5)
    assert isinstance(strict, GeminiGate)
    answers = {name: strict.presence(photo(), name) for name in scores}
    assert {name: a.present for name, a in answers.items()} == {"cat": True, "dog": False, "bird": False}
    assert answers["dog"].score == pytest.approx(0.05)
    assert gate(fake, threshold=0.3).presence(photo(), "bird").present  # a lower threshold lets it through
    assert set(fake.text_requests[0]["generationConfig"]["responseSchema"]["properties"]) == {"present", "score"}


def test_429_is_retried_after_the_servers_delay_with_the_generators_policy(fake):
    replies = [(429, api_error(429, "RESOURCE_EXHAUSTED", "Quota exceeded", [
        {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "7s"}]))]
    fake.answer = lambda question, image: replies.pop(0) if replies else None
    sleeps = []
    tool = rewriter(fake, sleeps)
    assert tool.rewrite(photo(), "what holds coffee").expression == "the red cup"
    assert len(fake.text_requests) == 2 and tool.vlm.requests_sent == 2
    assert 7.0 <= sleeps[0] <= 7.0 * 1.25


def test_errors_are_one_line_and_never_show_the_key(fake, caplog):
    fake.answer = lambda question, image: (403, api_error(403, "PERMISSION_DENIED", "Permission denied\nfor key "
                                                                                     + KEY))
    caplog.set_level(logging.DEBUG)
    with pytest.raises(RemoteAPIError) as info:
        rewriter(fake).rewrite(photo(), "what holds coffee")
    message = str(info.value)
    assert "\n" not in message and "authentication failed" in message and KEY not in message
    assert KEY not in caplog.text


@pytest.mark.parametrize("reply, words", [
    ((200, {"promptFeedback": {"blockReason": "SAFETY"}}), "blocked by the service (blockReason=SAFETY)"),
    ((200, {"candidates": [{"content": {"parts": []}, "finishReason": "SAFETY"}]}), "blocked by the safety filter"),
    ((200, {"candidates": [{"content": {"parts": []}, "finishReason": "MAX_TOKENS"}]}), "no text in the response"),
    ((400, api_error(400, "INVALID_ARGUMENT", "Unsupported MIME type")), "invalid argument"),
])
def test_replies_without_an_answer_are_one_line_remote_errors(fake, reply, words):
    fake.answer = lambda question, image: reply
    with pytest.raises(RemoteAPIError) as info:
        rewriter(fake).rewrite(photo(), "what holds coffee")
    assert words in str(info.value) and "\n" not in str(info.value)
    assert str(info.value).startswith(f"gemini:{TEXT_MODEL}: ")


def test_an_answer_that_says_nothing_is_a_one_line_model_error(fake):
    fake.answer = lambda question, image: '{"present": null}' if "Is there" in question else '{"absent": false}'
    with pytest.raises(ModelError, match="presence of 'cat': the answer is neither yes nor no"):
        gate(fake).presence(photo(), "cat")
    with pytest.raises(ModelError, match="rewriting 'what holds coffee': the answer holds no expression"):
        rewriter(fake).rewrite(photo(), "what holds coffee")


def test_many_questions_fail_one_by_one(fake):
    fake.answer = lambda question, image: ((500, api_error(500, "INTERNAL", "boom")) if "broken" in question
                                           else None)
    answers = rewriter(fake).rewrite_many([(photo(seed=0), "a cup"), (photo(seed=1), "a broken cup"),
                                           (photo(seed=2), "a mug")])
    assert [getattr(a, "expression", None) for a in answers] == ["the red cup", None, "the red cup"]
    assert isinstance(answers[1], RemoteAPIError) and "service unavailable" in str(answers[1])


def test_the_key_is_checked_before_any_request_and_not_echoed(fake, monkeypatch):
    with pytest.raises(InputError) as info:
        load_rewriter(f"gemini:{TEXT_MODEL}", api_key=KEY[:10] + "\n" + KEY[10:], base_url=fake.base_url)
    assert "a line break" in str(info.value) and KEY[:10] not in str(info.value)
    monkeypatch.delenv("GEMINI_API_KEY", raising=False)
    monkeypatch.delenv("GOOGLE_API_KEY", raising=False)
    with pytest.raises(RemoteAPIError, match="no API key"):
        load_gate("gemini-2.5-flash", base_url=fake.base_url)
    assert fake.text_requests == [] and fake.bad_keys == 0


def test_a_redirect_to_another_host_is_refused_and_that_host_never_sees_the_key(fake):
    other = FakeGeminiVLM()
    try:
        location = f"{other.base_url}/v1beta/models/{TEXT_MODEL}:generateContent"
        fake.answer = lambda question, image: (307, {}, {"Location": location})
        with pytest.raises(RemoteAPIError, match="refused a redirect .* to another host"):
            rewriter(fake).rewrite(photo(), "what holds coffee")
        assert other.text_requests == [] and other.bad_keys == 0
    finally:
        other.close()


def test_options_that_do_not_apply_are_refused_or_ignored(fake):
    with pytest.raises(InputError, match="unknown option"):
        rewriter(fake, lora="x.safetensors")
    assert rewriter(fake, device="cuda", dtype="float16").name == f"gemini:{TEXT_MODEL}"  # local-only: ignored
    with pytest.raises(InputError, match="threshold"):
        gate(fake, threshold=1.5)

"""The Gemini generator against a local server that speaks the Generative Language REST format."""

import base64
import io
import json
import logging
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest
from gemini_fake import (
    DEPTH_M,
    KEY,
    MODEL,
    PAINTED,
    api_error,
    depth_painting,
    generate,
    image_response,
    make,
    photo,
    png_base64,
)
from PIL import Image

from vb_plugins.errors import CancelledError, InputError, RemoteAPIError
from vb_plugins.generation import load_generator, resolve_backend
from vb_plugins.generation.gemini import (
    GeminiBackend,
    GeminiGenerator,
    RetryPolicy,
    closest_aspect_ratio,
    parse_duration,
)
from vb_plugins.predict import Predictor


# -- success -------------------------------------------------------------------------------------------------
def test_predictor_end_to_end_decodes_the_painted_depth(fake, sleeps):
    generator = make(fake, sleeps)
    prediction = Predictor("depth", generator, seed=5).predict([photo((48, 64))])[0]
    assert prediction.values.shape == (48, 64)  # decoded at the painted size, resized to the input
    assert np.allclose(prediction.values, DEPTH_M, atol=0.02)
    assert prediction.visualization.shape == PAINTED + (3,)  # as the API returned it
    [request] = fake.requests
    config = request["generationConfig"]
    assert config["imageConfig"]["aspectRatio"] == "4:3" and config["seed"] == 5
    assert "false-color depth map" in request["contents"][0]["parts"][0]["text"]  # the zero-shot dialect
    inline = request["contents"][0]["parts"][1]["inline_data"]
    sent = np.asarray(Image.open(io.BytesIO(base64.b64decode(inline["data"]))))
    assert sent.shape == (48, 64, 3)  # small inputs go up as they are, not upscaled to ~1 MP
    assert prediction.settings["generator"] == f"gemini:{MODEL}" and prediction.settings["dialect"] == "zero-shot"
    assert sleeps == []


def test_batch_runs_concurrently_one_request_per_image_with_its_seed(fake, sleeps):
    for _ in range(3):
        fake.reply(200, image_response(), delay=0.2)
    generator = make(fake, sleeps, concurrency=3)
    began = time.perf_counter()
    outputs = generate(generator, [photo(seed=i) for i in range(3)], seeds=[7, 8, 2**31 + 9])
    assert time.perf_counter() - began < 0.5  # three 0.2 s requests overlapped
    assert len(outputs) == 3 and all(o.dtype == np.uint8 and o.shape == PAINTED + (3,) for o in outputs)
    assert sorted(r["generationConfig"]["seed"] for r in fake.requests) == [7, 8, 9]  # int32 range


def test_thought_images_are_skipped_and_text_parts_ignored(fake, sleeps):
    interim = np.zeros(PAINTED + (3,), np.uint8)
    response = image_response(text="Here is the map.")
    response["candidates"][0]["content"]["parts"].insert(
        0, {"inlineData": {"mimeType": "image/png", "data": png_base64(interim)}, "thought": True})
    fake.reply(200, response)
    [output] = generate(make(fake, sleeps), [photo()])
    assert np.array_equal(output, depth_painting())


# -- retries -------------------------------------------------------------------------------------------------
def test_429_with_retry_info_is_retried_after_the_servers_delay(fake, sleeps):
    fake.reply(429, api_error(429, "RESOURCE_EXHAUSTED", "You exceeded your current quota. Please retry in 6.9s.", [
        {"@type": "type.googleapis.com/google.rpc.QuotaFailure", "violations": [
            {"quotaId": "GenerateRequestsPerMinutePerProjectPerModel-FreeTier"}]},
        {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "7s"}]))
    [output] = generate(make(fake, sleeps), [photo()])
    assert output.shape == PAINTED + (3,)
    assert len(fake.requests) == 2 and len(sleeps) == 1 and 7.0 <= sleeps[0] <= 7.0 * 1.25


def test_503_with_retry_after_header_is_retried(fake, sleeps):
    fake.reply(503, api_error(503, "UNAVAILABLE", "The model is overloaded."), headers={"Retry-After": "3"})
    generate(make(fake, sleeps), [photo()])
    assert len(fake.requests) == 2 and 3.0 <= sleeps[0] <= 3.75


def test_503_beyond_max_retries_is_a_clear_error_after_growing_waits(fake, sleeps):
    for _ in range(4):
        fake.reply(503, api_error(503, "UNAVAILABLE", "The model is overloaded.\nPlease try again later."))
    with pytest.raises(RemoteAPIError) as error:
        generate(make(fake, sleeps), [photo()])
    message = str(error.value)
    assert "service unavailable" in message and "503" in message and "after 4 attempts" in message
    assert "overloaded" in message and "\n" not in message
    assert len(fake.requests) == 4 and len(sleeps) == 3
    assert sleeps[0] < sleeps[1] < sleeps[2] and 1.0 <= sleeps[0] <= 1.25 and 4.0 <= sleeps[2] <= 5.0


def test_429_that_asks_for_too_long_a_wait_or_a_daily_quota_fails_at_once(fake, sleeps):
    fake.reply(429, api_error(429, "RESOURCE_EXHAUSTED", "Quota exceeded.", [
        {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "3600s"}]))
    with pytest.raises(RemoteAPIError, match=r"quota exhausted .*429.*wait 3600 s"):
        generate(make(fake, sleeps), [photo()])
    fake.reply(429, api_error(429, "RESOURCE_EXHAUSTED", "Quota exceeded.", [
        {"@type": "type.googleapis.com/google.rpc.QuotaFailure", "violations": [
            {"quotaId": "GenerateRequestsPerDayPerProjectPerModel-FreeTier"}]}]))
    with pytest.raises(RemoteAPIError, match="daily quota exhausted"):
        generate(make(fake, sleeps), [photo()])
    assert len(fake.requests) == 2 and sleeps == []


def test_timeouts_and_refused_connections_are_retried_then_reported(fake, sleeps):
    fake.reply(200, image_response(), delay=0.5)
    fake.reply(200, image_response(), delay=0.5)
    generator = make(fake, sleeps, timeout=0.1, retry=RetryPolicy(max_retries=1))
    with pytest.raises(RemoteAPIError, match=r"timed out: no answer within 0.1 s \(2 attempts\)"):
        generate(generator, [photo()])
    assert len(sleeps) == 1

    closed = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    port = closed.server_address[1]
    closed.server_close()
    refused = GeminiGenerator(MODEL, api_key=KEY, base_url=f"http://127.0.0.1:{port}", retry=RetryPolicy(max_retries=2),
                              sleep=lambda seconds, should_stop: sleeps.append(seconds))
    with pytest.raises(RemoteAPIError, match=rf"could not reach 127.0.0.1:{port}: .*\(3 attempts\)"):
        generate(refused, [photo()])
    assert len(sleeps) == 3


# -- errors that are not retried --------------------------------------------------------------------------------
def test_403_is_an_auth_error_without_retry(fake, sleeps):
    fake.reply(403, api_error(403, "PERMISSION_DENIED", "Method doesn't allow unregistered callers."))
    with pytest.raises(RemoteAPIError, match=r"authentication failed \(HTTP 403 PERMISSION_DENIED\).*GEMINI_API_KEY"):
        generate(make(fake, sleeps), [photo()])
    assert len(fake.requests) == 1 and sleeps == []


def test_invalid_key_answered_with_400_api_key_invalid_is_an_auth_error(fake, sleeps):
    wrong = GeminiGenerator(MODEL, api_key="wrong-key", base_url=fake.base_url)
    with pytest.raises(RemoteAPIError, match=r"authentication failed \(HTTP 400 INVALID_ARGUMENT\): API key not valid"):
        generate(wrong, [photo()])
    assert fake.bad_keys == 1 and wrong.requests_sent == 1


def test_400_is_an_invalid_argument_error_without_retry(fake, sleeps):
    fake.reply(400, api_error(400, "INVALID_ARGUMENT", "Unsupported aspect ratio."))
    with pytest.raises(RemoteAPIError, match=r"invalid argument \(HTTP 400 INVALID_ARGUMENT\): Unsupported aspect"):
        generate(make(fake, sleeps), [photo()])
    assert len(fake.requests) == 1 and sleeps == []


@pytest.mark.parametrize("response, expected", [
    ({"candidates": [{"content": {"parts": [{"text": "I can't help with that."}]}, "finishReason": "IMAGE_SAFETY"}]},
     r"image blocked by the safety filter \(finishReason=IMAGE_SAFETY\); the model said: \"I can't help"),
    ({"promptFeedback": {"blockReason": "PROHIBITED_CONTENT"}},
     r"prompt blocked by the service \(blockReason=PROHIBITED_CONTENT\)"),
    ({"candidates": [{"content": {"parts": [{"text": "Sure! Here you go."}]}, "finishReason": "NO_IMAGE"}]},
     r"no image in the response \(finishReason=NO_IMAGE\)"),
    ({"candidates": [{"content": {"parts": [{"inlineData": {"mimeType": "image/png", "data": "bm90IGFuIGltYWdl"}}]}}]},
     r"malformed response: image data does not decode"),
    ({"usageMetadata": {}}, r"malformed response: no candidates"),
])
def test_responses_without_a_usable_image_are_clear_errors(fake, sleeps, response, expected):
    fake.reply(200, response)
    with pytest.raises(RemoteAPIError, match=expected):
        generate(make(fake, sleeps), [photo()])
    assert len(fake.requests) == 1 and sleeps == []


def test_a_body_that_is_not_json_is_a_malformed_response(fake, sleeps):
    fake.reply(200, b"<html>proxy error</html>")
    with pytest.raises(RemoteAPIError, match="malformed response: not JSON"):
        generate(make(fake, sleeps), [photo()])


def test_one_failure_in_a_batch_raises_that_failure(fake, sleeps):
    fake.reply(400, api_error(400, "INVALID_ARGUMENT", "Image too large."))
    generator = make(fake, sleeps, concurrency=1)  # in order: the first request fails, the rest never start
    with pytest.raises(RemoteAPIError, match="Image too large"):
        generate(generator, [photo(seed=i) for i in range(3)])
    assert len(fake.requests) == 1


# -- the key stays secret -------------------------------------------------------------------------------------
def test_the_api_key_never_appears_in_errors_logs_reprs_or_records(fake, sleeps, caplog):
    caplog.set_level(logging.DEBUG)
    generator = make(fake, sleeps)
    fake.reply(429, api_error(429, "RESOURCE_EXHAUSTED", f"Quota exceeded for key {KEY}."))
    fake.reply(400, api_error(400, "INVALID_ARGUMENT", f"Bad request from {KEY}"))
    with pytest.raises(RemoteAPIError) as error:
        generate(generator, [photo()])
    assert "[redacted]" in str(error.value)
    prediction = Predictor("depth", generator).predict([photo()])[0]
    texts = [str(error.value), repr(error.value), caplog.text, repr(generator), str(generator.describe()),
             json.dumps(prediction.record()), str(prediction.settings)]
    assert "Quota exceeded" in caplog.text  # the retry was logged...
    assert all(KEY not in text for text in texts)  # ...without the key
    assert error.value.__cause__ is None and KEY not in str(error.value.__context__)


def test_missing_key_fails_at_load_before_any_request(fake, monkeypatch):
    monkeypatch.delenv("GEMINI_API_KEY", raising=False)
    monkeypatch.delenv("GOOGLE_API_KEY", raising=False)
    monkeypatch.setenv("VB_GEMINI_BASE_URL", fake.base_url)
    with pytest.raises(RemoteAPIError, match="no API key; set GEMINI_API_KEY"):
        load_generator(f"gemini:{MODEL}")
    with pytest.raises(RemoteAPIError):
        Predictor("depth", MODEL).predict([photo()])
    assert fake.requests == []


def test_key_and_base_url_come_from_the_environment(fake, monkeypatch, sleeps):
    monkeypatch.delenv("GEMINI_API_KEY", raising=False)
    monkeypatch.setenv("GOOGLE_API_KEY", KEY)
    monkeypatch.setenv("VB_GEMINI_BASE_URL", fake.base_url + "/")
    generator = load_generator(MODEL)
    assert isinstance(generator, GeminiGenerator)
    assert generator.url == f"{fake.base_url}/v1beta/models/{MODEL}:generateContent"
    generate(generator, [photo()])
    monkeypatch.setenv("GEMINI_API_KEY", "other-key")  # GEMINI_API_KEY wins over GOOGLE_API_KEY
    with pytest.raises(RemoteAPIError, match="authentication failed"):
        generate(load_generator(MODEL), [photo()])
    assert len(fake.requests) == 1 and fake.bad_keys == 1


# -- cancellation ---------------------------------------------------------------------------------------------
def test_should_stop_is_honoured_before_requests_and_during_backoff(fake, sleeps):
    with pytest.raises(CancelledError):
        generate(make(fake, sleeps), [photo(), photo(seed=1)], should_stop=lambda: True)
    assert fake.requests == []

    stop = threading.Event()
    fake.reply(503, api_error(503, "UNAVAILABLE", "overloaded"))
    generator = GeminiGenerator(MODEL, api_key=KEY, base_url=fake.base_url,
                                sleep=lambda seconds, should_stop: stop.set())  # stop arrives while waiting
    with pytest.raises(CancelledError):
        generate(generator, [photo()], should_stop=stop.is_set)
    assert len(fake.requests) == 1


# -- model strings, options and helpers -----------------------------------------------------------------------
def test_backend_resolution(monkeypatch):
    backend, name = resolve_backend(f"gemini:{MODEL}")
    assert isinstance(backend, GeminiBackend) and name == MODEL
    backend, name = resolve_backend("gemini-3-pro-image-preview")
    assert isinstance(backend, GeminiBackend) and name == "gemini-3-pro-image-preview"
    assert not GeminiBackend().can_load("gemini-2.5-flash")  # a text model
    assert not GeminiBackend().can_load("someone/gemini-image-lora")
    monkeypatch.setenv("GEMINI_API_KEY", KEY)
    with pytest.raises(InputError, match="--lora"):
        load_generator(MODEL, lora="x.safetensors")
    with pytest.raises(InputError, match="unknown option"):
        load_generator(MODEL, steps_per_second=3)
    assert load_generator(MODEL, device="cuda").model == MODEL  # local-only options are ignored


@pytest.mark.parametrize("size, ratio", [((48, 64), "4:3"), ((1080, 1920), "16:9"), ((1920, 1080), "9:16"),
                                         ((500, 500), "1:1"), ((1000, 2400), "21:9"), ((1000, 1250), "5:4"),
                                         ((2000, 1300), "2:3")])
def test_closest_aspect_ratio(size, ratio):
    assert closest_aspect_ratio(*size) == ratio


def test_parse_duration():
    assert parse_duration("53s") == 53.0 and parse_duration("45.837906927s") == pytest.approx(45.837906927)
    assert parse_duration("3") == 3.0 and parse_duration(None) is None
    assert parse_duration("Wed, 21 Oct 2015 07:28:00 GMT") is None

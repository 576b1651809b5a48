"""Rewriters and presence gates on Google's Gemini models (``gemini:gemini-2.5-pro``, ``gemini:gemini-2.5-flash``)
over the Generative Language REST API, with text (JSON) output.

Requests go through the Gemini generator's own client (:class:`vb_plugins.generation.gemini.GeminiGenerator`,
its :meth:`~vb_plugins.generation.gemini.GeminiGenerator.request`): the same API key handling (checked before
any request, never echoed, sent as an unredirected header, never to another origin), deadline, retries with
backoff and one-line :class:`~vb_plugins.errors.RemoteAPIError` messages. What differs is the wire format:

- Request: ``contents[0].parts`` = the question as a ``text`` part and the image as an ``inline_data`` PNG
  part (sent up to about 1 MP); ``generationConfig`` = ``responseMimeType: application/json`` with a
  ``responseSchema`` (https://ai.google.dev/gemini-api/docs/structured-output), ``temperature`` 0 and a fixed
  ``seed``.
- Response: the JSON text in ``candidates[0].content.parts[].text`` (parts marked ``thought`` are skipped);
  ``promptFeedback.blockReason`` / a safety ``finishReason`` end in one-line errors.
"""

from __future__ import annotations

import base64
import logging
import re
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from vb_plugins.errors import CancelledError, InputError, ModelError, RemoteAPIError, VBError
from vb_plugins.generation.gemini import GeminiGenerator
from vb_plugins.generation.gemini_wire import SAFETY_REASONS, encode_png
from vb_plugins.hookspecs import hookimpl
from vb_plugins.reasoning.answers import (
    PRESENCE_SCHEMA,
    REWRITE_SCHEMA,
    AnswerError,
    Presence,
    Rewrite,
    decide,
    one_line,
    parse_presence,
    parse_rewrite,
    presence_prompt,
    rewrite_prompt,
)
from vb_plugins.reasoning.base import (
    DEFAULT_THRESHOLD,
    PresenceGate,
    PresenceGateBackend,
    Rewriter,
    RewriterBackend,
    check_threshold,
    fit_image,
)

log = logging.getLogger(__name__)

DEFAULT_MODEL = "gemini-2.5-flash"
_MODEL_NAME = re.compile(r"gemini-[A-Za-z0-9._-]+")


class NoText(Exception):
    """A reply that holds no text answer; ``str()`` is the one-line reason."""


def text_request_body(image: np.ndarray, prompt: str, schema: dict | None = None, *, temperature: float = 0.0,
                      seed: int = 0) -> dict:
    """The generateContent JSON body asking ``prompt`` about ``image`` (uint8 RGB), answered in JSON by
    ``schema`` (plain text when None)."""
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise InputError(f"image of shape {image.shape} and dtype {image.dtype}: need uint8 H x W x 3 RGB")
    config: dict[str, Any] = {"temperature": float(temperature), "seed": int(seed) % 2**31}
    if schema is not None:
        config.update(responseMimeType="application/json", responseSchema=schema)
    return {
        "contents": [{"role": "user", "parts": [
            {"text": prompt},
            {"inline_data": {"mime_type": "image/png", "data": base64.b64encode(encode_png(image)).decode()}},
        ]}],
        "generationConfig": config,
    }


def text_from(response: dict) -> str:
    """The answer text of a generateContent response; :class:`NoText` says why there is none."""
    feedback = response.get("promptFeedback") or {}
    candidates = response.get("candidates")
    if not candidates:
        if isinstance(feedback, dict) and feedback.get("blockReason"):
            raise NoText(f"question blocked by the service (blockReason={feedback['blockReason']})")
        raise NoText("malformed response: no candidates")
    candidate = candidates[0] if isinstance(candidates, list) and isinstance(candidates[0], dict) else None
    if candidate is None:
        raise NoText("malformed response: candidates is not a list of objects")
    content = candidate.get("content") or {}
    parts = content.get("parts") if isinstance(content, dict) else None
    parts = [p for p in parts if isinstance(p, dict)] if isinstance(parts, list) else []
    text = "".join(p["text"] for p in parts if isinstance(p.get("text"), str) and not p.get("thought"))
    finish = str(candidate.get("finishReason") or "")
    if not text.strip():
        if finish in SAFETY_REASONS:
            raise NoText(f"answer blocked by the safety filter (finishReason={finish})")
        raise NoText(f"no text in the response (finishReason={finish or 'unset'})")
    return text


class GeminiVLM:
    """Asks a Gemini model questions about images and returns its text answers.

    ``options`` are the Gemini generator's client options: ``api_key`` (default ``$GEMINI_API_KEY``, else
    ``$GOOGLE_API_KEY``), ``base_url`` (default ``$VB_GEMINI_BASE_URL``, else Google's endpoint), ``timeout``
    (seconds per request, default ``$VB_GEMINI_TIMEOUT``, else 180), ``concurrency`` (requests at a time,
    default 4), ``retry`` (a :class:`~vb_plugins.generation.gemini.RetryPolicy`), ``sleep``, ``rng``.
    """

    def __init__(self, model: str = DEFAULT_MODEL, *, temperature: float = 0.0, **options):
        # The generator's client: key checks, transport, retries and error messages, used for its request().
        self.client = GeminiGenerator(model, **options)
        self.name = self.client.name
        self.temperature = float(temperature)

    def __repr__(self) -> str:
        return f"GeminiVLM(model={self.client.model!r}, base_url={self.client.base_url!r})"

    @property
    def requests_sent(self) -> int:
        return self.client.requests_sent

    def ask(self, image: np.ndarray, prompt: str, schema: dict | None = None,
            should_stop: Callable[[], bool] | None = None) -> str:
        """The model's text answer to ``prompt`` about ``image``; a failure is a one-line RemoteAPIError."""
        body = text_request_body(fit_image(image), prompt, schema, temperature=self.temperature)
        try:
            return self.client.request(body, text_from, should_stop)
        except NoText as reason:
            raise RemoteAPIError(one_line(f"{self.name}: {reason}", 600)) from None

    def ask_many(self, questions: Sequence[tuple[np.ndarray, str, dict | None]], read: Callable[[str], Any],
                 should_stop: Callable[[], bool] | None = None) -> list:
        """``read(answer)`` for each (image, prompt, schema), ``concurrency`` requests at a time; a question that
        failed gives its :class:`VBError` in its place. Ctrl-C cuts off the requests in flight at once."""
        results: list = [None] * len(questions)
        user_stop = should_stop or (lambda: False)
        cancelled = threading.Event()

        def stopped() -> bool:
            return cancelled.is_set() or user_stop()

        def job(index: int):
            image, prompt, schema = questions[index]
            try:
                return read(self.ask(image, prompt, schema, stopped))
            except CancelledError:
                raise
            except VBError as error:
                return error

        workers = min(len(questions), self.client.concurrency) or 1
        pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="gemini-vlm")
        try:
            futures = [pool.submit(job, i) for i in range(len(questions))]
            for index, future in enumerate(futures):
                results[index] = future.result()
        except BaseException:
            cancelled.set()
            self.client._cut_off_in_flight()  # the generator's own Ctrl-C path: shut the sockets in flight
            pool.shutdown(wait=False, cancel_futures=True)
            raise
        pool.shutdown()
        return results


class GeminiRewriter(Rewriter):
    """Rewrites reasoning queries with a Gemini model, answered in JSON (``{"absent", "expression"}``)."""

    def __init__(self, vlm: GeminiVLM):
        self.vlm = vlm
        self.name = vlm.name

    def _reader(self, query: str) -> Callable[[str], Rewrite]:
        def read(answer: str) -> Rewrite:
            try:
                expression = parse_rewrite(answer)
            except AnswerError as reason:
                raise ModelError(one_line(f"{self.name}: rewriting {query!r}: {reason}; it answered "
                                          f"{one_line(answer, 120)!r}", 600)) from None
            return Rewrite(query, expression, one_line(answer), self.name)

        return read

    def rewrite(self, image: np.ndarray, query: str) -> Rewrite:
        return self._reader(query)(self.vlm.ask(image, rewrite_prompt(query, structured=True), REWRITE_SCHEMA))

    def rewrite_many(self, requests, should_stop=None):
        questions = [(image, rewrite_prompt(query, structured=True), REWRITE_SCHEMA) for image, query in requests]
        readers = [self._reader(query) for _, query in requests]
        answers = self.vlm.ask_many(questions, lambda answer: answer, should_stop)
        return [answer if isinstance(answer, VBError) else _safely(reader, answer)
                for reader, answer in zip(readers, answers)]


class GeminiGate(PresenceGate):
    """Presence checks with a Gemini model, answered in JSON (``{"present", "score"}``); the score decides."""

    def __init__(self, vlm: GeminiVLM, threshold: float = DEFAULT_THRESHOLD):
        self.vlm = vlm
        self.name = vlm.name
        self.threshold = check_threshold(threshold)

    def _reader(self, phrase: str) -> Callable[[str], Presence]:
        def read(answer: str) -> Presence:
            try:
                present, score = decide(*parse_presence(answer), self.threshold)
            except AnswerError as reason:
                raise ModelError(one_line(f"{self.name}: presence of {phrase!r}: {reason}; it answered "
                                          f"{one_line(answer, 120)!r}", 600)) from None
            return Presence(phrase, present, score, one_line(answer), self.name)

        return read

    def presence(self, image: np.ndarray, phrase: str) -> Presence:
        return self._reader(phrase)(self.vlm.ask(image, presence_prompt(phrase, structured=True), PRESENCE_SCHEMA))

    def presence_many(self, requests, should_stop=None):
        questions = [(image, presence_prompt(phrase, structured=True), PRESENCE_SCHEMA) for image, phrase in requests]
        readers = [self._reader(phrase) for _, phrase in requests]
        answers = self.vlm.ask_many(questions, lambda answer: answer, should_stop)
        return [answer if isinstance(answer, VBError) else _safely(reader, answer)
                for reader, answer in zip(readers, answers)]


def _safely(read, answer):
    try:
        return read(answer)
    except VBError as error:
        return error


_OPTIONS = {"api_key", "base_url", "api_version", "timeout", "concurrency", "retry", "sleep", "rng", "temperature"}
_LOCAL_ONLY = ("device", "dtype")


def _vlm(model: str, options: dict) -> GeminiVLM:
    model = (model or DEFAULT_MODEL).strip()
    for name in _LOCAL_ONLY:
        if options.pop(name, None) is not None:
            log.info("gemini:%s: option %r does not apply to a remote model; ignored", model, name)
    unknown = sorted(set(options) - _OPTIONS)
    if unknown:
        raise InputError(f"gemini:{model}: unknown option(s) {', '.join(unknown)}; "
                         f"known: {', '.join(sorted(_OPTIONS))}")
    return GeminiVLM(model, **options)


class GeminiRewriterBackend(RewriterBackend):
    """``gemini:<model>`` or a bare ``gemini-...`` name -> :class:`GeminiRewriter`."""

    name = "gemini"
    description = "Google Gemini models over the Generative Language REST API (JSON answers); needs GEMINI_API_KEY"

    def can_load(self, model: str) -> bool:
        return _MODEL_NAME.fullmatch((model or "").strip()) is not None

    def load(self, model: str, **options) -> GeminiRewriter:
        return GeminiRewriter(_vlm(model, dict(options)))


class GeminiGateBackend(PresenceGateBackend):
    """``gemini:<model>`` or a bare ``gemini-...`` name -> :class:`GeminiGate` (option ``threshold``)."""

    name = "gemini"
    description = GeminiRewriterBackend.description

    def can_load(self, model: str) -> bool:
        return _MODEL_NAME.fullmatch((model or "").strip()) is not None

    def load(self, model: str, **options) -> GeminiGate:
        options = dict(options)
        threshold = check_threshold(options.pop("threshold", DEFAULT_THRESHOLD))
        return GeminiGate(_vlm(model, options), threshold)



@hookimpl
def vb_rewriters():
    return [GeminiRewriterBackend()]


@hookimpl
def vb_presence_gates():
    return [GeminiGateBackend()]

__all__ = ["GeminiVLM", "GeminiRewriter", "GeminiGate", "GeminiRewriterBackend", "GeminiGateBackend",
           "text_request_body", "text_from", "DEFAULT_MODEL"]

"""Google's Gemini image models ("Nano Banana": ``gemini-2.5-flash-image``, ``gemini-3-pro-image-preview``, ...)
as a remote generator, over the Generative Language REST API (standard library only): the generator, its
concurrency and retries. The request and response format is in :mod:`.gemini_wire`, the HTTP (deadlines,
redirects that keep the key on its origin) in :mod:`.gemini_transport`.

Remote outputs come back at the model's own resolution for the chosen aspect ratio (e.g. 1184 x 864 for
4:3 with ``gemini-2.5-flash-image``), not at the requested ``size``: the Predictor decodes them at the size
they have and resizes the decoded values, never the colours. Outputs are not bit-reproducible: the job
seed is sent, but the service only promises best-effort determinism and the model behind a name changes.
"""

from __future__ import annotations

import http.client
import json
import logging
import math
import os
import random
import re
import threading
import time
import urllib.error
import urllib.parse
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from typing import Any

import numpy as np

from vb_plugins.errors import CancelledError, InputError, RemoteAPIError
from vb_plugins.generation import gemini_transport as transport
from vb_plugins.generation.base import GenerationSettings, Generator, GeneratorBackend, StepCallback
from vb_plugins.generation.gemini_wire import (
    ASPECT_RATIOS,
    MESSAGE_LIMIT,
    NoImage,
    closest_aspect_ratio,
    daily_quota,
    image_from,
    one_line,
    parse_duration,
    parse_error,
    request_body,
    retry_hint,
)
from vb_plugins.hookspecs import hookimpl

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://generativelanguage.googleapis.com"
API_VERSION = "v1beta"
KEY_VARIABLES = ("GEMINI_API_KEY", "GOOGLE_API_KEY")  # first one set wins
BASE_URL_VARIABLE = "VB_GEMINI_BASE_URL"
TIMEOUT_VARIABLE = "VB_GEMINI_TIMEOUT"
# Seconds for one whole request (connect, upload, the model painting, download): the image models take from
# ~10 s (2.5 Flash) to over a minute (3 Pro at 4K), so this leaves room without waiting forever.
DEFAULT_TIMEOUT = 180.0

# Transient HTTP statuses, the same set Google's own python-genai client retries.
RETRYABLE_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
AUTH_STATUSES = frozenset({401, 403})
_MODEL_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


# -- small helpers --------------------------------------------------------------------------------------
class _Secret:
    """Holds the API key so that reprs, logs and tracebacks never show it."""

    __slots__ = ("_value",)

    def __init__(self, value: str):
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "<redacted>"

    __str__ = __repr__


def _key_problem(key: str) -> str | None:
    """What is wrong with an API key, in words that quote none of it; None if it can go in a header.

    Keys are visible ASCII (Google's are ``AIza`` + 35 of ``[A-Za-z0-9_-]``). Anything else is a copy-paste
    accident, and a header would either reject it (a traceback that printed the key) or split on it.
    """
    for char in key:
        if char in "\r\n":
            return "a line break"
        if ord(char) < 0x20 or ord(char) == 0x7F:
            return "a control character"
        if ord(char) > 0x7E:
            return "a non-ASCII character"
        if char == " ":
            return "a space"
    return None


def _timeout_setting(timeout: float | None) -> float:
    """Seconds for a whole request: ``timeout``, else ``$VB_GEMINI_TIMEOUT``, else :data:`DEFAULT_TIMEOUT`."""
    name = "timeout"
    if timeout is None and os.environ.get(TIMEOUT_VARIABLE, "").strip():
        name, timeout = TIMEOUT_VARIABLE, os.environ[TIMEOUT_VARIABLE].strip()
    try:
        seconds = DEFAULT_TIMEOUT if timeout is None else float(timeout)
    except (TypeError, ValueError):
        raise InputError(f"{name}={timeout!r}: not a number of seconds") from None
    if not (math.isfinite(seconds) and seconds > 0):
        raise InputError(f"{name}={timeout}: must be a positive number of seconds")
    return seconds


@dataclass
class RetryPolicy:
    """Exponential backoff with jitter for transient failures (429, 5xx, timeouts, dropped connections).

    Attempt ``k`` (1-based) waits ``min(max_delay, initial_delay * 2**(k-1))``, or the server's hint
    (RetryInfo ``retryDelay`` / ``Retry-After``) when that is longer, times ``1 + U(0, jitter)`` so that
    concurrent requests do not retry in lock step. A hint longer than ``max_delay`` (seconds) ends the
    retries at once: the quota will not come back within a wait worth making.
    """

    max_retries: int = 4
    initial_delay: float = 1.0
    max_delay: float = 60.0
    jitter: float = 0.25

    def delay(self, attempt: int, hint: float | None, rng: random.Random) -> float:
        backoff = min(self.max_delay, self.initial_delay * 2 ** (attempt - 1))
        base = max(backoff, hint or 0.0)
        return min(self.max_delay * (1 + self.jitter), base * (1 + self.jitter * rng.random()))


def _interruptible_sleep(seconds: float, should_stop: Callable[[], bool]) -> None:
    """Sleep ``seconds``, waking early when ``should_stop()`` turns true (checked every 0.25 s)."""
    deadline = time.monotonic() + seconds
    while (remaining := deadline - time.monotonic()) > 0:
        if should_stop():
            return
        time.sleep(min(0.25, remaining))


class _Transient(Exception):
    """A failure worth retrying; ``final`` builds the error to raise once retries are spent."""

    def __init__(self, describe: str, final: Callable[[int], RemoteAPIError], hint: float | None = None,
                 retry: bool = True):
        super().__init__(describe)
        self.describe, self.final, self.hint, self.retry = describe, final, hint, retry


# -- the generator --------------------------------------------------------------------------------------
class GeminiGenerator(Generator):
    """Paints with a Gemini image model through ``models/{model}:generateContent``.

    - One request per image, ``concurrency`` at a time in a thread pool (``max_batch_size`` = concurrency,
      so the engine hands over that many images per call); ``should_stop`` is checked before each request
      and during backoff waits. Ctrl-C (KeyboardInterrupt) stops at once: pending requests are dropped and
      the ones in flight are cut off, without waiting for them.
    - Inputs go up as PNG; outputs are uint8 RGB at whatever size the API returns (see module docstring).
    - ``aspectRatio`` is the supported ratio closest to the input's; ``seed`` is the job seed (mod 2**31).
    - Transient failures are retried per ``retry`` (:class:`RetryPolicy`); every failure ends in a one-line
      :class:`RemoteAPIError`. The API key never appears in messages, logs, ``repr`` or :meth:`describe`; it is
      checked once, here (visible ASCII only), and never sent to another host (a cross-origin redirect is
      refused, see :mod:`~vb_plugins.generation.gemini_transport`).

    ``api_key``: default ``$GEMINI_API_KEY``, else ``$GOOGLE_API_KEY``; ``base_url``: default
    ``$VB_GEMINI_BASE_URL``, else ``https://generativelanguage.googleapis.com``; ``timeout``: seconds for one
    whole request, connect to last byte (default ``$VB_GEMINI_TIMEOUT``, else 180; a timeout is retried like
    any transient failure); ``image_size``: ``imageConfig.imageSize`` (``"1K"``, ``"2K"``, ``"4K"`` on models
    that take it); ``response_modalities``: default ``["IMAGE"]`` (``["TEXT", "IMAGE"]`` for the 2.0 preview
    models, which cannot answer with an image alone); ``generation_config``: extra ``generationConfig`` fields;
    ``send_seed``: send the job seed as ``generationConfig.seed`` (turn off for a model that refuses it);
    ``sleep(seconds, should_stop)``: the backoff wait, injectable for tests.
    """

    dialect = "zero-shot"  # an API model never tuned on the colour codes needs them spelled out
    multiple = 16
    megapixels = 1.0  # the Gemini image models paint about 1 MP at their default size
    default_steps = None  # not applicable: the service chooses its own sampling
    default_guidance = None

    def __init__(
        self,
        model: str = "gemini-2.5-flash-image",
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        api_version: str = API_VERSION,
        timeout: float | None = None,
        concurrency: int = 4,
        retry: RetryPolicy | None = None,
        image_size: str | None = None,
        response_modalities: Sequence[str] | None = None,
        generation_config: dict | None = None,
        send_seed: bool = True,
        aspect_ratios: Sequence[str] = ASPECT_RATIOS,
        sleep: Callable[[float, Callable[[], bool]], None] | None = None,
        rng: random.Random | None = None,
    ):
        model = model.strip()
        model = model.removeprefix("models/")
        if not _MODEL_NAME.fullmatch(model):
            raise InputError(f"model {model!r}: not a Gemini model name (letters, digits, '.', '_', '-')")
        if concurrency < 1:
            raise InputError(f"concurrency={concurrency}: must be at least 1")
        timeout = _timeout_setting(timeout)
        source = "api_key" if api_key is not None else next(
            (v for v in KEY_VARIABLES if os.environ.get(v, "").strip()), None)
        key = (api_key if api_key is not None else os.environ[source] if source else "").strip()
        if not key:
            raise RemoteAPIError(f"gemini:{model}: no API key; set GEMINI_API_KEY (or GOOGLE_API_KEY) or pass api_key")
        problem = _key_problem(key)
        if problem:  # checked before any request, and the message quotes no part of the key
            raise InputError(f"gemini:{model}: the API key in {source} contains {problem}; keys are visible ASCII "
                             f"characters only: copy it again")
        base = (base_url or os.environ.get(BASE_URL_VARIABLE, "").strip() or DEFAULT_BASE_URL).rstrip("/")
        if urllib.parse.urlsplit(base).scheme not in ("http", "https"):
            raise InputError(f"base_url {base!r}: must start with http:// or https://")
        self.model = model
        self.name = f"gemini:{model}"
        self._key = _Secret(key)
        self.base_url = base
        self.url = f"{base}/{api_version}/models/{model}:generateContent"
        self.timeout = timeout
        self.concurrency = self.max_batch_size = int(concurrency)
        self.retry = retry or RetryPolicy()
        self.image_size = image_size
        if response_modalities is None:
            response_modalities = ["TEXT", "IMAGE"] if model.startswith("gemini-2.0") else ["IMAGE"]
        self.response_modalities = [m.upper() for m in response_modalities]
        self.generation_config = dict(generation_config or {})
        self.send_seed = bool(send_seed)
        self.aspect_ratios = tuple(aspect_ratios)
        self._sleep = sleep or _interruptible_sleep
        self._rng = rng or random.Random()
        self._lock = threading.Lock()  # guards the rng, the request counter and _in_flight across worker threads
        self._in_flight: set[transport.Watchdog] = set()  # requests now on the wire, to cut off on Ctrl-C
        self.requests_sent = 0  # HTTP requests, retries included

    def __repr__(self) -> str:
        return f"GeminiGenerator(model={self.model!r}, base_url={self.base_url!r}, concurrency={self.concurrency})"

    def describe(self) -> dict:
        return {"generator": self.name, "dialect": self.dialect, "remote": "generativelanguage " + API_VERSION,
                "reproducible": False}

    # -- protocol ---------------------------------------------------------------------------------------
    def size_for(self, height: int, width: int, megapixels: float | None = None) -> tuple[int, int]:
        """Upload size: the input's own size up to ``megapixels`` (default ~1 MP), shrunk beyond that.
        Upscaling would only cost bandwidth: the service paints at its own resolution either way."""
        if height * width <= (megapixels or self.megapixels) * 1e6:
            return height, width
        return super().size_for(height, width, megapixels)

    # encode_prompt: the base class's (the prompt travels as text)

    def generate(self, images: Sequence[np.ndarray], prompt_embedding: Any, seeds: Sequence[int],
                 size: tuple[int, int], settings: GenerationSettings, on_step: StepCallback | None = None,
                 should_stop: Callable[[], bool] | None = None) -> list[np.ndarray]:
        """One request per image, concurrently; returns uint8 RGB at the size the API painted."""
        if len(images) != len(seeds):
            raise InputError(f"{len(images)} images but {len(seeds)} seeds: need one seed per image")
        prompt = str(prompt_embedding)
        user_stop = should_stop or (lambda: False)
        failed = threading.Event()  # one failure stops requests that have not started yet

        def stopped() -> bool:
            return failed.is_set() or user_stop()

        def job(index: int) -> np.ndarray:
            try:
                return self.request_image(images[index], prompt, int(seeds[index]), stopped)
            except BaseException:
                failed.set()  # at once, before this worker picks up the next image
                raise

        results: list[np.ndarray | None] = [None] * len(images)
        errors: list[BaseException] = []
        done = 0
        pool = ThreadPoolExecutor(max_workers=min(len(images), self.concurrency) or 1, thread_name_prefix="gemini")
        try:
            futures = {pool.submit(job, i): i for i in range(len(images))}
            for future in as_completed(futures):
                try:
                    results[futures[future]] = future.result()
                except BaseException as error:  # noqa: BLE001 - re-raised below, the most telling one first
                    errors.append(error)
                    continue
                done += 1
                if on_step:
                    on_step(done, len(images))
        except BaseException:
            # Ctrl-C (or a callback that raised): stop now. Requests not started are dropped, the ones on the
            # wire are cut off (their workers end at once), and nothing waits for them. failed is set first so
            # that a worker registering a request after the cut-off sees it (see _post).
            failed.set()
            self._cut_off_in_flight()
            pool.shutdown(wait=False, cancel_futures=True)
            raise
        pool.shutdown()
        if errors:
            real = [e for e in errors if not isinstance(e, CancelledError)]
            raise (real or errors)[0]
        return results  # type: ignore[return-value]

    # -- one request ------------------------------------------------------------------------------------
    def request_body(self, image: np.ndarray, prompt: str, seed: int) -> dict:
        """The generateContent JSON body for one image."""
        return request_body(image, prompt, seed, aspect_ratios=self.aspect_ratios, image_size=self.image_size,
                            response_modalities=self.response_modalities, send_seed=self.send_seed,
                            generation_config=self.generation_config)

    def request_image(self, image: np.ndarray, prompt: str, seed: int,
                      should_stop: Callable[[], bool] | None = None) -> np.ndarray:
        """Send one image (with retries) and return the painted image."""
        stop = should_stop or (lambda: False)
        payload = json.dumps(self.request_body(image, prompt, seed)).encode()
        attempt = 0
        while True:
            if stop():
                raise CancelledError(f"{self.name}: cancelled before request {attempt + 1}")
            attempt += 1
            try:
                return self._image_from(self._post(payload, stop))
            except _Transient as failure:
                hint_too_long = failure.hint is not None and failure.hint > self.retry.max_delay
                if not failure.retry or attempt > self.retry.max_retries or hint_too_long:
                    raise failure.final(attempt) from None
                with self._lock:
                    delay = self.retry.delay(attempt, failure.hint, self._rng)
                log.warning("%s: %s; retrying in %.1f s (attempt %d of %d)", self.name, failure.describe, delay,
                            attempt + 1, self.retry.max_retries + 1)
                self._sleep(delay, stop)

    def _post(self, payload: bytes, should_stop: Callable[[], bool]) -> dict:
        watchdog = transport.Watchdog()
        with self._lock:
            self._in_flight.add(watchdog)
        try:
            if should_stop():  # checked after registering, so a cut-off in generate() cannot miss this request
                raise CancelledError(f"{self.name}: cancelled")
            with self._lock:
                self.requests_sent += 1
            log.debug("%s: POST %s (%d bytes)", self.name, self.url, len(payload))
            reply = transport.post(self.url, payload, {"Content-Type": "application/json"},
                                   secret_headers={"x-goog-api-key": self._key.reveal()}, timeout=self.timeout,
                                   watchdog=watchdog)
        except transport.Aborted as aborted:
            if aborted.reason == transport.DEADLINE:
                raise self._timeout() from None
            raise CancelledError(f"{self.name}: cancelled; the request in flight was cut off") from None
        except transport.RedirectRefused as refused:
            raise self._redirect_refused(refused) from None
        except (OSError, http.client.HTTPException) as error:
            reason = error.reason if isinstance(error, urllib.error.URLError) else error
            raise self._connection_failure(reason) from None
        finally:
            with self._lock:
                self._in_flight.discard(watchdog)
        if reply.status >= 300:
            raise self._http_failure(reply.status, reply.body, reply.headers)
        raw = reply.body
        try:
            data = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            raise self._error(f"malformed response: not JSON ({len(raw)} bytes)") from None
        if not isinstance(data, dict):
            raise self._error("malformed response: JSON is not an object")
        return data

    def _cut_off_in_flight(self) -> None:
        """Shut down the connections of every request on the wire; their workers end in CancelledError."""
        with self._lock:
            watchdogs = list(self._in_flight)
        for watchdog in watchdogs:
            watchdog.expire(transport.CANCELLED)

    # -- failures ---------------------------------------------------------------------------------------
    def _redact(self, text: str) -> str:
        key = self._key.reveal()
        return text.replace(key, "[redacted]") if key else text

    def _error(self, message: str) -> RemoteAPIError:
        return RemoteAPIError(self._redact(one_line(f"{self.name}: {message}", 2 * MESSAGE_LIMIT)))

    def _timeout(self) -> _Transient:
        return _Transient(f"no answer within {self.timeout:g} s",
                          lambda n: self._error(f"timed out: no answer within {self.timeout:g} s "
                                                f"({n} attempt{'s' * (n > 1)}); the limit is on the whole request, "
                                                f"set by timeout= or {TIMEOUT_VARIABLE}"))

    def _redirect_refused(self, refused: transport.RedirectRefused) -> RemoteAPIError:
        own = transport.origin(self.url)
        if refused.same_origin:
            return self._error(f"refused a redirect (HTTP {refused.code}) that would resend the request as a GET; "
                               f"check base_url / {BASE_URL_VARIABLE}")
        return self._error(f"refused a redirect (HTTP {refused.code}) to another host, {refused.target}: the API "
                           f"key is only sent to {own}; check base_url / {BASE_URL_VARIABLE}")

    def _connection_failure(self, reason: Any) -> _Transient:
        what = self._redact(one_line(reason, 120))
        host = urllib.parse.urlsplit(self.base_url).netloc
        return _Transient(f"connection failed ({what})",
                          lambda n: self._error(f"could not reach {host}: {what} ({n} attempt{'s' * (n > 1)})"))

    def _http_failure(self, code: int, body: bytes, headers) -> Exception:
        """An HTTP error status -> a _Transient (to retry) or a RemoteAPIError (to raise now)."""
        error = parse_error(body)
        status = error.status or http.client.responses.get(code, "")
        message = self._redact(one_line(error.message or "no message"))
        details = error.details
        label = f"HTTP {code} {status}".strip()

        if code in AUTH_STATUSES or "API_KEY_INVALID" in error.reasons:
            return self._error(f"authentication failed ({label}): {message}; check GEMINI_API_KEY / GOOGLE_API_KEY")
        if code == 404:
            return self._error(f"model not found ({label}): {message}")
        if code in RETRYABLE_STATUSES:
            hint = retry_hint(details, headers)
            per_day = daily_quota(details)
            kind = ("daily quota exhausted" if per_day else "quota exhausted" if code == 429
                    else "service unavailable" if code in (500, 502, 503) else "server timed out")
            waited = f"; the server asks to wait {hint:g} s" if hint and hint > self.retry.max_delay else ""
            return _Transient(f"{label}: {message}",
                              lambda n: self._error(f"{kind} ({label}) after {n} attempt{'s' * (n > 1)}"
                                                    f"{waited}: {message}"),
                              hint=hint, retry=not per_day)
        if code == 400 or status == "INVALID_ARGUMENT":
            return self._error(f"invalid argument ({label}): {message}")
        return self._error(f"request failed ({label}): {message}")

    def _image_from(self, response: dict) -> np.ndarray:
        try:
            return image_from(response)
        except NoImage as reason:
            raise self._error(str(reason)) from None


# -- backend --------------------------------------------------------------------------------------------
_OPTIONS = {"api_key", "base_url", "api_version", "timeout", "concurrency", "retry", "image_size",
            "response_modalities", "generation_config", "send_seed", "aspect_ratios", "sleep", "rng"}
_LOCAL_ONLY = ("device", "dtype", "cpu_offload", "compile")


class GeminiBackend(GeneratorBackend):
    """``gemini:<model>`` or a bare ``gemini-...image...`` model name -> :class:`GeminiGenerator`."""

    name = "gemini"
    description = ("Google Gemini image models (Nano Banana) over the Generative Language REST API; "
                   "needs GEMINI_API_KEY")

    def can_load(self, model: str) -> bool:
        model = (model or "").strip()
        return model.startswith("gemini-") and "image" in model and _MODEL_NAME.fullmatch(model) is not None

    def load(self, model: str, **options) -> GeminiGenerator:
        if options.pop("lora", None):
            raise InputError(f"gemini:{model}: --lora applies to local diffusers pipelines, not to a remote model")
        for name in _LOCAL_ONLY:
            if options.pop(name, None) is not None:
                log.info("gemini:%s: option %r does not apply to a remote model; ignored", model, name)
        unknown = sorted(set(options) - _OPTIONS)
        if unknown:
            raise InputError(f"gemini:{model}: unknown option(s) {', '.join(unknown)}; "
                             f"known: {', '.join(sorted(_OPTIONS))}")
        return GeminiGenerator(model or "gemini-2.5-flash-image", **options)


@hookimpl
def vb_generators():
    return [GeminiBackend()]


__all__ = ["GeminiGenerator", "GeminiBackend", "RetryPolicy", "closest_aspect_ratio", "parse_duration",
           "ASPECT_RATIOS", "DEFAULT_BASE_URL"]

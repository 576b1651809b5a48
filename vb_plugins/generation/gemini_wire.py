"""The generateContent wire format of Google's Generative Language API for image models, with no I/O: the
request body for one image, the painted image (or why there is none) in a response, and the google.rpc.Status
in an error reply. HTTP is :mod:`.gemini_transport`'s; retries and concurrency are :mod:`.gemini`'s.

Wire format (https://ai.google.dev/api/generate-content, https://ai.google.dev/gemini-api/docs/image-generation):

- ``POST {base}/v1beta/models/{model}:generateContent`` with the API key in the ``x-goog-api-key`` header
  (https://ai.google.dev/api, "Authentication").
- Request: ``contents[0].parts`` = a ``text`` part (the prompt) and an ``inline_data {mime_type, data}`` part
  (the input image, base64 PNG); ``generationConfig`` = ``responseModalities`` (``["IMAGE"]``: image only),
  ``imageConfig.aspectRatio`` (one of a fixed list) and ``seed`` (an int32; Google's reference calls output
  with a seed "mostly deterministic", not guaranteed).
- Response: ``candidates[0].content.parts[].inlineData {mimeType, data}``; ``finishReason`` says why a
  candidate stopped (``IMAGE_SAFETY``, ``NO_IMAGE``, ...) and ``promptFeedback.blockReason`` why a prompt
  was refused outright.
- Errors: ``{"error": {"code", "message", "status", "details"}}`` (the google.rpc.Status shape of
  https://cloud.google.com/apis/design/errors); a 429 ``RESOURCE_EXHAUSTED`` may carry a
  ``google.rpc.RetryInfo`` detail whose ``retryDelay`` is a duration string such as ``"53s"``.
"""

from __future__ import annotations

import base64
import io
import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image

from vb_plugins.errors import InputError

# imageConfig.aspectRatio values the Gemini image models accept (width:height).
ASPECT_RATIOS = ("1:1", "2:3", "3:2", "3:4", "4:3", "4:5", "5:4", "9:16", "16:9", "21:9")
# finishReason / blockReason values that mean a safety or policy filter removed the image.
SAFETY_REASONS = frozenset({"SAFETY", "IMAGE_SAFETY", "PROHIBITED_CONTENT", "IMAGE_PROHIBITED_CONTENT", "BLOCKLIST",
                            "SPII", "RECITATION", "IMAGE_RECITATION", "MODEL_ARMOR", "JAILBREAK"})
MESSAGE_LIMIT = 300  # characters of a server message kept in an error


class NoImage(Exception):
    """A response that holds no usable image; ``str()`` is the one-line reason."""


def one_line(text: Any, limit: int = MESSAGE_LIMIT) -> str:
    """``text`` on one line (runs of whitespace made one space), cut to ``limit`` characters."""
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def closest_aspect_ratio(height: int, width: int, ratios: Sequence[str] = ASPECT_RATIOS) -> str:
    """The ``"W:H"`` string in ``ratios`` nearest to width/height (compared on a log scale, so 2:1 and 1:2 are
    equally far from 1:1)."""
    if height <= 0 or width <= 0:
        raise InputError(f"image size {height} x {width}: height and width must be positive")
    target = math.log(width / height)

    def distance(ratio: str) -> float:
        w, h = (float(x) for x in ratio.split(":"))
        return abs(math.log(w / h) - target)

    return min(ratios, key=distance)


def parse_duration(text: Any) -> float | None:
    """Seconds in a protobuf JSON duration (``"53s"``, ``"45.837906927s"``) or a Retry-After header value
    (``"3"``); None if absent or unreadable (HTTP-date Retry-After values are ignored)."""
    if text is None:
        return None
    match = re.fullmatch(r"\s*(\d+(?:\.\d*)?)\s*s?\s*", str(text))
    return float(match.group(1)) if match else None


def encode_png(image: np.ndarray) -> bytes:
    """uint8 H x W x 3 RGB -> PNG bytes."""
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(image, dtype=np.uint8), "RGB").save(buffer, format="PNG", compress_level=3)
    return buffer.getvalue()


def decode_image(data: bytes) -> np.ndarray:
    """Image bytes (PNG, JPEG, WebP, ...) -> uint8 H x W x 3 RGB; raises ValueError/OSError if unreadable."""
    with Image.open(io.BytesIO(data)) as image:
        return np.asarray(image.convert("RGB"), dtype=np.uint8).copy()


def request_body(image: np.ndarray, prompt: str, seed: int, *, aspect_ratios: Sequence[str] = ASPECT_RATIOS,
                 image_size: str | None = None, response_modalities: Sequence[str] = ("IMAGE",),
                 send_seed: bool = True, generation_config: dict | None = None) -> dict:
    """The generateContent JSON body for one image (``seed`` is sent mod 2**31, unless ``send_seed`` is off)."""
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise InputError(f"image of shape {image.shape} and dtype {image.dtype}: need uint8 H x W x 3 RGB")
    image_config = {"aspectRatio": closest_aspect_ratio(*image.shape[:2], aspect_ratios)}
    if image_size:
        image_config["imageSize"] = image_size
    config: dict[str, Any] = {"responseModalities": list(response_modalities), "imageConfig": image_config}
    if send_seed:
        config["seed"] = int(seed) % 2**31
    config.update(generation_config or {})
    return {
        "contents": [{"role": "user", "parts": [
            {"text": prompt},
            {"inline_data": {"mime_type": "image/png", "data": base64.b64encode(encode_png(image)).decode()}},
        ]}],
        "generationConfig": config,
    }


def image_from(response: dict) -> np.ndarray:
    """The painted image (uint8 RGB) in a generateContent response; :class:`NoImage` says why there is none."""
    feedback = response.get("promptFeedback") or {}
    candidates = response.get("candidates")
    if not candidates:
        if isinstance(feedback, dict) and feedback.get("blockReason"):
            reason = feedback["blockReason"]
            note = f": {one_line(feedback['blockReasonMessage'], 160)}" if feedback.get("blockReasonMessage") \
                else ""
            raise NoImage(f"prompt blocked by the service (blockReason={reason}){note}")
        raise NoImage("malformed response: no candidates")
    candidate = candidates[0] if isinstance(candidates, list) and isinstance(candidates[0], dict) else None
    if candidate is None:
        raise NoImage("malformed response: candidates is not a list of objects")
    content = candidate.get("content") or {}
    parts = content.get("parts") if isinstance(content, dict) else None
    parts = [p for p in parts if isinstance(p, dict)] if isinstance(parts, list) else []
    # The last image that is not a "thought" (models that think may show interim images first).
    images = [p.get("inlineData") or p.get("inline_data") for p in parts if not p.get("thought")]
    images = [i for i in images if isinstance(i, dict) and str(i.get("mimeType") or i.get("mime_type") or
                                                                "image/").startswith("image/")]
    finish = str(candidate.get("finishReason") or "")
    if not images:
        text = " ".join(str(p["text"]) for p in parts if isinstance(p.get("text"), str) and not p.get("thought"))
        said = f"; the model said: {one_line(text, 160)!r}" if text.strip() else ""
        if finish in SAFETY_REASONS:
            raise NoImage(f"image blocked by the safety filter (finishReason={finish}){said}")
        raise NoImage(f"no image in the response (finishReason={finish or 'unset'}){said}")
    data = images[-1].get("data")
    if not isinstance(data, str) or not data:
        raise NoImage("malformed response: inlineData without data")
    try:
        decoded = decode_image(base64.b64decode(data, validate=False))
    except Exception as error:  # noqa: BLE001 - bad base64, unknown format, truncated or oversized image
        raise NoImage(f"malformed response: image data does not decode ({type(error).__name__})") from None
    return decoded


@dataclass
class ApiError:
    """The google.rpc.Status in an error reply (``{"error": {"code", "message", "status", "details"}}``)."""

    status: str  # e.g. "RESOURCE_EXHAUSTED"; "" when the body has none
    message: str  # the error's message, else the start of the body, as sent (not yet on one line)
    details: list[dict]

    @property
    def reasons(self) -> set[str]:
        """The ``reason`` of each google.rpc.ErrorInfo detail (e.g. ``API_KEY_INVALID``)."""
        return {str(d.get("reason", "")) for d in self.details if str(d.get("@type", "")).endswith("ErrorInfo")}


def parse_error(body: bytes) -> ApiError:
    """The status, message and details of an error reply; whatever is missing or unreadable comes back empty."""
    error: dict = {}
    try:
        parsed = json.loads(body)
        # The API answers {"error": {...}}; some Google endpoints wrap that in a one-element list.
        if isinstance(parsed, list) and parsed:
            parsed = parsed[0]
        if isinstance(parsed, dict) and isinstance(parsed.get("error"), dict):
            error = parsed["error"]
    except (ValueError, UnicodeDecodeError):
        pass
    details = error.get("details")
    return ApiError(status=str(error.get("status") or "").strip(),
                    message=str(error.get("message") or body[:200].decode("utf-8", "replace")),
                    details=[d for d in details if isinstance(d, dict)] if isinstance(details, list) else [])


def retry_hint(details: list[dict], headers) -> float | None:
    """Seconds to wait that the server suggests: a google.rpc.RetryInfo ``retryDelay``, else ``Retry-After``."""
    for detail in details:
        if str(detail.get("@type", "")).endswith("google.rpc.RetryInfo"):
            hint = parse_duration(detail.get("retryDelay"))
            if hint is not None:
                return hint
    return parse_duration(headers.get("Retry-After")) if headers is not None else None


def daily_quota(details: list[dict]) -> bool:
    """Whether a google.rpc.QuotaFailure names a per-day quota, which no backoff worth waiting outlasts
    (quota ids name their window, e.g. ``GenerateRequestsPerDayPerProjectPerModel-FreeTier``)."""
    for detail in details:
        violations = detail.get("violations") if str(detail.get("@type", "")).endswith("QuotaFailure") else None
        for violation in violations if isinstance(violations, list) else []:
            if isinstance(violation, dict) and "PerDay" in str(violation.get("quotaId", "")):
                return True
    return False

"""A loopback server speaking the Generative Language REST format for both kinds of request a guided run sends:
text questions (JSON answers, ``responseMimeType: application/json``) to a rewriter or gate model, and image
edits (``responseModalities: ["IMAGE"]``) to a Gemini image generator. Every request is checked against the
real format; answers are scripted per question."""

from __future__ import annotations

import base64
import io
import json
import re
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
from PIL import Image

KEY = "AIzaVLM-test-secret-0123456789abcdef"
TEXT_MODEL = "gemini-2.5-pro"
IMAGE_MODEL = "gemini-2.5-flash-image"


def png_base64(image: np.ndarray) -> str:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def text_response(text: str, finish: str = "STOP", thought: str | None = None) -> dict:
    parts = ([{"text": thought, "thought": True}] if thought else []) + [{"text": text}]
    return {"candidates": [{"content": {"role": "model", "parts": parts}, "finishReason": finish, "index": 0}],
            "modelVersion": TEXT_MODEL}


def referring_painting(height: int = 40, width: int = 56) -> np.ndarray:
    """What the fake image model paints: the referred object white (a rectangle) on black."""
    image = np.zeros((height, width, 3), np.uint8)
    image[8:30, 10:40] = 255
    return image


def image_response(image: np.ndarray | None = None) -> dict:
    data = png_base64(referring_painting() if image is None else image)
    return {"candidates": [{"content": {"role": "model", "parts": [{"inlineData": {"mimeType": "image/png",
                                                                                   "data": data}}]},
                            "finishReason": "STOP", "index": 0}], "modelVersion": IMAGE_MODEL}


def api_error(code: int, status: str, message: str, details=()) -> dict:
    return {"error": {"code": code, "message": message, "status": status, "details": list(details)}}


class FakeGeminiVLM:
    """``answer(question, image) -> (status, body dict, headers)`` or a text to answer (default: the rewrite
    ``{"absent": false, "expression": "the red cup"}``, or present with score 0.9). ``text_requests`` /
    ``image_requests`` hold the parsed bodies (and ``question`` / ``prompt`` texts) of well-formed requests."""

    def __init__(self):
        self.answer: Callable = lambda question, image: None
        self.paint: Callable = lambda prompt, image: referring_painting()
        self.text_requests: list[dict] = []
        self.image_requests: list[dict] = []
        self.problems: list[str] = []
        self.bad_keys = 0
        self.lock = threading.Lock()
        self.delay = 0.0
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                status, payload, headers = fake.handle(self.path, self.headers, body)
                time.sleep(fake.delay)
                data = json.dumps(payload).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json; charset=UTF-8")
                    self.send_header("Content-Length", str(len(data)))
                    for name, value in headers.items():
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.01,), daemon=True)
        self.thread.start()

    def handle(self, path, headers, body):
        if headers.get("x-goog-api-key") != KEY:
            with self.lock:
                self.bad_keys += 1
            return 400, api_error(400, "INVALID_ARGUMENT", "API key not valid. Please pass a valid API key.", [
                {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID"}]), {}
        try:
            request, kind, text, image = self.parse(path, headers, body)
        except (AssertionError, KeyError, ValueError, TypeError, OSError) as error:
            with self.lock:
                self.problems.append(f"{type(error).__name__}: {error}")
            return 400, api_error(400, "INVALID_ARGUMENT", f"malformed request: {error}"), {}
        request = dict(request, question=text, prompt=text)
        with self.lock:
            (self.text_requests if kind == "text" else self.image_requests).append(request)
        if kind == "image":
            return 200, image_response(self.paint(text, image)), {}
        try:
            scripted = self.answer(text, image)
        except Exception as error:  # noqa: BLE001 - a broken test script: a problem, not a dropped connection
            with self.lock:
                self.problems.append(f"answer script failed: {type(error).__name__}: {error}")
            return 400, api_error(400, "INVALID_ARGUMENT", "answer script failed"), {}
        if scripted is None:
            scripted = json.dumps({"present": True, "score": 0.9} if "Is there" in text
                                  else {"absent": False, "expression": "the red cup"})
        if isinstance(scripted, str):
            return 200, text_response(scripted), {}
        status, payload, *rest = scripted
        return status, payload, (rest[0] if rest else {})

    @staticmethod
    def parse(path, headers, body):
        assert re.fullmatch(r"/v1beta/models/[A-Za-z0-9._-]+:generateContent", path), f"bad path {path}"
        assert headers.get("Content-Type", "").startswith("application/json"), "bad content type"
        request = json.loads(body)
        assert KEY not in body.decode(), "the API key is in the body"
        parts = request["contents"][0]["parts"]
        texts = [p["text"] for p in parts if "text" in p]
        inline = [p["inline_data"] for p in parts if "inline_data" in p]
        assert len(texts) == 1 and texts[0].strip() and len(inline) == 1, "need one text and one image part"
        assert inline[0]["mime_type"] == "image/png"
        image = np.asarray(Image.open(io.BytesIO(base64.b64decode(inline[0]["data"], validate=True))).convert("RGB"))
        config = request["generationConfig"]
        if "responseModalities" in config:
            assert config["responseModalities"] == ["IMAGE"], config
            return request, "image", texts[0], image
        assert config["responseMimeType"] == "application/json", config
        schema = config["responseSchema"]
        assert schema["type"] == "OBJECT" and set(schema["required"]) <= set(schema["properties"]), schema
        assert config["temperature"] == 0.0 and isinstance(config["seed"], int)
        return request, "text", texts[0], image

    def close(self):
        self.server.shutdown()
        self.server.server_close()

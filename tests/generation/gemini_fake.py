"""A local server that speaks the Generative Language REST format, and helpers to drive the Gemini generator
against it (shared by the Gemini test modules; fixtures in conftest.py)."""

import base64
import io
import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
from PIL import Image

from vb_plugins.generation import GenerationSettings
from vb_plugins.generation.gemini import GeminiGenerator, RetryPolicy
from vb_plugins.registry import get_task

KEY = "AIzaTEST-secret-key-0123456789"
MODEL = "gemini-2.5-flash-image"
DEPTH_M = 2.0
PAINTED = (120, 160)  # what the "model" paints (height, width): not the requested size


def png_base64(image: np.ndarray) -> str:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def depth_painting() -> np.ndarray:
    return get_task("depth").codec.encode(np.full(PAINTED, DEPTH_M))


def image_response(image=None, text=None) -> dict:
    parts = ([{"text": text}] if text else []) + [
        {"inlineData": {"mimeType": "image/png", "data": png_base64(depth_painting() if image is None else image)}}]
    return {"candidates": [{"content": {"role": "model", "parts": parts}, "finishReason": "STOP", "index": 0}],
            "modelVersion": MODEL}


def api_error(code, status, message, details=()) -> dict:
    return {"error": {"code": code, "message": message, "status": status, "details": list(details)}}


class FakeGemini:
    """Scripted replies; checks every request against the real request format."""

    def __init__(self):
        self.replies = []  # (status, body dict or bytes, headers, delay s); empty -> success
        self.requests = []  # parsed JSON bodies of well-formed requests
        self.problems = []  # format violations seen
        self.bad_keys = 0  # requests with a wrong API key
        self.seen = 0  # every POST that reached the server, well-formed or not
        self.lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output quiet
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                problem = fake.check(self.path, self.headers, body)
                with fake.lock:
                    fake.seen += 1
                    if problem:
                        fake.problems.append(problem)
                    elif self.headers.get("x-goog-api-key") != KEY:
                        fake.bad_keys += 1
                    else:
                        fake.requests.append(json.loads(body))
                    reply = fake.replies.pop(0) if fake.replies else (200, image_response(), {}, 0.0)
                status, payload, headers, delay = reply
                if problem:
                    status, payload, headers, delay = 400, api_error(400, "INVALID_ARGUMENT", problem), {}, 0.0
                elif self.headers.get("x-goog-api-key") != KEY:  # what the service answers to a wrong key
                    status, headers, delay = 400, {}, 0.0
                    payload = api_error(400, "INVALID_ARGUMENT", "API key not valid. Please pass a valid API key.", [
                        {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID",
                         "domain": "googleapis.com"}])
                time.sleep(delay)
                data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json; charset=UTF-8")
                    self.send_header("Content-Length", str(len(data)))
                    for name, value in headers.items():
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout test)
                    pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.01,), daemon=True)
        self.thread.start()

    def check(self, path, headers, body) -> str | None:
        if not re.fullmatch(r"/v1beta/models/[A-Za-z0-9._-]+:generateContent", path):
            return f"bad path {path}"
        if not headers.get("x-goog-api-key"):
            return "no x-goog-api-key header"
        if not headers.get("Content-Type", "").startswith("application/json"):
            return "bad content type"
        try:
            request = json.loads(body)
            parts = request["contents"][0]["parts"]
            text = [p["text"] for p in parts if "text" in p]
            inline = [p["inline_data"] for p in parts if "inline_data" in p]
            assert len(text) == 1 and text[0].strip() and len(inline) == 1
            assert inline[0]["mime_type"] == "image/png"
            Image.open(io.BytesIO(base64.b64decode(inline[0]["data"], validate=True))).verify()
            config = request["generationConfig"]
            assert config["responseModalities"] == ["IMAGE"]
            assert re.fullmatch(r"\d+:\d+", config["imageConfig"]["aspectRatio"])
        except Exception as error:  # noqa: BLE001
            return f"malformed request: {type(error).__name__} {error}"
        return None

    def reply(self, status, payload, headers=None, delay=0.0):
        self.replies.append((status, payload, headers or {}, delay))

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def make(fake, sleeps, **options):
    options.setdefault("retry", RetryPolicy(max_retries=3, initial_delay=1.0, max_delay=60.0))
    return GeminiGenerator(MODEL, api_key=KEY, base_url=fake.base_url,
                           sleep=lambda seconds, should_stop: sleeps.append(seconds), **options)


def photo(size=(48, 64), seed=0):
    return np.random.default_rng(seed).integers(0, 256, size + (3,), dtype=np.uint8)


def generate(generator, images, seeds=None, should_stop=None):
    seeds = list(range(len(images))) if seeds is None else seeds
    return generator.generate(images, "Turn this photo into a depth map.", seeds, images[0].shape[:2],
                              GenerationSettings(), should_stop=should_stop)

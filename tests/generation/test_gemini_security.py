"""The Gemini generator keeps its key and its caller safe: no key to another host on a redirect, a malformed
key refused before any request without being echoed, a deadline on the whole request, and Ctrl-C that stops
at once. Against real HTTP servers on loopback; the CLI checks run `vb predict` itself."""

import json
import logging
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest
from gemini_fake import KEY, MODEL, PAINTED, generate, image_response, make, photo
from PIL import Image

from vb_plugins.cli import main
from vb_plugins.errors import InputError, RemoteAPIError
from vb_plugins.generation import GenerationSettings, load_generator
from vb_plugins.generation import gemini as gemini_module
from vb_plugins.generation import gemini_transport as transport
from vb_plugins.generation.gemini import GeminiGenerator, RetryPolicy
from vb_plugins.predict import Predictor

# A key-shaped secret and the bad characters a copy-paste can slip into it. The tests look for each half
# (and every 6-character piece) of the key in what users and logs see.
FRONT, BACK = "AIzaSyQ7vXw", "Zk3pW9xRmT2bN8cLfHjUqE5"
BAD_CHARACTERS = {"\n": "a line break", "\r": "a line break", "\x00": "a control character",
                  "\t": "a control character", "é": "a non-ASCII character", "€": "a non-ASCII character",
                  " ": "a space"}


def pieces(key: str, size: int = 6) -> list[str]:
    return [key[i:i + size] for i in range(len(key) - size + 1)]


def traceback_text(error: BaseException) -> str:
    return "".join(traceback.format_exception(type(error), error, error.__traceback__))


class Recorder:
    """A second server on another loopback port that records every request it gets (and would answer with
    an image, which must never be used)."""

    def __init__(self):
        self.requests = []  # (method, path, headers)
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def answer(self):
                length = int(self.headers.get("Content-Length", 0) or 0)
                self.rfile.read(length)
                recorder.requests.append((self.command, self.path, dict(self.headers)))
                data = json.dumps(image_response(np.zeros(PAINTED + (3,), np.uint8))).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = answer

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, args=(0.01,), daemon=True).start()

    def saw_the_key(self) -> bool:
        return any(KEY in str(headers) or FRONT in str(headers) for _, _, headers in self.requests)


class Trickle:
    """Answers every POST one byte every ``interval`` seconds: in the headers, or in the body after prompt
    headers. Each reply is slow as a whole but never idle for long; it gives up after ``limit`` seconds."""

    def __init__(self, phase: str, interval: float = 0.2, limit: float = 8.0, tls: ssl.SSLContext | None = None):
        self.posts = 0
        trickle = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                trickle.posts += 1
                body = json.dumps(image_response()).encode()
                head = (f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                        f"Content-Length: {len(body)}\r\n\r\n").encode()
                if phase == "body":
                    self.wfile.write(head)
                    self.wfile.flush()
                slow = head + body if phase == "headers" else body
                began = time.monotonic()
                try:
                    for i in range(len(slow)):
                        if time.monotonic() - began > limit:
                            return
                        self.wfile.write(slow[i:i + 1])
                        self.wfile.flush()
                        time.sleep(interval)
                except OSError:  # the client hung up
                    pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        if tls:
            self.server.socket = tls.wrap_socket(self.server.socket, server_side=True)
        self.base_url = f"http{'s' * bool(tls)}://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, args=(0.01,), daemon=True).start()


@pytest.fixture
def recorder():
    server = Recorder()
    yield server
    server.server.shutdown()
    server.server.server_close()


def assert_one_line(text: str) -> None:
    assert text.strip() and "\n" not in text.strip() and "Traceback" not in text, text


def write_photo(tmp_path):
    path = tmp_path / "room.png"
    Image.fromarray(photo()).save(path)
    return path


# -- 1. redirects never carry the key to another host -------------------------------------------------------
@pytest.mark.parametrize("code", [301, 302, 303, 307, 308])
def test_a_redirect_to_another_host_is_refused_before_that_host_is_contacted(fake, sleeps, recorder, code, caplog):
    caplog.set_level(logging.DEBUG)
    fake.reply(code, b"", {"Location": f"{recorder.base_url}/v1beta/models/{MODEL}:generateContent"})
    with pytest.raises(RemoteAPIError) as error:
        generate(make(fake, sleeps), [photo()])
    message = str(error.value)
    assert_one_line(message)
    assert f"refused a redirect (HTTP {code}) to another host, {recorder.base_url}" in message
    assert "API key is only sent to " + fake.base_url in message
    assert recorder.requests == []  # never contacted: neither the key nor the request went there
    assert len(fake.requests) == 1 and sleeps == []  # not retried
    assert KEY not in message + caplog.text + traceback_text(error.value)


def test_a_redirect_within_the_endpoint_origin_is_followed_with_method_body_and_key(fake, sleeps):
    fake.reply(307, b"", {"Location": f"/v1beta/models/{MODEL}:generateContent"})
    [output] = generate(make(fake, sleeps), [photo()])
    assert output.shape == PAINTED + (3,)
    assert len(fake.requests) == 2 and fake.bad_keys == 0  # both requests complete, both with the key
    assert fake.requests[0] == fake.requests[1]


def test_a_redirect_that_would_turn_the_post_into_a_get_is_refused(fake, sleeps):
    fake.reply(302, b"", {"Location": f"/v1beta/models/{MODEL}:generateContent"})
    with pytest.raises(RemoteAPIError, match=r"refused a redirect \(HTTP 302\) that would resend the request as a GET"):
        generate(make(fake, sleeps), [photo()])
    assert fake.seen == 1


# -- 2. a malformed key is refused up front and never echoed ------------------------------------------------
@pytest.mark.parametrize("bad", list(BAD_CHARACTERS))
def test_a_key_with_a_bad_character_fails_before_any_request_without_echoing_it(fake, monkeypatch, bad):
    key = FRONT + bad + BACK
    with pytest.raises(InputError) as error:
        GeminiGenerator(MODEL, api_key=key, base_url=fake.base_url)
    raised_by = [(error.value, "api_key")]
    if bad != "\x00":  # an environment variable cannot hold a NUL
        monkeypatch.delenv("GOOGLE_API_KEY", raising=False)
        monkeypatch.setenv("GEMINI_API_KEY", key)
        monkeypatch.setenv("VB_GEMINI_BASE_URL", fake.base_url)
        with pytest.raises(InputError) as from_environment:
            Predictor("depth", f"gemini:{MODEL}").predict([photo()])
        raised_by.append((from_environment.value, "GEMINI_API_KEY"))
    assert fake.seen == 0  # no request of any kind reached the server
    for raised, source in raised_by:
        message = str(raised)
        assert_one_line(message)
        assert f"the API key in {source} contains {BAD_CHARACTERS[bad]}" in message
        text = message + repr(raised) + traceback_text(raised)
        assert FRONT not in text and BACK not in text
        assert not [piece for piece in pieces(key) if piece in message]  # not even a part of it
        assert raised.__cause__ is None and raised.__context__ is None


def test_surrounding_whitespace_of_a_key_is_trimmed_not_refused(fake, sleeps):
    generator = GeminiGenerator(MODEL, api_key=f"  {KEY}\n", base_url=fake.base_url)
    generate(generator, [photo()])
    assert len(fake.requests) == 1 and fake.bad_keys == 0


# -- 3. a deadline on the whole request ---------------------------------------------------------------------
@pytest.mark.parametrize("phase", ["headers", "body"])
def test_a_server_that_trickles_bytes_fails_at_the_deadline(phase, monkeypatch):
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    trickle = Trickle(phase)
    generator = GeminiGenerator(MODEL, api_key=KEY, base_url=trickle.base_url, timeout=1.5,
                                retry=RetryPolicy(max_retries=0))
    began = time.monotonic()
    with pytest.raises(RemoteAPIError) as error:
        generate(generator, [photo()])
    elapsed = time.monotonic() - began
    trickle.server.shutdown()
    assert 1.4 < elapsed < 1.5 + 3.0, elapsed  # well before the 8 s the trickle takes (margin for a loaded machine)
    message = str(error.value)
    assert_one_line(message)
    assert "timed out: no answer within 1.5 s (1 attempt); the limit is on the whole request" in message
    assert "VB_GEMINI_TIMEOUT" in message and trickle.posts == 1


def test_a_tls_server_that_trickles_bytes_fails_at_the_deadline(tmp_path, monkeypatch):
    """Over TLS the watched socket is wrapped (and detached) by ssl: the deadline must still cut it off."""
    if not shutil.which("openssl"):
        pytest.skip("needs the openssl command to make a certificate for 127.0.0.1")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                    "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))  # the client trusts this certificate (and verifies it)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    trickle = Trickle("body", tls=context)
    generator = GeminiGenerator(MODEL, api_key=KEY, base_url=trickle.base_url, timeout=1.5,
                                retry=RetryPolicy(max_retries=0))
    began = time.monotonic()
    with pytest.raises(RemoteAPIError, match=r"timed out: no answer within 1.5 s \(1 attempt\)"):
        generate(generator, [photo()])
    assert 1.4 < time.monotonic() - began < 1.5 + 3.0 and trickle.posts == 1  # the trickle takes 8 s
    trickle.server.shutdown()


def test_the_deadline_comes_from_vb_gemini_timeout_and_is_checked(monkeypatch):
    monkeypatch.setenv("GEMINI_API_KEY", KEY)
    monkeypatch.delenv("VB_GEMINI_TIMEOUT", raising=False)
    assert load_generator(MODEL).timeout == 180.0
    monkeypatch.setenv("VB_GEMINI_TIMEOUT", "2.5")
    assert load_generator(MODEL).timeout == 2.5
    assert load_generator(MODEL, timeout=7).timeout == 7.0  # an explicit option wins
    for bad in ("soon", "0", "-3", "nan", "inf"):
        monkeypatch.setenv("VB_GEMINI_TIMEOUT", bad)
        with pytest.raises(InputError, match="VB_GEMINI_TIMEOUT="):
            load_generator(MODEL)


# -- 3. Ctrl-C stops at once ----------------------------------------------------------------------------------
def gemini_workers() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("gemini")]


def test_keyboard_interrupt_during_a_batch_returns_at_once_and_cuts_requests_off(fake, sleeps):
    fake.reply(200, image_response())  # the first image comes back at once...
    for _ in range(3):
        fake.reply(200, image_response(), delay=5.0)  # ...the others would take 5 s each

    def interrupt(done, total):  # Ctrl-C arriving while the main thread waits for the batch
        raise KeyboardInterrupt

    generator = make(fake, sleeps, concurrency=2)
    began = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        generator.generate([photo(seed=i) for i in range(4)], "Turn this photo into a depth map.", [0, 1, 2, 3],
                           (48, 64), GenerationSettings(), on_step=interrupt)
    assert time.monotonic() - began < 3.0  # not the 5 s the held replies take (margin for a loaded machine)
    deadline = time.monotonic() + 3.0  # the worker whose request was cut off ends at once, not in 5 s
    while gemini_workers() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert gemini_workers() == []
    time.sleep(0.3)
    assert fake.seen <= 2  # at most the two in flight (concurrency 2): the others were never sent


@pytest.mark.skipif(sys.platform != "linux", reason="a full listen backlog makes connect() hang on Linux only")
def test_a_cancel_wakes_a_request_still_connecting(monkeypatch):
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)  # never accepts: once its queue is full, a connect waits for the SYN to be answered
    port = listener.getsockname()[1]
    queued = [socket.socket() for _ in range(3)]
    for sock in queued:
        sock.setblocking(False)
        sock.connect_ex(("127.0.0.1", port))
    time.sleep(0.1)
    watchdog = transport.Watchdog()
    threading.Timer(0.3, watchdog.expire, (transport.CANCELLED,)).start()
    began = time.monotonic()
    try:
        with pytest.raises(transport.Aborted) as aborted:
            transport.post(f"http://127.0.0.1:{port}/", b"{}", {}, secret_headers={}, timeout=30, watchdog=watchdog)
    finally:
        for sock in queued + [listener]:
            sock.close()
    assert aborted.value.reason == transport.CANCELLED and time.monotonic() - began < 5.0  # not the 30 s timeout


def test_ctrl_c_in_vb_predict_exits_at_once_with_one_line(fake, tmp_path):
    for _ in range(3):
        fake.reply(200, image_response(), delay=30.0)
    images = []
    for i in range(3):
        images.append(tmp_path / f"room{i}.png")
        Image.fromarray(photo(seed=i)).save(images[-1])
    env = dict(os.environ, GEMINI_API_KEY=KEY, VB_GEMINI_BASE_URL=fake.base_url, NO_PROXY="127.0.0.1")
    process = subprocess.Popen([sys.executable, "-m", "vb_plugins.cli", "predict", "depth", *map(str, images),
                                "-o", str(tmp_path / "out"), "--model", f"gemini:{MODEL}", "--quiet"],
                               env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_until = time.monotonic() + 60
        while fake.seen < 3 and time.monotonic() < wait_until and process.poll() is None:
            time.sleep(0.05)
        assert fake.seen == 3, process.poll()
        process.send_signal(signal.SIGINT)
        interrupted = time.monotonic()
        _, err = process.communicate(timeout=10)
        assert time.monotonic() - interrupted < 4.0  # not the 30 s the server takes
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 130
    assert err.strip() == "vb predict: interrupted", err
    assert not list((tmp_path / "out").glob("*.json"))


# -- the CLI shows each failure as one line ---------------------------------------------------------------------
def run_predict(capsys, tmp_path, monkeypatch, base_url, key=KEY):
    monkeypatch.setenv("GEMINI_API_KEY", key)
    monkeypatch.setenv("VB_GEMINI_BASE_URL", base_url)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    code = main(["predict", "depth", str(write_photo(tmp_path)), "-o", str(tmp_path / "out"),
                 "--model", f"gemini:{MODEL}", "--quiet"])
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_redirect_to_another_host_is_one_line_and_exit_1(fake, recorder, tmp_path, capsys, monkeypatch):
    fake.reply(302, b"", {"Location": f"{recorder.base_url}/steal?key={KEY}"})  # only the origin is shown
    code, out, err = run_predict(capsys, tmp_path, monkeypatch, fake.base_url)
    assert code == 1 and out == ""
    assert_one_line(err)
    assert err.startswith(f"vb predict: error: gemini:{MODEL}: refused a redirect (HTTP 302) to another host")
    assert recorder.requests == [] and not recorder.saw_the_key() and KEY not in err
    assert not list((tmp_path / "out").glob("*.json"))


def test_cli_bad_key_is_one_line_without_the_key(fake, tmp_path, capsys, monkeypatch):
    code, out, err = run_predict(capsys, tmp_path, monkeypatch, fake.base_url, key=FRONT + "\n" + BACK)
    assert code == 1
    assert_one_line(err)
    assert "the API key in GEMINI_API_KEY contains a line break" in err
    assert FRONT not in out + err and BACK not in out + err and fake.seen == 0


def test_cli_trickling_server_times_out_with_one_line(tmp_path, capsys, monkeypatch):
    trickle = Trickle("body")
    monkeypatch.setenv("VB_GEMINI_TIMEOUT", "0.5")
    monkeypatch.setattr(gemini_module, "_interruptible_sleep", lambda seconds, should_stop: None)  # no backoff
    began = time.monotonic()
    code, _, err = run_predict(capsys, tmp_path, monkeypatch, trickle.base_url)
    trickle.server.shutdown()
    assert code == 1
    assert_one_line(err)
    assert "timed out: no answer within 0.5 s (5 attempts)" in err and "VB_GEMINI_TIMEOUT" in err
    assert time.monotonic() - began < 5 * 0.5 + 5.0 and trickle.posts == 5  # not 5 x 8 s of trickling

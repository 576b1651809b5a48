"""HTTP for the Gemini generator: one POST whose API key never leaves its origin and whose whole exchange
(connect, headers, body) has a deadline.

Standard library only; urllib, so ``HTTP(S)_PROXY`` / ``NO_PROXY`` keep working. Two things plain urllib gets
wrong for a request that carries a secret:

- Redirects. urllib's redirect handler copies the ordinary request headers to wherever ``Location`` points,
  so an endpoint told to answer 302 could hand the key to any host, and that host's image would be used; it
  also turns a redirected POST into a body-less GET. Here secret headers travel as *unredirected* headers
  (urllib never copies those), and :class:`_SameOriginRedirects` refuses a redirect to another origin before
  that host is contacted at all. A 307/308 within the origin the key was meant for is followed with the same
  method, body and key; every other redirect is refused. Both guards stand on their own: refusing alone
  would leak again if a later urllib followed some redirect by another path; unredirected alone would still
  use the other host's image.
- Deadlines. A socket timeout bounds each read, so a server that trickles one byte a second never times out.
  :class:`Watchdog` keeps a duplicate of every socket the request opens and shuts the connection down when the
  deadline passes or the caller cancels (Ctrl-C); that wakes whatever connect, TLS handshake, write or read
  is blocked on it. Only name resolution (getaddrinfo) cannot be woken this way.
"""

from __future__ import annotations

import http.client
import socket
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from email.message import Message

DEADLINE = "deadline"
CANCELLED = "cancelled"


@dataclass
class Reply:
    """An HTTP answer of any status (error statuses included): what the caller needs to judge it."""

    status: int
    headers: Message
    body: bytes


class Aborted(Exception):
    """The request was cut off: ``reason`` is :data:`DEADLINE` or :data:`CANCELLED`."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class RedirectRefused(Exception):
    """The endpoint redirected somewhere this transport will not follow (``target``: that URL's origin)."""

    def __init__(self, code: int, target: str, same_origin: bool):
        super().__init__(f"HTTP {code} redirect to {target}")
        self.code, self.target, self.same_origin = code, target, same_origin


def origin(url: str) -> str:
    """``scheme://host:port`` of a URL (default port filled in, no user info, path or query)."""
    parts = urllib.parse.urlsplit(url)
    try:
        port = parts.port or {"http": 80, "https": 443}.get(parts.scheme.lower())
    except ValueError:  # a port that is not a number
        port = "?"
    return f"{parts.scheme.lower()}://{(parts.hostname or '').lower()}:{port}"


class Watchdog:
    """Cuts one request's connections when :meth:`expire` is called (by its deadline timer or a canceller).

    Each socket the request opens is registered through :meth:`create_connection` as a ``dup()``: the duplicate
    refers to the same connection whatever http.client and ssl do with the original (wrapping it in TLS
    detaches it), and it is ours to close, so a late :meth:`expire` can never touch a reused descriptor.
    """

    def __init__(self):
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self._finished = False
        self.reason: str | None = None

    def expire(self, reason: str) -> None:
        with self._lock:
            if self._finished or self.reason is not None:
                return
            self.reason = reason
            for sock in self._sockets:
                _shut_down(sock)

    def finish(self) -> None:
        """The request is over: later :meth:`expire` calls do nothing; the duplicates are closed."""
        with self._lock:
            self._finished = True
            sockets, self._sockets = self._sockets, []
        for sock in sockets:
            sock.close()

    def _watch(self, sock: socket.socket) -> None:
        with self._lock:
            if self.reason is not None:
                raise Aborted(self.reason)
            self._sockets.append(sock.dup())

    def create_connection(self, address, timeout=None, source_address=None) -> socket.socket:
        """``socket.create_connection`` with each socket watched *before* it connects, so a cancel also wakes
        a connect to a host that never answers."""
        host, port = address
        last_error: OSError | None = None
        for family, kind, protocol, _, sockaddr in socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM):
            sock = socket.socket(family, kind, protocol)
            try:
                self._watch(sock)
                if isinstance(timeout, (int, float)):
                    sock.settimeout(timeout)
                if source_address:
                    sock.bind(source_address)
                sock.connect(sockaddr)
                if self.reason is not None:  # expired while connecting
                    raise Aborted(self.reason)
                return sock
            except OSError as error:
                sock.close()
                if self.reason is not None:
                    raise Aborted(self.reason) from None
                last_error = error
            except BaseException:
                sock.close()
                raise
        raise last_error or OSError(f"{host}: no address to connect to")

    def connection_class(self, base: type) -> type:
        """``base`` (http.client.HTTPConnection or HTTPSConnection) opening its sockets through this watchdog."""
        watchdog = self

        class Watched(base):
            def __init__(self, *args, **kwargs):
                super().__init__(*args, **kwargs)
                self._create_connection = watchdog.create_connection

        return Watched


def _shut_down(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:  # not connected (yet), or already gone
        pass


class _WatchedHTTP(urllib.request.HTTPHandler):
    def __init__(self, watchdog: Watchdog):
        super().__init__()
        self.watchdog = watchdog

    def do_open(self, http_class, req, **http_conn_args):
        return super().do_open(self.watchdog.connection_class(http_class), req, **http_conn_args)


class _WatchedHTTPS(urllib.request.HTTPSHandler):
    def __init__(self, watchdog: Watchdog):
        super().__init__()
        self.watchdog = watchdog

    def do_open(self, http_class, req, **http_conn_args):
        return super().do_open(self.watchdog.connection_class(http_class), req, **http_conn_args)


class _SameOriginRedirects(urllib.request.HTTPRedirectHandler):
    """Follows only a method-preserving redirect (307/308) within the request's own origin; see module docs."""

    def __init__(self, secret_headers: Mapping[str, str]):
        super().__init__()
        self.secret_headers = dict(secret_headers)

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        target, same = origin(newurl), origin(newurl) == origin(req.full_url)
        if not same or code not in (307, 308):
            fp.close()
            raise RedirectRefused(code, target, same)
        follow = urllib.request.Request(newurl, data=req.data, method=req.get_method(), headers=dict(req.headers))
        for name, value in self.secret_headers.items():
            follow.add_unredirected_header(name, value)
        return follow


def _read_quietly(response) -> bytes:
    try:
        return response.read()
    except (OSError, ValueError, http.client.HTTPException):
        return b""


def post(url: str, body: bytes, headers: Mapping[str, str], *, secret_headers: Mapping[str, str],
         timeout: float, watchdog: Watchdog | None = None) -> Reply:
    """POST ``body`` and return the reply, whatever its status.

    Raises :class:`Aborted` when ``timeout`` seconds pass before the whole reply is in (or ``watchdog`` is
    expired by someone else), :class:`RedirectRefused`, and ``OSError`` / ``http.client.HTTPException`` when
    the connection fails.
    """
    watchdog = watchdog or Watchdog()
    request = urllib.request.Request(url, data=body, method="POST", headers=dict(headers))
    for name, value in secret_headers.items():
        request.add_unredirected_header(name, value)
    opener = urllib.request.build_opener(_WatchedHTTP(watchdog), _WatchedHTTPS(watchdog),
                                         _SameOriginRedirects(secret_headers))
    timer = threading.Timer(timeout, watchdog.expire, (DEADLINE,))
    timer.daemon = True  # never keeps the interpreter alive
    timer.start()
    try:
        try:
            with opener.open(request, timeout=timeout) as response:
                reply = Reply(response.status, response.headers, response.read())
        except urllib.error.HTTPError as error:
            with error:
                reply = Reply(error.code, error.headers, _read_quietly(error))
    except Exception as error:
        if watchdog.reason is not None:
            raise Aborted(watchdog.reason) from None
        if _is_timeout(error):  # a single socket operation outlived the whole deadline
            raise Aborted(DEADLINE) from None
        raise
    finally:
        timer.cancel()
        reason = watchdog.reason
        watchdog.finish()
    if reason is not None:  # cut off while reading: a body without a length can look complete
        raise Aborted(reason)
    return reply


def _is_timeout(error: BaseException) -> bool:
    return isinstance(error, TimeoutError) or (
        isinstance(error, urllib.error.URLError) and isinstance(error.reason, TimeoutError))

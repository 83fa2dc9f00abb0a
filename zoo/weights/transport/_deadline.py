"""Overall deadlines for HTTP requests, not only per-read timeouts.

A socket timeout bounds each read; a host that trickles its status line and headers one byte
at a time never trips it. A :class:`Deadline` watches every socket a request opens (redirects
included) and shuts them down when its time is up, whatever the request is doing then; the
caller sees the read fail and asks :attr:`Deadline.expired` why.

No torch here: the standard library, zoo's settings and errors.
"""

from __future__ import annotations

import contextlib
import http.client
import socket
import threading
import urllib.request
from typing import Any

from zoo import settings
from zoo.errors import DownloadError, EndpointTimeoutError


class Deadline:
    """Shuts the sockets of one request down ``seconds`` after :meth:`start`."""

    def __init__(self) -> None:
        self.expired = False
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._timer: threading.Timer | None = None
        self._armed = 0  # which start() the running timer belongs to

    def start(self, seconds: float) -> None:
        """(Re)arm: the sockets watched so far and from now on have ``seconds`` left."""
        self.stop()
        with self._lock:
            self.expired = False
            self._armed += 1
            timer = self._timer = threading.Timer(seconds, self._expire, args=(self._armed,))
        timer.daemon = True
        timer.start()

    def stop(self) -> bool:
        """Disarm; True when the deadline had already passed (the sockets are shut down)."""
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            return self.expired

    def watch(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.append(sock)
            if self.expired:
                _shutdown(sock)

    def _expire(self, armed: int) -> None:
        with self._lock:
            if self._timer is None or armed != self._armed:  # stopped or re-armed meanwhile
                return
            self.expired = True
            for sock in self._sockets:
                _shutdown(sock)

    def handlers(self) -> list[urllib.request.BaseHandler]:
        """Handlers for ``build_opener``: every connection they open is watched."""
        return [_WatchedHTTP(self), _WatchedHTTPS(self)]


def _shutdown(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)


def _watched(base: Any, deadline: Deadline) -> Any:
    """``base`` (an HTTP(S)Connection class) whose raw socket the deadline watches, TLS included."""

    class Watched(base):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            create: Any = getattr(self, "_create_connection")  # noqa: B009 (untyped in base)

            def watched(*a: Any, **kw: Any) -> socket.socket:
                sock = create(*a, **kw)
                deadline.watch(sock)
                return sock

            self._create_connection = watched

    return Watched


class _WatchedHTTP(urllib.request.HTTPHandler):
    def __init__(self, deadline: Deadline) -> None:
        super().__init__()
        self.deadline = deadline

    def do_open(self, http_class: Any, req: Any, **kwargs: Any) -> http.client.HTTPResponse:
        return super().do_open(_watched(http_class, self.deadline), req, **kwargs)


class _WatchedHTTPS(urllib.request.HTTPSHandler):
    def __init__(self, deadline: Deadline) -> None:
        super().__init__()
        self.deadline = deadline

    def do_open(self, http_class: Any, req: Any, **kwargs: Any) -> http.client.HTTPResponse:
        return super().do_open(_watched(http_class, self.deadline), req, **kwargs)


def settimeout(response: Any, seconds: float) -> None:
    """Switch an open response's socket from the answer deadline to the stall deadline."""
    raw = getattr(getattr(response, "fp", None), "raw", None)
    sock = getattr(raw, "_sock", None)
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.settimeout(seconds)


def timeout_error(url: str, during: str) -> EndpointTimeoutError:
    if during == "answer":
        seconds, variable = settings.connect_timeout(), "ZOO_CONNECT_TIMEOUT"
        what = f"did not answer within {seconds:g} s ({variable})"
    else:
        seconds, variable = settings.download_timeout(), "ZOO_DOWNLOAD_TIMEOUT"
        what = {
            "body": f"stopped sending for {seconds:g} s ({variable})",
            "document": f"did not send its answer within {seconds:g} s ({variable})",
            "slow": f"sent less than {settings.MIN_DOWNLOAD_RATE} bytes a second"
            f" for {seconds:g} s ({variable})",
        }[during]
    endpoint = DownloadError("", url=url).endpoint
    return EndpointTimeoutError(f"{endpoint} {what}", url=url, timeout=seconds, variable=variable)


def is_timeout(exc: BaseException) -> bool:
    reason = getattr(exc, "reason", exc)
    return isinstance(reason, (TimeoutError, socket.timeout))

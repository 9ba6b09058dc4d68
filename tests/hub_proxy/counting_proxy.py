"""A loopback TCP forwarder that counts the connections it accepts.

Put in front of a real server, it tells a test whether anything dialled that
server at all -- which an answer from the server cannot, since a client that
never got through sees no answer either.  It runs on threads of its own, so
a test's event loop blocked in a subprocess call does not stall it.
"""

from __future__ import annotations

import contextlib
import socket
import socketserver
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit, urlunsplit


class _Forwarder(socketserver.BaseRequestHandler):
    server: _CountingServer

    def handle(self) -> None:
        with self.server.lock:
            self.server.accepted += 1
        with socket.create_connection(self.server.target) as upstream:
            back = threading.Thread(target=_pipe, args=(upstream, self.request), daemon=True)
            back.start()
            _pipe(self.request, upstream)
            back.join()


def _pipe(source: socket.socket, sink: socket.socket) -> None:
    # Either side may close the connection: the other end is told, and both are done.
    with contextlib.suppress(OSError):
        while data := source.recv(65536):
            sink.sendall(data)
    for closing in (sink, source):
        with contextlib.suppress(OSError):
            closing.shutdown(socket.SHUT_RDWR)


class _CountingServer(socketserver.ThreadingTCPServer):
    daemon_threads = True

    def __init__(self, target: tuple[str, int]) -> None:
        super().__init__(("127.0.0.1", 0), _Forwarder)
        self.target = target
        self.accepted = 0
        self.lock = threading.Lock()


class CountingProxy:
    """What :func:`counting_proxy` yields: the URL to dial, and how often anything did."""

    def __init__(self, server: _CountingServer, url: str) -> None:
        self._server = server
        self.url = url

    @property
    def connections(self) -> int:
        with self._server.lock:
            return self._server.accepted


@contextmanager
def counting_proxy(url: str) -> Iterator[CountingProxy]:
    """Forward a loopback port to the host and port of ``url``; yield ``url`` through it."""
    parts = urlsplit(url)
    assert parts.hostname is not None, url
    assert parts.port is not None, url
    server = _CountingServer((parts.hostname, parts.port))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    port = server.server_address[1]
    try:
        yield CountingProxy(server, urlunsplit(parts._replace(netloc=f"127.0.0.1:{port}")))
    finally:
        server.shutdown()
        server.server_close()

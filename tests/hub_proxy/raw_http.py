"""HTTP/1.1 spoken byte by byte, for sending a hub what no client library would.

``http.client`` and aiohttp refuse to send duplicate credentials in some
forms, header values with control characters, or bytes that are not text;
a hostile client sends them all the same.  :func:`exchange` writes the
request exactly as given and reads the status, headers and as much of the
body as arrives before the server closes (or, for a stream, only its start).
:func:`rpc` is the JSON-RPC POST the hub's MCP endpoints take.
"""

from __future__ import annotations

import contextlib
import json
import socket
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from tests.hub_proxy.bridge_process import INITIALIZE, JSON_AND_SSE

__all__ = ["INITIALIZE", "JSON_AND_SSE", "Header", "RawAnswer", "exchange", "open_session", "rpc"]

SECONDS: Final = 30.0
# How long to read a stream's start: its head and first events, not its end.
STREAM_SECONDS: Final = 1.0


@dataclass(frozen=True)
class RawAnswer:
    status: int
    headers: Mapping[str, str]
    body: bytes

    @property
    def messages(self) -> list[Any]:
        """The JSON-RPC messages of a JSON or SSE body, in order."""
        if self.headers.get("content-type", "").startswith("application/json"):
            return [json.loads(self.body)]
        return [
            json.loads(line[5:])
            for line in self.body.decode().splitlines()
            if line.startswith("data:") and line[5:].strip().startswith("{")
        ]

    @property
    def last(self) -> Any:
        return self.messages[-1]


Header = tuple[bytes | str, bytes | str]


def _bytes(value: bytes | str) -> bytes:
    return value if isinstance(value, bytes) else value.encode()


def exchange(
    port: int,
    method: bytes | str,
    target: bytes | str,
    headers: Sequence[Header] = (),
    body: bytes = b"",
    *,
    stream: bool = False,
) -> RawAnswer:
    """One request on a fresh connection, written exactly as given."""
    lines = [_bytes(method) + b" " + _bytes(target) + b" HTTP/1.1", b"Host: 127.0.0.1"]
    lines += [_bytes(name) + b": " + _bytes(value) for name, value in headers]
    lines += [b"Connection: close", f"Content-Length: {len(body)}".encode()]
    with socket.create_connection(("127.0.0.1", port), timeout=SECONDS) as connection:
        # Answered before it read everything: the answer is still there.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            connection.sendall(b"\r\n".join(lines) + b"\r\n\r\n" + body)
        received = bytearray()
        while True:
            try:
                chunk = connection.recv(65536)
            except TimeoutError:
                if stream and b"\r\n\r\n" in received:
                    break  # a stream with nothing to say yet
                raise
            if not chunk:
                break
            received += chunk
            if stream and b"\r\n\r\n" in received:
                # The head is in: what follows may never end, so wait only a little.
                connection.settimeout(STREAM_SECONDS)
    head, _, content = bytes(received).partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    parsed = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        parsed[name.strip().lower()] = value.strip()
    if parsed.get("transfer-encoding") == "chunked":
        content = _unchunked(content)
    return RawAnswer(int(status_line.split()[1]), parsed, content)


def _unchunked(data: bytes) -> bytes:
    body = bytearray()
    while data:
        size_line, _, rest = data.partition(b"\r\n")
        size = int(size_line.split(b";")[0] or b"0", 16)
        if size == 0:
            break
        body += rest[:size]
        data = rest[size + 2 :]
    return bytes(body)


def rpc(
    port: int,
    path: str,
    message: object,
    headers: Sequence[Header] = (),
    *,
    session: str | None = None,
) -> RawAnswer:
    """POST one JSON-RPC message to an MCP endpoint (lone surrogates go as JSON escapes)."""
    sent: list[Header] = [("Content-Type", "application/json"), ("Accept", JSON_AND_SSE)]
    if session is not None:
        sent.append(("Mcp-Session-Id", session))
    return exchange(port, "POST", path, [*sent, *headers], json.dumps(message).encode())


def open_session(port: int, path: str, headers: Sequence[Header] = ()) -> str:
    """An initialized streamable-HTTP session at ``path``; its id."""
    answer = rpc(port, path, INITIALIZE, headers)
    assert answer.status == 200, (answer.status, answer.body[:300])
    session = answer.headers["mcp-session-id"]
    initialized = {"jsonrpc": "2.0", "method": "notifications/initialized"}
    assert rpc(port, path, initialized, headers, session=session).status == 202
    return session

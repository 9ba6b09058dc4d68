"""JSON-RPC 2.0 messages as MCP uses them: four immutable shapes, parsed strictly.

A proxy forwards far more messages than it understands.  The hub and the stdio
bridge look at a handful of fields -- the id, the method, a progress token --
and must pass everything else through untouched, including fields that a
newer revision of MCP adds tomorrow.  The SDK's pydantic models are the wrong
tool for that: they validate what this process never reads and, on the way
back out, may drop or reshape what they did not expect.  So the messages here
keep ``params``, ``result`` and ``data`` as the plain JSON they arrived as and
check only the JSON-RPC envelope.

The envelope is checked strictly, because a loose parser turns a client's bug
into a hung request somewhere downstream.  Each refusal says what is wrong and
carries the JSON-RPC error code that belongs in the reply: :class:`ParseError`
(-32700) for bytes that are not JSON, :class:`InvalidMessageError` (-32600) for JSON
that is not one JSON-RPC message.  When the offending message had a usable id,
the error keeps it, so the reply can name the request it refuses.

MCP narrows JSON-RPC in two ways this module enforces: ids are strings or
integers (never null, never fractional), and ``params`` and ``result`` are
objects.  Batches are refused: MCP removed them in 2025-06-18.

Whatever decodes must encode again, since the hub forwards and echoes what it
reads, so two things JSON text can say and a Python process cannot always
repeat are dealt with here, once, for every reader.  Nesting is bounded
(:data:`MAX_DEPTH`, serde_json's default): Python's JSON encoder and decoder
recurse, and a message that decoded near the recursion limit would fail when
re-encoded from a deeper stack -- a 500 from a body of brackets.  And a
``"\\ud800"`` escape decodes to a lone surrogate, which is no character UTF-8
can hold: :func:`encode` then writes such strings as JSON escapes, exactly as
they came, instead of failing on the way out (an error answer that echoes a
client's id is the classic case).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, TypeAlias, TypeGuard

RequestId: TypeAlias = int | str

PARSE_ERROR: Final = -32700
INVALID_REQUEST: Final = -32600
INTERNAL_ERROR: Final = -32603
# Not in JSON-RPC itself: LSP's code for "cancelled", which the MCP SDKs use to
# end the response stream of a request that was cancelled on the 2025 wire.
REQUEST_CANCELLED: Final = -32800
# Deeper is refused as not JSON-RPC: far beyond any real schema or arguments,
# far below the ~1000 frames Python's recursive JSON code may use.
MAX_DEPTH: Final = 128


@dataclass(frozen=True)
class Request:
    """A call that expects exactly one :data:`Response` with the same id."""

    id: RequestId
    method: str
    params: Mapping[str, Any] | None = None

    def respond(self, result: Mapping[str, Any]) -> Result:
        return Result(self.id, result)

    def fail(self, code: int, message: str, data: Any = None) -> Error:
        return Error(self.id, code, message, data)


@dataclass(frozen=True)
class Notification:
    """A one-way message: no id, no answer."""

    method: str
    params: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class Result:
    """The successful answer to the request with the same id."""

    id: RequestId
    result: Mapping[str, Any]


@dataclass(frozen=True)
class Error:
    """The failed answer to a request; ``id`` is None when the request was unreadable."""

    id: RequestId | None
    code: int
    message: str
    data: Any = None


Response: TypeAlias = Result | Error
Message: TypeAlias = Request | Notification | Result | Error


class MessageError(ValueError):
    """Input that is not one valid JSON-RPC message; ``code`` is the error code to reply with."""

    code: int = INVALID_REQUEST

    def __init__(self, reason: str, *, request_id: RequestId | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.request_id = request_id


class ParseError(MessageError):
    """The bytes are not JSON at all."""

    code = PARSE_ERROR


class InvalidMessageError(MessageError):
    """The JSON is not a JSON-RPC 2.0 message as MCP allows it."""

    code = INVALID_REQUEST


def is_request_id(value: object) -> TypeGuard[RequestId]:
    """True for the ids (and progress tokens) MCP allows: strings and integers, not booleans."""
    return isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool))


def decode(data: bytes | str) -> Message:
    """Parse one JSON-RPC message from JSON text, or raise a :class:`MessageError`."""
    try:
        # What json.loads does, without building a decoder for every message.
        text = (
            data.decode(json.detect_encoding(data), "surrogatepass")
            if isinstance(data, bytes)
            else data
        )
        obj = _DECODER.decode(text)
    except (ValueError, RecursionError) as exc:
        raise ParseError(f"not valid JSON: {exc}") from exc
    # Counting is a pass in C; only a message with that many brackets is walked.
    if text.count("[") + text.count("{") > MAX_DEPTH and _too_deep(obj):
        raise ParseError(f"JSON nested more than {MAX_DEPTH} levels deep is not accepted")
    return from_json(obj)


def _too_deep(obj: object) -> bool:
    """Whether arrays and objects nest more than :data:`MAX_DEPTH` levels; without recursing."""
    level: list[object] = [obj]
    for _ in range(MAX_DEPTH):
        level = [
            child
            for value in level
            if isinstance(value, dict | list)
            for child in (value.values() if isinstance(value, dict) else value)
            if isinstance(child, dict | list)
        ]
        if not level:
            return False
    return True


def from_json(obj: object) -> Message:
    """Check the envelope of an already-decoded JSON value and return the message it holds."""
    if isinstance(obj, list):
        raise InvalidMessageError(
            "JSON-RPC batches are not supported (MCP removed them); send one message"
        )
    if not isinstance(obj, dict):
        raise InvalidMessageError(f"a JSON-RPC message is a JSON object, not {_json_type(obj)}")
    request_id = _request_id(obj)
    if obj.get("jsonrpc") != "2.0":
        raise InvalidMessageError('"jsonrpc" must be "2.0"', request_id=request_id)
    members = {"method", "result", "error"} & obj.keys()
    if len(members) != 1:
        raise InvalidMessageError(
            'a JSON-RPC message has exactly one of "method", "result" or "error"',
            request_id=request_id,
        )
    if "method" in obj:
        return _call(obj, request_id)
    if "id" in obj and request_id is None and obj["id"] is not None:
        raise InvalidMessageError('"id" must be a string or an integer')
    if "result" in obj:
        if request_id is None:
            raise InvalidMessageError('a result needs the "id" of the request it answers')
        result = obj["result"]
        if not isinstance(result, dict):
            raise InvalidMessageError('"result" must be an object', request_id=request_id)
        return Result(request_id, result)
    return _error(obj["error"], request_id)


def to_json(message: Message) -> dict[str, Any]:
    """The JSON object of a message, ready for :func:`json.dumps`."""
    match message:
        case Request(id=request_id, method=method, params=params):
            return _with_params({"jsonrpc": "2.0", "id": request_id, "method": method}, params)
        case Notification(method=method, params=params):
            return _with_params({"jsonrpc": "2.0", "method": method}, params)
        case Result(id=request_id, result=result):
            return {"jsonrpc": "2.0", "id": request_id, "result": dict(result)}
        case Error(id=request_id, code=code, message=text, data=data):
            error: dict[str, Any] = {"code": code, "message": text}
            if data is not None:
                error["data"] = data
            return {"jsonrpc": "2.0", "id": request_id, "error": error}


def encode(message: Message) -> bytes:
    """Compact UTF-8 JSON on one line: JSON escapes every newline inside strings.

    A lone surrogate (decoded from a ``"\\ud800"`` escape) stays the escape it was.
    """
    obj = to_json(message)
    try:
        return _ENCODER.encode(obj).encode()
    except UnicodeEncodeError:
        return _ASCII_ENCODER.encode(obj).encode()


def _call(obj: dict[str, Any], request_id: RequestId | None) -> Request | Notification:
    method = obj["method"]
    if not isinstance(method, str) or not method:
        raise InvalidMessageError('"method" must be a non-empty string', request_id=request_id)
    params = obj.get("params")
    if params is not None and not isinstance(params, dict):
        raise InvalidMessageError('"params" must be an object', request_id=request_id)
    if "id" not in obj:
        return Notification(method, params)
    if request_id is None:
        raise InvalidMessageError('a request "id" must be a string or an integer')
    return Request(request_id, method, params)


def _error(error: object, request_id: RequestId | None) -> Error:
    if not isinstance(error, dict):
        raise InvalidMessageError('"error" must be an object', request_id=request_id)
    code, message = error.get("code"), error.get("message")
    if not isinstance(code, int) or isinstance(code, bool):
        raise InvalidMessageError('"error.code" must be an integer', request_id=request_id)
    if not isinstance(message, str):
        raise InvalidMessageError('"error.message" must be a string', request_id=request_id)
    return Error(request_id, code, message, error.get("data"))


def _request_id(obj: dict[str, Any]) -> RequestId | None:
    """The message's id if it is one MCP allows, else None (absent, null or malformed)."""
    value = obj.get("id")
    return value if is_request_id(value) else None


def _with_params(obj: dict[str, Any], params: Mapping[str, Any] | None) -> dict[str, Any]:
    if params is not None:
        obj["params"] = dict(params)
    return obj


def _refuse_constant(name: str) -> object:
    raise ValueError(f"{name} is not JSON")


# Built once: json.loads and json.dumps build one per call when given options,
# and every message the hub forwards is decoded and encoded at least once.
_DECODER: Final = json.JSONDecoder(parse_constant=_refuse_constant)
_ENCODER: Final = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False)
# Only for the rare message holding a lone surrogate: escapes everything not ASCII.
_ASCII_ENCODER: Final = json.JSONEncoder(separators=(",", ":"), allow_nan=False)


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    return {bool: "a boolean", str: "a string", int: "a number", float: "a number"}.get(
        type(value), type(value).__name__
    )

"""Bad input at the hub's door: each refusal exact, and no input at all that breaks it.

The standalone hub runs as a process (``time`` and ``everything`` as stdio
children) and is spoken to in raw HTTP, because an SDK client cannot send
most of what is sent here.  Two halves:

* one test per documented refusal of the streamable HTTP transport (see
  :mod:`hub_proxy.transport.streamable_http`) and per protocol error of the
  hub session, asserting both the HTTP status and the JSON-RPC error code;
* property-based tests (hypothesis) that POST arbitrary bytes, arbitrary JSON
  values and arbitrary JSON-RPC-shaped objects, with and without a valid
  session, to ``/mcp`` and ``/mcp/everything``, and require that the hub never
  answers 5xx, always answers with a JSON-RPC message (or 202 for what needs
  no answer), and is still healthy and calling tools afterwards.

Only tools that answer at once are named by the generated calls: a fuzzer that
started ``trigger-long-running-operation`` or a sampling tool would test the
test's patience, not the hub.  The example counts and deadlines keep the whole
module well under a minute on a loaded two-core machine.
"""

from __future__ import annotations

import http.client
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Final

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.hub_proxy.bridge_process import JSON_AND_SSE
from tests.hub_proxy.test_standalone_hub import Hub

HTTP_SECONDS: Final = 30.0
MAX_BODY_BYTES: Final = 4 * 1024 * 1024  # the transport's documented default limit
JSON: Final = "application/json"
SSE: Final = "text/event-stream"
SESSION: Final = "Mcp-Session-Id"
PARSE_ERROR: Final = -32700
INVALID_REQUEST: Final = -32600
METHOD_NOT_FOUND: Final = -32601
INVALID_PARAMS: Final = -32602
UNSUPPORTED_PROTOCOL_VERSION: Final = -32022
PATHS: Final = ("/mcp", "/mcp/everything")
# Tools that answer at once whatever their arguments; prefixed on /mcp, plain on /mcp/everything.
QUICK_TOOLS: Final = (
    "time__get_current_time",
    "time__convert_time",
    "everything__echo",
    "everything__get-sum",
    "echo",
    "get-sum",
)
METHODS: Final = (
    "initialize",
    "ping",
    "tools/list",
    "tools/call",
    "prompts/list",
    "prompts/get",
    "resources/list",
    "resources/templates/list",
    "resources/read",
    "resources/subscribe",
    "resources/unsubscribe",
    "completion/complete",
    "logging/setLevel",
    "notifications/initialized",
    "notifications/cancelled",
    "notifications/progress",
    "notifications/roots/list_changed",
)
FUZZ_SETTINGS: Final = settings(
    max_examples=100,
    deadline=timedelta(seconds=HTTP_SECONDS + 5),
    database=None,  # no .hypothesis folder in the repository
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@dataclass(frozen=True)
class Answer:
    status: int
    content_type: str
    body: bytes
    session_id: str | None

    def json(self) -> Any:
        assert self.content_type == JSON, (self.status, self.content_type, self.body[:300])
        return json.loads(self.body)

    def messages(self) -> list[Any]:
        """The JSON-RPC messages of a JSON or SSE answer, in order."""
        if self.content_type == JSON:
            return [json.loads(self.body)]
        assert self.content_type == SSE, (self.status, self.content_type, self.body[:300])
        messages = []
        for event in self.body.decode().replace("\r\n", "\n").split("\n\n"):
            data = [line[5:].lstrip() for line in event.split("\n") if line.startswith("data:")]
            if data:
                messages.append(json.loads("\n".join(data)))
        return messages

    def error(self) -> tuple[Any, int]:
        """The id and code of the JSON-RPC error this answer must be."""
        body = self.json()
        assert body["jsonrpc"] == "2.0"
        assert isinstance(body["error"]["message"], str)
        assert body["error"]["message"]
        return body["id"], body["error"]["code"]


def send(
    hub: Hub,
    path: str,
    body: bytes,
    *,
    headers: Mapping[str, str] | None = None,
    method: str = "POST",
    chunked: bool = False,
) -> Answer:
    """One HTTP request, bounded; a refusal that cuts an upload short is still read."""
    connection = http.client.HTTPConnection("127.0.0.1", hub.port, timeout=HTTP_SECONDS)
    try:
        try:
            if chunked:
                chunks = (body[i : i + 65536] for i in range(0, len(body), 65536))
                connection.request(method, path, chunks, dict(headers or {}), encode_chunked=True)
            else:
                connection.request(method, path, body, dict(headers or {}))
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server answered before reading everything: its answer is still there
        response = connection.getresponse()
        content = response.read()
        content_type = (response.getheader("Content-Type") or "").split(";")[0].strip()
        return Answer(response.status, content_type, content, response.getheader(SESSION))
    finally:
        connection.close()


def mcp_headers(session_id: str | None = None) -> dict[str, str]:
    headers = {"Content-Type": JSON, "Accept": JSON_AND_SSE}
    if session_id is not None:
        headers[SESSION] = session_id
    return headers


def post(hub: Hub, path: str, message: object, session_id: str | None = None) -> Answer:
    return send(hub, path, json.dumps(message).encode(), headers=mcp_headers(session_id))


def initialize(hub: Hub, path: str) -> str:
    params = {
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "bad-input-test", "version": "0"},
    }
    answer = post(hub, path, {"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": params})
    assert answer.status == 200, answer
    assert answer.session_id is not None
    initialized = {"jsonrpc": "2.0", "method": "notifications/initialized"}
    assert post(hub, path, initialized, answer.session_id).status == 202
    return answer.session_id


@pytest.fixture(scope="module")
def sessions(hub: Hub) -> dict[str, str]:
    """An initialized session per path, the "valid session id" of the tests."""
    return {path: initialize(hub, path) for path in PATHS}


def call_current_time(hub: Hub, path: str, session_id: str, request_id: int = 7) -> Any:
    call = {
        "jsonrpc": "2.0",
        "id": request_id,
        "method": "tools/call",
        "params": {"name": "time__get_current_time", "arguments": {"timezone": "UTC"}},
    }
    answer = post(hub, path, call, session_id)
    assert answer.status == 200, answer
    [response] = answer.messages()
    assert response["id"] == request_id
    return response


def assert_healthy(hub: Hub, sessions: Mapping[str, str]) -> None:
    """Liveness, readiness, and a real tools/call in an old and in a new session."""
    live = send(hub, "/healthz", b"", method="GET")
    assert (live.status, live.json()) == (200, {"status": "ok"})
    assert hub.readyz()[0] == 200
    for session_id in (sessions["/mcp"], initialize(hub, "/mcp")):
        result = call_current_time(hub, "/mcp", session_id)["result"]
        assert result.get("isError") is not True, result
        assert result["structuredContent"]["timezone"] == "UTC"


# --- One test per refusal -------------------------------------------------------------


def test_malformed_json_is_400_with_a_parse_error(hub: Hub, sessions: dict[str, str]) -> None:
    for body in (b'{"jsonrpc": "2.0", "id": 1, "method": "ping"', b"\xff\xfe", b"", b"NaN"):
        answer = send(hub, "/mcp", body, headers=mcp_headers(sessions["/mcp"]))
        assert answer.status == 400, (body, answer)
        assert answer.error() == (None, PARSE_ERROR), body


@pytest.mark.parametrize(
    ("message", "request_id"),
    [
        ({"jsonrpc": "1.0", "id": 5, "method": "ping"}, 5),
        ({"id": "a", "method": "ping"}, "a"),
        ({"jsonrpc": "2.0", "id": 6, "method": 42}, 6),
        ({"jsonrpc": "2.0", "id": 7, "method": "ping", "params": [1, 2]}, 7),
        ({"jsonrpc": "2.0", "id": 8, "method": "ping", "result": {}}, 8),
        ({"jsonrpc": "2.0", "id": 1.5, "method": "ping"}, None),
        ({"jsonrpc": "2.0", "id": None, "method": "ping"}, None),
        ([{"jsonrpc": "2.0", "id": 9, "method": "ping"}], None),
        ("ping", None),
        (None, None),
    ],
)
def test_json_that_is_not_one_json_rpc_message_is_400_invalid_request(
    hub: Hub, sessions: dict[str, str], message: object, request_id: object
) -> None:
    answer = post(hub, "/mcp", message, sessions["/mcp"])
    assert answer.status == 400, answer
    assert answer.error() == (request_id, INVALID_REQUEST)


def test_unknown_session_is_404_naming_it(hub: Hub) -> None:
    answer = post(hub, "/mcp", {"jsonrpc": "2.0", "id": 3, "method": "ping"}, "no-such-session")
    assert answer.status == 404
    assert answer.error() == (3, INVALID_REQUEST)
    assert "no-such-session" in answer.json()["error"]["message"]


def test_missing_session_is_400(hub: Hub) -> None:
    answer = post(hub, "/mcp", {"jsonrpc": "2.0", "id": 4, "method": "tools/list"})
    assert answer.status == 400
    assert answer.error() == (4, INVALID_REQUEST)


def test_a_session_belongs_to_its_path(hub: Hub, sessions: dict[str, str]) -> None:
    ping = {"jsonrpc": "2.0", "id": 5, "method": "ping"}
    answer = post(hub, "/mcp/time", ping, sessions["/mcp"])
    assert answer.status == 404
    assert answer.error() == (5, INVALID_REQUEST)


@pytest.mark.parametrize("path", PATHS)
def test_unknown_tool_is_200_with_invalid_params(
    hub: Hub, sessions: dict[str, str], path: str
) -> None:
    call = {"jsonrpc": "2.0", "id": "t", "method": "tools/call", "params": {"name": "nope"}}
    answer = post(hub, path, call, sessions[path])
    assert answer.status == 200
    assert answer.error() == ("t", INVALID_PARAMS)
    assert "nope" in answer.json()["error"]["message"]


def test_tool_call_without_a_name_is_invalid_params(hub: Hub, sessions: dict[str, str]) -> None:
    answer = post(
        hub, "/mcp", {"jsonrpc": "2.0", "id": 1, "method": "tools/call"}, sessions["/mcp"]
    )
    assert answer.status == 200
    assert answer.error() == (1, INVALID_PARAMS)


def test_unknown_method_is_200_with_method_not_found(hub: Hub, sessions: dict[str, str]) -> None:
    answer = post(hub, "/mcp", {"jsonrpc": "2.0", "id": 2, "method": "no/such"}, sessions["/mcp"])
    assert answer.status == 200
    assert answer.error() == (2, METHOD_NOT_FOUND)


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", None])
def test_wrong_content_type_is_415(
    hub: Hub, sessions: dict[str, str], content_type: str | None
) -> None:
    headers = {"Accept": JSON_AND_SSE, SESSION: sessions["/mcp"]}
    if content_type is not None:
        headers["Content-Type"] = content_type
    answer = send(hub, "/mcp", b'{"jsonrpc":"2.0","id":1,"method":"ping"}', headers=headers)
    assert answer.status == 415
    assert answer.error() == (None, INVALID_REQUEST)


@pytest.mark.parametrize("accept", [None, JSON, SSE, "text/html"])
def test_missing_or_partial_accept_is_406(
    hub: Hub, sessions: dict[str, str], accept: str | None
) -> None:
    headers = {"Content-Type": JSON, SESSION: sessions["/mcp"]}
    if accept is not None:
        headers["Accept"] = accept
    answer = send(hub, "/mcp", b'{"jsonrpc":"2.0","id":1,"method":"ping"}', headers=headers)
    assert answer.status == 406
    assert answer.error() == (None, INVALID_REQUEST)


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_body_over_the_limit_is_413(hub: Hub, sessions: dict[str, str], chunked: bool) -> None:
    padding = "a" * MAX_BODY_BYTES
    message = {"jsonrpc": "2.0", "id": 1, "method": "ping", "params": {"padding": padding}}
    body = json.dumps(message).encode()
    assert len(body) > MAX_BODY_BYTES
    answer = send(hub, "/mcp", body, headers=mcp_headers(sessions["/mcp"]), chunked=chunked)
    assert answer.status == 413
    assert answer.error() == (None, INVALID_REQUEST)
    assert str(MAX_BODY_BYTES) in answer.json()["error"]["message"]


def test_a_body_just_under_the_limit_is_read(hub: Hub, sessions: dict[str, str]) -> None:
    message: dict[str, Any] = {"jsonrpc": "2.0", "id": 1, "method": "ping", "params": {"p": ""}}
    overhead = len(json.dumps(message).encode())
    message["params"]["p"] = "a" * (MAX_BODY_BYTES - overhead)
    assert len(json.dumps(message).encode()) == MAX_BODY_BYTES
    answer = post(hub, "/mcp", message, sessions["/mcp"])
    assert answer.status == 200
    assert answer.json() == {"jsonrpc": "2.0", "id": 1, "result": {}}


def test_unsupported_protocol_version_is_400_naming_the_supported_ones(
    hub: Hub, sessions: dict[str, str]
) -> None:
    headers = {**mcp_headers(sessions["/mcp"]), "MCP-Protocol-Version": "1999-01-01"}
    answer = send(hub, "/mcp", b'{"jsonrpc":"2.0","id":9,"method":"ping"}', headers=headers)
    assert answer.status == 400
    assert answer.error() == (9, UNSUPPORTED_PROTOCOL_VERSION)
    assert "2025-06-18" in answer.json()["error"]["data"]["supported"]


def test_other_http_methods_are_405(hub: Hub) -> None:
    answer = send(hub, "/mcp", b"{}", headers=mcp_headers(), method="PUT")
    assert answer.status == 405
    assert answer.error() == (None, INVALID_REQUEST)


def test_a_browser_origin_that_is_not_loopback_is_403(hub: Hub) -> None:
    headers = {**mcp_headers(), "Origin": "https://evil.example"}
    answer = send(hub, "/mcp", b'{"jsonrpc":"2.0","id":1,"method":"ping"}', headers=headers)
    assert answer.status == 403
    assert answer.error() == (None, INVALID_REQUEST)


# --- Property-based: nothing breaks the hub -------------------------------------------

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
json_objects = st.dictionaries(st.text(max_size=8), json_values, max_size=4)
request_ids = st.integers() | st.text(max_size=8) | json_values
tool_call_params = st.fixed_dictionaries(
    {"name": st.sampled_from(QUICK_TOOLS) | st.text(max_size=12)},
    optional={"arguments": json_objects | json_values, "_meta": json_objects},
)
json_rpc_shaped = st.fixed_dictionaries(
    {},
    optional={
        "jsonrpc": st.just("2.0") | json_values,
        "id": request_ids,
        "method": st.sampled_from(METHODS) | st.text(max_size=16) | json_values,
        "params": tool_call_params | json_objects | json_values,
        "result": json_objects | json_values,
        "error": st.fixed_dictionaries(
            {"code": st.integers() | json_values, "message": st.text(max_size=8) | json_values}
        )
        | json_values,
    },
)
# Mostly well-formed requests and notifications, so that many get past the envelope check
# to the hub session and the upstreams; the fully arbitrary shapes cover the rest.
plausible = st.fixed_dictionaries(
    {"jsonrpc": st.just("2.0"), "method": st.just("tools/call") | st.sampled_from(METHODS)},
    optional={
        "id": st.integers(min_value=-(2**53), max_value=2**53) | st.text(max_size=8),
        "params": tool_call_params | json_objects,
    },
)
where = st.tuples(st.sampled_from(PATHS), st.booleans())


def is_message(value: Any) -> bool:
    return isinstance(value, dict) and value.get("jsonrpc") == "2.0"


def is_response(value: Any) -> bool:
    if not is_message(value) or "id" not in value or ("result" in value) == ("error" in value):
        return False
    if "result" in value:
        return isinstance(value["result"], dict)
    error = value["error"]
    return (
        isinstance(error, dict)
        and isinstance(error.get("code"), int)
        and isinstance(error.get("message"), str)
    )


def valid_id(value: Any) -> bool:
    return isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool))


def check_answer(answer: Answer, sent: Any) -> None:
    """What the hub may say to anything at all."""
    assert answer.status < 500, answer
    if answer.status == 202:
        assert answer.body == b""
        # Only what asks for no answer: a notification, or a client's response.
        assert isinstance(sent, dict)
        assert not ("method" in sent and "id" in sent), sent
        return
    messages = answer.messages()
    assert messages, answer
    *before, last = messages
    assert is_response(last), answer
    assert all(is_message(m) and "method" in m for m in before), answer
    if answer.status >= 400:
        assert "error" in last, answer
    elif answer.status == 200 and isinstance(sent, dict) and valid_id(sent.get("id")):
        assert last["id"] == sent["id"], (sent, last)


def fuzz(hub: Hub, sessions: Mapping[str, str], at: tuple[str, bool], body: bytes) -> Answer:
    path, with_session = at
    session_id = sessions[path] if with_session else None
    return send(hub, path, body, headers=mcp_headers(session_id))


@FUZZ_SETTINGS
@given(at=where, body=st.binary(max_size=512))
def test_arbitrary_bytes_never_break_the_hub(
    hub: Hub, sessions: dict[str, str], at: tuple[str, bool], body: bytes
) -> None:
    try:
        sent: Any = json.loads(body)
    except ValueError:
        sent = None
    check_answer(fuzz(hub, sessions, at, body), sent)


@FUZZ_SETTINGS
@given(at=where, value=json_values)
def test_arbitrary_json_never_breaks_the_hub(
    hub: Hub, sessions: dict[str, str], at: tuple[str, bool], value: Any
) -> None:
    check_answer(fuzz(hub, sessions, at, json.dumps(value).encode()), value)


@FUZZ_SETTINGS
@given(at=where, message=plausible | json_rpc_shaped)
def test_json_rpc_shaped_messages_never_break_the_hub(
    hub: Hub, sessions: dict[str, str], at: tuple[str, bool], message: dict[str, Any]
) -> None:
    check_answer(fuzz(hub, sessions, at, json.dumps(message).encode()), message)


def test_the_hub_is_healthy_after_all_that(hub: Hub, sessions: dict[str, str]) -> None:
    assert_healthy(hub, sessions)
    ping = post(
        hub,
        "/mcp/everything",
        {"jsonrpc": "2.0", "id": 1, "method": "ping"},
        sessions["/mcp/everything"],
    )
    assert (ping.status, ping.json()) == (200, {"jsonrpc": "2.0", "id": 1, "result": {}})
    assert hub.process.exit_code() is None

"""No input gives a 5xx: every header and body the hub parses, as raw bytes (issue 11, item 5).

:mod:`tests.hub_proxy.test_bad_input` fuzzes POST bodies on two paths; this
module fuzzes everything else a client controls, byte for byte through
:mod:`tests.hub_proxy.raw_http`: the method, the path and query string, and
every header the hub reads -- ``Authorization``, ``X-API-Key``,
``Mcp-Session-Id``, ``MCP-Protocol-Version``, ``Mcp-Method``, ``Mcp-Name``,
``Accept``, ``Content-Type``, ``Origin``, ``Last-Event-ID`` -- alone,
repeated and mixed, on every route (``/mcp...``, ``/sse...`` streams and
their POSTs, ``/.well-known/...``, the probes), with JSON-RPC bodies of both
eras (2026-07-28 envelopes included) that carry lone surrogates and deep
nesting.  The hub under test trusts an HS256 issuer and an API key and
accepts anonymous callers, so every credential path is live.  The rule is
the same for all of it: an answer below 500, and a hub that still serves.

The regression cases come first: each made the hub answer 500 before.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any, Final

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hub_proxy.auth.apikeys import hash_key
from tests.hub_proxy.auth.issuer import AUDIENCE, HS_ISSUER, SECRET, claims, sign_hs
from tests.hub_proxy.raw_http import (
    INITIALIZE,
    JSON_AND_SSE,
    Header,
    RawAnswer,
    exchange,
    open_session,
    rpc,
)
from tests.hub_proxy.test_standalone_hub import Hub, start_hub, write_config
from tests.testbed.waiting import eventually

API_KEY: Final = "mcphub_hostile-input-key-0123456789-0123456789"
MODERN: Final = "2026-07-28"
SURROGATE: Final = "\ud800"
FUZZ: Final = settings(
    max_examples=150,
    deadline=timedelta(seconds=40),
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def write_hostile_config(folder: Path) -> Path:
    write_config(folder)
    (folder / "key.yaml").write_text(
        "apiVersion: v1\nkind: Secret\n"
        "metadata: {name: fuzzer, namespace: default, labels: {mcphub.dev/api-key: 'true'}}\n"
        f"stringData: {{sha256: {hash_key(API_KEY)}}}\n"
    )
    return folder


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    tmp = tmp_path_factory.mktemp("hostile")
    secret = tmp / "hs256.secret"
    secret.write_bytes(SECRET)
    args = ["--audience", AUDIENCE, "--hs256", f"{HS_ISSUER}={secret}"]
    started = start_hub(tmp, write_hostile_config, args=args)
    try:
        yield started
    finally:
        started.process.stop()


@pytest.fixture(scope="module")
def session(hub: Hub) -> str:
    return open_session(hub.port, "/mcp")


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def assert_answered(answer: RawAnswer) -> None:
    assert answer.status < 500, (answer.status, answer.body[:300])


def call(method: str, params: dict[str, Any] | None = None, request_id: object = 1) -> Any:
    message: dict[str, Any] = {"jsonrpc": "2.0", "id": request_id, "method": method}
    if params is not None:
        message["params"] = params
    return message


# --- each 500 seen before ------------------------------------------------------------------


def test_a_token_of_deeply_nested_json_is_refused_as_malformed(hub: Hub) -> None:
    header = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    payload = b64(b"[" * 2000 + b"]" * 2000)
    token = f"{header}.{payload}.{b64(b'signature')}"
    answer = rpc(hub.port, "/mcp", INITIALIZE, [("Authorization", f"Bearer {token}")])
    assert answer.status == 401, (answer.status, answer.body[:300])
    assert "authentication required" in answer.last["error"]["message"]


@pytest.mark.parametrize("with_session", [False, True], ids=["no session", "session"])
@pytest.mark.parametrize(
    "message",
    [
        call("tools/call", {"name": f"everything__echo{SURROGATE}", "arguments": {}}),
        call(f"tools/{SURROGATE}"),
        call("ping", request_id=f"id-{SURROGATE}"),
        call("resources/read", {"uri": f"demo://resource/{SURROGATE}"}),
        call("prompts/get", {"name": SURROGATE}),
        call("completion/complete", {"ref": {"type": "ref/resource", "uri": SURROGATE}}),
        {"jsonrpc": "2.0", "method": f"notifications/{SURROGATE}"},
    ],
    ids=["tool name", "method", "id", "uri", "prompt name", "completion ref", "notification"],
)
def test_a_lone_surrogate_anywhere_is_answered(
    hub: Hub, session: str, with_session: bool, message: Any
) -> None:
    answer = rpc(hub.port, "/mcp", message, session=session if with_session else None)
    assert_answered(answer)
    if "id" in message and answer.status != 202:
        # The error names the request by its id, surrogate and all.
        assert answer.last["id"] == message["id"], answer.last


def test_a_lone_surrogate_in_the_2026_envelope_is_answered(hub: Hub) -> None:
    meta = {
        "io.modelcontextprotocol/protocolVersion": MODERN,
        "io.modelcontextprotocol/clientCapabilities": {},
        "io.modelcontextprotocol/clientInfo": {"name": SURROGATE, "version": "0"},
    }
    message = call("tools/call", {"name": f"time__{SURROGATE}", "_meta": meta}, SURROGATE)
    headers: list[Header] = [
        ("MCP-Protocol-Version", MODERN),
        ("Mcp-Method", "tools/call"),
        ("Mcp-Name", "time__x"),
    ]
    assert_answered(rpc(hub.port, "/mcp", message, headers))


@pytest.mark.parametrize("depth", [100, 200, 900, 990, 5000])
@pytest.mark.parametrize("path", ["/mcp", "/mcp/everything"])
def test_deep_nesting_in_a_body_is_answered(hub: Hub, session: str, path: str, depth: int) -> None:
    deep = "[" * depth + "]" * depth
    body = (
        '{"jsonrpc":"2.0","id":1,"method":"tools/call",'
        f'"params":{{"name":"everything__echo","arguments":{{"message":{deep}}}}}}}'
    ).encode()
    headers: list[Header] = [("Content-Type", "application/json"), ("Accept", JSON_AND_SSE)]
    for with_session in ([("Mcp-Session-Id", session)] if path == "/mcp" else []), []:
        assert_answered(exchange(hub.port, "POST", path, [*headers, *with_session], body))


def test_a_surrogate_escaped_header_is_answered(hub: Hub, session: str) -> None:
    # Bytes that are not UTF-8 in the version header, which the 400 answer quotes.
    headers: list[Header] = [
        ("Content-Type", "application/json"),
        ("Accept", JSON_AND_SSE),
        ("Mcp-Session-Id", session),
        ("MCP-Protocol-Version", b"\xff\xfe2025"),
    ]
    body = json.dumps(call("ping")).encode()
    assert_answered(exchange(hub.port, "POST", "/mcp", headers, body))


@pytest.mark.parametrize(
    "sent",
    [
        [("Authorization", f"Bearer {API_KEY}"), ("Authorization", f"Bearer {API_KEY}")],
        [
            ("Authorization", f"Bearer {sign_hs(claims(HS_ISSUER, AUDIENCE))}"),
            ("Authorization", f"Bearer {API_KEY}"),
        ],
        [("X-API-Key", API_KEY), ("X-API-Key", API_KEY)],
        [("X-API-Key", "mcphub_someone-else"), ("X-API-Key", API_KEY)],
        [("Authorization", f"Bearer {API_KEY}"), ("X-API-Key", API_KEY)],
    ],
    ids=["bearer twice", "two bearers", "key twice", "two keys", "one of each"],
)
@pytest.mark.parametrize("path", ["/mcp", "/sse"])
def test_several_credentials_are_refused_saying_so(hub: Hub, path: str, sent: list[Header]) -> None:
    if path == "/sse":
        answer = exchange(
            hub.port, "GET", path, [("Accept", "text/event-stream"), *sent], stream=True
        )
    else:
        answer = rpc(hub.port, path, INITIALIZE, sent)
    assert answer.status == 401, (answer.status, answer.body[:300])
    assert "several credentials were sent" in answer.last["error"]["message"]


def logged(hub: Hub, event: str, needle: str) -> list[dict[str, Any]]:
    """The hub's JSON log lines of ``event`` that mention ``needle``."""
    lines = hub.process.log_path.read_text(errors="replace").splitlines()
    return [
        json.loads(line)
        for line in lines
        if line.startswith("{") and f'"event": "{event}"' in line and needle in line
    ]


def test_every_refusal_leaves_a_line(hub: Hub, session: str) -> None:
    """Probing shows in the logs: refused HTTP requests, unknown names, bad input, bad keys."""
    json_headers: list[Header] = [
        ("Content-Type", "application/json"),
        ("Accept", JSON_AND_SSE),
        ("Mcp-Session-Id", session),
    ]
    assert rpc(hub.port, "/mcp/no-such-scope-q1", INITIALIZE).status == 404
    assert exchange(hub.port, "GET", "/no-such-route-q2").status == 404
    assert exchange(hub.port, "POST", "/mcp", json_headers, b'{"q3": ').status == 400
    unknown = call("tools/call", {"name": "no-such-tool-q4", "arguments": {}})
    assert "error" in rpc(hub.port, "/mcp", unknown, session=session).last
    bad_uri = call("resources/read", {"uri": "demo://q5/\t"})
    assert "error" in rpc(hub.port, "/mcp", bad_uri, session=session).last
    assert rpc(hub.port, "/mcp", INITIALIZE, [("X-API-Key", "mcphub_q6")]).status == 401

    def seen() -> bool:
        return all(
            (
                logged(hub, "request refused", '"status": 404, "principal": "User:anonymous'),
                logged(hub, "request refused", "/mcp/no-such-scope-q1"),
                logged(hub, "request refused", "/no-such-route-q2"),
                logged(hub, "request refused", "not valid JSON"),
                logged(hub, "request refused", "Unknown tool: no-such-tool-q4"),
                logged(hub, "request refused", "invalid resource URI"),
                logged(hub, "authentication refused", "unknown API key"),
            )
        )

    eventually(seen, timeout=10, what="a log line for every refusal")
    [tool] = logged(hub, "request refused", "no-such-tool-q4")
    assert (tool["logger"], tool["method"], tool["code"]) == (
        "hub_proxy.audit",
        "tools/call",
        -32602,
    )


# --- everything, fuzzed --------------------------------------------------------------------

HEADER_NAMES: Final = (
    "Authorization",
    "X-API-Key",
    "Mcp-Session-Id",
    "MCP-Protocol-Version",
    "Mcp-Method",
    "Mcp-Name",
    "Accept",
    "Content-Type",
    "Origin",
    "Last-Event-ID",
)
ROUTES: Final = (
    "/mcp",
    "/mcp/everything",
    "/mcp/basics",
    "/mcp/no-such-scope",
    "/sse",
    "/sse/time",
    "/.well-known/oauth-protected-resource",
    "/.well-known/oauth-protected-resource/mcp/time",
    "/healthz",
    "/readyz",
    "/metrics",
)
METHODS: Final = ("GET", "POST", "DELETE", "PUT", "OPTIONS", "HEAD")
# Values that reach deeper than random bytes do: the forms each header's parser expects.
PLAUSIBLE: Final = {
    "Authorization": [
        f"Bearer {API_KEY}",
        f"Bearer {sign_hs(claims(HS_ISSUER, AUDIENCE))}",
        "Bearer a.b.c",
        "Basic YTpi",
        "Bearer ",
    ],
    "X-API-Key": [API_KEY, "", "mcphub_unknown"],
    "MCP-Protocol-Version": [MODERN, "2025-11-25", "2024-11-05", ""],
    "Mcp-Method": ["tools/call", "server/discover", "resources/read"],
    "Mcp-Name": ["time__get_current_time", "demo://resource/static/document/features.md"],
    "Accept": [JSON_AND_SSE, "text/event-stream", "*/*", "application/*;q=0.5"],
    "Content-Type": ["application/json", "application/json; charset=utf-8", "text/plain"],
    "Origin": ["http://127.0.0.1:1", "https://evil.example", "null", "http://[::1"],
    "Last-Event-ID": ["0", "1-1", ""],
}
# Lone surrogates included: JSON escapes them, and Python decodes them back.
text_with_surrogates = st.text(st.characters(exclude_categories=()), max_size=24) | st.text(
    st.sampled_from("\ud800\udfffa\u00e9\x00/:%."), max_size=8
)
header_values = st.binary(max_size=120) | text_with_surrogates.map(
    lambda text: text.encode("utf-8", "surrogatepass")
)


@st.composite
def headers(draw: st.DrawFn, session: str) -> list[Header]:
    chosen = draw(st.lists(st.sampled_from(HEADER_NAMES), max_size=6))
    result: list[Header] = []
    for name in chosen:
        options = [*PLAUSIBLE.get(name, []), *([session] if name == "Mcp-Session-Id" else [])]
        value = draw(header_values | st.sampled_from(options)) if options else draw(header_values)
        result.append((name, value))
    return result


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | text_with_surrogates,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(text_with_surrogates, inner, max_size=3)
    ),
    max_leaves=8,
)
envelope = st.fixed_dictionaries(
    {},
    optional={
        "io.modelcontextprotocol/protocolVersion": st.just(MODERN) | json_values,
        "io.modelcontextprotocol/clientCapabilities": st.just({}) | json_values,
        "io.modelcontextprotocol/clientInfo": json_values,
        "io.modelcontextprotocol/logLevel": st.just("debug") | json_values,
    },
)
messages = st.fixed_dictionaries(
    {"jsonrpc": st.just("2.0")},
    optional={
        "id": st.integers() | text_with_surrogates,
        "method": st.sampled_from(
            [
                "initialize",
                "tools/call",
                "tools/list",
                "resources/read",
                "prompts/get",
                "completion/complete",
                "server/discover",
                "subscriptions/listen",
                "notifications/cancelled",
            ]
        )
        | text_with_surrogates,
        "params": st.fixed_dictionaries(
            {},
            optional={
                "name": st.sampled_from(["time__get_current_time", "echo"]) | text_with_surrogates,
                "uri": text_with_surrogates,
                "arguments": json_values,
                "_meta": envelope,
                "protocolVersion": st.sampled_from(["2025-06-18", MODERN]),
            },
        ),
    },
)
bodies = st.binary(max_size=300) | messages.map(lambda m: json.dumps(m).encode())
queries = st.binary(max_size=60).map(lambda q: b"?" + q) | st.just(b"")


@FUZZ
@given(data=st.data())
def test_arbitrary_requests_never_get_a_5xx(hub: Hub, session: str, data: st.DataObject) -> None:
    route = data.draw(st.sampled_from(ROUTES))
    method = data.draw(st.sampled_from(METHODS))
    query = data.draw(queries)
    if route.startswith("/sse") and method == "POST" and data.draw(st.booleans()):
        query = b"?session_id=" + query[1:]
    sent = data.draw(headers(session))
    body = data.draw(bodies) if method in ("POST", "PUT") else b""
    answer = exchange(hub.port, method, route.encode() + query, sent, body, stream=method == "GET")
    assert_answered(answer)


@FUZZ
@given(data=st.data())
def test_arbitrary_2026_requests_never_get_a_5xx(hub: Hub, data: st.DataObject) -> None:
    message = data.draw(messages)
    sent: list[Header] = [
        ("Content-Type", "application/json"),
        ("Accept", JSON_AND_SSE),
        ("MCP-Protocol-Version", MODERN),
    ]
    for name in ("Mcp-Method", "Mcp-Name"):
        if data.draw(st.booleans()):
            sent.append((name, data.draw(header_values | st.sampled_from(PLAUSIBLE[name]))))
    route = data.draw(st.sampled_from(("/mcp", "/mcp/time", "/mcp/basics")))
    assert_answered(exchange(hub.port, "POST", route, sent, json.dumps(message).encode()))


def test_the_hub_still_serves_after_all_that(hub: Hub, session: str) -> None:
    assert hub.readyz()[0] == 200
    answer = rpc(
        hub.port,
        "/mcp",
        call("tools/call", {"name": "time__get_current_time", "arguments": {"timezone": "UTC"}}),
        session=session,
    )
    assert answer.status == 200
    assert answer.last["result"]["structuredContent"]["timezone"] == "UTC"
    assert hub.process.exit_code() is None

"""Trace context in ``params._meta`` and HTTP headers, and the MCP span's name and attributes.

Whatever a client puts in ``_meta`` is untrusted: values of any JSON type,
any length, line breaks included, must never raise and never reach a header.
"""

from __future__ import annotations

from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider

from hub_proxy.telemetry.mcp import (
    meta_context,
    request_attributes,
    span_name,
    trace_headers,
    with_context,
)
from hub_proxy.transport import jsonrpc

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT = f"00-{TRACE_ID}-00f067aa0ba902b7-01"
TRACER = TracerProvider().get_tracer("test")


def call(name: object = "get_time", **meta: Any) -> jsonrpc.Request:
    params: dict[str, Any] = {"name": name, "arguments": {}}
    if meta:
        params["_meta"] = meta
    return jsonrpc.Request(7, "tools/call", params)


def test_a_valid_traceparent_in_meta_is_the_parent() -> None:
    found = meta_context(call(traceparent=PARENT, tracestate="rojo=1").params)
    assert found is not None
    context = trace.get_current_span(found).get_span_context()
    assert (format(context.trace_id, "032x"), context.is_remote) == (TRACE_ID, True)


@pytest.mark.parametrize(
    "meta",
    [
        {"traceparent": 12},
        {"traceparent": {"nested": PARENT}},
        {"traceparent": [PARENT]},
        {"traceparent": None},
        {"traceparent": "00-not-a-trace-01"},
        {"traceparent": f"00-{'0' * 32}-00f067aa0ba902b7-01"},
        {"traceparent": PARENT + " " * 9000},
        {"tracestate": "rojo=1"},
    ],
)
def test_anything_else_in_meta_is_no_parent_and_no_error(meta: dict[str, Any]) -> None:
    assert meta_context(call(**meta).params) is None


@pytest.mark.parametrize("params", [None, {}, {"_meta": "text"}, {"_meta": [PARENT]}])
def test_requests_without_a_meta_object_have_no_parent(params: dict[str, Any] | None) -> None:
    assert meta_context(params) is None


def test_the_current_span_replaces_the_clients_context_and_keeps_the_rest_of_meta() -> None:
    request = call(traceparent=PARENT, progressToken="p-1", baggage="user=alice")
    with TRACER.start_as_current_span("hub") as span:
        forwarded = with_context(request)
    meta = (forwarded.params or {})["_meta"]
    _version, trace_id, span_id, _flags = meta["traceparent"].split("-")
    context = span.get_span_context()
    assert (trace_id, span_id) == (
        format(context.trace_id, "032x"),
        format(context.span_id, "016x"),
    )
    assert meta["progressToken"] == "p-1"
    # The propagator injects baggage only when the context holds some.
    assert "baggage" not in meta
    assert request.params is not None
    assert request.params["_meta"]["traceparent"] == PARENT


def test_without_a_current_span_a_request_goes_unchanged() -> None:
    request = call(traceparent=PARENT)
    assert with_context(request) is request


def test_an_http_link_copies_meta_trace_context_into_headers() -> None:
    assert trace_headers(call(traceparent=PARENT, tracestate="rojo=1", progressToken=1)) == {
        "traceparent": PARENT,
        "tracestate": "rojo=1",
    }


@pytest.mark.parametrize(
    "message",
    [
        call(),
        call(traceparent=PARENT + "\r\nX-Injected: 1"),
        call(traceparent=7),
        jsonrpc.Notification("notifications/progress", {"_meta": {"traceparent": PARENT}}),
        jsonrpc.Result(1, {"_meta": {"traceparent": PARENT}}),
    ],
)
def test_nothing_unsafe_or_absent_becomes_a_header(message: jsonrpc.Message) -> None:
    assert trace_headers(message) == {}


def test_a_tool_call_span_is_named_and_attributed_as_the_conventions_say() -> None:
    request = call("time__get_current_time")
    assert span_name(request) == "tools/call time__get_current_time"
    assert request_attributes(request, "session-1") == {
        "mcp.method.name": "tools/call",
        "jsonrpc.request.id": "7",
        "mcp.session.id": "session-1",
        "gen_ai.tool.name": "time__get_current_time",
        "gen_ai.operation.name": "execute_tool",
    }


def test_other_requests_name_their_prompt_or_resource() -> None:
    prompt = jsonrpc.Request("a", "prompts/get", {"name": "greet"})
    read = jsonrpc.Request("b", "resources/read", {"uri": "demo://resource/1"})
    listing = jsonrpc.Request("c", "tools/list")
    assert (span_name(prompt), span_name(read), span_name(listing)) == (
        "prompts/get greet",
        "resources/read",
        "tools/list",
    )
    assert request_attributes(prompt)["gen_ai.prompt.name"] == "greet"
    assert request_attributes(read)["mcp.resource.uri"] == "demo://resource/1"
    assert set(request_attributes(listing)) == {"mcp.method.name", "jsonrpc.request.id"}


def test_a_clients_long_or_odd_tool_name_stays_bounded_in_the_span_name() -> None:
    assert len(span_name(call("x" * 10_000))) == len("tools/call ") + 128
    assert span_name(call({"not": "a name"})) == "tools/call"

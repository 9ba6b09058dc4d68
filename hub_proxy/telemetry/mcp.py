"""MCP requests as spans, the way OpenTelemetry's semantic conventions for MCP describe them.

A request a program serves is a SERVER span, a request it sends on is a
CLIENT span; both are named ``{mcp.method.name} {target}``, the target being
the tool or prompt named (``tools/call get_current_time``), and carry
``mcp.method.name``, ``jsonrpc.request.id``, ``mcp.session.id`` (a digest: see
:func:`session_attribute`),
``gen_ai.tool.name`` with ``gen_ai.operation.name=execute_tool`` on a tool
call, ``gen_ai.prompt.name`` and ``mcp.resource.uri`` where they apply.  An
answer that is a JSON-RPC error sets ``error.type`` and
``rpc.response.status_code`` to its code and the span's status to ERROR with
its message; a tool result with ``isError`` sets ``error.type=tool_error``.
Arguments and results are never recorded: they are the callers' data.

Context travels two ways, because MCP and HTTP are separate layers (one HTTP
request may carry several MCP messages, an MCP request may outlive its HTTP
request, and stdio has no headers at all):

* in the W3C ``traceparent``/``tracestate`` (and ``baggage``) HTTP headers,
  taken by :func:`incoming_context`, an aiohttp middleware installed only
  while tracing is on;
* in the request's ``params._meta`` under the same unprefixed keys, as the
  conventions and SEP-414 say.  A served request takes its parent from its
  HTTP headers and, when they carry none, from its ``_meta``; a request sent
  on gets the current span's context in its ``_meta``
  (:func:`with_context`), and an HTTP link copies that into its headers
  (:func:`trace_headers`).

The conventions prefer ``_meta`` when both are present; the headers win here
because an HTTP client instrumented below its MCP layer makes its HTTP span
the child of its MCP span, so parenting on the headers keeps the same trace
one level deeper rather than skipping a span.  Whatever a client sends in
``_meta`` is untrusted: only string values of the propagation keys, of
bounded length, reach the propagator, which validates their format.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from contextlib import AbstractContextManager
from dataclasses import replace
from typing import Any, Final

from aiohttp import web
from aiohttp.typedefs import Handler
from opentelemetry import context, propagate, trace
from opentelemetry.semconv._incubating.attributes.enduser_attributes import ENDUSER_ID
from opentelemetry.semconv._incubating.attributes.gen_ai_attributes import (
    GEN_AI_OPERATION_NAME,
    GEN_AI_PROMPT_NAME,
    GEN_AI_TOOL_NAME,
)
from opentelemetry.semconv._incubating.attributes.jsonrpc_attributes import JSONRPC_REQUEST_ID
from opentelemetry.semconv._incubating.attributes.mcp_attributes import (
    MCP_METHOD_NAME,
    MCP_RESOURCE_URI,
    MCP_SESSION_ID,
)
from opentelemetry.semconv._incubating.attributes.rpc_attributes import RPC_RESPONSE_STATUS_CODE
from opentelemetry.semconv.attributes.error_attributes import ERROR_TYPE
from opentelemetry.trace import SpanKind, StatusCode
from opentelemetry.util.types import AttributeValue

from hub_proxy.transport import jsonrpc
from mcphub_runtime import tracing

# Keys of the W3C trace context and baggage, in headers and in ``_meta`` alike.
PROPAGATION_KEYS: Final = ("traceparent", "tracestate", "baggage")
# W3C limits: tracestate 512 characters, baggage 8192; traceparent is 55.
_MAX_VALUE_CHARS: Final = 8192
# A span name holds a client's tool name; past this it is no name but noise.
_MAX_TARGET_CHARS: Final = 128
MCPHUB_SERVER: Final = "mcphub.server"
EXECUTE_TOOL: Final = "execute_tool"
TOOL_ERROR: Final = "tool_error"

Attributes = dict[str, AttributeValue]


@web.middleware
async def incoming_context(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Make the trace context of a request's HTTP headers current while it is handled.

    Tasks the handler starts (a session's request handlers) copy it, so their
    spans find it as their parent.
    """
    extracted = propagate.extract(request.headers)
    if not trace.get_current_span(extracted).get_span_context().is_valid:
        return await handler(request)
    token = context.attach(extracted)
    try:
        return await handler(request)
    finally:
        context.detach(token)


def meta_context(params: Mapping[str, Any] | None) -> context.Context | None:
    """The trace context a request carries in ``params._meta``, if it carries a valid one."""
    meta = params.get("_meta") if params is not None else None
    if not isinstance(meta, Mapping):
        return None
    carrier = {
        key: value
        for key in PROPAGATION_KEYS
        if isinstance(value := meta.get(key), str) and len(value) <= _MAX_VALUE_CHARS
    }
    if "traceparent" not in carrier:
        return None
    extracted = propagate.extract(carrier)
    return extracted if trace.get_current_span(extracted).get_span_context().is_valid else None


def with_context(request: jsonrpc.Request) -> jsonrpc.Request:
    """``request`` with the current span's context in its ``params._meta``, replacing any."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    if not carrier:
        return request
    params = dict(request.params or {})
    meta = params.get("_meta")
    kept = (
        {k: v for k, v in meta.items() if k not in PROPAGATION_KEYS}
        if isinstance(meta, Mapping)
        else {}
    )
    params["_meta"] = {**kept, **carrier}
    return replace(request, params=params)


def trace_headers(message: jsonrpc.Message) -> dict[str, str]:
    """The propagation keys of a request's ``params._meta``, as HTTP headers for sending it."""
    params = message.params if isinstance(message, jsonrpc.Request) else None
    meta = params.get("_meta") if params is not None else None
    if not isinstance(meta, Mapping) or "traceparent" not in meta:
        return {}
    return {
        key: value
        for key in PROPAGATION_KEYS
        # A header value may not hold line breaks; the propagator's format allows none anyway.
        if isinstance(value := meta.get(key), str)
        and len(value) <= _MAX_VALUE_CHARS
        and value.isprintable()
    }


def session_attribute(session_id: str) -> str:
    """What ``mcp.session.id`` says of a session: a digest of its id, not the id.

    A session id is half of what it takes to use a session (the hub's are
    also bound to their owner); a trace backend keeps it for weeks and shows
    it to whoever reads traces.  A digest still tells a session's requests
    apart from another's.
    """
    return hashlib.sha256(session_id.encode(errors="surrogatepass")).hexdigest()[:16]


def span_name(request: jsonrpc.Request) -> str:
    """``{method} {target}``: the tool or prompt named, else the method alone."""
    target = _target(request)
    return f"{request.method} {target[:_MAX_TARGET_CHARS]}" if target else request.method


def request_attributes(request: jsonrpc.Request, session_id: str | None = None) -> Attributes:
    """The conventions' attributes that the request itself determines."""
    attributes: Attributes = {
        MCP_METHOD_NAME: request.method,
        JSONRPC_REQUEST_ID: str(request.id),
    }
    if session_id:
        attributes[MCP_SESSION_ID] = session_id
    params = request.params or {}
    name = params.get("name")
    if request.method == "tools/call" and isinstance(name, str):
        attributes[GEN_AI_TOOL_NAME] = name
        attributes[GEN_AI_OPERATION_NAME] = EXECUTE_TOOL
    elif request.method == "prompts/get" and isinstance(name, str):
        attributes[GEN_AI_PROMPT_NAME] = name
    elif isinstance(uri := params.get("uri"), str):
        attributes[MCP_RESOURCE_URI] = uri
    return attributes


def record_answer(span: trace.Span, answer: jsonrpc.Response) -> None:
    """The outcome of a request on its span: error type, status code and status."""
    if isinstance(answer, jsonrpc.Error):
        code = str(answer.code)
        span.set_attribute(ERROR_TYPE, code)
        span.set_attribute(RPC_RESPONSE_STATUS_CODE, code)
        span.set_status(StatusCode.ERROR, answer.message[:_MAX_VALUE_CHARS])
    elif answer.result.get("isError") is True:
        span.set_attribute(ERROR_TYPE, TOOL_ERROR)
        span.set_status(StatusCode.ERROR, TOOL_ERROR)


def request_span(
    request: jsonrpc.Request,
    kind: SpanKind,
    attributes: Attributes,
    parent: context.Context | None = None,
) -> AbstractContextManager[trace.Span]:
    """A span over one request, named for it; whoever uses it records the answer
    (:func:`record_answer`), a cancellation or an exception records itself."""
    return tracing.span(span_name(request), kind, attributes, parent)


def principal_attributes(principal_id: str) -> Attributes:
    """Who is calling, as the conventions name it (``enduser.id``)."""
    return {ENDUSER_ID: principal_id}


def _target(request: jsonrpc.Request) -> str | None:
    if request.method not in ("tools/call", "prompts/get"):
        return None
    name = (request.params or {}).get("name")
    return name if isinstance(name, str) else None

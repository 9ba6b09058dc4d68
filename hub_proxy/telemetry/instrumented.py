"""Where requests are counted, timed and traced: around a session, and around a call upstream.

Two places see every request, so the programs are instrumented there and
nowhere else:

* :class:`InstrumentedSession` wraps the application's
  :class:`~hub_proxy.transport.Session` (the hub's, the bridge's): every
  request a client sends counts in the program's request metrics
  (``mcphub_mcp_*``, ``mcphub_bridge_*``) and, while
  tracing is on, is a SERVER span whose parent is the client's context;
* :func:`upstream_call` wraps the hub's sending of one request to one of its
  servers: it counts in ``mcphub_upstream_requests_*`` (and
  ``mcphub_tool_calls_total``) and, while tracing is on, is a CLIENT span,
  child of the SERVER span, whose context goes upstream in the request's
  ``_meta`` (and, over HTTP, in its headers: see
  :func:`hub_proxy.telemetry.mcp.trace_headers`).

Whether tracing is on is read once per request
(:func:`~mcphub_runtime.tracing.tracer`); when it is off nothing of
OpenTelemetry runs at all.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from aiohttp.typedefs import Middleware
from opentelemetry import trace
from opentelemetry.trace import SpanKind

from hub_proxy.telemetry import metrics
from hub_proxy.telemetry.mcp import (
    MCPHUB_SERVER,
    Attributes,
    incoming_context,
    meta_context,
    record_answer,
    request_attributes,
    request_span,
    session_attribute,
    with_context,
)
from hub_proxy.transport import Peer, Session, SessionFactory, jsonrpc
from mcphub_runtime.tracing import tracer

Send = Callable[[jsonrpc.Request], Awaitable[jsonrpc.Response]]


class InstrumentedSession:
    """A :class:`~hub_proxy.transport.Session` whose requests are counted, timed and traced.

    A request's SERVER span takes its parent from the HTTP headers' context
    (current while the request is handled, see
    :func:`~hub_proxy.telemetry.mcp.incoming_context`), else from its
    ``_meta``; the request goes on to ``inner`` with the span's own context in
    its ``_meta``, so that whatever ``inner`` sends on continues the trace.
    ``about`` adds attributes only the application knows (who is calling).
    """

    def __init__(
        self,
        inner: Session,
        measured: metrics.RequestMetrics,
        session_id: str,
        about: Callable[[], Attributes] | None = None,
    ) -> None:
        self._inner = inner
        self._metrics = measured
        self._session_id = session_id
        self._about = about

    async def handle_request(self, request: jsonrpc.Request) -> jsonrpc.Response:
        method = metrics.method_label(request.method)
        measured = self._metrics

        def record(outcome: metrics.Outcome, seconds: float) -> None:
            measured.in_flight.dec()
            measured.requests.labels(method, outcome).inc()
            measured.seconds.labels(method).observe(seconds)

        measured.in_flight.inc()
        return await _measured(self._handle(request), record)

    async def _handle(self, request: jsonrpc.Request) -> jsonrpc.Response:
        if tracer() is None:
            return await self._inner.handle_request(request)
        ambient = trace.get_current_span().get_span_context().is_valid
        parent = None if ambient else meta_context(request.params)
        attributes = request_attributes(request, session_attribute(self._session_id))
        if self._about is not None:
            attributes.update(self._about())
        with request_span(request, SpanKind.SERVER, attributes, parent) as span:
            answer = await self._inner.handle_request(with_context(request))
            record_answer(span, answer)
            return answer

    async def handle_notification(self, notification: jsonrpc.Notification) -> None:
        await self._inner.handle_notification(notification)

    async def close(self) -> None:
        await self._inner.close()


def instrumented(
    factory: SessionFactory,
    measured: metrics.RequestMetrics,
    about: Callable[[], Attributes] | None = None,
) -> SessionFactory:
    """``factory``, its sessions wrapped in :class:`InstrumentedSession`."""

    def open_session(peer: Peer) -> Session:
        return InstrumentedSession(factory(peer), measured, peer.session_id, about)

    return open_session


def middlewares() -> list[Middleware]:
    """The aiohttp middlewares tracing needs: none while it is off."""
    return [] if tracer() is None else [incoming_context]


async def upstream_call(server: str, request: jsonrpc.Request, send: Send) -> jsonrpc.Response:
    """``send(request)`` to ``server``, counted, timed and (while tracing is on) a CLIENT span.

    ``request`` names what the server itself calls its tool, prompt or
    resource: the hub resolved the client's name to it before sending.
    """
    method = metrics.method_label(request.method)

    def record(outcome: metrics.Outcome, seconds: float) -> None:
        metrics.UPSTREAM_REQUESTS.labels(server, method, outcome).inc()
        metrics.UPSTREAM_REQUEST_SECONDS.labels(server, method).observe(seconds)
        if method == "tools/call":
            tool = (request.params or {}).get("name")
            metrics.TOOL_CALLS.labels(server, tool if isinstance(tool, str) else "", outcome).inc()

    return await _measured(_send(server, request, send), record)


async def _measured(
    answering: Awaitable[jsonrpc.Response], record: Callable[[metrics.Outcome, float], None]
) -> jsonrpc.Response:
    """The answer ``answering`` gives, recorded with its outcome and how long it took.

    A request whose task is cancelled (the client cancelled it, its session
    ended) is ``cancelled``; one whose handler failed is an ``error``, which
    the transport answers with an internal error.
    """
    outcome: metrics.Outcome = "cancelled"
    started = time.perf_counter()
    try:
        answer = await answering
        outcome = metrics.outcome(answer)
        return answer
    except Exception:
        outcome = "error"
        raise
    finally:
        record(outcome, time.perf_counter() - started)


async def _send(server: str, request: jsonrpc.Request, send: Send) -> jsonrpc.Response:
    if tracer() is None:
        return await send(request)
    # The SERVER span of the client's request learns which server answered it.
    trace.get_current_span().set_attribute(MCPHUB_SERVER, server)
    attributes = request_attributes(request)
    attributes[MCPHUB_SERVER] = server
    with request_span(request, SpanKind.CLIENT, attributes) as span:
        answer = await send(with_context(request))
        record_answer(span, answer)
        return answer

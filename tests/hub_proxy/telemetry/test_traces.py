"""Traces through real processes, as a real OpenTelemetry Collector receives them.

The programs run as they are deployed, configured only by ``OTEL_*``
variables, and export over OTLP/HTTP to the test bed's Collector.  The client
is the test: it makes its own span (exported to the same Collector) and
sends its context the way an instrumented client would, in the HTTP headers
or in the request's ``_meta``.  The hub's upstream is a traced stdio bridge
reached as a remote streamable-HTTP server, so that one trace crosses three
processes: client -> hub -> bridge.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from opentelemetry import propagate, trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import Span as ClientSpan

from tests.hub_proxy.bridge_process import Bridge, command_of, running_bridge
from tests.hub_proxy.raw_http import open_session, rpc
from tests.hub_proxy.remote_server_yaml import remote_yaml
from tests.hub_proxy.test_standalone_hub import Hub, start_hub
from tests.testbed.mcp_servers import everything_stdio
from tests.testbed.otel_collector import Collector, Span, running_collector


@pytest.fixture(scope="module")
def collector(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Collector]:
    with running_collector(tmp_path_factory.mktemp("otelcol")) as running:
        yield running


@pytest.fixture(scope="module")
def client_tracer(collector: Collector) -> Iterator[TracerProvider]:
    """The test's own tracing, as an instrumented MCP client's, into the same Collector."""
    provider = TracerProvider(resource=Resource({"service.name": "test-client"}))
    exporter = OTLPSpanExporter(endpoint=f"{collector.endpoint}/v1/traces")
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield provider
    provider.shutdown()


@pytest.fixture(scope="module")
def traced_bridge(
    tmp_path_factory: pytest.TempPathFactory, collector: Collector
) -> Iterator[Bridge]:
    with running_bridge(
        tmp_path_factory.mktemp("bridge"),
        command=command_of(everything_stdio()),
        env=collector.env(),
    ) as bridge:
        yield bridge


@pytest.fixture(scope="module")
def traced_hub(
    tmp_path_factory: pytest.TempPathFactory, collector: Collector, traced_bridge: Bridge
) -> Iterator[Hub]:
    """A hub whose one server, ``everything``, is the traced bridge, reached over HTTP."""

    def write(folder: Path) -> Path:
        folder.mkdir(parents=True)
        (folder / "everything.yaml").write_text(remote_yaml("everything", traced_bridge.url))
        return folder

    hub = start_hub(tmp_path_factory.mktemp("hub"), write, env=collector.env())
    yield hub
    hub.process.stop()


def echo(message: str, tool: str = "echo", **meta: str) -> dict[str, object]:
    params: dict[str, object] = {"name": tool, "arguments": {"message": message}}
    if meta:
        params["_meta"] = meta
    return {"jsonrpc": "2.0", "id": 5, "method": "tools/call", "params": params}


def context_of(span: ClientSpan) -> dict[str, str]:
    """The W3C headers (``traceparent``, ...) that carry ``span`` as the parent."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier, context=trace.set_span_in_context(span))
    return carrier


def hex_trace_id(span: ClientSpan) -> str:
    return format(span.get_span_context().trace_id, "032x")


def hex_span_id(span: ClientSpan) -> str:
    return format(span.get_span_context().span_id, "016x")


def test_a_bridge_request_is_a_server_span_under_the_clients_headers(
    traced_bridge: Bridge, collector: Collector, client_tracer: TracerProvider
) -> None:
    session = open_session(traced_bridge.port, "/mcp")
    with client_tracer.get_tracer("test").start_as_current_span("client call") as client:
        headers = list(context_of(client).items())
        answer = rpc(traced_bridge.port, "/mcp", echo("over headers"), headers, session=session)
    assert answer.last["result"]["content"][0]["text"] == "Echo: over headers"
    spans = collector.trace(hex_trace_id(client), spans=2)
    (served,) = (s for s in spans if s.service == "mcphub-bridge")
    assert (served.name, served.kind, served.parent_span_id) == (
        "tools/call echo",
        Span.SERVER,
        hex_span_id(client),
    )
    assert served.attributes["mcp.method.name"] == "tools/call"
    assert served.attributes["gen_ai.tool.name"] == "echo"
    assert served.attributes["gen_ai.operation.name"] == "execute_tool"
    assert served.attributes["jsonrpc.request.id"] == "5"
    # A digest, never the session id itself.
    assert len(served.attributes["mcp.session.id"]) == 16
    assert session not in str(served.attributes)


def test_without_headers_the_context_in_meta_is_the_parent(
    traced_bridge: Bridge, collector: Collector, client_tracer: TracerProvider
) -> None:
    session = open_session(traced_bridge.port, "/mcp")
    with client_tracer.get_tracer("test").start_as_current_span("client call") as client:
        meta = context_of(client)
        rpc(traced_bridge.port, "/mcp", echo("over meta", **meta), session=session)
    spans = collector.trace(hex_trace_id(client), spans=2)
    (served,) = (s for s in spans if s.service == "mcphub-bridge")
    assert served.parent_span_id == hex_span_id(client)


def test_a_failed_request_is_an_error_span_with_its_code(
    traced_bridge: Bridge, collector: Collector, client_tracer: TracerProvider
) -> None:
    session = open_session(traced_bridge.port, "/mcp")
    unknown = {"jsonrpc": "2.0", "id": 9, "method": "tools/unheard-of"}
    with client_tracer.get_tracer("test").start_as_current_span("client call") as client:
        answer = rpc(
            traced_bridge.port, "/mcp", unknown, list(context_of(client).items()), session=session
        )
    assert answer.last["error"]["code"] == -32601
    spans = collector.trace(hex_trace_id(client), spans=2)
    (served,) = (s for s in spans if s.service == "mcphub-bridge")
    assert served.status_code == Span.STATUS_ERROR
    assert (
        served.attributes["error.type"] == served.attributes["rpc.response.status_code"] == "-32601"
    )


def test_disabled_exports_nothing_though_an_endpoint_is_set(
    tmp_path: Path, collector: Collector, client_tracer: TracerProvider
) -> None:
    env = {**collector.env(), "OTEL_SDK_DISABLED": "true", "OTEL_SERVICE_NAME": "off"}
    with running_bridge(tmp_path, command=command_of(everything_stdio()), env=env) as bridge:
        session = open_session(bridge.port, "/mcp")
        with client_tracer.get_tracer("test").start_as_current_span("client call") as client:
            headers = list(context_of(client).items())
            rpc(bridge.port, "/mcp", echo("untraced"), headers, session=session)
    # Stopped, so anything it would have exported has been flushed; the client's span is there.
    collector.trace(hex_trace_id(client), spans=1)
    assert not [span for span in collector.spans() if span.service == "off"]


def test_one_trace_spans_client_hub_and_upstream(
    traced_hub: Hub, collector: Collector, client_tracer: TracerProvider
) -> None:
    session = open_session(traced_hub.port, "/mcp")
    call = echo("through the hub", tool="everything__echo")
    with client_tracer.get_tracer("test").start_as_current_span("client call") as client:
        answer = rpc(
            traced_hub.port, "/mcp", call, list(context_of(client).items()), session=session
        )
    assert answer.last["result"]["content"][0]["text"] == "Echo: through the hub"
    spans = collector.trace(hex_trace_id(client), spans=4)
    (served,) = (s for s in spans if s.service == "mcphub-hub" and s.kind == Span.SERVER)
    (sent,) = (s for s in spans if s.service == "mcphub-hub" and s.kind == Span.CLIENT)
    (upstream,) = (s for s in spans if s.service == "mcphub-bridge")
    # client -> hub (server span) -> hub (client span) -> bridge (server span), one trace.
    assert served.parent_span_id == hex_span_id(client)
    assert sent.parent_span_id == served.span_id
    assert upstream.parent_span_id == sent.span_id
    assert (served.name, sent.name, upstream.name) == (
        "tools/call everything__echo",
        "tools/call echo",
        "tools/call echo",
    )
    assert served.attributes["gen_ai.tool.name"] == "everything__echo"
    assert served.attributes["mcphub.server"] == sent.attributes["mcphub.server"] == "everything"
    assert served.attributes["enduser.id"] == "User:anonymous:system:anonymous"
    assert sent.attributes["gen_ai.tool.name"] == "echo"
    assert "mcp.session.id" in served.attributes


def test_the_hub_takes_a_clients_context_from_meta_when_its_headers_have_none(
    traced_hub: Hub, collector: Collector, client_tracer: TracerProvider
) -> None:
    session = open_session(traced_hub.port, "/mcp")
    with client_tracer.get_tracer("test").start_as_current_span("client call") as client:
        call = echo("via meta", tool="everything__echo", **context_of(client))
        rpc(traced_hub.port, "/mcp", call, session=session)
    spans = collector.trace(hex_trace_id(client), spans=4)
    (served,) = (s for s in spans if s.service == "mcphub-hub" and s.kind == Span.SERVER)
    assert served.parent_span_id == hex_span_id(client)


def test_the_headers_win_over_meta(
    traced_hub: Hub, collector: Collector, client_tracer: TracerProvider
) -> None:
    session = open_session(traced_hub.port, "/mcp")
    tracer = client_tracer.get_tracer("test")
    with tracer.start_as_current_span("in meta") as meta, tracer.start_span("in headers") as headed:
        call = echo("both", tool="everything__echo", **context_of(meta))
        rpc(traced_hub.port, "/mcp", call, list(context_of(headed).items()), session=session)
    spans = collector.trace(hex_trace_id(headed), spans=3)
    (served,) = (s for s in spans if s.service == "mcphub-hub" and s.kind == Span.SERVER)
    assert served.parent_span_id == hex_span_id(headed)


def test_a_refused_call_is_an_error_span_and_goes_nowhere(
    traced_hub: Hub, collector: Collector, client_tracer: TracerProvider
) -> None:
    session = open_session(traced_hub.port, "/mcp")
    with client_tracer.get_tracer("test").start_as_current_span("client call") as client:
        call = echo("nowhere", tool="everything__no-such-tool")
        answer = rpc(
            traced_hub.port, "/mcp", call, list(context_of(client).items()), session=session
        )
    assert answer.last["error"]["code"] == -32602
    spans = collector.trace(hex_trace_id(client), spans=2)
    (served,) = (s for s in spans if s.service == "mcphub-hub")
    assert served.status_code == Span.STATUS_ERROR
    assert served.attributes["error.type"] == "-32602"
    assert "mcphub.server" not in served.attributes

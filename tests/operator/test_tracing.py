"""The operator's traces: a reconcile pass and its MCP verification, joined by the server's spans.

The operator runs as deployed, with ``OTEL_*`` pointing at the test bed's
OpenTelemetry Collector, and verifies a remote MCPServer served by a traced
stdio bridge: the bridge's spans for the verification's ``initialize`` and
``tools/list`` must land in the operator's trace, under its ``verify`` span
(through the MCP SDK's own client spans, which the operator's tracing turns
on as well).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.hub_proxy.bridge_process import command_of, running_bridge
from tests.operator.manifests import remote_server
from tests.testbed.kube import ControlPlane
from tests.testbed.mcp_servers import everything_stdio
from tests.testbed.operator_process import start_operator
from tests.testbed.otel_collector import Collector, Span, running_collector
from tests.testbed.waiting import eventually

WAIT_SECONDS = 60.0


@pytest.fixture(scope="module")
def collector(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Collector]:
    with running_collector(tmp_path_factory.mktemp("otelcol")) as running:
        yield running


def test_a_verification_traces_from_the_reconcile_into_the_server(
    crds_installed: ControlPlane, namespace: str, tmp_path: Path, collector: Collector
) -> None:
    with running_bridge(
        tmp_path / "bridge", command=command_of(everything_stdio()), env=collector.env()
    ) as bridge:
        operator = start_operator(crds_installed, tmp_path / "operator", env=collector.env())
        try:
            crds_installed.apply(namespace, remote_server("traced", bridge.url))
            crds_installed.wait_ready(namespace, "mcpserver/traced", timeout=int(WAIT_SECONDS))

            def verified_into_the_bridge() -> list[tuple[Span, Span]]:
                spans = collector.spans()
                return [
                    (span, verify)
                    for span in spans
                    if span.service == "mcphub-bridge" and span.name == "tools/list"
                    for verify in _ancestors(span, spans)
                    if verify.service == "mcphub-operator" and verify.name == "verify"
                ]

            ((listed, verify), *_) = eventually(
                verified_into_the_bridge, timeout=WAIT_SECONDS, what="the bridge's tools/list span"
            )
        finally:
            operator.stop()
    spans = collector.trace(listed.trace_id, spans=4)
    (reconcile,) = (span for span in spans if span.span_id == verify.parent_span_id)
    assert (verify.kind, verify.attributes["server.address"]) == (Span.CLIENT, "127.0.0.1")
    assert verify.attributes["server.port"] == str(bridge.port)
    assert reconcile.name == "reconcile MCPServer"
    assert reconcile.attributes["mcphub.object"] == f"{namespace}/traced"
    assert reconcile.attributes["k8s.namespace.name"] == namespace
    (initialized,) = (s for s in spans if s.name == "initialize" and s.service == "mcphub-bridge")
    assert verify in _ancestors(initialized, spans)


def _ancestors(span: Span, spans: list[Span]) -> list[Span]:
    """``span``'s parent, its parent's parent, ..., as far as ``spans`` reach."""
    by_id = {candidate.span_id: candidate for candidate in spans}
    found = []
    while (parent := by_id.get(span.parent_span_id)) is not None:
        found.append(parent)
        span = parent
    return found


def test_a_failed_verification_says_why_on_its_span(
    crds_installed: ControlPlane, namespace: str, tmp_path: Path, collector: Collector
) -> None:
    operator = start_operator(crds_installed, tmp_path, env=collector.env())
    try:
        crds_installed.apply(namespace, remote_server("nowhere", "http://127.0.0.1:9/mcp"))

        def failed() -> list[Span]:
            return [
                span
                for span in collector.spans()
                if span.service == "mcphub-operator"
                and span.name == "verify"
                and span.attributes.get("server.port") == "9"
            ]

        (span, *_) = eventually(failed, timeout=WAIT_SECONDS, what="a failed verify span")
    finally:
        operator.stop()
    assert span.status_code == Span.STATUS_ERROR
    assert span.attributes["mcphub.verification.result"] == "Unreachable"
    assert span.attributes["error.type"] == "VerificationError"

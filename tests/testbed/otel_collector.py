"""A real OpenTelemetry Collector for the tracing tests, built from Go modules.

The programs export spans over OTLP/HTTP to whatever collector the cluster
runs; the tests make them export to the real thing: ``tests/testbed/otelcol``
is a Collector distribution of two components, the OTLP receiver and the
contrib file exporter, as the collector builder generates it (pinned in its
``go.mod`` and ``go.sum``).  The receiver listens on a free loopback port;
the exporter writes each batch it receives as one line of OTLP JSON, which
:meth:`Collector.spans` reads back.

Built with ``go build`` into the test bed's cache, once per change of its
sources: 7 minutes cold on two busy cores, with the modules downloaded, and
under 30 s with a warm Go build cache -- minutes, not tens of them, so the
tests run against the Collector rather than a stand-in receiver.
``python -m tests.testbed.install`` builds it with the rest of the test bed.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.testbed.golang import build_program
from tests.testbed.processes import ManagedProcess, free_port, port_is_open
from tests.testbed.waiting import eventually

SOURCE = Path(__file__).resolve().parent / "otelcol"
START_TIMEOUT_SECONDS = 30.0
# Generous: the programs export every 100 ms, but a busy machine delays everything.
EXPORT_SECONDS = 30.0


def ensure_built() -> Path:
    """The Collector, built when its sources changed or it is missing."""
    return build_program(
        SOURCE,
        "otelcol-mcphub",
        flags=["-ldflags", "-s -w"],
        fallback="run `python -m tests.testbed.install` where Go 1.26+ is installed",
    )


@dataclass(frozen=True)
class Span:
    """One span as the Collector received it, with its service's name."""

    service: str
    trace_id: str
    span_id: str
    parent_span_id: str
    name: str
    kind: int
    attributes: dict[str, Any]
    status_code: int

    # OTLP's SpanKind and StatusCode numbers.
    SERVER = 2
    CLIENT = 3
    STATUS_ERROR = 2


@dataclass(frozen=True)
class Collector:
    process: ManagedProcess
    port: int
    output: Path

    @property
    def endpoint(self) -> str:
        """What ``OTEL_EXPORTER_OTLP_ENDPOINT`` should say to export here."""
        return f"http://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        """What turns a program's tracing on, towards here, exporting within 100 ms."""
        return {"OTEL_EXPORTER_OTLP_ENDPOINT": self.endpoint, "OTEL_BSP_SCHEDULE_DELAY": "100"}

    def trace(self, trace_id: str, *, spans: int) -> list[Span]:
        """The spans of one trace, once at least ``spans`` of them arrived."""

        def arrived() -> list[Span]:
            found = [span for span in self.spans() if span.trace_id == trace_id]
            return found if len(found) >= spans else []

        return eventually(
            arrived, timeout=EXPORT_SECONDS, what=f"{spans} spans of trace {trace_id}"
        )

    def spans(self) -> list[Span]:
        """Every span received so far (the exporter flushes every 100 ms)."""
        if not self.output.exists():
            return []
        found: list[Span] = []
        for line in self.output.read_text().splitlines():
            for resource in json.loads(line).get("resourceSpans", []):
                resource_attributes = _attributes(resource.get("resource", {}))
                service = str(resource_attributes.get("service.name", ""))
                for scope in resource.get("scopeSpans", []):
                    found.extend(_span(service, span) for span in scope.get("spans", []))
        return found


def _span(service: str, span: dict[str, Any]) -> Span:
    return Span(
        service=service,
        trace_id=span["traceId"],
        span_id=span["spanId"],
        parent_span_id=span.get("parentSpanId", ""),
        name=span["name"],
        kind=span.get("kind", 0),
        attributes=_attributes(span),
        status_code=span.get("status", {}).get("code", 0),
    )


def _attributes(holder: dict[str, Any]) -> dict[str, Any]:
    """OTLP JSON's key/typed-value list as a plain dictionary."""
    values = {}
    for attribute in holder.get("attributes", []):
        typed = attribute.get("value", {})
        values[attribute["key"]] = next(iter(typed.values()), None)
    return values


@contextmanager
def running_collector(work: Path) -> Iterator[Collector]:
    """The Collector on a free loopback port, writing what it receives under ``work``."""
    work.mkdir(parents=True, exist_ok=True)
    port = free_port()
    output = work / "spans.jsonl"
    config = work / "otelcol.yaml"
    config.write_text(
        json.dumps(
            {
                "receivers": {"otlp": {"protocols": {"http": {"endpoint": f"127.0.0.1:{port}"}}}},
                "exporters": {"file": {"path": str(output), "flush_interval": "100ms"}},
                "service": {
                    # Its own metrics would listen on 0.0.0.0:8888; nothing here reads them.
                    "telemetry": {"metrics": {"level": "none"}, "logs": {"level": "warn"}},
                    "pipelines": {"traces": {"receivers": ["otlp"], "exporters": ["file"]}},
                },
            }
        )
    )
    process = ManagedProcess(
        "otelcol", [ensure_built(), "--config", f"file:{config}"], log_dir=work
    )
    try:
        process.wait_until(
            lambda: port_is_open(port), timeout=START_TIMEOUT_SECONDS, what="the Collector"
        )
        yield Collector(process, port, output)
    finally:
        process.stop()

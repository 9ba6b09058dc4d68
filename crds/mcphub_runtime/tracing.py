"""Tracing on or off, from the standard ``OTEL_*`` environment variables, and OTLP export.

Every program (the hub, the bridge, the operator) calls :func:`configure` once
at start, with its service name, and :func:`tracer` wherever it would make a
span.  Off is the default and costs one global read and a comparison with
None where a span would start: no tracer provider, no middleware, no
propagation work.  The OpenTelemetry API's no-op tracer would still build
span objects and attach contexts on every call (a few microseconds each);
this makes "off" free instead of cheap.

Tracing is on when the environment asks for an exporter:

* ``OTEL_SDK_DISABLED=true`` turns it off whatever else is set;
* ``OTEL_TRACES_EXPORTER`` ``otlp`` or ``console`` turns it on, ``none``
  off;
* unset, an OTLP endpoint (``OTEL_EXPORTER_OTLP_ENDPOINT`` or
  ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``) turns it on.  The SDK's own default
  (``otlp`` when nothing is said) would make a hub without a collector log a
  refused connection every few seconds, so saying nothing means off.

The rest is the SDK's, read from the same variables: the endpoint, headers,
timeout, compression and certificate of the OTLP/HTTP exporter
(``OTEL_EXPORTER_OTLP_*``), the sampler (``OTEL_TRACES_SAMPLER``,
``OTEL_TRACES_SAMPLER_ARG``; default: parent-based, always on), the batch
processor (``OTEL_BSP_*``), the resource (``OTEL_RESOURCE_ATTRIBUTES``,
``OTEL_SERVICE_NAME``, which wins over the program's own name) and the
propagators (``OTEL_PROPAGATORS``; default W3C trace context and baggage).
Spans leave over OTLP/HTTP with protobuf bodies, the protocol the OTLP
specification makes the default; ``OTEL_EXPORTER_OTLP_PROTOCOL=grpc`` is
refused at start with what to set instead, rather than ignored -- a collector
listening on 4317 only would otherwise never hear from the program.

What a span says is each program's: the hub's and the bridge's MCP spans are
:mod:`hub_proxy.telemetry`'s, the operator's reconcile and verification spans
its own.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Final

from opentelemetry import context, trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SimpleSpanProcessor,
    SpanExporter,
)
from opentelemetry.semconv.attributes.error_attributes import ERROR_TYPE
from opentelemetry.trace import SpanKind, StatusCode
from opentelemetry.util.types import Attributes

INSTRUMENTATION_NAME: Final = "mcphub"
_EXPORTERS: Final = ("otlp", "console", "none")
_PROTOCOLS: Final = ("http/protobuf",)
_ENDPOINTS: Final = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
CANCELLED: Final = "cancelled"
# A status description is for people: the start of a message is enough.
_MAX_DESCRIPTION_CHARS: Final = 1024

_tracer: trace.Tracer | None = None


class TracingConfigError(ValueError):
    """The ``OTEL_*`` environment asks for something this program cannot do."""


@dataclass(frozen=True)
class Tracing:
    """What :func:`configure` set up: nothing, or a provider to flush at exit."""

    provider: TracerProvider | None = None

    @property
    def enabled(self) -> bool:
        return self.provider is not None

    def shutdown(self) -> None:
        """Export what is still queued and stop (bounded by ``OTEL_BSP_EXPORT_TIMEOUT``)."""
        global _tracer  # noqa: PLW0603 - the one switch every span site reads
        if self.provider is not None:
            _tracer = None
            self.provider.shutdown()


def tracer() -> trace.Tracer | None:
    """The program's tracer, or None while tracing is off: a span site's one check."""
    return _tracer


@contextmanager
def span(
    name: str,
    kind: SpanKind = SpanKind.INTERNAL,
    attributes: Attributes = None,
    parent: context.Context | None = None,
) -> Iterator[trace.Span]:
    """A span, current while the block runs, that says how the block ended.

    An exception leaving the block sets ``error.type`` (its class; ``cancelled``
    for a cancellation) and an ERROR status with its message, and goes on.
    While tracing is off the block gets a span that records nothing.
    """
    if _tracer is None:
        yield trace.INVALID_SPAN
        return
    with _tracer.start_as_current_span(
        name,
        context=parent,
        kind=kind,
        attributes=attributes,
        record_exception=False,
        set_status_on_exception=False,
    ) as current:
        try:
            yield current
        except asyncio.CancelledError:
            current.set_attribute(ERROR_TYPE, CANCELLED)
            current.set_status(StatusCode.ERROR, CANCELLED)
            raise
        except Exception as exc:
            current.set_attribute(ERROR_TYPE, type(exc).__qualname__)
            current.set_status(StatusCode.ERROR, str(exc)[:_MAX_DESCRIPTION_CHARS])
            raise


def configure(service_name: str) -> Tracing:
    """Turn tracing on if the environment asks for it; :class:`TracingConfigError` if it is wrong.

    ``service_name`` is the default ``service.name`` (``mcphub-hub``, ...).
    """
    global _tracer  # noqa: PLW0603 - the one switch every span site reads
    exporter = _exporter(os.environ)
    if exporter is None:
        return Tracing()
    resource = Resource.create()
    if str(resource.attributes.get(SERVICE_NAME, "")).startswith("unknown_service"):
        resource = resource.merge(Resource({SERVICE_NAME: service_name}))
    provider = TracerProvider(resource=resource)
    # The console exporter is for a person watching a terminal: at once, not in batches.
    processor = (
        SimpleSpanProcessor(exporter)
        if isinstance(exporter, ConsoleSpanExporter)
        else BatchSpanProcessor(exporter)
    )
    provider.add_span_processor(processor)
    # Global as well, so that any library instrumentation joins the same traces.
    trace.set_tracer_provider(provider)
    _tracer = provider.get_tracer(INSTRUMENTATION_NAME)
    return Tracing(provider)


def _exporter(env: Mapping[str, str]) -> SpanExporter | None:
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return None
    named = env.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    if not named:
        named = "otlp" if any(env.get(name, "").strip() for name in _ENDPOINTS) else "none"
    if named not in _EXPORTERS:
        raise TracingConfigError(
            f"OTEL_TRACES_EXPORTER={named!r} is not supported; use one of {', '.join(_EXPORTERS)}"
        )
    if named == "none":
        return None
    if named == "console":
        return ConsoleSpanExporter()
    for variable in ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"):
        protocol = env.get(variable, "").strip().lower()
        if protocol and protocol not in _PROTOCOLS:
            raise TracingConfigError(
                f"{variable}={protocol!r} is not supported: spans are exported over OTLP/HTTP "
                f"(set it to http/protobuf, and the endpoint to the collector's OTLP/HTTP port, "
                f"usually 4318)"
            )
        if protocol:
            break
    return OTLPSpanExporter()

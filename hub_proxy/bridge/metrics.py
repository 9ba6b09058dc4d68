"""The bridge's own Prometheus metrics, served at ``/metrics`` beside ``/mcp``.

The stdio server's state is read from the supervisor when Prometheus scrapes,
not counted as it changes, so that the server's life costs nothing extra:

* ``mcphub_bridge_child_up``: 1 while the server is initialized, else 0;
* ``mcphub_bridge_child_restarts_total``: how often it was started again
  (or its FIFOs reopened) after it ended.

The requests the bridge serves are counted on the way through
(``mcphub_bridge_requests_total``, ``mcphub_bridge_request_duration_seconds``,
``mcphub_bridge_requests_in_flight``: see
:mod:`hub_proxy.telemetry.instrumented`).  Nothing here names more than the
bridge's one server, so ``/metrics`` shares the MCP port: the PodMonitor of
``manifests/monitoring`` scrapes the sidecar there.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from typing import Final, Protocol

import prometheus_client
from aiohttp import web
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector


class ChildStatus(Protocol):
    """What the supervisor says of the server, as far as the metrics go."""

    @property
    def ready(self) -> bool: ...

    @property
    def restarts(self) -> int: ...


class _ChildMetrics(Collector):
    def __init__(self) -> None:
        self.sources: list[Callable[[], ChildStatus]] = []

    def collect(self) -> Iterator[Metric]:
        up, restarts = _families()
        for source in self.sources:
            status = source()
            up.add_metric([], 1.0 if status.ready else 0.0)
            restarts.add_metric([], status.restarts)
        yield up
        yield restarts

    def describe(self) -> Iterator[Metric]:
        yield from _families()


def _families() -> tuple[GaugeMetricFamily, CounterMetricFamily]:
    up = GaugeMetricFamily(
        "mcphub_bridge_child_up", "1 while the bridged stdio server is initialized, else 0"
    )
    restarts = CounterMetricFamily(
        "mcphub_bridge_child_restarts", "Restarts of the bridged stdio server after it ended"
    )
    return up, restarts


_METRICS: Final = _ChildMetrics()
prometheus_client.REGISTRY.register(_METRICS)


def export_child(
    status: Callable[[], ChildStatus],
) -> Callable[[web.Application], AsyncIterator[None]]:
    """A cleanup context exporting the server's ``status`` while the app runs."""

    async def exporting(_app: web.Application) -> AsyncIterator[None]:
        _METRICS.sources.append(status)
        try:
            yield
        finally:
            _METRICS.sources.remove(status)

    return exporting

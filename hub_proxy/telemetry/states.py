"""MCP servers' up/down state and restarts as Prometheus metrics, read when scraped.

The hub (``mcphub_upstream_up{server}``, ``mcphub_upstream_restarts_total``)
and the bridge (``mcphub_bridge_child_up``, ``mcphub_bridge_child_restarts_total``)
tell the same two facts of the servers they supervise.  Both are read from
the supervisors' own status at scrape time rather than counted as they
change, so that a server's life costs nothing extra, and while an
application runs: :meth:`ServerStates.exporting` is its cleanup context.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Sequence
from typing import Protocol

import prometheus_client
from aiohttp import web
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector


class ServerState(Protocol):
    """What a supervisor says of a server, as far as the metrics go."""

    @property
    def ready(self) -> bool: ...

    @property
    def restarts(self) -> int: ...


# Label values (one per label name) and the state of the server they name.
Reading = Callable[[], Iterable[tuple[Sequence[str], ServerState]]]


class ServerStates(Collector):
    """The ``{prefix}_up`` gauge and ``{prefix}_restarts_total`` counter of some servers."""

    def __init__(self, prefix: str, *, up: str, restarts: str, labels: Sequence[str] = ()) -> None:
        self._prefix = prefix
        self._help = (up, restarts)
        self._labels = list(labels)
        self._sources: list[Reading] = []
        prometheus_client.REGISTRY.register(self)

    def exporting(self, source: Reading) -> Callable[[web.Application], AsyncIterator[None]]:
        """A cleanup context exporting what ``source`` reads while the application runs."""

        async def exporting(_app: web.Application) -> AsyncIterator[None]:
            self._sources.append(source)
            try:
                yield
            finally:
                self._sources.remove(source)

        return exporting

    def collect(self) -> Iterator[Metric]:
        up, restarts = self._families()
        for source in self._sources:
            for labels, state in source():
                up.add_metric(list(labels), 1.0 if state.ready else 0.0)
                restarts.add_metric(list(labels), state.restarts)
        yield up
        yield restarts

    def describe(self) -> Iterator[Metric]:
        # Names only, so that registering reads no supervisor.
        yield from self._families()

    def _families(self) -> tuple[GaugeMetricFamily, CounterMetricFamily]:
        up_help, restarts_help = self._help
        return (
            GaugeMetricFamily(f"{self._prefix}_up", up_help, labels=self._labels),
            CounterMetricFamily(f"{self._prefix}_restarts", restarts_help, labels=self._labels),
        )

"""What tool search tells Prometheus (``/metrics``).

* ``mcphub_search_duration_seconds{outcome}``: each search, query embedding
  included; outcome ``ok`` or ``error``.
* ``mcphub_search_index_tools``: tools in the index now.
* ``mcphub_search_embeddings_total{result}``: tool texts ``computed`` by the
  model, or ``reused`` because their content hash was embedded already.
* ``mcphub_search_errors_total{stage}``: failures, by ``embedding``,
  ``store`` or ``sync``.

One set per registry (Prometheus refuses a metric name twice), shared by every
index of the process: a test that runs several hubs in one process sees their
sum, as it would of any other counter.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from typing import Final

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram

_BUCKETS: Final = (0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


@dataclass(frozen=True)
class SearchMetrics:
    duration: Histogram
    index_tools: Gauge
    embeddings: Counter
    errors: Counter


_by_registry: Final[weakref.WeakKeyDictionary[CollectorRegistry, SearchMetrics]] = (
    weakref.WeakKeyDictionary()
)


def metrics(registry: CollectorRegistry = REGISTRY) -> SearchMetrics:
    """The search metrics registered in ``registry`` (made on first use)."""
    made = _by_registry.get(registry)
    if made is None:
        made = _by_registry[registry] = SearchMetrics(
            Histogram(
                "mcphub_search_duration_seconds",
                "Tool searches, query embedding included, by outcome.",
                ("outcome",),
                buckets=_BUCKETS,
                registry=registry,
            ),
            Gauge("mcphub_search_index_tools", "Tools in the search index.", registry=registry),
            Counter(
                "mcphub_search_embeddings",
                "Tool texts embedded (computed) or found embedded by content hash (reused).",
                ("result",),
                registry=registry,
            ),
            Counter(
                "mcphub_search_errors",
                "Tool search failures, by stage (embedding, store, sync).",
                ("stage",),
                registry=registry,
            ),
        )
    return made

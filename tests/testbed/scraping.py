"""A program's ``/metrics``, read as Prometheus reads it."""

from __future__ import annotations

import urllib.request

from prometheus_client.parser import text_string_to_metric_families

# A metric sample's name and labels (sorted pairs), and its value.
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]

# The series names each metric type exposes besides its own name.
_SUFFIXES = {
    "counter": ("_total", "_created"),
    "histogram": ("_bucket", "_sum", "_count", "_created"),
    "summary": ("_sum", "_count", "_created"),
}


def scrape(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 - loopback only
        text: str = response.read().decode()
        return text


def samples(url: str) -> Samples:
    """Every sample at ``url``, by name and sorted labels."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(scrape(url))
        for sample in family.samples
    }


def exported_names(url: str) -> frozenset[str]:
    """Every series name a query could select at ``url``.

    A metric declared and not yet observed (a counter by label whose labels
    have not occurred) counts: its ``HELP`` and ``TYPE`` are exported, and a
    query on it is right, only empty for now.
    """
    names: set[str] = set()
    for family in text_string_to_metric_families(scrape(url)):
        names.add(family.name)
        names.update(family.name + suffix for suffix in _SUFFIXES.get(family.type, ()))
        names.update(sample.name for sample in family.samples)
    return frozenset(names)

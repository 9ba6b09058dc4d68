"""Benchmark: ranking among 10,000 tools, in memory and in PostgreSQL.

Run on demand (not part of the test suite); it prints its figures as JSON:

    .venv/bin/python -m tests.benchmarks.search_scale [--tools 10000] [--queries 200]

The budget (ARCHITECTURE.md, "How fast"): ``search_tools`` over 10,000 tools
ranks in under 5 ms at p50 in memory and under 10 ms in PostgreSQL, after the
query vector (the model's share is measured apart).  The tools are synthetic
-- texts of words drawn from a vocabulary of 5,000, vectors drawn at random on
the unit sphere -- because ranking cost depends on the counts, not on meaning.

Figures:

* **rank p50/p99 ms**, per store: with no filter, with every tool passed as
  allowed (what the hub does for a caller whose policies hide nothing: it
  always passes the caller's visible tools), and with a random half allowed;
* **baseline ms**: a bare numpy matrix-vector product and top-k over the same
  vectors, the floor any exact ranking stands on, measured in the same run;
* **write tools/s**: storing the index (vectors and terms) from scratch;
* **embed tools/s**: a sample of tools indexed with the offline model, each
  tool's two views embedded (what indexing costs when every text is new);
* **index bytes**: vectors and terms as the store holds them (PostgreSQL:
  ``pg_total_relation_size`` of the tables, indexes included).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

import numpy as np
from prometheus_client import CollectorRegistry

from hub_proxy.search import SearchIndex, ToolDocument, ToolKey
from hub_proxy.search.embedding.local import LocalEmbedder
from hub_proxy.search.memory import MemoryStore
from hub_proxy.search.postgres import PostgresStore
from hub_proxy.search.ranking import Query
from hub_proxy.search.store import Entry, Store
from tests.testbed.postgres import running_postgres

DIMENSIONS = 384


def _synthetic(count: int, seed: int = 7) -> tuple[list[Entry], dict[str, np.ndarray], list[str]]:
    rng = random.Random(seed)  # noqa: S311 - synthetic data, not secrets
    vocabulary = [f"w{i}" for i in range(5000)]
    vectors = np.random.default_rng(seed).standard_normal((count, DIMENSIONS)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    entries, by_hash, texts = [], {}, []
    for i in range(count):
        words = rng.choices(vocabulary, k=rng.randint(15, 60))
        content_hash = f"{i:064x}"
        entries.append(
            Entry(ToolKey(f"server{i // 25}", f"tool_{i}"), content_hash, Counter(words))
        )
        by_hash[content_hash] = vectors[i]
        texts.append(" ".join(words))
    return entries, by_hash, texts


async def _timed(call: Callable[[], Awaitable[Any]], samples: int) -> dict[str, float]:
    seconds = []
    for _ in range(samples):
        started = time.perf_counter()
        await call()
        seconds.append(time.perf_counter() - started)
    seconds.sort()
    return {
        "p50_ms": round(1000 * statistics.median(seconds), 3),
        "p99_ms": round(1000 * seconds[min(len(seconds) - 1, int(0.99 * len(seconds)))], 3),
    }


async def _store_figures(
    store: Store, entries: list[Entry], vectors: dict[str, np.ndarray], queries: int
) -> dict[str, Any]:
    await store.open("synthetic", DIMENSIONS)
    started = time.perf_counter()
    await store.update(entries, vectors, (), [e.key for e in entries])
    written = time.perf_counter() - started
    rng = np.random.default_rng(1)
    half = [e.key for e in entries if rng.random() < 0.5]
    query_vectors = rng.standard_normal((queries, DIMENSIONS)).astype(np.float32)
    query_vectors /= np.linalg.norm(query_vectors, axis=1, keepdims=True)
    terms = [tuple(f"w{int(t)}" for t in rng.integers(0, 5000, 6)) for _ in range(queries)]
    turn = iter(range(10**9))

    def query(allowed: list[ToolKey] | None) -> Callable[[], Awaitable[Any]]:
        def run() -> Awaitable[Any]:
            i = next(turn) % queries
            return store.rank(Query(query_vectors[i], terms[i], 10, allowed, -1.0))

        return run

    unfiltered = await _timed(query(None), queries)
    every = await _timed(query([e.key for e in entries]), queries)
    filtered = await _timed(query(half), queries)
    tools, size = await store.size()
    await store.close()
    return {
        "tools": tools,
        "rank_all": unfiltered,
        "rank_every_allowed": every,
        "rank_half_allowed": filtered,
        "write_tools_per_s": round(len(entries) / written),
        "index_bytes": size,
    }


async def _baseline(vectors: dict[str, np.ndarray], queries: int) -> dict[str, float]:
    matrix = np.stack(list(vectors.values()))
    rng = np.random.default_rng(2)
    query_vectors = rng.standard_normal((queries, DIMENSIONS)).astype(np.float32)

    async def run() -> None:
        scores = matrix @ query_vectors[rng.integers(0, queries)]
        np.argpartition(-scores, 10)[:10]

    return await _timed(run, queries)


async def main(count: int, queries: int) -> dict[str, Any]:
    entries, vectors, texts = _synthetic(count)
    embedder = LocalEmbedder()
    sample = [ToolDocument(e.key, text) for e, text in zip(entries[:256], texts, strict=False)]
    index = SearchIndex(MemoryStore(), embedder, registry=CollectorRegistry())
    await index.open()
    started = time.perf_counter()
    await index.sync(sample)
    embed_rate = len(sample) / (time.perf_counter() - started)
    await index.close()
    await embedder.close()
    figures: dict[str, Any] = {
        "tools": count,
        "baseline_matmul_topk": await _baseline(vectors, queries),
        "embed_tools_per_s": round(embed_rate, 1),
        "memory": await _store_figures(MemoryStore(), entries, vectors, queries),
    }
    with running_postgres() as database:
        figures["postgres"] = await _store_figures(
            PostgresStore(database.dsn), entries, vectors, queries
        )
    return figures


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m tests.benchmarks.search_scale")
    parser.add_argument("--tools", type=int, default=10_000)
    parser.add_argument("--queries", type=int, default=200)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(main(args.tools, args.queries)), indent=2))

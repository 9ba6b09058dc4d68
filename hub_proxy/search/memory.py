"""The in-memory store: the standalone hub's default, nothing to set up.

Everything lives in numpy arrays rebuilt after each update (an update is rare;
a search is not): one matrix of the tools' vectors, each row's term
frequencies and length, and a posting list per term.  A search is one
matrix-vector product for the dense half, a walk over the query terms'
postings for BM25, and a partial
sort of the allowed rows; 10,000 tools rank in about a millisecond after the
query vector (``python -m tests.benchmarks.search_scale``).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from hub_proxy.search import lexical
from hub_proxy.search.embedding import Vectors
from hub_proxy.search.ranking import DENSE_WEIGHT, Hit, Query, Ranking
from hub_proxy.search.store import Entry
from hub_proxy.search.texts import ToolKey

_Floats = npt.NDArray[np.float64]


@dataclass(frozen=True)
class _Arrays:
    """The index as searched, made from the entries after every update."""

    keys: tuple[ToolKey, ...]
    rows: Mapping[ToolKey, int]
    vectors: Vectors
    lengths: _Floats
    # term -> (rows, frequencies)
    postings: Mapping[str, tuple[npt.NDArray[np.intp], _Floats]]


class MemoryStore:
    """:class:`~hub_proxy.search.store.Store` in the hub's own memory."""

    def __init__(self) -> None:
        self._entries: dict[ToolKey, Entry] = {}
        self._vectors: dict[str, Vectors] = {}
        self._dimensions = 0
        self._arrays = self._build()

    async def open(self, model: str, dimensions: int) -> None:
        # A new store every process: nothing of another model can be in it.
        self._dimensions = dimensions
        self._arrays = self._build()

    async def hashes(self) -> dict[ToolKey, str]:
        return {key: entry.content_hash for key, entry in self._entries.items()}

    async def missing(self, hashes: Collection[str]) -> set[str]:
        return {h for h in hashes if h not in self._vectors}

    async def update(
        self,
        changed: Sequence[Entry],
        vectors: Mapping[str, Vectors],
        removed: Collection[ToolKey],
        current: Collection[ToolKey],
    ) -> None:
        self._vectors.update(vectors)
        for entry in changed:
            self._entries[entry.key] = entry
        for key in removed:
            self._entries.pop(key, None)
        # Only what is indexed keeps its vector: the cache does not grow forever.
        used = {entry.content_hash for entry in self._entries.values()}
        self._vectors = {h: v for h, v in self._vectors.items() if h in used}
        self._arrays = self._build()

    def _build(self) -> _Arrays:
        entries = sorted(self._entries.values(), key=lambda e: e.key)
        keys = tuple(e.key for e in entries)
        vectors = (
            np.stack([self._vectors[e.content_hash] for e in entries]).astype(np.float32)
            if entries
            else np.zeros((0, self._dimensions), dtype=np.float32)
        )
        lengths = np.array([sum(e.terms.values()) for e in entries], dtype=np.float64)
        collected: dict[str, tuple[list[int], list[float]]] = {}
        for row, entry in enumerate(entries):
            for term, frequency in entry.terms.items():
                rows, frequencies = collected.setdefault(term, ([], []))
                rows.append(row)
                frequencies.append(frequency)
        postings = {
            term: (np.array(rows, dtype=np.intp), np.array(freqs, dtype=np.float64))
            for term, (rows, freqs) in collected.items()
        }
        return _Arrays(keys, {k: i for i, k in enumerate(keys)}, vectors, lengths, postings)

    async def rank(self, query: Query) -> Ranking:
        arrays = self._arrays
        count = len(arrays.keys)
        if query.allowed is None:
            mask = np.ones(count, dtype=bool)
        else:
            mask = np.zeros(count, dtype=bool)
            rows = [arrays.rows[k] for k in query.allowed if k in arrays.rows]
            mask[rows] = True
        searched = int(mask.sum())
        if searched == 0:
            return Ranking((), 0)
        dense = arrays.vectors @ query.vector.astype(np.float32)
        lexical_scores = _bm25(arrays, query.terms)
        top = float(lexical_scores[mask].max())
        normalized = lexical_scores / top if top > 0 else lexical_scores
        scores = DENSE_WEIGHT * dense + (1 - DENSE_WEIGHT) * normalized
        candidates = np.flatnonzero(mask & (scores >= query.min_score))
        if len(candidates) > query.limit:
            # The best `limit` unordered, then ordered: not a sort of every tool.
            part = np.argpartition(-scores[candidates], query.limit - 1)[: query.limit]
            threshold = scores[candidates[part]].min()
            # Keep every tie at the threshold, so the name order decides among them.
            candidates = candidates[scores[candidates] >= threshold]
        order = sorted(candidates.tolist(), key=lambda r: (-scores[r], arrays.keys[r]))
        hits = tuple(
            Hit(arrays.keys[r], float(scores[r]), float(dense[r]), float(normalized[r]))
            for r in order[: query.limit]
        )
        return Ranking(hits, searched)

    async def size(self) -> tuple[int, int]:
        arrays = self._arrays
        postings = sum(rows.nbytes + freqs.nbytes for rows, freqs in arrays.postings.values())
        return len(arrays.keys), arrays.vectors.nbytes + arrays.lengths.nbytes + postings

    async def close(self) -> None:
        self._entries.clear()
        self._vectors.clear()
        self._arrays = self._build()


def _bm25(arrays: _Arrays, terms: Sequence[str]) -> _Floats:
    count = len(arrays.keys)
    scores = np.zeros(count, dtype=np.float64)
    if count == 0:
        return scores
    average = float(arrays.lengths.mean()) or 1.0
    for term in terms:
        posting = arrays.postings.get(term)
        if posting is None:
            continue
        rows, frequencies = posting
        weight = lexical.idf(count, len(rows))
        norm = lexical.K1 * (1 - lexical.B + lexical.B * arrays.lengths[rows] / average)
        scores[rows] += weight * frequencies * (lexical.K1 + 1) / (frequencies + norm)
    return scores

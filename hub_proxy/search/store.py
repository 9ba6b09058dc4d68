"""What the index keeps, and the protocol of the places that keep it.

A store holds, per tool, the hash of its text, its terms (for BM25) and its
vector -- vectors are kept by content hash, so two tools with one text, or a
tool whose text comes back, share one embedding.  A tool's vector is the mean
of its views' unit vectors (:mod:`hub_proxy.search.texts`), not itself of unit
length: stores rank by the inner product with the request's unit vector, which
is the mean of the views' cosines.  It ranks a
:class:`~hub_proxy.search.ranking.Query` itself, the caller's allowed tools
filtered inside the query, before the limit: a restricted caller still gets
``limit`` hits when enough of its tools match.

:mod:`~hub_proxy.search.memory` keeps it in the process (standalone);
:mod:`~hub_proxy.search.postgres` in PostgreSQL with pgvector, shared by the
hub's replicas.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from hub_proxy.search.embedding import Vectors
from hub_proxy.search.ranking import Query, Ranking
from hub_proxy.search.texts import ToolKey


@dataclass(frozen=True)
class Entry:
    """One tool as a store keeps it."""

    key: ToolKey
    content_hash: str
    terms: Counter[str]


class Store(Protocol):
    """Keeps the index and ranks queries against it."""

    async def open(self, model: str, dimensions: int) -> None:
        """Ready the store for vectors of ``model``; IndexMismatchError if it holds another's."""
        ...

    async def hashes(self) -> dict[ToolKey, str]:
        """The content hash of every tool indexed now."""
        ...

    async def missing(self, hashes: Collection[str]) -> set[str]:
        """Those of ``hashes`` that have no vector yet."""
        ...

    async def update(
        self,
        changed: Sequence[Entry],
        vectors: Mapping[str, Vectors],
        removed: Collection[ToolKey],
        current: Collection[ToolKey],
    ) -> None:
        """Store ``changed`` tools (with the ``vectors`` of their new hashes), drop ``removed``.

        ``current`` is every tool the caller indexes now: a shared store keeps
        their rows alive, and forgets rows no replica has kept alive for long.
        """
        ...

    async def rank(self, query: Query) -> Ranking: ...

    async def size(self) -> tuple[int, int]:
        """Tools indexed, and the bytes the index takes (vectors and terms)."""
        ...

    async def close(self) -> None: ...

"""The search index: tools in, ranked tools out -- what the hub and the dashboard call.

:meth:`SearchIndex.sync` takes every tool the hub publishes now and makes the
store hold exactly those: texts whose content hash is already embedded are
reused, only new texts go to the model (each tool's two views, whose mean is
its vector), removed tools leave.  Syncs are serialized (one at a time per
index); searches run alongside them and see the index before or after a sync,
never half of one.

:meth:`SearchIndex.search` embeds the request's intent (see
:mod:`hub_proxy.search.texts`), takes the request's terms, and lets the store
rank -- with the caller's allowed tools filtered inside the query, before the
limit.  Every failure is a :class:`~hub_proxy.search.errors.SearchError` with
a message for the caller, logged and counted; nothing fails as an empty result.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from typing import Final

import numpy as np
from prometheus_client import REGISTRY, CollectorRegistry

from hub_proxy.search import lexical
from hub_proxy.search.embedding import Embedder
from hub_proxy.search.errors import EmbeddingError, QueryError, SearchError
from hub_proxy.search.metrics import metrics
from hub_proxy.search.ranking import Query, Ranking
from hub_proxy.search.store import Entry, Store
from hub_proxy.search.texts import ToolDocument, ToolKey, intent

# A request is a sentence or a paragraph; past this it is a document pasted by mistake.
MAX_QUERY_CHARS: Final = 2000
MAX_LIMIT: Final = 1000
# Tools per call to the model (two texts each): an API request of 256 inputs stays
# well inside what OpenAI-compatible servers accept.
_EMBED_BATCH: Final = 128

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SyncReport:
    """What one sync did."""

    computed: int
    reused: int
    changed: int
    removed: int
    tools: int


class SearchIndex:
    """Tool search over one store with one embedding model."""

    def __init__(
        self, store: Store, embedder: Embedder, *, registry: CollectorRegistry = REGISTRY
    ) -> None:
        self._store = store
        self._embedder = embedder
        self._metrics = metrics(registry)
        self._sync_lock = asyncio.Lock()
        # What this index synced last: a tool that leaves it is removed from the store.
        self._synced: frozenset[ToolKey] = frozenset()

    @property
    def model(self) -> str:
        return self._embedder.model

    async def open(self) -> None:
        """Ready the store; IndexMismatchError if it holds another model's vectors."""
        await self._store.open(self._embedder.model, self._embedder.dimensions)

    async def sync(self, documents: Iterable[ToolDocument]) -> SyncReport:
        """Make the index hold exactly ``documents`` (later duplicates of a key win)."""
        wanted = {document.key: document for document in documents}
        async with self._sync_lock:
            try:
                return await self._sync(wanted)
            except SearchError:
                self._metrics.errors.labels("sync").inc()
                raise

    async def _sync(self, wanted: dict[ToolKey, ToolDocument]) -> SyncReport:
        stored = await self._store.hashes()
        hashes = {key: document.content_hash for key, document in wanted.items()}
        changed = [key for key, h in hashes.items() if stored.get(key) != h]
        missing = await self._store.missing({hashes[key] for key in changed})
        views = {hashes[key]: wanted[key].views for key in changed if hashes[key] in missing}
        vectors = await self._embed_documents(list(views.items()))
        reused = len(changed) - sum(1 for key in changed if hashes[key] in missing)
        # Removed: what this index had synced and no longer has, and whatever the
        # store has that nobody indexes (for a shared store, that is the store's call).
        removed = [key for key in self._synced if key not in wanted]
        entries = [Entry(key, hashes[key], lexical.terms(wanted[key].text)) for key in changed]
        await self._store.update(entries, vectors, removed, list(wanted))
        self._synced = frozenset(wanted)
        tools, _ = await self._store.size()
        self._metrics.embeddings.labels("computed").inc(len(vectors))
        self._metrics.embeddings.labels("reused").inc(reused)
        self._metrics.index_tools.set(tools)
        report = SyncReport(len(vectors), reused, len(changed), len(removed), tools)
        if report.changed or report.removed:
            logger.info("search index synced", extra=vars(report))
        return report

    async def _embed_documents(
        self, documents: list[tuple[str, tuple[str, ...]]]
    ) -> dict[str, np.ndarray]:
        """Each content hash's vector: the mean of its views' unit vectors (see texts)."""
        vectors: dict[str, np.ndarray] = {}
        for start in range(0, len(documents), _EMBED_BATCH):
            batch = documents[start : start + _EMBED_BATCH]
            embedded = await self._embed([text for _, views in batch for text in views])
            at = 0
            for content_hash, views in batch:
                vectors[content_hash] = embedded[at : at + len(views)].mean(axis=0)
                at += len(views)
        return vectors

    async def _embed(self, texts: list[str]) -> np.ndarray:
        try:
            vectors = await self._embedder.embed(texts)
        except EmbeddingError:
            self._metrics.errors.labels("embedding").inc()
            raise
        expected = (len(texts), self._embedder.dimensions)
        if vectors.shape != expected or not np.isfinite(vectors).all():
            self._metrics.errors.labels("embedding").inc()
            raise EmbeddingError(
                f"the embedding model {self._embedder.model} answered vectors of shape "
                f"{vectors.shape} (or not finite) where {expected} was expected"
            )
        return vectors

    async def search(
        self,
        query: str,
        limit: int,
        *,
        allowed: Collection[ToolKey] | None = None,
        min_score: float = 0.0,
    ) -> Ranking:
        """The ``limit`` best tools for ``query`` among ``allowed`` (all when None)."""
        _check(query, limit)
        started = time.perf_counter()
        outcome = "error"
        try:
            vector = (await self._embed([intent(query)]))[0]
            terms = tuple(dict.fromkeys(lexical.terms(query)))
            ranking = await self._store.rank(Query(vector, terms, limit, allowed, min_score))
            outcome = "ok"
            return ranking
        except SearchError as error:
            if not isinstance(error, EmbeddingError):
                self._metrics.errors.labels("store").inc()
            logger.warning("tool search failed", extra={"error": str(error)})
            raise
        finally:
            self._metrics.duration.labels(outcome).observe(time.perf_counter() - started)

    async def size(self) -> tuple[int, int]:
        return await self._store.size()

    async def close(self) -> None:
        """Close the store; the embedder is its maker's to close (it may serve several indexes)."""
        await self._store.close()


def _check(query: object, limit: object) -> None:
    if not isinstance(query, str) or not query.strip():
        raise QueryError("query must be a non-empty string saying what the tool should do")
    if len(query) > MAX_QUERY_CHARS:
        raise QueryError(
            f"query is {len(query)} characters long; say what the tool should do "
            f"in at most {MAX_QUERY_CHARS}"
        )
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
        raise QueryError(f"limit must be an integer from 1 to {MAX_LIMIT}, not {limit!r}")

"""Smart routing's engine: find the tools that fit a request among thousands.

The hub indexes every tool it publishes (:mod:`.texts` says from what text),
embeds each text once per content hash (:mod:`.embedding`), keeps the index in
a store (:mod:`.memory` standalone, :mod:`.postgres` in a cluster), and ranks
a request by a fusion of cosine similarity and BM25 (:mod:`.ranking`), with the
caller's access policy applied inside the query.  :class:`SearchIndex` is the
one entry point; ``python -m hub_proxy.search.evaluate`` measures it.
"""

from hub_proxy.search.errors import (
    EmbeddingError,
    IndexMismatchError,
    QueryError,
    SearchError,
    StoreError,
)
from hub_proxy.search.index import SearchIndex, SyncReport
from hub_proxy.search.ranking import Hit, Ranking
from hub_proxy.search.texts import ToolDocument, ToolKey

__all__ = [
    "EmbeddingError",
    "Hit",
    "IndexMismatchError",
    "QueryError",
    "Ranking",
    "SearchError",
    "SearchIndex",
    "StoreError",
    "SyncReport",
    "ToolDocument",
    "ToolKey",
]

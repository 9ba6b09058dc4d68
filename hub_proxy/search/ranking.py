"""How the two halves of a score become one, the same way in every store.

``score = DENSE_WEIGHT * dense + (1 - DENSE_WEIGHT) * bm25 / max(bm25)``,
the maximum taken over the tools the caller may see, ``dense`` the mean cosine
of the request with the tool's two views (:mod:`hub_proxy.search.texts`).  A
weighted sum of the cosine and the max-normalized BM25 beat reciprocal rank
fusion by 0.06 recall@5 on the dev set: RRF throws away how far apart two
scores are, and a tool that is the only one naming the product in the request
should win by a lot, not by one rank.  The weight was chosen on the dev
queries between 0.5 and 0.95 in steps of 0.05 (README, "Smart routing"): 0.85
and 0.9 both give recall@5 >= 0.80 and recall@10 >= 0.90, their neighbours do
not.  A mean of two cosines spreads less than one, so the dense half needs a
little more weight than with one view (0.8 was best then).

Ties are broken by server and tool name, so that a ranking never depends on a
store's row order: the in-memory and the PostgreSQL store return the same list.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Final

from hub_proxy.search.embedding import Vectors
from hub_proxy.search.texts import ToolKey

DENSE_WEIGHT: Final = 0.85


@dataclass(frozen=True)
class Query:
    """A search as a store runs it: the intent's vector, the request's terms, and bounds."""

    vector: Vectors
    terms: tuple[str, ...]
    limit: int
    # None: every tool in the index; otherwise only these (the caller's visible tools).
    allowed: Collection[ToolKey] | None = None
    min_score: float = -1.0


@dataclass(frozen=True)
class Hit:
    """One ranked tool: its fused score, and the two scores it was fused from."""

    key: ToolKey
    score: float
    dense: float
    lexical: float


@dataclass(frozen=True)
class Ranking:
    """The hits, best first, and how many tools were searched to find them."""

    hits: tuple[Hit, ...]
    searched: int

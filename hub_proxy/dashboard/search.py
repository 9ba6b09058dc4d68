"""Searching the tools a visitor may use: smart routing's ranking, or a plain match without it.

When the hub runs smart routing (:mod:`hub_proxy.smart`), the dashboard
searches with :class:`SmartSearch`: the same index and ranking as
``/mcp/$smart``'s ``search_tools``, with its scores, so a person sees what an
AI client searching as them would get.  A hub built without smart routing
searches with :class:`SubstringSearch`, and the page says so: a plain,
case-insensitive match of every word of the query against names, titles and
descriptions, scored by where the words matched.

Both implement :class:`ToolSearch`: the query, a limit, and the tools the
visitor may see -- the page filters them first, so that a hidden tool cannot
even appear or shape the order.  Searching is a coroutine: the engine
embeds the query in a worker thread and may ask a database, and the event
loop serves everyone else meanwhile.  An engine that cannot answer (its index
still being built, its database down) raises :class:`SearchUnavailableError`
with a message for the page, never an empty result.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, Protocol

from hub_proxy.catalog import SmartSettings
from hub_proxy.dashboard.view import Offered
from hub_proxy.search import SearchError, ToolKey
from hub_proxy.smart import SmartRouting

DEFAULT_LIMIT: Final = 50


@dataclass(frozen=True)
class Hit:
    """One tool found, and how well it matched (higher is better; the engine's own scale)."""

    tool: Offered
    score: float


class SearchUnavailableError(Exception):
    """The engine cannot answer now; the message says why, for the person searching."""


class ToolSearch(Protocol):
    """Finds tools for a query among ``tools``, which are all the visitor may see."""

    # Shown on the search page, so that a person knows how results were ranked.
    label: str
    smart: bool

    async def search(
        self, query: str, tools: Sequence[Offered], limit: int = DEFAULT_LIMIT
    ) -> list[Hit]: ...


class SmartSearch:
    """Smart routing's index, searched among the visitor's tools as ``/mcp/$smart`` does."""

    label = (
        "smart routing (meaning and words, as /mcp/$smart's search_tools ranks them); "
        "scores are the engine's, higher is better"
    )
    smart = True

    def __init__(self, routing: SmartRouting) -> None:
        self._routing = routing
        # /mcp/$smart's own: the same floor, so that both show the same tools.
        self._settings = SmartSettings()

    async def search(
        self, query: str, tools: Sequence[Offered], limit: int = DEFAULT_LIMIT
    ) -> list[Hit]:
        unavailable = await self._routing.ready()
        if unavailable is not None:
            raise SearchUnavailableError(unavailable)
        shown = {ToolKey(tool.item.server, tool.item.published): tool for tool in tools}
        try:
            ranking = await self._routing.index.search(
                query, limit, allowed=shown.keys(), min_score=self._settings.min_score
            )
        except SearchError as error:
            raise SearchUnavailableError(f"tool search failed: {error}") from error
        # A tool removed since the search began is left out rather than shown stale.
        return [Hit(shown[hit.key], hit.score) for hit in ranking.hits if hit.key in shown]


# Where a word matched, and what that is worth.
_NAME: Final = 3.0
_TITLE: Final = 2.0
_DESCRIPTION: Final = 1.0


class SubstringSearch:
    """Every word of the query in the name, title or description; no ranking model."""

    label = "plain text match (smart routing is not enabled in this hub)"
    smart = False

    async def search(
        self, query: str, tools: Sequence[Offered], limit: int = DEFAULT_LIMIT
    ) -> list[Hit]:
        words = query.casefold().split()
        if not words:
            return []
        hits = []
        for tool in tools:
            name = tool.hub_name.casefold()
            title = (tool.title or "").casefold()
            description = tool.description.casefold()
            score = 0.0
            for word in words:
                found = (
                    (_NAME if word in name else 0.0)
                    + (_TITLE if word in title else 0.0)
                    + (_DESCRIPTION if word in description else 0.0)
                )
                if not found:
                    break
                score += found
            else:
                hits.append(Hit(tool, score / (len(words) * (_NAME + _TITLE + _DESCRIPTION))))
        hits.sort(key=lambda hit: (-hit.score, hit.tool.hub_name))
        return hits[:limit]

"""Searching the tools a visitor may use, behind an interface smart routing plugs into.

The hub's smart routing (ranked, hybrid lexical and vector search over tool
descriptions, with policy filtering in the query) is not part of this hub
yet.  Until it is, the dashboard searches with :class:`SubstringSearch`, and
says so on the page: a plain, case-insensitive match of every word of the
query against names, titles and descriptions, scored by where the words
matched.  A real engine implements :class:`ToolSearch` -- the query, a limit,
and which items the visitor may see, so that filtering happens before
ranking and a hidden tool cannot even shape the order -- and is passed to the
dashboard in place of this one.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final, Protocol

from hub_proxy.auth.policy import Item
from hub_proxy.dashboard.view import Offered

DEFAULT_LIMIT: Final = 50


@dataclass(frozen=True)
class Hit:
    """One tool found, and how well it matched (higher is better; the engine's own scale)."""

    tool: Offered
    score: float


class ToolSearch(Protocol):
    """Finds tools for a query among those ``visible`` admits."""

    # Shown on the search page, so that a person knows how results were ranked.
    label: str
    smart: bool

    def search(
        self,
        query: str,
        tools: Sequence[Offered],
        visible: Callable[[Item], bool],
        limit: int = DEFAULT_LIMIT,
    ) -> list[Hit]: ...


# Where a word matched, and what that is worth.
_NAME: Final = 3.0
_TITLE: Final = 2.0
_DESCRIPTION: Final = 1.0


class SubstringSearch:
    """Every word of the query in the name, title or description; no ranking model."""

    label = "plain text match (smart routing is not enabled in this hub)"
    smart = False

    def search(
        self,
        query: str,
        tools: Sequence[Offered],
        visible: Callable[[Item], bool],
        limit: int = DEFAULT_LIMIT,
    ) -> list[Hit]:
        words = query.casefold().split()
        if not words:
            return []
        hits = []
        for tool in tools:
            if not visible(tool.item):
                continue
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

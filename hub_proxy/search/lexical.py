"""The lexical half of the ranking: terms of a text, and BM25 over them.

Exact names matter to people who search tools: "Todoist", "Jira",
``create_issue``.  A small embedding model blurs them ("GitHub" and "GitLab"
land close), so every tool is also scored by Okapi BM25 over its terms, and the
two scores are fused (:mod:`hub_proxy.search.ranking`).

Terms are the words of the text with identifiers split the way people read
them (``jira_assign_issue``, ``addReminders``, ``add-reminders`` are three
words each), lower-cased, minus a short list of English function words.  No
stemming: measured on the dev set, the Snowball stemmer cost 0.02 recall@5
(it merges words such as "organization" and "organize" whose tools differ).

The formula is implemented twice on purpose -- with numpy for the in-memory
store and in SQL for PostgreSQL (:mod:`hub_proxy.search.postgres`) -- because
both stores must rank identically, and a library such as ``bm25s`` would only
cover the first; the constants and the idf live here, once.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from typing import Final

# Okapi BM25's usual constants (Robertson and Zaragoza).
K1: Final = 1.2
B: Final = 0.75

_CAMEL: Final = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_WORD: Final = re.compile(r"[a-z0-9]+")
# Function words only: anything with meaning in a tool request stays.
_FUNCTION_WORDS: Final = (
    "a an and are as at be by for from has have i in is it its me my of on or our "
    "please that the their them then there these this to was we were what when where "
    "which who will with you your"
)
_STOP: Final = frozenset(_FUNCTION_WORDS.split())


def words(text: str) -> list[str]:
    """The words of ``text``, identifiers split, lower-cased."""
    return _WORD.findall(_CAMEL.sub(" ", text).lower())


def terms(text: str) -> Counter[str]:
    """Each term of ``text`` with its frequency."""
    return Counter(w for w in words(text) if w not in _STOP)


def idf(documents: int, frequency: int) -> float:
    """BM25's inverse document frequency, never negative (the "+1" variant Lucene uses)."""
    return math.log(1.0 + (documents - frequency + 0.5) / (frequency + 0.5))

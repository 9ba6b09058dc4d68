"""What can go wrong in tool search, as errors a caller can tell apart.

Every one of them reaches the MCP client as an error that says what failed and
what to do; none of them is ever turned into an empty result, which a client
would read as "nothing matches" -- a silent lie when the real answer is "the
embedding service is down".
"""

from __future__ import annotations


class SearchError(Exception):
    """Tool search could not answer; the message says why, for the caller."""


class QueryError(SearchError):
    """The request itself is wrong (empty query, bad limit): the caller can fix it."""


class EmbeddingError(SearchError):
    """The embedding provider failed or answered something unusable."""


class StoreError(SearchError):
    """The index's store (the database) cannot be reached or failed."""


class IndexMismatchError(SearchError):
    """The stored index was built with another model or dimension than this hub's.

    Vectors of two models are not comparable, so the hub refuses to mix them
    rather than rank nonsense; the message names both and what to do.
    """

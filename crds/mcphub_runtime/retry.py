"""The one back-off policy: exponential, capped, jittered.

Every loop that tries again after a failure -- a Kubernetes request refused
with 429 or 5xx, a watch that dropped, an upstream that closed, a child that
died -- waits by this policy.  Jitter matters as soon as there are several of
anything: hub replicas whose watches drop together when the API server
restarts would otherwise re-list in lockstep, every retry wave as tall as the
first.  Each delay is drawn uniformly from its upper half ("equal jitter"):
never near zero, so a failing loop cannot spin, yet replicas spread out
within a round or two.

A policy is a value, not a library's decorator (tenacity, stamina): the
callers are loops that keep their own count of failures -- reset when a
connection lived long enough, for instance -- and need the next delay, not a
wrapped function.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Final


@dataclass(frozen=True)
class Backoff:
    """Delays of ``first`` seconds doubling up to ``cap``, each jittered into its upper half."""

    first: float
    cap: float

    def delay(self, failures: int) -> float:
        """Seconds to wait after ``failures`` consecutive failures (1 for the first)."""
        ceiling = min(self.cap, self.first * 2.0 ** max(0, failures - 1))
        return random.uniform(ceiling / 2, ceiling)  # noqa: S311 - spreading, not secrecy

    def attempts(self, retries: int) -> Retries:
        """The delays before each of ``retries`` retries, drawn anew on every iteration."""
        return Retries(self, retries)


@dataclass(frozen=True)
class Retries:
    """A bounded series of delays, fresh jitter each time it is iterated.

    Sized and re-iterable, as kopf's ``settings.networking.error_backoffs``
    takes them: kopf iterates it once per failing request.
    """

    backoff: Backoff
    retries: int

    def __len__(self) -> int:
        return self.retries

    def __iter__(self) -> Iterator[float]:
        return (self.backoff.delay(failures) for failures in range(1, self.retries + 1))


# Requests to the Kubernetes API: quick to retry, the API server sheds load in seconds.
API: Final = Backoff(first=0.2, cap=5.0)
# Re-listing after a watch failed, reconnecting an upstream, restarting a child.
RECONNECT: Final = Backoff(first=0.5, cap=30.0)

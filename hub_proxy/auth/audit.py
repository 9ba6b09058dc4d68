"""The audit trail of authorization: every decision, logged and counted.

Two records of each decision serve two readers.  The log line answers "who
did what, and which policy let them (or stopped them)" after the fact: it names
the principal, the server, the item, the action, the outcome, the deciding
policy and rule, and the reason, as fields (``extra=``) that the hub's JSON
log formatter writes out as JSON keys, so a log store can index and query them
without a parsing rule.  The logger is ``hub_proxy.audit``, apart from the
hub's operational loggers, so an operator can route or silence the audit trail
on its own.

The counter, ``mcphub_access_decisions_total``, answers "how much is being
allowed and denied, by which policy" on a dashboard or an alert (a sudden rise
of denials by ``none`` is usually a broken policy, not an attack).  Its labels
are the action, the decision (``allow`` or ``deny``) and the policy
(``namespace/name``, or ``none`` when no policy covered the item): all bounded
sets.  Never the principal or the item: every distinct label value is a time
series kept in memory by the hub and by Prometheus, and principals and item
names are unbounded -- anyone able to present a new identity or a server
publishing generated names could otherwise exhaust both.

Lists are the exception to one line per decision.  Filtering a list of N
items makes N decisions, and clients list often (on connect, and on every
``list_changed``); N lines per list would bury the calls, which are the acts
with consequences, under lines that say nothing new: the same principal under
the same policies gets the same answers every time.  So a list request is
counted in full -- the counter still sees every decision -- but logged as one
line that summarizes it: who listed which kind on which servers, how many items
were allowed and denied, which policies denied them, and the names of the
denied items up to :data:`DENIED_NAMES_LOGGED`, enough to answer "why can't I
see that tool" in the common case without letting one huge list make one huge
line.

Both records are cheap on the hot path: the counter's labelled children are
looked up once per label combination and kept, and the log fields are only
built when the audit logger would actually emit the line.

The lines are written in batches, :data:`BATCH_SECONDS` after the first
decision of a batch, not while the call waits.  A decision is made on the
call's way to its upstream, and turning it into a JSON line took about an
eighth of a millisecond there (measured in the hub's own benchmark) -- an
eighth of the hop's whole budget -- for a line nobody reads before the call
is answered; written a moment later, it is written while the hub waits for
upstreams.  Each line keeps the time of its decision.  The cost is a window:
lines of the last :data:`BATCH_SECONDS` are lost if the process is killed
outright (a clean stop writes them, see :meth:`Audit.flush`).  Outside an
event loop (tools, tests) each line is written at once.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from collections.abc import Sequence
from typing import Final

from prometheus_client import REGISTRY, CollectorRegistry, Counter

from hub_proxy.auth.policy import Action, Decision, Item, ItemKind
from hub_proxy.auth.principal import Principal

logger = logging.getLogger("hub_proxy.audit")

DENIED_NAMES_LOGGED: Final = 20
# What a refused request names is the client's to choose: logged this far, no further.
REFUSAL_CHARS_LOGGED: Final = 300
BATCH_SECONDS: Final = 0.02

_Labels = tuple[Action, str, str]


def _labels(action: Action, decision: Decision) -> _Labels:
    return (action, "allow" if decision.allowed else "deny", decision.policy or "none")


class Audit:
    """Logs and counts authorization decisions.

    Make one per registry: Prometheus refuses a second metric of the same name.
    """

    def __init__(self, registry: CollectorRegistry = REGISTRY) -> None:
        self._decisions = Counter(
            "mcphub_access_decisions",
            "Authorization decisions, by action, outcome and the policy that decided.",
            ("action", "decision", "policy"),
            registry=registry,
        )
        # Looking a child up by label values takes a lock and formats the values;
        # the label combinations are few (actions x outcomes x policies), so keep them.
        self._children: dict[_Labels, Counter] = {}
        # Lines not yet written: when, what, and the fields.
        self._batch: list[tuple[float, str, dict[str, object]]] = []

    def record(self, principal: Principal, action: Action, item: Item, decision: Decision) -> None:
        """One decision about one item: a call, a read, a get, a completion."""
        self._count(_labels(action, decision), 1)
        if logger.isEnabledFor(logging.INFO):
            self._log(
                "access allowed" if decision.allowed else "access denied",
                {
                    "principal": principal.key,
                    "groups": sorted(principal.groups),
                    "action": action,
                    "kind": item.kind,
                    "server": item.server,
                    "item": item.published,
                    "allowed": decision.allowed,
                    "policy": decision.policy,
                    "rule": decision.rule,
                    "reason": decision.reason,
                },
            )

    def record_list(
        self, principal: Principal, kind: ItemKind, results: Sequence[tuple[Item, Decision]]
    ) -> None:
        """The decisions that filtered one list request: all counted, one line logged."""
        counts = collections.Counter(_labels("list", decision) for _, decision in results)
        for labels, count in counts.items():
            self._count(labels, count)
        if not logger.isEnabledFor(logging.INFO):
            return
        denied = [(item, decision) for item, decision in results if not decision.allowed]
        self._log(
            "list filtered",
            {
                "principal": principal.key,
                "groups": sorted(principal.groups),
                "action": "list",
                "kind": kind,
                "servers": sorted({item.server for item, _ in results}),
                # Counts under their own keys, not "allowed": a log store indexes a
                # field with one type, and "allowed" is a boolean on single decisions.
                "allowed_count": len(results) - len(denied),
                "denied_count": len(denied),
                "denied_by": dict(
                    collections.Counter(decision.policy or "none" for _, decision in denied)
                ),
                "denied_items": [
                    f"{item.server}/{item.published}" for item, _ in denied[:DENIED_NAMES_LOGGED]
                ],
            },
        )

    def refusal(self, principal: Principal, method: str, code: int, message: str) -> None:
        """A request answered with an error: a name that does not resolve, input refused."""
        if logger.isEnabledFor(logging.INFO):
            self._log(
                "request refused",
                {
                    "principal": principal.key,
                    "method": method[:REFUSAL_CHARS_LOGGED],
                    "code": code,
                    "reason": message[:REFUSAL_CHARS_LOGGED],
                },
            )

    def flush(self) -> None:
        """Write the lines not written yet; the hub calls this as it stops."""
        batch, self._batch = self._batch, []
        for created, event, fields in batch:
            record = logger.makeRecord(
                logger.name, logging.INFO, "", 0, event, (), None, extra=fields
            )
            record.created, record.msecs = created, (created - int(created)) * 1000
            logger.handle(record)

    def _log(self, event: str, fields: dict[str, object]) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            logger.info(event, extra=fields)
            return
        if not self._batch:
            loop.call_later(BATCH_SECONDS, self.flush)
        self._batch.append((time.time(), event, fields))

    def _count(self, labels: _Labels, count: int) -> None:
        child = self._children.get(labels)
        if child is None:
            child = self._children[labels] = self._decisions.labels(*labels)
        child.inc(count)

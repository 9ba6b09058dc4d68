"""The operator's Prometheus metrics, served at ``/metrics`` beside ``/healthz``.

What an admin alerts on: reconciles failing (``result="error"`` by kind),
reconciles slowing down, servers failing verification (by reason:
``unreachable``, ``timeout``, ``handshake_failed``), and how many objects the
operator looks after.  Label values are bounded: kinds,
results and verification reasons are short fixed sets, never object names.

| metric | type | labels |
|---|---|---|
| ``mcphub_operator_reconcile_total`` | counter | ``kind``, ``result`` (success, error) |
| ``mcphub_operator_reconcile_duration_seconds`` | histogram | ``kind`` |
| ``mcphub_operator_verification_total`` | counter | ``result`` (success, or the reason) |
| ``mcphub_operator_verification_duration_seconds`` | histogram | |
| ``mcphub_operator_managed_objects`` | gauge | ``kind`` |
| ``mcphub_operator_leader`` | gauge | (1 on the replica that reconciles) |

A reconcile of an MCPServer includes its verification; the verification's
own duration starts once one of ``--verify-concurrency`` slots is free, so it
measures the server, not the operator's queue.
"""

from __future__ import annotations

import re
from typing import Final

from prometheus_client import Counter, Gauge, Histogram

KINDS: Final = ("MCPServer", "MCPGroup", "AccessPolicy")
# From a millisecond status write to a verification that times out at 10 s.
_BUCKETS: Final = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

RECONCILES: Final = Counter(
    "mcphub_operator_reconcile_total", "Reconcile passes, by kind and result", ["kind", "result"]
)
RECONCILE_SECONDS: Final = Histogram(
    "mcphub_operator_reconcile_duration_seconds",
    "Duration of one reconcile pass, status write included",
    ["kind"],
    buckets=_BUCKETS,
)
VERIFICATIONS: Final = Counter(
    "mcphub_operator_verification_total",
    "MCP verifications (initialize and tools/list) of servers, by result",
    ["result"],
)
VERIFICATION_SECONDS: Final = Histogram(
    "mcphub_operator_verification_duration_seconds",
    "Duration of one MCP verification of a server",
    buckets=_BUCKETS,
)
MANAGED_OBJECTS: Final = Gauge(
    "mcphub_operator_managed_objects", "Objects the operator reconciles, by kind", ["kind"]
)
LEADER: Final = Gauge(
    "mcphub_operator_leader",
    "1 while this replica reconciles; 0 while it stands by for a peer (kopf peering)",
)


def result_label(reason: str) -> str:
    """A verification failure's CamelCase reason as a label value: ``HandshakeFailed`` ->
    ``handshake_failed``."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", reason).lower()

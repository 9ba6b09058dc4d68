"""The bridge's own Prometheus metrics, served at ``/metrics`` beside ``/mcp``.

The stdio server's state is read from the supervisor when Prometheus scrapes,
not counted as it changes, so that the server's life costs nothing extra:

* ``mcphub_bridge_child_up``: 1 while the server is initialized, else 0;
* ``mcphub_bridge_child_restarts_total``: how often it was started again
  (or its FIFOs reopened) after it ended.

The requests the bridge serves are counted on the way through
(``mcphub_bridge_requests_total``, ``mcphub_bridge_request_duration_seconds``,
``mcphub_bridge_requests_in_flight``: see
:mod:`hub_proxy.telemetry.instrumented`).  Nothing here names more than the
bridge's one server, so ``/metrics`` shares the MCP port: the PodMonitor of
``manifests/monitoring`` scrapes the sidecar there.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Final

from aiohttp import web

from hub_proxy.telemetry.states import ServerState, ServerStates

_CHILD: Final = ServerStates(
    "mcphub_bridge_child",
    up="1 while the bridged stdio server is initialized, else 0",
    restarts="Restarts of the bridged stdio server after it ended",
)


def export_child(
    status: Callable[[], ServerState],
) -> Callable[[web.Application], AsyncIterator[None]]:
    """A cleanup context exporting the server's ``status`` while the app runs."""
    return _CHILD.exporting(lambda: [((), status())])

"""What the hub says about itself: to the kubelet, to its users, and to Prometheus.

Three readers, three answers, because they may know different things.

* **The kubelet** asks ``/readyz`` whether to send the hub traffic.  Ready
  means the hub can serve: it listens (it answers at all), it holds its
  catalog (in a cluster, once the first snapshot of the namespace arrived --
  API keys come with it, so credentials can be checked), and the MCP servers
  of that first catalog have each had their first chance to start, so that a
  fresh replica does not join the Service with empty tool lists.  That first
  chance is over for a server once it is up or has failed once, and for all
  of them after :data:`WARMUP_SECONDS` whatever happened.  From then on the
  answer stays "ready": one dead MCP server fails its own tools with an error
  that names it, and must never take the hub -- every other server with it --
  out of its Service.  A JWT issuer that cannot be reached does not make the
  hub unready either, for the same reason: previously fetched keys keep
  working, and every other way in still does.  The probe is unauthenticated,
  so its answer names nothing: ``{"ready": true}``, or 503 with a reason that
  counts servers without naming them.
* **A user** asks ``/status`` how the servers are doing.  It is behind the
  same authentication as the MCP endpoints, and shows exactly the servers the
  caller may list something of (:meth:`~hub_proxy.auth.policy.Evaluator.sees`),
  with their state, reason, process ids, restarts and tool counts, and the
  configured servers the hub could not run, with why.  A server the caller
  may see nothing of is not there, as it is not at ``/mcp/{server}``.
* **Prometheus** scrapes ``/metrics``: ``mcphub_upstream_up{server}`` (1 when
  the server is initialized and its tools listed) and
  ``mcphub_upstream_restarts_total{server}`` (restarts of its process or
  reconnections of its session; it starts again at 0 when the server's
  configuration changes, which Prometheus reads as a counter reset), beside
  the audit's decision counter.  These name servers and policies, and
  Prometheus sends no credentials of the hub's kind, so in a cluster
  ``/metrics`` belongs on a listener of its own (``--metrics-port``) that the
  Service does not expose, where a scraper reaches the pod directly -- the
  common arrangement; without that flag it is served beside the MCP
  endpoints, which suits a standalone hub on 127.0.0.1.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import AsyncIterator, Callable
from typing import Final

import prometheus_client
from aiohttp import web

from hub_proxy.access import AccessControl, caller
from hub_proxy.catalog import Catalog
from hub_proxy.live import LiveCatalog
from hub_proxy.telemetry.states import ServerStates
from hub_proxy.upstreams import Upstreams, UpstreamStatus

WARMUP_SECONDS: Final = 60.0
"""The longest the first start of the catalog's servers holds readiness back."""


class Status:
    """The hub's ``/readyz`` and ``/status``, over the catalog and upstreams in force."""

    def __init__(
        self,
        live: LiveCatalog,
        upstreams: Upstreams,
        access: AccessControl,
        *,
        loaded: bool,
        warmup_seconds: float = WARMUP_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """``loaded``: whether ``live`` already holds the catalog to serve (standalone, it does)."""
        self._live = live
        self._upstreams = upstreams
        self._access = access
        self._warmup_seconds = warmup_seconds
        self._clock = clock
        self._ready = False
        # The servers of the first catalog, until each had its first chance.
        self._starting: frozenset[str] | None = None
        self._deadline = 0.0
        if loaded:
            self._start_warmup(live.current)
        else:
            live.subscribe(self._first_catalog)

    def not_ready(self) -> str | None:
        """Why the hub cannot serve yet, naming nothing; ``None`` once it can, for good."""
        if self._ready:
            return None
        if self._starting is None:
            return "waiting for the first snapshot of the catalog"
        waiting = [
            name
            for name in self._starting
            if name in self._upstreams and not _settled(self._upstreams[name].status)
        ]
        if waiting and self._clock() < self._deadline:
            return f"starting MCP servers: {len(waiting)} of {len(self._starting)} not up yet"
        self._ready = True
        return None

    async def readyz(self, _request: web.Request) -> web.Response:
        why = self.not_ready()
        if why is None:
            return web.json_response({"ready": True})
        return web.json_response({"ready": False, "reason": why}, status=503)

    async def status(self, _request: web.Request) -> web.Response:
        """``/status``: what the caller may know of the servers; authenticated by the middleware."""
        principal = caller()
        servers = {
            upstream.name: dataclasses.asdict(upstream.status)
            for upstream in self._upstreams.all()
            if self._access.sees(principal, upstream.name)
        }
        unsupported = {
            name: why
            for name, why in self._live.current.unsupported.items()
            if self._access.sees(principal, name)
        }
        body = {"ready": self.not_ready() is None, "servers": servers, "unsupported": unsupported}
        return web.json_response(body)

    def _first_catalog(self, _old: Catalog, new: Catalog) -> None:
        self._live.unsubscribe(self._first_catalog)
        self._start_warmup(new)

    def _start_warmup(self, catalog: Catalog) -> None:
        self._starting = frozenset(catalog.servers)
        self._deadline = self._clock() + self._warmup_seconds


def _settled(status: UpstreamStatus) -> bool:
    """Whether a server's first start is over: it is up, or it failed at least once."""
    return status.ready or status.restarts > 0


_UPSTREAMS: Final = ServerStates(
    "mcphub_upstream",
    up="1 when the MCP server is initialized and its tools are listed, else 0",
    restarts="Restarts of the MCP server's process, or reconnections of its session",
    labels=["server"],
)


def export_metrics(upstreams: Upstreams) -> Callable[[web.Application], AsyncIterator[None]]:
    """A cleanup context exporting ``upstreams`` on ``/metrics`` while the app runs."""
    return _UPSTREAMS.exporting(lambda: [((u.name,), u.status) for u in upstreams.all()])


async def metrics(_request: web.Request) -> web.Response:
    return web.Response(
        body=prometheus_client.generate_latest(),
        headers={"Content-Type": prometheus_client.CONTENT_TYPE_LATEST},
    )


def metrics_listener(host: str, port: int) -> Callable[[web.Application], AsyncIterator[None]]:
    """A cleanup context serving ``/metrics`` on a listener of its own while the app runs."""

    async def listening(_app: web.Application) -> AsyncIterator[None]:
        app = web.Application()
        app.router.add_get("/metrics", metrics)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, host, port).start()
        try:
            yield
        finally:
            await runner.cleanup()

    return listening

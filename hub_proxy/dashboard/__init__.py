"""The web dashboard at ``/ui``: see, search, try and trace what the hub serves.

The dashboard is part of the hub, not a client of it: it reads the hub's own
objects -- the catalog in force, the upstreams' statuses and cached offers,
the access control's one evaluator, the record of recent activity -- and
calls tools through the same session code as ``/mcp``, as the signed-in
principal.  So it shows exactly what ``/mcp`` serves to that principal and no
more, and it works the same standalone and in a cluster.

Its parts, each a module of this package:

* :mod:`.signin` and :mod:`.oidc`: sign-in (an API key or bearer token; or
  OpenID Connect with PKCE), the sealed cookie, CSRF protection;
* :mod:`.view`: the hub as one visitor sees it, and "who can";
* :mod:`.changes`: what changed lately, for live updates (server-sent events);
* :mod:`.search`: tool search, ranked by smart routing when the hub runs it;
* :mod:`.schema_form` and :mod:`.trying`: a form from a tool's input schema,
  and the call through the hub;
* :mod:`.config_folder`: the write path (YAML from a form; standalone, with
  ``--ui-write``, changes to the configuration folder);
* :mod:`.pages`: the handlers, rendered server-side by autoescaping Jinja2
  templates, with one small script for progressive enhancement.

Why server-rendered pages: the hub ships as a Python package, and pages built
by templates from package data need no Node build at install or run time,
nothing to keep in step between a bundle and an API, and put every byte from
an upstream through one autoescaping path; the pages that change live fetch
fragments the server renders the same way.  The whole front end is a few
templates, one stylesheet and one script of a few hundred lines, served with
a Content-Security-Policy that allows no inline script at all.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Final

from aiohttp import web

from hub_proxy.access import AccessControl
from hub_proxy.app import CATALOG, CLUSTER, FOLDER, SMART, UPSTREAMS
from hub_proxy.dashboard.changes import Changes
from hub_proxy.dashboard.pages import Dashboard
from hub_proxy.dashboard.search import SmartSearch, SubstringSearch, ToolSearch
from hub_proxy.dashboard.settings import DashboardSettings, OIDCSettings
from hub_proxy.dashboard.signin import Cookies, Sealer
from hub_proxy.dashboard.view import HubView
from hub_proxy.session import session_factory

__all__ = ["PREFIX", "DashboardSettings", "OIDCSettings", "ToolSearch", "mount"]

PREFIX: Final = "/ui"
DASHBOARD: Final = web.AppKey("dashboard", Dashboard)


def mount(
    app: web.Application,
    access: AccessControl,
    session_key: bytes,
    settings: DashboardSettings,
    *,
    search: ToolSearch | None = None,
) -> Dashboard:
    """Serve the dashboard at ``/ui`` of the hub's app (from :func:`hub_proxy.app.create_app`).

    Its search is ``search`` if given, else smart routing's if the app runs it.
    """
    live, upstreams = app[CATALOG], app[UPSTREAMS]
    if search is None:
        search = SmartSearch(app[SMART]) if SMART in app else SubstringSearch()
    in_cluster = CLUSTER in app
    changes = Changes(live, upstreams, access.activity)
    view = HubView(live, upstreams, access, changes, in_cluster=in_cluster)
    dashboard = Dashboard(
        view,
        access.authenticator,
        session_factory("", live, upstreams, access),
        Cookies(Sealer(session_key), settings.session_seconds),
        settings=settings,
        search=search,
        folder=None if in_cluster else app.get(FOLDER),
    )
    ui = web.Application(middlewares=[dashboard.middleware])
    dashboard.routes(ui)
    app[DASHBOARD] = dashboard
    app.add_subapp(PREFIX, ui)
    app.router.add_get(PREFIX, _to_overview)

    async def watching(_app: web.Application) -> AsyncIterator[None]:
        task = asyncio.create_task(changes.watch_health())
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        changes.close()

    app.cleanup_ctx.append(watching)
    return dashboard


async def _to_overview(_request: web.Request) -> web.StreamResponse:
    raise web.HTTPFound(f"{PREFIX}/")

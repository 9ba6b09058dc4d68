"""The dashboard's pages and endpoints: aiohttp handlers over :mod:`hub_proxy.dashboard.view`.

Every page is rendered on the server by autoescaping Jinja2 templates, so
everything an upstream or a visitor wrote reaches the browser as text, never
as markup; the one script (``static/dashboard.js``) only enhances pages that
work without it -- it swaps in fragments the server rendered, streams a
call's progress, and adds rows to the activity table with ``textContent``.
The Content-Security-Policy allows scripts and styles from the dashboard's
own static files only (no inline script or style, no ``eval``), media as
``data:`` URLs for images and audio a tool returned, and connections to the
dashboard itself; frames, plugins, ``<base>`` and foreign form targets are
refused.  So even markup that slipped through would run nothing.

A request is authenticated by :mod:`hub_proxy.dashboard.signin` (its cookie,
presented to the hub's authenticator) in :meth:`Dashboard.middleware`, which
also refuses a state change without the CSRF token, and answers a request
without a sign-in by sending the browser to the sign-in page (or, for the
script's own requests, with 401).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final
from urllib.parse import quote

import jinja2
from aiohttp import web
from aiohttp.typedefs import Handler
from aiohttp_sse import EventSourceResponse, sse_response

from hub_proxy.activity import Event
from hub_proxy.auth.authenticator import Authenticator
from hub_proxy.auth.errors import AuthenticationError, AuthUnavailableError
from hub_proxy.dashboard import config_folder, schema_form, trying
from hub_proxy.dashboard.config_folder import ConfigFolder, ServerForm, WriteError
from hub_proxy.dashboard.oidc import PENDING_SECONDS, OIDCClient, OIDCError, Pending
from hub_proxy.dashboard.search import Hit, SearchUnavailableError, ToolSearch
from hub_proxy.dashboard.settings import Admins, DashboardSettings
from hub_proxy.dashboard.signin import (
    CSRF_FIELD,
    Cookies,
    CookieState,
    CookieTooLargeError,
    Visitor,
    csrf_refusal,
    principal_of,
    safe_next,
    visitor,
)
from hub_proxy.dashboard.view import SUBJECT_KINDS, HubView, ServerView, subject_principal
from hub_proxy.transport import SessionFactory

PACKAGE: Final = Path(__file__).parent
VISITOR: Final = web.RequestKey("dashboard_visitor", Visitor)
OIDC_COOKIE: Final = "__Host-mcphub-ui-oidc"
ACTIVITY_SHOWN: Final = 200
CONTENT_SECURITY_POLICY: Final = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "media-src data:",
        "connect-src 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
    )
)
SECURITY_HEADERS: Final = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
}
# Pages anyone may load: signing in, and the files the sign-in page itself needs.
PUBLIC: Final = frozenset({"login", "login-post", "oidc", "oidc-callback", "static"})

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Page:
    """A template, its values, and the HTTP status to send it with."""

    template: str
    values: Mapping[str, Any]
    status: int = 200


class Dashboard:
    """The dashboard's handlers and the state they share."""

    def __init__(
        self,
        view: HubView,
        authenticator: Authenticator,
        sessions: SessionFactory,
        cookies: Cookies,
        *,
        settings: DashboardSettings,
        search: ToolSearch,
        folder: Path | None,
    ) -> None:
        self.view = view
        self._authenticator = authenticator
        self._sessions = sessions
        self._cookies = cookies
        self.settings = settings
        self._admins = Admins(settings.admins)
        self._search = search
        self._oidc = OIDCClient(settings.oidc) if settings.oidc is not None else None
        self._folder = ConfigFolder(folder) if folder is not None and settings.write else None
        self._streams: set[asyncio.Task[Any]] = set()
        self._templates = jinja2.Environment(
            loader=jinja2.FileSystemLoader(PACKAGE / "templates"),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self._templates.filters["ago"] = _ago
        self._templates.globals["detail"] = _detail
        self._templates.filters["clock"] = _clock
        self._templates.filters["ms"] = _ms

    # -- plumbing ---------------------------------------------------------------

    def routes(self, app: web.Application) -> None:
        add = app.router.add_route
        add("GET", "/", self.overview, name="overview")
        add("GET", "/fragments/servers", self.servers_fragment, name="servers-fragment")
        add("GET", "/login", self.login, name="login")
        add("POST", "/login", self.login_post, name="login-post")
        add("GET", "/login/oidc", self.oidc_start, name="oidc")
        add("GET", "/login/callback", self.oidc_callback, name="oidc-callback")
        add("POST", "/logout", self.logout, name="logout")
        add("GET", "/servers/{server}", self.server, name="server")
        add("GET", "/servers/{server}/tool", self.tool, name="tool")
        add("POST", "/servers/{server}/tool", self.call, name="call")
        add("GET", "/search", self.search, name="search")
        add("GET", "/who-can", self.who_can, name="who-can")
        add("GET", "/activity", self.activity, name="activity")
        add("GET", "/events", self.events, name="events")
        add("GET", "/config/new", self.new_server, name="new-server")
        add("POST", "/config/new", self.new_server_post, name="new-server-post")
        add("GET", "/servers/{server}/edit", self.edit_server, name="edit-server")
        add("POST", "/servers/{server}/edit", self.edit_server_post, name="edit-server-post")
        add("POST", "/servers/{server}/remove", self.remove_server, name="remove-server")
        app.router.add_static("/static", PACKAGE / "static", name="static")
        app.on_shutdown.append(self._end_streams)

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            response = await self._guarded(request, handler)
        except web.HTTPException as exc:
            response = exc
        response.headers.update(SECURITY_HEADERS)
        if request.match_info.route.name != "static":
            response.headers.setdefault("Cache-Control", "no-store")
        return response

    async def _guarded(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.match_info.route.name in PUBLIC:
            return await handler(request)
        state = self._cookies.state(request)
        try:
            principal = await principal_of(
                self._authenticator, state.credential if state is not None else None
            )
        except AuthUnavailableError as exc:
            return self._render(request, Page("error.html", {"message": str(exc)}, 503))
        except AuthenticationError as refusal:
            return self._sign_in_first(request, state, refusal.description)
        if state is None:
            # The anonymous caller of a hub run with --anonymous: a cookie for the CSRF token.
            response = web.HTTPSeeOther(str(request.rel_url))
            self._cookies.write(response, self._cookies.new_state(None))
            return response
        person = visitor(principal, state, self._admins)
        refusal_reason = await csrf_refusal(request, person.csrf)
        if refusal_reason is not None:
            return self._render(request, Page("error.html", {"message": refusal_reason}, 403))
        request[VISITOR] = person
        return await handler(request)

    def _sign_in_first(
        self, request: web.Request, state: CookieState | None, why: str
    ) -> web.StreamResponse:
        if request.headers.get("Accept", "").startswith(("application/json", "text/event-stream")):
            return web.json_response({"error": "sign in again"}, status=401)
        target = f"/ui/login?next={quote(str(request.rel_url), safe='')}"
        response = web.HTTPSeeOther(target)
        if state is not None and state.credential is not None:
            # The credential stopped working: forget it.
            self._cookies.write(response, self._cookies.new_state(None))
            logger.info("dashboard sign-in refused", extra={"why": why})
        return response

    def _render(self, request: web.Request, page: Page) -> web.Response:
        person = request.get(VISITOR)
        values = {
            "visitor": person,
            "csrf": person.csrf if person is not None else "",
            "csrf_field": CSRF_FIELD,
            "write": self._folder is not None and person is not None and person.admin,
            "in_cluster": self.view.in_cluster,
            "path": request.path,
            **page.values,
        }
        body = self._templates.get_template(page.template).render(values)
        return web.Response(text=body, status=page.status, content_type="text/html")

    async def _end_streams(self, _app: web.Application) -> None:
        for task in list(self._streams):
            task.cancel()

    # -- signing in ---------------------------------------------------------------

    async def login(self, request: web.Request) -> web.StreamResponse:
        state = self._cookies.state(request)
        message = request.query.get("why", "")
        return self._login_page(request, state, message[:200], 200)

    def _login_page(
        self, request: web.Request, state: CookieState | None, message: str, status: int
    ) -> web.StreamResponse:
        fresh = state is None
        state = state if state is not None else self._cookies.new_state(None)
        values = {
            "message": message,
            "next": safe_next(request.query.get("next")),
            "oidc": self._oidc is not None,
            "login_csrf": state.csrf,
        }
        response = self._render(request, Page("login.html", values, status))
        if fresh:
            self._cookies.write(response, state)
        return response

    async def login_post(self, request: web.Request) -> web.StreamResponse:
        state = self._cookies.state(request)
        form = await request.post()
        next_path = safe_next(_form_text(form, "next"))
        if state is None or await csrf_refusal(request, state.csrf) is not None:
            return self._login_page(
                request, None, "The sign-in form expired; please try again.", 403
            )
        credential = _form_text(form, "credential").strip()
        if not credential:
            return self._login_page(request, state, "Enter an API key or a bearer token.", 400)
        try:
            await principal_of(self._authenticator, credential)
        except AuthenticationError as refusal:
            return self._login_page(request, state, f"Not signed in: {refusal.description}", 401)
        except AuthUnavailableError as exc:
            return self._login_page(request, state, str(exc), 503)
        response = web.HTTPSeeOther(next_path)
        try:
            self._cookies.write(response, self._cookies.new_state(credential))
        except CookieTooLargeError as exc:
            return self._login_page(request, state, str(exc), 400)
        return response

    async def logout(self, request: web.Request) -> web.StreamResponse:
        response = web.HTTPSeeOther("/ui/login")
        self._cookies.clear(response)
        return response

    def _redirect_uri(self, request: web.Request) -> str:
        base = self.settings.public_url or f"{request.scheme}://{request.host}"
        return f"{base.rstrip('/')}/ui/login/callback"

    async def oidc_start(self, request: web.Request) -> web.StreamResponse:
        if self._oidc is None:
            raise web.HTTPNotFound(text="OpenID Connect sign-in is not configured")
        next_path = safe_next(request.query.get("next"))
        try:
            url, pending = await self._oidc.begin(self._redirect_uri(request), next_path)
        except OIDCError as exc:
            return self._login_page(request, self._cookies.state(request), str(exc), 503)
        response = web.HTTPFound(url)
        self._cookies.put(response, OIDC_COOKIE, pending.to_json(), PENDING_SECONDS)
        return response

    async def oidc_callback(self, request: web.Request) -> web.StreamResponse:
        if self._oidc is None:
            raise web.HTTPNotFound(text="OpenID Connect sign-in is not configured")
        stored = self._cookies.read(request, OIDC_COOKIE, PENDING_SECONDS)
        pending = Pending.from_json(stored) if stored is not None else None
        state = self._cookies.state(request)
        query = request.query
        problem = None
        if "error" in query:
            problem = f"the issuer refused: {query.get('error_description') or query['error']}"
        elif pending is None:
            problem = "the sign-in took too long or was started elsewhere; please try again"
        elif query.get("state") != pending.state or not query.get("code"):
            problem = "the issuer's answer does not belong to this sign-in; please try again"
        if problem is not None or pending is None:
            return self._login_page(request, state, f"Not signed in: {problem}"[:300], 400)
        try:
            token = await self._oidc.finish(pending, query["code"], self._redirect_uri(request))
            await principal_of(self._authenticator, token)
        except OIDCError as exc:
            return self._login_page(request, state, str(exc), 400)
        except AuthenticationError as refusal:
            message = f"Not signed in: the issuer's token is not accepted: {refusal.description}"
            return self._login_page(request, state, message, 401)
        response = web.HTTPSeeOther(pending.next)
        try:
            self._cookies.write(response, self._cookies.new_state(token))
        except CookieTooLargeError as exc:
            return self._login_page(request, state, str(exc), 400)
        self._cookies.clear(response, OIDC_COOKIE)
        return response

    # -- reading ------------------------------------------------------------------

    def _overview_values(self, person: Visitor) -> dict[str, Any]:
        servers = self.view.servers(person)
        return {"servers": servers, "groups": self.view.groups(person, servers), "now": time.time()}

    async def overview(self, request: web.Request) -> web.StreamResponse:
        values = self._overview_values(request[VISITOR])
        return self._render(request, Page("overview.html", values))

    async def servers_fragment(self, request: web.Request) -> web.StreamResponse:
        values = self._overview_values(request[VISITOR])
        return self._render(request, Page("_servers.html", values))

    def _visible_server(self, request: web.Request) -> ServerView:
        server = self.view.server(request[VISITOR], request.match_info["server"])
        if server is None:
            raise self._not_found(request)
        return server

    def _not_found(self, request: web.Request) -> web.HTTPException:
        # The same answer for a server that does not exist and one the visitor may not see.
        body = self._render(
            request, Page("error.html", {"message": "No such server or tool here."}, 404)
        )
        return web.HTTPNotFound(text=body.text, content_type="text/html")

    async def server(self, request: web.Request) -> web.StreamResponse:
        server = self._visible_server(request)
        events = [
            event
            for event in self._visible_events(request[VISITOR])
            if server.name in event.servers and event.kind != "list"
        ][-20:]
        located = self._folder.locate(server.name) if self._folder is not None else None
        definition = server.definition
        values = {
            "server": server,
            "history": self.view.history(server.name),
            "events": list(reversed(events)),
            "yaml": located.document
            if located is not None
            else config_folder.to_yaml(definition.to_wire())
            if definition is not None
            else "",
            "fields_of": schema_form.form_fields,
        }
        return self._render(request, Page("server.html", values))

    def _tool(self, request: web.Request) -> tuple[ServerView, Any]:
        server = self._visible_server(request)
        name = request.query.get("name", "")
        for tool in server.of_kind("tool"):
            if tool.name == name:
                return server, tool
        raise self._not_found(request)

    async def tool(self, request: web.Request) -> web.StreamResponse:
        server, tool = self._tool(request)
        values = {
            "server": server,
            "tool": tool,
            "fields": schema_form.form_fields(tool.input_schema),
            "raw_field": schema_form.RAW_FIELD,
            "outcome": None,
            "error": "",
            "posted": {},
        }
        return self._render(request, Page("tool.html", values))

    async def call(self, request: web.Request) -> web.StreamResponse:
        server, tool = self._tool(request)
        form = await request.post()
        fields = schema_form.form_fields(tool.input_schema)
        streaming = request.headers.get("Accept") == "application/x-ndjson"
        values: dict[str, Any] = {
            "server": server,
            "tool": tool,
            "fields": fields,
            "raw_field": schema_form.RAW_FIELD,
            "outcome": None,
            "error": "",
            "posted": {key: value for key, value in form.items() if isinstance(value, str)},
        }
        try:
            arguments = schema_form.arguments(fields, form)
        except schema_form.FormError as exc:
            if streaming:
                return web.json_response({"error": str(exc)}, status=400)
            return self._render(request, Page("tool.html", {**values, "error": str(exc)}, 400))
        principal = request[VISITOR].principal
        if not streaming:
            answer = await trying.call_tool(
                self._sessions, principal, tool.hub_name, arguments, lambda *_: None
            )
            values["outcome"] = trying.outcome(answer)
            return self._render(request, Page("tool.html", values))
        return await self._streamed_call(request, principal, tool.hub_name, arguments)

    async def _streamed_call(
        self, request: web.Request, principal: Any, hub_name: str, arguments: dict[str, Any]
    ) -> web.StreamResponse:
        """The call's notifications as JSON lines while it runs, then the rendered result."""
        response = web.StreamResponse(headers={"Content-Type": "application/x-ndjson"})
        response.headers.update(SECURITY_HEADERS)
        await response.prepare(request)
        lines: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

        def listener(method: str, params: Mapping[str, Any]) -> None:
            if method == "notifications/progress":
                lines.put_nowait(
                    {
                        "progress": _number(params.get("progress")),
                        "total": _number(params.get("total")),
                        "message": str(params.get("message") or "")[:500],
                    }
                )
            else:
                lines.put_nowait({"log": json.dumps(params.get("data"))[:500]})

        calling = asyncio.create_task(
            trying.call_tool(self._sessions, principal, hub_name, arguments, listener)
        )
        try:
            while not calling.done() or not lines.empty():
                getting = asyncio.ensure_future(lines.get())
                await asyncio.wait({getting, calling}, return_when=asyncio.FIRST_COMPLETED)
                if getting.done():
                    await response.write(json.dumps(getting.result()).encode() + b"\n")
                else:
                    getting.cancel()
            outcome = trying.outcome(calling.result())
        finally:
            calling.cancel()
        html = self._templates.get_template("_result.html").render({"outcome": outcome})
        await response.write(json.dumps({"html": html, "failed": outcome.failed}).encode() + b"\n")
        await response.write_eof()
        return response

    async def search(self, request: web.Request) -> web.StreamResponse:
        query = request.query.get("q", "")[:500]
        person = request[VISITOR]
        hits: list[Hit] = []
        problem = None
        if query.strip():
            try:
                shown = self.view.shown(person)
                tools = [tool for tool in self.view.offered_tools() if shown(tool.item)]
                hits = await self._search.search(query, tools)
            except SearchUnavailableError as unavailable:
                problem = str(unavailable)
        values = {"query": query, "hits": hits, "problem": problem, "engine": self._search}
        return self._render(request, Page("search.html", values))

    async def who_can(self, request: web.Request) -> web.StreamResponse:
        person = request[VISITOR]
        query = request.query
        kind = query.get("kind", "User")
        if kind not in SUBJECT_KINDS:
            kind = "User"
        name = query.get("name", "").strip()[:256]
        namespace = query.get("namespace", "").strip()[:63] or "default"
        groups = [group for group in query.get("groups", "").split(",") if group.strip()]
        asked = bool(name)
        if not person.admin:
            # Others may ask about themselves only: someone else's grants are not theirs to read.
            asked, principal = True, person.principal
        else:
            subject = next(known for known in SUBJECT_KINDS if known == kind)
            principal = subject_principal(subject, name, namespace, [g.strip() for g in groups])
        verdicts = self.view.who_can(principal) if asked else []
        if not person.admin:
            # Not even as "no": an item hidden from them is not theirs to learn of.
            verdicts = [verdict for verdict in verdicts if verdict.listed.allowed]
        values = {
            "kinds": SUBJECT_KINDS,
            "kind": kind,
            "name": name,
            "namespace": namespace,
            "groups": ", ".join(groups),
            "asked": asked,
            "principal": principal,
            "verdicts": verdicts,
        }
        return self._render(request, Page("who_can.html", values))

    @staticmethod
    def _visible(person: Visitor, event: Event) -> bool:
        """Administrators see everyone's activity; others their own."""
        return person.admin or event.principal.key == person.principal.key

    def _visible_events(self, person: Visitor) -> list[Event]:
        return [event for event in self.view.activity.recent() if self._visible(person, event)]

    async def activity(self, request: web.Request) -> web.StreamResponse:
        person = request[VISITOR]
        wanted = _ActivityFilter.of(request.query)
        events = [e for e in self._visible_events(person) if wanted.admits(e)]
        recent = self.view.activity.recent()
        values = {
            "events": list(reversed(events))[:ACTIVITY_SHOWN],
            "filter": wanted,
            "after": recent[-1].id if recent else 0,
        }
        return self._render(request, Page("activity.html", values))

    async def events(self, request: web.Request) -> web.StreamResponse:
        """Server-sent events: ``servers`` (fetch the overview again); with ``activity=1``,
        the activity rows the visitor may see that the filter in the query admits, from
        the event after ``after`` (the newest the page was rendered with) on."""
        person = request[VISITOR]
        wanted = _ActivityFilter.of(request.query) if request.query.get("activity") else None
        after = _int(request.query.get("after"))
        task = asyncio.current_task()
        assert task is not None  # noqa: S101 - a handler always runs in a task
        self._streams.add(task)
        try:
            async with sse_response(request, headers=SECURITY_HEADERS) as stream:
                with self.view.changes.stream() as queue:
                    await stream.send("connected", event="hello")
                    # Subscribed first, then the events recorded since the page was made:
                    # none falls between the two, and none is sent twice.
                    missed = self.view.activity.recent() if wanted is not None else ()
                    for event in missed:
                        after = await self._send_event(stream, person, wanted, event, after)
                    while stream.is_connected():
                        message = await queue.get()
                        if message.kind == "servers":
                            await stream.send("changed", event="servers")
                        elif message.event is not None:
                            after = await self._send_event(
                                stream, person, wanted, message.event, after
                            )
                return stream
        finally:
            self._streams.discard(task)

    async def _send_event(
        self,
        stream: EventSourceResponse,
        person: Visitor,
        wanted: _ActivityFilter | None,
        event: Event,
        after: int,
    ) -> int:
        """Send ``event`` if it is new and the visitor asked for it; the newest id sent."""
        if wanted is None or event.id <= after:
            return after
        if self._visible(person, event) and wanted.admits(event):
            shown = _event_json(event, admin=person.admin)
            await stream.send(json.dumps(shown), event="activity")
        return event.id

    # -- writing ------------------------------------------------------------------

    def _writer(self, request: web.Request) -> ConfigFolder | None:
        return self._folder if request[VISITOR].admin else None

    async def new_server(self, request: web.Request) -> web.StreamResponse:
        values = {
            "form": ServerForm("", "command", "stdio"),
            "yaml": "",
            "problems": [],
            "saved": "",
            "transports": config_folder.TRANSPORTS,
            "session_modes": config_folder.SESSION_MODES,
        }
        return self._render(request, Page("new_server.html", values))

    async def new_server_post(self, request: web.Request) -> web.StreamResponse:
        posted = await request.post()
        form = ServerForm.from_post(posted)
        values: dict[str, Any] = {
            "form": form,
            "yaml": "",
            "problems": [],
            "saved": "",
            "transports": config_folder.TRANSPORTS,
            "session_modes": config_folder.SESSION_MODES,
        }
        status = 200
        try:
            document = config_folder.server_document(form)
            config_folder.validated(document)
            values["yaml"] = config_folder.to_yaml(document)
            writer = self._writer(request)
            if _form_text(posted, "action") == "save" and writer is not None:
                path = await asyncio.to_thread(writer.add, values["yaml"])
                values["saved"] = path.name
        except WriteError as exc:
            values["problems"], status = exc.problems, 400
        return self._render(request, Page("new_server.html", values, status))

    def _editable(self, request: web.Request) -> tuple[ConfigFolder, str]:
        writer = self._writer(request)
        name = request.match_info["server"]
        if writer is None or ("MCPServer", name) not in self.view.catalog.definitions:
            raise self._not_found(request)
        return writer, name

    async def edit_server(self, request: web.Request) -> web.StreamResponse:
        writer, name = self._editable(request)
        located = await asyncio.to_thread(writer.locate, name)
        if located is None:
            raise self._not_found(request)
        values = {
            "name": name,
            "file": located.path.name,
            "yaml": located.document,
            "digest": located.digest,
            "problems": [],
        }
        return self._render(request, Page("edit_server.html", values))

    async def edit_server_post(self, request: web.Request) -> web.StreamResponse:
        writer, name = self._editable(request)
        posted = await request.post()
        text = _form_text(posted, "yaml")
        digest = _form_text(posted, "digest")
        try:
            await asyncio.to_thread(writer.replace, name, text, digest)
        except WriteError as exc:
            located = await asyncio.to_thread(writer.locate, name)
            values = {
                "name": name,
                "file": located.path.name if located is not None else "",
                "yaml": text,
                "digest": digest,
                "problems": exc.problems,
            }
            return self._render(request, Page("edit_server.html", values, 400))
        raise web.HTTPSeeOther(f"/ui/servers/{name}?saved=1")

    async def remove_server(self, request: web.Request) -> web.StreamResponse:
        writer, name = self._editable(request)
        posted = await request.post()
        try:
            await asyncio.to_thread(writer.remove, name, _form_text(posted, "digest"))
        except WriteError as exc:
            message = "Not removed: " + "; ".join(exc.problems)
            return self._render(request, Page("error.html", {"message": message}, 400))
        raise web.HTTPSeeOther("/ui/?removed=" + name)


@dataclass(frozen=True)
class _ActivityFilter:
    """What the activity page and its stream show: by server, principal, kind and outcome."""

    server: str = ""
    principal: str = ""
    kind: str = ""
    outcome: str = ""

    @classmethod
    def of(cls, query: Mapping[str, str]) -> _ActivityFilter:
        return cls(
            *(query.get(key, "").strip()[:200] for key in ("server", "who", "kind", "outcome"))
        )

    def admits(self, event: Event) -> bool:
        return (
            (not self.server or self.server in event.servers)
            and (not self.principal or self.principal.casefold() in str(event.principal).casefold())
            and (not self.kind or event.kind == self.kind)
            and (not self.outcome or event.outcome == self.outcome)
        )


def _event_json(event: Event, *, admin: bool) -> dict[str, Any]:
    return {
        "id": event.id,
        "at": _clock(event.at),
        "kind": event.kind,
        "principal": str(event.principal),
        "action": event.action,
        "servers": ", ".join(event.servers),
        "item": event.item,
        "outcome": event.outcome,
        "policy": event.policy or "",
        "detail": _detail(event, admin=admin),
        "seconds": _ms(event.seconds),
    }


def _detail(event: Event, *, admin: bool) -> str:
    """An event's detail; how many items a list hid only for administrators."""
    if admin and event.hidden:
        return f"{event.detail}, {event.hidden} hidden"
    return event.detail


def _form_text(form: Mapping[str, Any], key: str) -> str:
    value = form.get(key)
    return value if isinstance(value, str) else ""


def _int(value: str | None) -> int:
    try:
        return int(value or 0)
    except ValueError:
        return 0


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _ago(at: float | None) -> str:
    if at is None:
        return "never"
    seconds = max(0, int(time.time() - at))
    if seconds < 60:
        return f"{seconds} s ago"
    if seconds < 3600:
        return f"{seconds // 60} min ago"
    return f"{seconds // 3600} h ago"


def _clock(at: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(at))


def _ms(seconds: float | None) -> str:
    return "" if seconds is None else f"{seconds * 1000:.1f} ms"

"""Access control in the running hub: who is calling, and what the catalog in force lets them do.

:mod:`hub_proxy.auth` knows how to authenticate a request and how to decide
one question about one item; this module puts both in front of the hub's MCP
endpoints, with the catalog as it is at the moment of each request.

Authentication is an aiohttp middleware over every path under ``/mcp``,
``/sse`` and ``/status``, so no endpoint can forget it; probes, metrics and the
protected-resource metadata stay open, because a load balancer and an OAuth
client must reach them before they hold a credential.  A request that cannot
be authenticated gets 401 with a JSON-RPC error body (SDK clients show its
text) and a ``WWW-Authenticate`` challenge pointing at the RFC 9728 metadata
for that very endpoint, from which an MCP client finds the issuer to get a
token from.  An authenticated request carries its principal two ways: as the
transport's session owner (:data:`hub_proxy.transport.OWNER`, by the
principal's stable key), so a session answers only to whoever opened it; and
in :data:`CALLER`, a context variable, which the transport's request tasks
inherit, so the session answering a request authorizes it with the
credentials *this* request carried -- a group removed from a token takes
effect on the next request, not at the next session.

Authorization goes through :meth:`AccessControl.decide` and
:meth:`AccessControl.visible`, which audit what they decide.  The evaluator
is rebuilt when the catalog's policies or groups change (a policy names groups,
and what a group contains is part of what it grants), lazily, on the first
question after the change, so that whichever listener of the catalog runs
first, nobody is ever answered by a stale evaluator.  API keys follow the
catalog's Secrets the same way.

Every refusal leaves a line, so that probing shows up in the logs: an HTTP
request answered 4xx (an unknown scope, a malformed body, a session that is
not the caller's) is logged as ``request refused`` by ``hub_proxy.access``
with its status and the reason the client was told, as is a failed
authentication (``authentication refused``, with the reason the client was
not told, and a count in ``mcphub_auth_refusals_total`` by kind); a
JSON-RPC request answered with an error (a name that does not resolve, a URI
refused) is audited by the session through :meth:`AccessControl.refused`.

Every decision, and the end of every call it allowed (:meth:`AccessControl.called`),
is also told to :attr:`AccessControl.activity`, the in-memory record of what
the hub did lately that the dashboard reads (see :mod:`hub_proxy.activity`).

Credentials that stop being good end what they opened.  A revoked API key
(its Secret annotated revoked, or deleted) is refused from the next request
on, and the owners whose keys the catalog no longer accepts are handed to
:meth:`AccessControl.on_revoked` listeners -- the hub ends their sessions and
streams there.  A JWT expires on its own: each request carries the moment its
token stops being accepted (``exp`` plus the leeway the verifier allows) as
:data:`hub_proxy.transport.CREDENTIAL_EXPIRES`, and the transport ends a
session when the token that last used it expires.
"""

from __future__ import annotations

import contextvars
import json
import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Final

from aiohttp import web
from aiohttp.typedefs import Handler

from hub_proxy.activity import Activity, CallOutcome
from hub_proxy.auth.audit import Audit
from hub_proxy.auth.authenticator import Authenticator
from hub_proxy.auth.errors import AuthConfigError, AuthenticationError, AuthUnavailableError
from hub_proxy.auth.jwt_tokens import UnverifiedToken
from hub_proxy.auth.metadata import (
    WELL_KNOWN_PATH,
    metadata_url,
    protected_resource_metadata,
    www_authenticate,
)
from hub_proxy.auth.policy import Action, Decision, Evaluator, Groups, Item, ItemKind
from hub_proxy.auth.principal import Principal
from hub_proxy.catalog import Catalog
from hub_proxy.live import LiveCatalog
from hub_proxy.telemetry.metrics import AUTH_REFUSALS
from hub_proxy.transport import CREDENTIAL_EXPIRES, OWNER, jsonrpc
from mcphub_api import AccessPolicy

CALLER: Final[contextvars.ContextVar[Principal]] = contextvars.ContextVar("mcphub_caller")
# Expiry times of bearer tokens remembered; all forgotten at once when full.
_EXPIRIES_KEPT: Final = 4096

RevocationListener = Callable[[frozenset[str]], object]
"""Told the owners (principal keys) whose credentials were just revoked."""
PROTECTED_PREFIXES: Final = ("/mcp", "/sse", "/status")
# Their 503 says "not ready yet", to the kubelet every few seconds: not a refusal.
_PROBES: Final = frozenset({"/healthz", "/readyz"})
RESOURCE_NAME: Final = "mcphub"
# Paths and reasons are the client's to choose: logged this far, no further.
REASON_LOGGED: Final = 300
# The refusal counter's reason label, by the RFC 6750 error code of the challenge.
_REFUSAL_REASONS: Final = {
    None: "missing",
    "invalid_token": "invalid",
    "invalid_request": "malformed",
}

logger = logging.getLogger(__name__)


class AccessControl:
    """The hub's authenticator and evaluator, kept in step with the catalog in force."""

    def __init__(
        self,
        authenticator: Authenticator,
        live: LiveCatalog,
        audit: Audit,
        *,
        public_url: str | None = None,
    ) -> None:
        self.authenticator = authenticator
        self._live = live
        self._audit = audit
        self.activity = Activity()
        self._public_url = public_url.rstrip("/") if public_url else None
        self._catalog: Catalog | None = None
        self._inputs: _Evaluated | None = None
        self._evaluator = Evaluator((), {})
        self._revocation_listeners: list[RevocationListener] = []
        self._expiries: dict[str, float] = {}
        authenticator.api_keys.replace(live.current.api_keys)
        live.subscribe(self._replaced)

    @property
    def evaluator(self) -> Evaluator:
        """The evaluator of the catalog in force; rebuilt only when policies or groups changed."""
        catalog = self._live.current
        if catalog is not self._catalog:
            inputs = _evaluated(catalog)
            if inputs != self._inputs:
                self._evaluator = Evaluator(*inputs)
                self._inputs = inputs
            self._catalog = catalog
        return self._evaluator

    @staticmethod
    def changed(old: Catalog, new: Catalog) -> bool:
        """Whether what anyone may see can differ between the two catalogs' policies."""
        return _evaluated(old) != _evaluated(new)

    def decide(self, principal: Principal, action: Action, item: Item) -> Decision:
        """Decide one act (call, read, get) on one item, and audit it."""
        decision = self.evaluator.decide(principal, action, item)
        self._audit.record(principal, action, item, decision)
        self.activity.decided(principal, action, item, decision)
        return decision

    def called(
        self, principal: Principal, action: Action, item: Item, outcome: CallOutcome, seconds: float
    ) -> None:
        """An act :meth:`decide` allowed ended ``seconds`` later; recorded for the dashboard."""
        self.activity.called(principal, action, item, outcome, seconds)

    async def close(self, _app: web.Application) -> None:
        """Write the audit lines still batched, so that the last calls before a stop are audited."""
        self._audit.flush()

    def sees(self, principal: Principal, server: str) -> bool:
        """Whether ``principal`` may list anything of ``server``; if not, the server is unknown
        to it (see :meth:`~hub_proxy.auth.policy.Evaluator.sees`)."""
        return self.evaluator.sees(principal, server)

    def sees_group(self, principal: Principal, group: str) -> bool:
        """Whether a rule granting ``group`` by name lets ``principal`` list in it."""
        return self.evaluator.sees_group(principal, group)

    def visible(self, principal: Principal, kind: ItemKind, items: Sequence[Item]) -> list[bool]:
        """Which of a list's items the principal may see, audited as one list."""
        evaluator = self.evaluator
        results = [(item, evaluator.decide(principal, "list", item)) for item in items]
        self._audit.record_list(principal, kind, results)
        self.activity.listed(principal, kind, results)
        return [decision.allowed for _, decision in results]

    # A new-style aiohttp middleware (the decorator marks it so), bound to this object.
    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Authenticate every request to an MCP endpoint; log every request refused."""
        principal: Principal | None = None
        if request.path.startswith(PROTECTED_PREFIXES):
            try:
                principal = await self.authenticator.authenticate(request.headers)
            except AuthenticationError as refusal:
                logger.info(
                    "authentication refused",
                    extra={"path": request.path, "reason": refusal.reason, "peer": request.remote},
                )
                AUTH_REFUSALS.labels(_REFUSAL_REASONS[refusal.error]).inc()
                return self._unauthorized(request, refusal)
            except AuthUnavailableError as unavailable:
                # Not a 401: the credentials may be fine, and a client told 401 would
                # throw them away for new ones that fail the same way.
                logger.warning("cannot check credentials now", extra={"reason": str(unavailable)})
                AUTH_REFUSALS.labels("unavailable").inc()
                return _refusal(503, f"credentials cannot be checked now: {unavailable}", {})
            request[OWNER] = principal.key
            expires = self._expiry(request.headers)
            if expires is not None:
                request[CREDENTIAL_EXPIRES] = expires
        token = CALLER.set(principal) if principal is not None else None
        try:
            response = await handler(request)
        except web.HTTPException as refused:
            _log_refused(request, principal, refused.status, refused.text)
            raise
        finally:
            if token is not None:
                CALLER.reset(token)
        if response.status >= 400 and request.path not in _PROBES:
            body = response.body if isinstance(response, web.Response) else None
            _log_refused(request, principal, response.status, body)
        return response

    def refused(self, request: jsonrpc.Request, error: jsonrpc.Error) -> None:
        """A request of the caller's answered with an error: audited as refused."""
        self._audit.refusal(caller(), request.method, error.code, error.message)

    async def metadata(self, request: web.Request) -> web.Response:
        """``/.well-known/oauth-protected-resource[/path]``: RFC 9728 metadata of ``/path``."""
        resource = self._base(request) + request.path.removeprefix(WELL_KNOWN_PATH)
        try:
            document = protected_resource_metadata(
                resource,
                self.authenticator.settings.authorization_servers,
                resource_name=RESOURCE_NAME,
            )
        except AuthConfigError as exc:
            return web.json_response({"error": str(exc)}, status=404)
        return web.json_response(document)

    def _unauthorized(self, request: web.Request, refusal: AuthenticationError) -> web.Response:
        try:
            challenge = www_authenticate(metadata_url(self._base(request) + request.path), refusal)
        except AuthConfigError:
            # Served over plain HTTP to a non-loopback name, with no --public-url:
            # no client may trust metadata found there, so none is advertised.
            challenge = "Bearer"
        message = f"authentication required: {refusal.description}"
        return _refusal(401, message, {"WWW-Authenticate": challenge})

    def _base(self, request: web.Request) -> str:
        return self._public_url or f"{request.scheme}://{request.host}"

    def on_revoked(self, listener: RevocationListener) -> None:
        """Tell ``listener`` the owners (:attr:`Principal.key`) whose credentials were revoked."""
        self._revocation_listeners.append(listener)

    def _replaced(self, _old: Catalog, new: Catalog) -> None:
        keys = self.authenticator.api_keys
        before = keys.accepted()
        keys.replace(new.api_keys)
        # A key no longer accepted: revoked, deleted, or its hash replaced.
        revoked = frozenset(principal.key for _, principal in before - keys.accepted())
        if revoked:
            logger.info("API keys revoked", extra={"owners": sorted(revoked)})
            for listener in self._revocation_listeners:
                listener(revoked)

    def _expiry(self, headers: Mapping[str, str]) -> float | None:
        """When the request's bearer JWT, already authenticated, stops being accepted.

        ``None`` for an API key or no credentials, which do not expire.  Decoding
        a token costs some 50 microseconds, so the answer is remembered, by the
        token's signature: the token was verified, so its signature is its own.
        """
        scheme, _, credential = headers.get("Authorization", "").strip().partition(" ")
        credential = credential.strip()
        if scheme.lower() != "bearer" or "." not in credential:
            return None
        signature = credential.rpartition(".")[2]
        expires = self._expiries.get(signature)
        if expires is None:
            leeway = self.authenticator.settings.leeway_seconds
            expires = UnverifiedToken.parse(credential).expires_at + leeway
            if len(self._expiries) >= _EXPIRIES_KEPT:
                self._expiries.clear()
            self._expiries[signature] = expires
        return expires


_Evaluated = tuple[tuple[AccessPolicy, ...], Groups]


def _evaluated(catalog: Catalog) -> _Evaluated:
    """What the evaluator is built from: the policies, and the groups they may name."""
    return catalog.policies, catalog.group_members


def _log_refused(
    request: web.Request, principal: Principal | None, status: int, body: object
) -> None:
    """The access log's line for a refused HTTP request, with the reason the client was given."""
    if status < 400:
        return
    reason = None
    if isinstance(body, bytes | str):
        try:
            reason = json.loads(body)["error"]["message"]
        except (ValueError, TypeError, KeyError):
            reason = body[:REASON_LOGGED] if isinstance(body, str) else None
    logger.info(
        "request refused",
        extra={
            "method": request.method,
            "path": request.path[:REASON_LOGGED],
            "status": status,
            "principal": principal.key if principal is not None else None,
            "reason": reason[:REASON_LOGGED] if isinstance(reason, str) else None,
            "peer": request.remote,
        },
    )


def _refusal(status: int, message: str, headers: dict[str, str]) -> web.Response:
    body = jsonrpc.encode(jsonrpc.Error(None, jsonrpc.INVALID_REQUEST, message))
    return web.Response(status=status, body=body, content_type="application/json", headers=headers)


def caller() -> Principal:
    """The principal of the request being handled (set by :meth:`AccessControl.middleware`)."""
    return CALLER.get()

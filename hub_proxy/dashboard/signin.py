"""Signing in to the dashboard, the cookie that remembers it, and CSRF protection.

A browser cannot send an ``Authorization`` header on a link it follows, so
the dashboard keeps the credential a person signed in with -- an API key, a
bearer token, or the access token an OpenID Connect sign-in obtained -- in a
cookie, and presents it to the hub's own
:class:`~hub_proxy.auth.authenticator.Authenticator` on *every* request, as if
it had come in the header: a revoked key or an expired token stops working in
the dashboard exactly when it stops working at ``/mcp``, and the principal a
page is rendered for is exactly the one ``/mcp`` would see.

The cookie is sealed, not a reference to server-side state: replicas behind
a plain Service each open any replica's cookie, as they restore each other's
MCP sessions.  It is a Fernet token (AES-CBC with HMAC-SHA256, from
``cryptography``, whose timestamp also bounds its age) under a key derived by
HKDF from the hub's session key with a label of its own.  It is
``HttpOnly`` (script cannot read it), ``Secure`` (browsers keep secure
cookies for ``http://127.0.0.1`` and ``localhost``, and everywhere else the
hub belongs behind TLS), ``SameSite=Lax`` and ``__Host-`` prefixed (no other
host or path can set or shadow it).  ``Lax`` rather than ``Strict``: an OpenID
Connect sign-in comes back from the issuer as a cross-site navigation, and a
link to a server page pasted in a chat should open signed in; no GET changes
anything, and every state change needs the CSRF token besides.

CSRF: the cookie also carries a random token, rendered into every form (and
read by the script for its requests), which a state-changing request must
echo in a ``csrf`` field or an ``X-CSRF-Token`` header; a cross-site page can
make the browser send the cookie, but cannot read the token.  Requests whose
``Sec-Fetch-Site`` says they come from another site are refused outright.  A
visitor gets a cookie (and so a token) before signing in, so that the sign-in
form itself is protected; signing in issues a new token.

A sealed cookie cannot be revoked on the server: signing out deletes it from
the browser, and :data:`~hub_proxy.dashboard.settings.SESSION_SECONDS` bounds
how long a copy would stay good; revoking the credential itself ends it at
once.
"""

from __future__ import annotations

import base64
import hmac
import json
import secrets
from dataclasses import dataclass
from typing import Any, Final

from aiohttp import web
from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from hub_proxy.auth.authenticator import Authenticator
from hub_proxy.auth.principal import Principal
from hub_proxy.dashboard.settings import Admins

COOKIE: Final = "__Host-mcphub-ui"
CSRF_FIELD: Final = "csrf"
CSRF_HEADER: Final = "X-CSRF-Token"
# Browsers keep cookies of at least 4096 bytes, name and attributes included.
MAX_COOKIE_VALUE: Final = 3800
_HKDF_INFO: Final = b"mcphub dashboard cookies v1"
_SAFE_METHODS: Final = frozenset({"GET", "HEAD", "OPTIONS"})
_SAME_SITE_FETCHES: Final = frozenset({"same-origin", "none"})


class CookieTooLargeError(ValueError):
    """A credential too long to keep in a cookie."""


@dataclass(frozen=True)
class Visitor:
    """Who a dashboard request is from: the principal, and the CSRF token of their cookie."""

    principal: Principal
    csrf: str
    # Holds a credential; False for the anonymous caller of a hub run with --anonymous.
    signed_in: bool
    admin: bool


class Sealer:
    """Seals small JSON values for cookies, with a maximum age."""

    def __init__(self, session_key: bytes) -> None:
        derived = HKDF(hashes.SHA256(), 32, salt=None, info=_HKDF_INFO).derive(session_key)
        self._fernet = Fernet(base64.urlsafe_b64encode(derived))

    def seal(self, value: dict[str, Any]) -> str:
        return self._fernet.encrypt(json.dumps(value).encode()).decode()

    def open(self, token: str, max_age: float) -> dict[str, Any] | None:
        try:
            opened = json.loads(self._fernet.decrypt(token.encode(), ttl=int(max_age)))
        except (InvalidToken, ValueError):
            return None
        return opened if isinstance(opened, dict) else None


@dataclass(frozen=True)
class CookieState:
    """What the dashboard cookie holds."""

    credential: str | None
    csrf: str


class Cookies:
    """Reads and writes the sealed dashboard cookies."""

    def __init__(self, sealer: Sealer, max_age: float) -> None:
        self._sealer = sealer
        self._max_age = max_age

    def state(self, request: web.Request) -> CookieState | None:
        raw = request.cookies.get(COOKIE)
        opened = self._sealer.open(raw, self._max_age) if raw else None
        if opened is None or not isinstance(csrf := opened.get("csrf"), str):
            return None
        credential = opened.get("credential")
        return CookieState(credential if isinstance(credential, str) else None, csrf)

    @staticmethod
    def new_state(credential: str | None) -> CookieState:
        """A cookie's content for ``credential``, with a fresh CSRF token."""
        return CookieState(credential, secrets.token_urlsafe(32))

    def write(self, response: web.StreamResponse, state: CookieState) -> None:
        self.put(
            response, COOKIE, {"credential": state.credential, "csrf": state.csrf}, self._max_age
        )

    def put(
        self, response: web.StreamResponse, name: str, value: dict[str, Any], max_age: float
    ) -> None:
        sealed = self._sealer.seal(value)
        if len(sealed) > MAX_COOKIE_VALUE:
            raise CookieTooLargeError(
                f"the credential is too long to keep in a browser cookie ({len(sealed)} bytes "
                f"sealed, at most {MAX_COOKIE_VALUE}); use an API key or a shorter token"
            )
        response.set_cookie(
            name,
            sealed,
            max_age=int(max_age),
            path="/",
            secure=True,
            httponly=True,
            samesite="Lax",
        )

    def read(self, request: web.Request, name: str, max_age: float) -> dict[str, Any] | None:
        raw = request.cookies.get(name)
        return self._sealer.open(raw, max_age) if raw else None

    @staticmethod
    def clear(response: web.StreamResponse, name: str = COOKIE) -> None:
        response.del_cookie(name, path="/", secure=True, httponly=True, samesite="Lax")


async def principal_of(authenticator: Authenticator, credential: str | None) -> Principal:
    """Who the credential is, by the hub's authenticator (raises its refusals)."""
    headers = {} if credential is None else {"Authorization": f"Bearer {credential}"}
    return await authenticator.authenticate(headers)


def visitor(principal: Principal, state: CookieState, admins: Admins) -> Visitor:
    return Visitor(principal, state.csrf, state.credential is not None, principal in admins)


async def csrf_refusal(request: web.Request, expected: str) -> str | None:
    """Why a state-changing request is refused, or None if it carries the cookie's token."""
    if request.method in _SAFE_METHODS:
        return None
    site = request.headers.get("Sec-Fetch-Site")
    if site is not None and site not in _SAME_SITE_FETCHES:
        return f"a {site} request may not change anything here"
    sent = request.headers.get(CSRF_HEADER)
    if sent is None and request.content_type in (
        "application/x-www-form-urlencoded",
        "multipart/form-data",
    ):
        field = (await request.post()).get(CSRF_FIELD)
        sent = field if isinstance(field, str) else None
    if sent is None or not hmac.compare_digest(sent.encode(), expected.encode()):
        return "the form is out of date or did not come from this dashboard; reload and try again"
    return None


def safe_next(target: str | None) -> str:
    """Where to go after signing in: a dashboard path, never another site."""
    if target and target.startswith("/ui/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/ui/"

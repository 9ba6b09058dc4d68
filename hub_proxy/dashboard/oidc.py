"""Sign-in with OpenID Connect: the authorization code flow with PKCE (RFC 7636).

The dashboard is a confidential or public client of an issuer the hub already
trusts for bearer tokens (``--oidc-issuer``).  It sends the browser to the
issuer's authorization endpoint with a random ``state`` and the S256 challenge
of a random verifier, both kept in a short-lived sealed cookie; the issuer
sends the browser back with a code, which the dashboard exchanges, with the
verifier, for tokens.  The *access token* is what the person is signed in
with: it is checked by the hub's own authenticator like any bearer token at
``/mcp`` (so the issuer must issue it as a JWT for the hub's ``--audience``,
exactly as it must for MCP clients), and the dashboard never trusts anything
the token endpoint said about who the person is.  That is also why the ID
token is not read: identity comes from the one verifier the hub has.

Two requests and a URL are all of the protocol here, so it is written on
aiohttp, with the hub's own fetch of issuer documents (https only, or http
to loopback; no redirects; bounded size and time), rather than a general
OAuth library whose token handling the hub would not use.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import urlencode

import aiohttp

from hub_proxy.auth.jwt_tokens import (
    FETCH_SECONDS,
    MAX_DOCUMENT_BYTES,
    OIDC_DISCOVERY_PATH,
    fetch_json,
    require_secure_url,
)
from hub_proxy.dashboard.settings import OIDCSettings

# How long a person may take at the issuer's sign-in page.
PENDING_SECONDS: Final = 600
DISCOVERY_SECONDS: Final = 3600


class OIDCError(Exception):
    """The sign-in failed; the message says why, for the person signing in."""


@dataclass(frozen=True)
class Pending:
    """A sign-in under way: what must come back, and where to go after."""

    state: str
    verifier: str
    next: str

    def to_json(self) -> dict[str, Any]:
        return {"state": self.state, "verifier": self.verifier, "next": self.next}

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> Pending | None:
        fields = (value.get("state"), value.get("verifier"), value.get("next"))
        if not all(isinstance(field, str) for field in fields):
            return None
        return cls(*(str(field) for field in fields))


def challenge(verifier: str) -> str:
    """The S256 code challenge of a PKCE verifier."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


class OIDCClient:
    """The dashboard as a client of one OpenID Connect issuer."""

    def __init__(self, settings: OIDCSettings) -> None:
        self.settings = settings
        self._endpoints: tuple[str, str] | None = None
        self._discovered_at = 0.0

    async def begin(self, redirect_uri: str, next_path: str) -> tuple[str, Pending]:
        """The issuer URL to send the browser to, and what to remember until it returns."""
        authorize, _ = await self._discover()
        pending = Pending(secrets.token_urlsafe(24), secrets.token_urlsafe(48), next_path)
        query = urlencode(
            {
                "response_type": "code",
                "client_id": self.settings.client_id,
                "redirect_uri": redirect_uri,
                "scope": " ".join(self.settings.scopes),
                "state": pending.state,
                "code_challenge": challenge(pending.verifier),
                "code_challenge_method": "S256",
            }
        )
        separator = "&" if "?" in authorize else "?"
        return f"{authorize}{separator}{query}", pending

    async def finish(self, pending: Pending, code: str, redirect_uri: str) -> str:
        """Exchange the code for an access token (the caller has checked ``state``)."""
        _, token_endpoint = await self._discover()
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
            "client_id": self.settings.client_id,
            "code_verifier": pending.verifier,
        }
        if self.settings.client_secret is not None:
            form["client_secret"] = self.settings.client_secret
        answer = await _post_form(token_endpoint, form)
        token = answer.get("access_token")
        if not isinstance(token, str) or not token:
            error = answer.get("error_description") or answer.get("error") or "no access_token"
            raise OIDCError(f"the issuer did not sign you in: {str(error)[:200]}")
        return token

    async def _discover(self) -> tuple[str, str]:
        if self._endpoints is not None and time.monotonic() - self._discovered_at < (
            DISCOVERY_SECONDS
        ):
            return self._endpoints
        issuer = self.settings.issuer
        url = issuer.rstrip("/") + OIDC_DISCOVERY_PATH
        try:
            document = await fetch_json(url)
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise OIDCError(f"the issuer {issuer} cannot be reached now: {exc}") from None
        if not isinstance(document, dict) or document.get("issuer") != issuer:
            raise OIDCError(f"{url} is not the discovery document of issuer {issuer}")
        try:
            endpoints = (
                require_secure_url(
                    str(document.get("authorization_endpoint")), "authorization_endpoint"
                ),
                require_secure_url(str(document.get("token_endpoint")), "token_endpoint"),
            )
        except ValueError as exc:
            raise OIDCError(f"issuer {issuer} cannot sign people in here: {exc}") from None
        self._endpoints, self._discovered_at = endpoints, time.monotonic()
        return endpoints


async def _post_form(url: str, form: dict[str, str]) -> dict[str, Any]:
    timeout = aiohttp.ClientTimeout(total=FETCH_SECONDS)
    try:
        async with (
            aiohttp.ClientSession(timeout=timeout) as session,
            session.post(url, data=form, allow_redirects=False) as response,
        ):
            body = await response.content.read(MAX_DOCUMENT_BYTES)
            answer = _json_object(body)
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise OIDCError(f"the issuer's token endpoint cannot be reached now: {exc}") from None
    if answer is None:
        raise OIDCError(f"the issuer's token endpoint answered HTTP {response.status}, not JSON")
    return answer


def _json_object(body: bytes) -> dict[str, Any] | None:
    try:
        value = json.loads(body)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None

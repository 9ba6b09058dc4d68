"""The test issuer (:mod:`tests.hub_proxy.auth.issuer`) as an OpenID Connect provider, on loopback.

It adds what a sign-in needs: an authorization endpoint that approves at once
(as a provider does for someone already signed in there), remembering the
PKCE challenge, and a token endpoint that gives an access token for the
hub's audience only to the client that sends the verifier of that challenge,
for the same redirect URI.  It runs on its own event loop in a thread, so
that a test driving a browser synchronously does not stop it from answering.
"""

from __future__ import annotations

import asyncio
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Final
from urllib.parse import urlencode

from aiohttp import web

from hub_proxy.dashboard.oidc import challenge
from tests.hub_proxy.auth.issuer import AUDIENCE, Issuer, claims, rsa_key, sign

CLIENT_ID: Final = "mcphub-dashboard"
USER: Final = "olivia"
GROUPS: Final = ["dev"]
STOP_SECONDS: Final = 10.0
TOKEN_SECONDS: Final = 3600


@dataclass(frozen=True)
class _Grant:
    redirect_uri: str
    challenge: str


class Provider(Issuer):
    """An issuer with /authorize and /token; counts the tokens it gave and what it refused."""

    def __init__(self) -> None:
        super().__init__([rsa_key("oidc")])
        self.tokens_given = 0
        self.refusals: list[str] = []
        self._grants: dict[str, _Grant] = {}

    async def discovery(self, request: web.Request) -> web.Response:
        return web.json_response(
            {
                "issuer": self.url,
                "jwks_uri": self.jwks_url,
                "authorization_endpoint": f"{self.url}/authorize",
                "token_endpoint": f"{self.url}/token",
                "code_challenge_methods_supported": ["S256"],
            }
        )

    async def authorize(self, request: web.Request) -> web.StreamResponse:
        query = request.query
        if query.get("client_id") != CLIENT_ID or query.get("code_challenge_method") != "S256":
            self.refusals.append("authorize: wrong client or no S256 challenge")
            raise web.HTTPBadRequest(text="unknown client or no PKCE challenge")
        code = secrets.token_urlsafe(16)
        self._grants[code] = _Grant(query["redirect_uri"], query["code_challenge"])
        answer = urlencode({"code": code, "state": query.get("state", "")})
        raise web.HTTPFound(f"{query['redirect_uri']}?{answer}")

    async def token(self, request: web.Request) -> web.Response:
        form = await request.post()
        grant = self._grants.pop(str(form.get("code")), None)
        if (
            grant is None
            or form.get("client_id") != CLIENT_ID
            or form.get("redirect_uri") != grant.redirect_uri
            or challenge(str(form.get("code_verifier"))) != grant.challenge
        ):
            self.refusals.append("token: code, client, redirect or verifier do not match")
            return web.json_response(
                {"error": "invalid_grant", "error_description": "that code is not yours"},
                status=400,
            )
        self.tokens_given += 1
        expires = int(time.time()) + TOKEN_SECONDS
        token = sign(claims(self.url, AUDIENCE, sub=USER, groups=GROUPS, exp=expires), self.keys[0])
        return web.json_response({"access_token": token, "token_type": "Bearer"})


@contextmanager
def serving_provider() -> Iterator[Provider]:
    """The provider on a loopback port, answering from its own thread until the block ends."""
    provider = Provider()
    loop = asyncio.new_event_loop()
    app = web.Application()
    app.router.add_get("/.well-known/openid-configuration", provider.discovery)
    app.router.add_get("/jwks", provider.jwks)
    app.router.add_get("/authorize", provider.authorize)
    app.router.add_post("/token", provider.token)
    runner = web.AppRunner(app)

    async def start() -> None:
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        host, port = runner.addresses[0][:2]
        provider.url = f"http://{host}:{port}"

    loop.run_until_complete(start())
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        yield provider
    finally:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(STOP_SECONDS)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(STOP_SECONDS)
        loop.close()

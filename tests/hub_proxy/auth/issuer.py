"""A real token issuer on loopback for the authentication tests.

:class:`Issuer` serves OIDC discovery and a JWKS from an aiohttp server on
127.0.0.1, signs tokens with RSA and EC keys made by ``cryptography``, and
lets a test rotate or withdraw keys and count how often the hub fetched
them.  :func:`forge` assembles tokens no honest library would sign (``alg:
none``, HMAC with a public key), for the attacks the hub must refuse.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Final

import jwt
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric import ec, rsa

AUDIENCE: Final = "https://hub.test/mcp"
SECRET: Final = b"0123456789abcdef0123456789abcdef-hs256-test-secret"
HS_ISSUER: Final = "mcphub-test"


@dataclass(frozen=True)
class SigningKey:
    kid: str
    algorithm: str
    private: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey

    def jwk(self) -> dict[str, Any]:
        algorithm = jwt.get_algorithm_by_name(self.algorithm)
        return {
            **algorithm.to_jwk(self.private.public_key(), as_dict=True),
            "kid": self.kid,
            "use": "sig",
        }


def rsa_key(kid: str) -> SigningKey:
    return SigningKey(kid, "RS256", rsa.generate_private_key(public_exponent=65537, key_size=2048))


def ec_key(kid: str) -> SigningKey:
    return SigningKey(kid, "ES256", ec.generate_private_key(ec.SECP256R1()))


def claims(issuer: str, audience: str = AUDIENCE, **overrides: Any) -> dict[str, Any]:
    """Valid claims for ``issuer``, a minute before expiry; overrides win, None removes."""
    now = int(time.time())
    values: dict[str, Any] = {
        "iss": issuer,
        "aud": audience,
        "sub": "alice",
        "iat": now,
        "nbf": now,
        "exp": now + 60,
        "groups": ["dev", "ops"],
    }
    values.update(overrides)
    return {name: value for name, value in values.items() if value is not None}


def sign(payload: dict[str, Any], key: SigningKey, **headers: Any) -> str:
    return jwt.encode(
        payload, key.private, algorithm=key.algorithm, headers={"kid": key.kid, **headers}
    )


def sign_hs(payload: dict[str, Any], secret: bytes = SECRET) -> str:
    return jwt.encode(payload, secret, algorithm="HS256")


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def forge(header: dict[str, Any], payload: dict[str, Any], signature: bytes = b"") -> str:
    return (
        f"{b64(json.dumps(header).encode())}.{b64(json.dumps(payload).encode())}.{b64(signature)}"
    )


class Issuer:
    """An OIDC issuer: ``/.well-known/openid-configuration`` and ``/jwks``."""

    def __init__(self, keys: list[SigningKey]) -> None:
        self.keys = keys
        self.url = ""  # known once the server listens
        self.jwks_requests = 0
        # What discovery says the issuer is, if not the truth; a test may make it lie.
        self.advertised_issuer: str | None = None

    @property
    def jwks_url(self) -> str:
        return f"{self.url}/jwks"

    async def discovery(self, request: web.Request) -> web.Response:
        return web.json_response(
            {"issuer": self.advertised_issuer or self.url, "jwks_uri": self.jwks_url}
        )

    async def jwks(self, request: web.Request) -> web.Response:
        self.jwks_requests += 1
        return web.json_response({"keys": [key.jwk() for key in self.keys]})


@asynccontextmanager
async def serving_issuer(*keys: SigningKey) -> AsyncIterator[Issuer]:
    issuer = Issuer(list(keys))
    app = web.Application()
    app.router.add_get("/.well-known/openid-configuration", issuer.discovery)
    app.router.add_get("/jwks", issuer.jwks)
    runner = web.AppRunner(app)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        host, port = runner.addresses[0][:2]
        issuer.url = f"http://{host}:{port}"
        yield issuer
    finally:
        await runner.cleanup()

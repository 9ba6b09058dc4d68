"""Bearer JWTs: which issuer vouches for a token, and whether it really did.

A JWT says who signed it (``iss``) and how (``alg``) in bytes the caller
chose, so nothing here believes either until the signature is checked: the
unverified ``iss`` only *routes* the token to the verifier configured for that
issuer, which then insists on its own algorithms and keys and checks ``iss``
again, against the signed claims.  Each issuer has its algorithms pinned by
how its keys come: a shared secret means HS256 and nothing else; a JWKS
(given, or found through OIDC discovery) means RS256 or ES256, each key
verifying only the algorithm its own type fixes.  So a token cannot pick
``none``, and cannot make the hub use an RSA public key -- which anyone may
read -- as an HMAC secret: the classic key-confusion forgery has nowhere to
happen.

Keys fetched from an issuer are kept and refetched in two cases: a token names
a key id the hub does not know (the issuer rotated its keys), or the keys are
older than a maximum age (so a key the issuer withdrew stops working).  Both
are rate-limited by a minimum interval between fetches, so a stream of tokens
with made-up key ids costs the issuer one request a minute, not one a
request, and while a fetch is in flight every other request waits for it
instead of starting its own.  An issuer that cannot be reached is not the
client's fault: that is :class:`~hub_proxy.auth.errors.AuthUnavailableError`
(503), while previously fetched keys keep working.

Everything fetched from an issuer travels over https, because a key document
read in the clear is a key document an attacker on the path may write.  The
only exception is a loopback host over plain http, which is where tests and a
developer's local issuer live and where no one else is on the path.  Redirects
are not followed, since they could lead away from the URL that was checked.

Verification is the expensive part of authentication (tens of microseconds
for a signature), so the :class:`~hub_proxy.auth.authenticator.Authenticator`
remembers each verified token until it expires and this module is reached
only on a token's first use.  Before any parsing, a token longer than
:data:`MAX_TOKEN_BYTES` is refused, so a huge header costs nothing to reject.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import ipaddress
import json
import logging
import math
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Protocol
from urllib.parse import urlsplit

import aiohttp
import jwt
from jwt.types import Options

from hub_proxy.auth.errors import (
    AuthConfigError,
    AuthUnavailableError,
    InvalidCredentialsError,
    MalformedCredentialsError,
)
from hub_proxy.auth.principal import AUTHENTICATED, Principal

logger = logging.getLogger(__name__)

# Far above any real token (a few hundred bytes to 2 KiB, more with many groups),
# far below what parsing a hostile one could cost, and below aiohttp's 8190-byte
# limit on a header line, which refuses bigger ones with a bare 400 first.
MAX_TOKEN_BYTES: Final = 6 * 1024
# Clocks of the hub and the issuer disagree a little; exp, nbf and iat get this much slack.
DEFAULT_LEEWAY_SECONDS: Final = 30.0
DEFAULT_JWKS_MIN_REFRESH_SECONDS: Final = 60.0
DEFAULT_JWKS_MAX_AGE_SECONDS: Final = 3600.0
FETCH_SECONDS: Final = 10.0
# A JWKS or discovery document is a few KiB; a bigger answer is not one.
MAX_DOCUMENT_BYTES: Final = 1024 * 1024
# RFC 7518 section 3.2: an HS256 key must be at least as long as its hash.
MIN_SECRET_BYTES: Final = 32
SECRET_ALGORITHMS: Final = frozenset({"HS256"})
PUBLIC_KEY_ALGORITHMS: Final = frozenset({"RS256", "ES256"})
OIDC_DISCOVERY_PATH: Final = "/.well-known/openid-configuration"

_SEGMENT: Final = re.compile(r"[A-Za-z0-9_-]*")
_DECODE_OPTIONS: Final[Options] = {
    "require": ["exp", "iss", "aud"],
    # An RSA key under 2048 bits is refused, not merely warned about.
    "enforce_minimum_key_length": True,
}
# What a client is told about a refused token: what to do, not which check failed.
NOT_ACCEPTED: Final = (
    "the token is not accepted here; use one from an authorization server this "
    "resource's metadata names"
)


def is_secure_url(url: str) -> bool:
    """https anywhere, or http to a loopback host (tests, a developer's machine)."""
    parts = urlsplit(url)
    host = parts.hostname
    if not host:
        return False
    if parts.scheme == "https":
        return True
    if parts.scheme != "http":
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def require_secure_url(url: str, setting: str) -> str:
    """``url`` itself if :func:`is_secure_url`; else an error naming ``setting``."""
    if not is_secure_url(url):
        raise AuthConfigError(
            f"{setting} must be an https URL (or http to 127.0.0.1, ::1 or localhost), not {url!r}"
        )
    return url


@dataclass(frozen=True)
class JWTIssuer:
    """An issuer whose tokens the hub accepts, for one audience.

    Keys come one way only: ``secret`` (HS256); or ``jwks_url`` (RS256 and
    ES256); or, with neither, OIDC discovery at
    ``{issuer}/.well-known/openid-configuration``, whose ``jwks_uri`` names
    the JWKS.
    """

    issuer: str
    # The token's ``aud`` must contain it: a token minted for another service is refused.
    audience: str
    secret: bytes | None = field(default=None, repr=False)
    jwks_url: str | None = None
    subject_claim: str = "sub"
    groups_claim: str = "groups"
    # Put before the subject and before each group, so that two issuers' "alice"
    # are two users (kube-apiserver's --oidc-username-prefix and --oidc-groups-prefix).
    # None: the default, which depends on the other issuers (see AuthSettings).
    username_prefix: str | None = None
    groups_prefix: str | None = None

    def __post_init__(self) -> None:
        if not self.issuer or not self.audience:
            raise AuthConfigError(
                "a JWT issuer needs both an issuer and an audience, got "
                f"issuer={self.issuer!r}, audience={self.audience!r}"
            )
        if self.secret is not None:
            if self.jwks_url is not None:
                raise AuthConfigError(
                    f"issuer {self.issuer!r} has both a secret and a jwks_url; give one: "
                    "a secret for HS256 tokens, a jwks_url for RS256/ES256 tokens"
                )
            if len(self.secret) < MIN_SECRET_BYTES:
                raise AuthConfigError(
                    f"the HS256 secret of issuer {self.issuer!r} is {len(self.secret)} bytes; "
                    f"use at least {MIN_SECRET_BYTES} random bytes"
                )
        elif self.jwks_url is not None:
            require_secure_url(self.jwks_url, f"the jwks_url of issuer {self.issuer!r}")
        else:
            require_secure_url(
                self.issuer,
                f"issuer {self.issuer!r} has neither a secret nor a jwks_url, so it is "
                "found by OIDC discovery, and",
            )

    @property
    def algorithms(self) -> frozenset[str]:
        return SECRET_ALGORITHMS if self.secret is not None else PUBLIC_KEY_ALGORITHMS


@dataclass(frozen=True)
class UnverifiedToken:
    """A JWT's header and claims, decoded but not verified: enough to route it."""

    raw: str
    header: Mapping[str, Any]
    claims: Mapping[str, Any]

    @classmethod
    def parse(cls, raw: str) -> UnverifiedToken:
        """Decode ``raw``'s segments; refuse it as malformed if that fails."""
        if len(raw) > MAX_TOKEN_BYTES:
            raise MalformedCredentialsError(
                f"the bearer token is {len(raw)} characters; tokens over {MAX_TOKEN_BYTES} "
                "are refused unread"
            )
        segments = raw.split(".")
        if len(segments) != 3:
            raise MalformedCredentialsError(
                f"the bearer token has {len(segments)} dot-separated segments; "
                "a JWT has three (header.payload.signature)"
            )
        if not _SEGMENT.fullmatch(segments[2]):
            raise MalformedCredentialsError("the JWT signature is not base64url")
        header = _json_segment(segments[0], "header")
        algorithm, key_id = header.get("alg"), header.get("kid")
        if not isinstance(algorithm, str) or not isinstance(key_id, str | None):
            raise MalformedCredentialsError(
                "the JWT header needs 'alg' as a string, and 'kid', if any, as a string"
            )
        return cls(raw, header, _json_segment(segments[1], "payload"))

    @property
    def algorithm(self) -> str:
        return str(self.header["alg"])

    @property
    def key_id(self) -> str | None:
        kid = self.header.get("kid")
        return kid if isinstance(kid, str) else None

    @property
    def issuer(self) -> str | None:
        iss = self.claims.get("iss")
        return iss if isinstance(iss, str) else None

    @property
    def expires_at(self) -> float:
        """``exp`` as PyJWT reads it (``int()`` of the claim), or infinity without one."""
        try:
            return float(int(self.claims["exp"]))
        except (KeyError, TypeError, ValueError, OverflowError):
            return math.inf


def _json_segment(segment: str, what: str) -> dict[str, Any]:
    problem = f"the JWT {what} is not a base64url-encoded JSON object"
    if not segment or not _SEGMENT.fullmatch(segment):
        raise MalformedCredentialsError(problem)
    try:
        decoded = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    # RecursionError: a few KiB of brackets nest deeper than Python's JSON decoder goes.
    except (binascii.Error, ValueError, RecursionError):
        raise MalformedCredentialsError(problem) from None
    if not isinstance(decoded, dict):
        raise MalformedCredentialsError(problem)
    return decoded


class KeySource(Protocol):
    """Where a verifier gets the key for a token whose algorithm it accepts."""

    async def key(self, token: UnverifiedToken) -> bytes | jwt.PyJWK: ...


@dataclass(frozen=True)
class SharedSecret:
    secret: bytes = field(repr=False)

    async def key(self, token: UnverifiedToken) -> bytes:
        return self.secret


class JWKS:
    """An issuer's public keys, fetched from its JWKS and refetched as it rotates them."""

    def __init__(self, issuer: JWTIssuer, *, min_refresh: float, max_age: float) -> None:
        self._issuer = issuer.issuer
        # Unknown until discovery has found it, for an issuer without a jwks_url.
        self._url = issuer.jwks_url
        self._min_refresh = min_refresh
        self._max_age = max_age
        self._keys: list[tuple[str | None, jwt.PyJWK]] = []
        self._attempted_at = -math.inf
        self._fetched_at = -math.inf
        self._failure: str | None = None
        self._fetching: asyncio.Task[None] | None = None

    async def key(self, token: UnverifiedToken) -> jwt.PyJWK:
        algorithm, key_id = token.algorithm, token.key_id
        key = self._find(algorithm, key_id)
        if key is None or time.monotonic() - self._fetched_at > self._max_age:
            await self._refresh()
            key = self._find(algorithm, key_id)
        if key is not None:
            return key
        if self._failure is not None:
            raise AuthUnavailableError(
                f"the keys of issuer {self._issuer} could not be fetched: {self._failure}"
            )
        raise InvalidCredentialsError(
            f"issuer {self._issuer} has no {algorithm} key {key_id!r} in its JWKS "
            f"(fetched {time.monotonic() - self._fetched_at:.0f} s ago)",
            NOT_ACCEPTED,
        )

    def _find(self, algorithm: str, key_id: str | None) -> jwt.PyJWK | None:
        # Without a kid, a token can only mean the one key of its algorithm.
        found = [
            key
            for kid, key in self._keys
            if key.algorithm_name == algorithm and (key_id is None or kid == key_id)
        ]
        return found[0] if len(found) == 1 else None

    async def _refresh(self) -> None:
        """Join the fetch in flight, or start one unless the last began too recently."""
        if self._fetching is None:
            if time.monotonic() - self._attempted_at < self._min_refresh:
                return
            self._attempted_at = time.monotonic()
            self._fetching = asyncio.create_task(self._fetch())
        # Shielded: a request that gives up does not cancel the fetch others wait for.
        await asyncio.shield(self._fetching)

    async def _fetch(self) -> None:
        try:
            if self._url is None:
                self._url = await self._discover()
            keys = _parse_jwks(await fetch_json(self._url), self._url)
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            self._failure = str(exc) or type(exc).__name__
            logger.warning(
                "fetching the keys of issuer %s failed (%s); %d keys fetched before stay",
                self._issuer,
                self._failure,
                len(self._keys),
            )
            return
        finally:
            self._fetching = None
        self._keys, self._fetched_at, self._failure = keys, time.monotonic(), None
        if not keys:
            logger.warning("the JWKS at %s has no RS256 or ES256 signing key", self._url)

    async def _discover(self) -> str:
        url = self._issuer.rstrip("/") + OIDC_DISCOVERY_PATH
        document = await fetch_json(url)
        if not isinstance(document, dict) or document.get("issuer") != self._issuer:
            raise ValueError(f"{url} is not the OIDC discovery document of issuer {self._issuer}")
        jwks_uri = document.get("jwks_uri")
        if not isinstance(jwks_uri, str):
            raise ValueError(f"{url} names no jwks_uri")
        # An AuthConfigError is a ValueError: a bad jwks_uri is a failed fetch, logged.
        return require_secure_url(jwks_uri, f"the jwks_uri in {url}")


def _parse_jwks(document: Any, url: str) -> list[tuple[str | None, jwt.PyJWK]]:
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise ValueError(f"{url} is not a JWKS: it has no 'keys' list")
    keys: list[tuple[str | None, jwt.PyJWK]] = []
    for entry in document["keys"]:
        if not isinstance(entry, dict) or entry.get("use", "sig") != "sig":
            continue
        try:
            key = jwt.PyJWK(entry)
        except (jwt.PyJWTError, KeyError, TypeError, ValueError) as exc:
            logger.warning("skipping key %r of %s: %s", entry.get("kid"), url, exc)
            continue
        # Any other algorithm -- above all an "oct" key, which would mean HS256 -- is ignored.
        if key.algorithm_name in PUBLIC_KEY_ALGORITHMS:
            kid = entry.get("kid")
            keys.append((kid if isinstance(kid, str) else None, key))
    return keys


async def fetch_json(url: str) -> Any:
    """GET a JSON document from an issuer: no redirects, bounded in time and size."""
    timeout = aiohttp.ClientTimeout(total=FETCH_SECONDS)
    body = bytearray()
    async with (
        aiohttp.ClientSession(timeout=timeout) as session,
        session.get(url, allow_redirects=False) as response,
    ):
        if response.status != 200:
            raise ValueError(f"{url} answered HTTP {response.status}")
        async for chunk in response.content.iter_chunked(64 * 1024):
            body += chunk
            if len(body) > MAX_DOCUMENT_BYTES:
                raise ValueError(f"{url} sent more than {MAX_DOCUMENT_BYTES} bytes")
    try:
        return json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise ValueError(f"{url} did not send JSON: {exc}") from None


class JWTVerifier:
    """Checks the tokens of one issuer and names their subjects."""

    def __init__(
        self,
        issuer: JWTIssuer,
        *,
        leeway: float = DEFAULT_LEEWAY_SECONDS,
        jwks_min_refresh: float = DEFAULT_JWKS_MIN_REFRESH_SECONDS,
        jwks_max_age: float = DEFAULT_JWKS_MAX_AGE_SECONDS,
    ) -> None:
        self.issuer = issuer
        self._leeway = leeway
        self._keys: KeySource = (
            SharedSecret(issuer.secret)
            if issuer.secret is not None
            else JWKS(issuer, min_refresh=jwks_min_refresh, max_age=jwks_max_age)
        )

    async def verify(self, token: UnverifiedToken) -> Principal:
        """The token's user, if its signature and claims hold; else refused."""
        name = self.issuer.issuer
        if token.algorithm not in self.issuer.algorithms:
            raise InvalidCredentialsError(
                f"tokens of issuer {name} must be signed with "
                f"{' or '.join(sorted(self.issuer.algorithms))}, not {token.algorithm!r}",
                NOT_ACCEPTED,
            )
        key = await self._keys.key(token)
        try:
            claims = jwt.decode(
                token.raw,
                key,
                algorithms=[token.algorithm],
                audience=self.issuer.audience,
                issuer=name,
                leeway=self._leeway,
                options=_DECODE_OPTIONS,
            )
        except jwt.ExpiredSignatureError:
            raise InvalidCredentialsError(
                f"token of issuer {name} expired", "the token has expired; get a new one"
            ) from None
        except jwt.PyJWTError as exc:
            raise InvalidCredentialsError(
                f"token of issuer {name} refused: {exc}", NOT_ACCEPTED
            ) from None
        return self._principal(claims)

    def _principal(self, claims: Mapping[str, Any]) -> Principal:
        subject = claims.get(self.issuer.subject_claim)
        if not isinstance(subject, str) or not subject:
            raise InvalidCredentialsError(
                f"token of issuer {self.issuer.issuer} has no string "
                f"{self.issuer.subject_claim!r} claim to name its user",
                NOT_ACCEPTED,
            )
        user = (self.issuer.username_prefix or "") + subject
        # "system:" names are the hub's to give (as in Kubernetes): an issuer
        # cannot make its users the anonymous one, or put them among, say, the
        # ServiceAccounts.
        if user.startswith("system:"):
            raise InvalidCredentialsError(
                f"token of issuer {self.issuer.issuer} names the reserved user {user!r}",
                NOT_ACCEPTED,
            )
        listed = claims.get(self.issuer.groups_claim)
        prefix = self.issuer.groups_prefix or ""
        groups = {
            prefix + group
            for group in (listed if isinstance(listed, list) else ())
            if isinstance(group, str) and not (prefix + group).startswith("system:")
        }
        return Principal(
            "User", user, groups=frozenset({*groups, AUTHENTICATED}), issuer=claims["iss"]
        )

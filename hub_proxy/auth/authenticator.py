"""One question for the hub to ask of every request: who is this?

A request carries at most one credential -- RFC 6750 forbids a client to use
more than one method, and a request that does is refused rather than guessed
at, whether it sends both headers or one of them twice (which a proxy or
a client library may have merged or picked from differently than the hub
would) -- in one of two headers:

- ``Authorization: Bearer <token>``.  A token with a dot in it is a JWT (an
  API key never has one): it goes to the verifier of the issuer its ``iss``
  names, or else, if enabled, to the API server as a ServiceAccount token
  (TokenReview), or else it is refused.  Any other bearer value is an API key.
- ``X-API-Key: <key>``, for clients that can set a header but not a bearer
  token.

No credential at all is the anonymous caller when anonymous access is on, and
a 401 that says how to authenticate when it is off.  A credential that was
presented but fails is refused *even when anonymous access is on*: falling
back to anonymous would turn an expired token into a silent downgrade that
nobody notices until a tool goes missing.

The hub authenticates every request of a session, not just the first, so
this is on the hot path; the budget of authentication and authorization
together is a fifth of a millisecond.  JWTs and TokenReviews are therefore
remembered (:class:`TokenCache`): a token seen before costs a dictionary
lookup.  A verified JWT is remembered until its ``exp``; a TokenReview only
for a few seconds, because the API server may revoke what it vouched for.
API keys are not remembered, since hashing one is cheap and a revoked key must
stop working the moment its Secret says so.
"""

from __future__ import annotations

import dataclasses
import itertools
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from multidict import MultiMapping

from hub_proxy.auth.apikeys import APIKeys
from hub_proxy.auth.errors import (
    AuthConfigError,
    InvalidCredentialsError,
    MalformedCredentialsError,
    MissingCredentialsError,
)
from hub_proxy.auth.jwt_tokens import (
    DEFAULT_JWKS_MAX_AGE_SECONDS,
    DEFAULT_JWKS_MIN_REFRESH_SECONDS,
    DEFAULT_LEEWAY_SECONDS,
    NOT_ACCEPTED,
    JWTIssuer,
    JWTVerifier,
    UnverifiedToken,
    is_secure_url,
)
from hub_proxy.auth.principal import ANONYMOUS, Principal
from hub_proxy.auth.tokenreview import ReviewToken, TokenReviewer

API_KEY_HEADER: Final = "X-API-Key"
DEFAULT_TOKEN_REVIEW_SECONDS: Final = 10.0
DEFAULT_TOKEN_CACHE_SIZE: Final = 10_000


@dataclass(frozen=True)
class AuthSettings:
    """How the hub authenticates its callers; the command line fills it in."""

    jwt_issuers: tuple[JWTIssuer, ...] = ()
    # The audience ServiceAccount tokens must be made for; None turns TokenReview off.
    token_review_audience: str | None = None
    # No credentials at all -> the anonymous principal, instead of a 401.
    anonymous: bool = False
    leeway_seconds: float = DEFAULT_LEEWAY_SECONDS
    jwks_min_refresh_seconds: float = DEFAULT_JWKS_MIN_REFRESH_SECONDS
    jwks_max_age_seconds: float = DEFAULT_JWKS_MAX_AGE_SECONDS
    token_review_seconds: float = DEFAULT_TOKEN_REVIEW_SECONDS
    token_cache_size: int = DEFAULT_TOKEN_CACHE_SIZE

    def __post_init__(self) -> None:
        names = [issuer.issuer for issuer in self.jwt_issuers]
        twice = sorted({name for name in names if names.count(name) > 1})
        if twice:
            raise AuthConfigError(
                f"JWT issuer(s) {', '.join(twice)} configured more than once; give each "
                "issuer once, with the audience tokens must carry"
            )
        object.__setattr__(self, "jwt_issuers", _prefixed(self.jwt_issuers))
        if self.token_review_audience == "":
            raise AuthConfigError("the TokenReview audience is empty; name one, e.g. mcphub")
        if self.token_cache_size < 1:
            raise AuthConfigError(
                f"the token cache size must be at least 1, not {self.token_cache_size}"
            )

    @property
    def authorization_servers(self) -> tuple[str, ...]:
        """The issuers a client can get a token from, for RFC 9728 metadata."""
        return tuple(i.issuer for i in self.jwt_issuers if is_secure_url(i.issuer))


def _prefixed(issuers: tuple[JWTIssuer, ...]) -> tuple[JWTIssuer, ...]:
    """The issuers with their prefixes resolved, refused if two could name the same user.

    One issuer names users as they are, which is how single-issuer setups have
    always read.  Among several, each names users and groups ``{issuer}#name``
    unless told otherwise -- kube-apiserver's default username prefix -- since
    otherwise any of them could mint anyone's name.  Explicit prefixes must
    keep the issuers apart: none may begin another (an empty one begins all).
    """
    several = len(issuers) > 1
    resolved = tuple(
        dataclasses.replace(
            issuer,
            username_prefix=_default(issuer.username_prefix, issuer.issuer, several),
            groups_prefix=_default(issuer.groups_prefix, issuer.issuer, several),
        )
        for issuer in issuers
    )
    for what in ("username_prefix", "groups_prefix"):
        prefixes = [(getattr(issuer, what), issuer.issuer) for issuer in resolved]
        for (one, of_one), (other, of_other) in itertools.permutations(prefixes, 2):
            if other.startswith(one):
                flag = what.replace("_", "-")
                raise AuthConfigError(
                    f"the {flag.replace('-prefix', '')} prefix {one!r} of issuer {of_one} begins "
                    f"the prefix {other!r} of issuer {of_other}, so both could name the same "
                    f"{'user' if what == 'username_prefix' else 'group'}; give each issuer "
                    f"a --{flag} that no other's begins with"
                )
    return resolved


def _default(prefix: str | None, issuer: str, several: bool) -> str:
    if prefix is not None:
        return prefix
    return f"{issuer}#" if several else ""


class TokenCache:
    """Principals of tokens verified before, until each expires; bounded in size."""

    def __init__(self, size: int) -> None:
        self._size = size
        # Insertion-ordered: when full, the oldest entries go first.
        self._entries: dict[str, tuple[Principal, float]] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, token: str) -> Principal | None:
        entry = self._entries.get(token)
        if entry is None:
            return None
        if entry[1] > time.time():
            return entry[0]
        del self._entries[token]
        return None

    def put(self, token: str, principal: Principal, expires_at: float) -> None:
        if len(self._entries) >= self._size:
            now = time.time()
            live = [(t, entry) for t, entry in self._entries.items() if entry[1] > now]
            # Still full of live tokens: keep the newest three quarters, so that
            # evicting happens once in many puts, not on every one.
            keep = len(live) if len(live) < self._size else self._size * 3 // 4
            self._entries = dict(live[len(live) - keep :])
        self._entries[token] = (principal, expires_at)


class Authenticator:
    """Turns a request's headers into a :class:`Principal`, or refuses them.

    ``review`` is how to ask the API server about a ServiceAccount token
    (``functools.partial(hub_proxy.kube.review_token, connection)``); it is
    needed exactly when ``settings.token_review_audience`` is set.  The API
    keys in force are replaced while the hub runs, through
    ``authenticator.api_keys.replace(secrets)``.
    """

    def __init__(self, settings: AuthSettings, *, review: ReviewToken | None = None) -> None:
        audience = settings.token_review_audience
        if (audience is None) != (review is None):
            raise AuthConfigError(
                "TokenReview needs both an audience and a Kubernetes API to ask; "
                + ("run the hub in a cluster" if review is None else "set its audience")
            )
        self.settings = settings
        self.api_keys = APIKeys()
        self._verifiers = {
            issuer.issuer: JWTVerifier(
                issuer,
                leeway=settings.leeway_seconds,
                jwks_min_refresh=settings.jwks_min_refresh_seconds,
                jwks_max_age=settings.jwks_max_age_seconds,
            )
            for issuer in settings.jwt_issuers
        }
        self._reviewer = (
            TokenReviewer(review, audience) if review is not None and audience is not None else None
        )
        self._tokens = TokenCache(settings.token_cache_size)

    async def authenticate(self, headers: MultiMapping[str] | Mapping[str, str]) -> Principal:
        """Who sent a request with these headers (case-insensitive, as aiohttp's are)."""
        authorization = _single(headers, "Authorization")
        api_key = _single(headers, API_KEY_HEADER)
        if authorization is None:
            if api_key is not None:
                return self.api_keys.authenticate(api_key)
            if self.settings.anonymous:
                return ANONYMOUS
            raise MissingCredentialsError(
                "no credentials",
                f"authenticate with Authorization: Bearer <token>, or {API_KEY_HEADER}: <key>",
            )
        if api_key is not None:
            raise MalformedCredentialsError(
                f"several credentials were sent, in Authorization and {API_KEY_HEADER}; "
                "send one of them"
            )
        scheme, _, credential = authorization.strip().partition(" ")
        credential = credential.strip()
        if scheme.lower() != "bearer" or not credential:
            raise MalformedCredentialsError(
                "the Authorization header must be 'Bearer <token>' (RFC 6750)"
            )
        if "." not in credential:
            return self.api_keys.authenticate(credential)
        cached = self._tokens.get(credential)
        return cached if cached is not None else await self._verify(credential)

    async def _verify(self, raw: str) -> Principal:
        token = UnverifiedToken.parse(raw)
        verifier = self._verifiers.get(token.issuer or "")
        if verifier is not None:
            principal = await verifier.verify(token)
            expires_at = token.expires_at
        elif self._reviewer is not None:
            principal = await self._reviewer.authenticate(raw)
            expires_at = min(token.expires_at, time.time() + self.settings.token_review_seconds)
        else:
            raise InvalidCredentialsError(
                f"the token's issuer {token.issuer!r} is not one the hub trusts", NOT_ACCEPTED
            )
        self._tokens.put(raw, principal, expires_at)
        return principal


def _single(headers: MultiMapping[str] | Mapping[str, str], name: str) -> str | None:
    """The one value of header ``name``, if sent; refused if it was sent more than once."""
    if not isinstance(headers, MultiMapping):
        return headers.get(name)
    values = headers.getall(name, ())
    if len(values) > 1:
        raise MalformedCredentialsError(
            f"several credentials were sent, in {len(values)} {name} headers; send one"
        )
    return values[0] if values else None

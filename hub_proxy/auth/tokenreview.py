"""Kubernetes ServiceAccount tokens, checked by the API server that issued them.

A workload in the cluster already has an identity -- its ServiceAccount --
and the kubelet hands it short-lived, audience-bound tokens for it: mount a
projected token with ``audience: mcphub`` (or ``kubectl create token SA
--audience mcphub``) and present it as a bearer token.  The hub does not
verify such tokens itself: it asks the API server, through a TokenReview,
which also knows about revocation (a deleted ServiceAccount or pod) that the
token's signature alone cannot tell.

The audience is what makes this safe.  A token whose audience is the API
server would let whoever receives it act as the workload against the
cluster; a token made for ``mcphub`` is useless anywhere else, and a token
made for anything else is refused here, so the hub never accepts -- and
never needs to see -- a credential that is worth more than access to it.
The API server checks the audience; the hub checks again that the answer
says so, in case an old API server ignored the question.

Only ServiceAccounts are accepted this way.  A user the API server knows
(from its own OIDC or client certificates) is not a ServiceAccount and
should come as a JWT from an issuer the hub trusts directly.

Reviews cost a round trip to the API server, so the
:class:`~hub_proxy.auth.authenticator.Authenticator` remembers a successful
one for a few seconds -- long enough to absorb a burst of calls, short enough
that a deleted ServiceAccount soon stops working.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, Final, Protocol

import aiohttp

from hub_proxy.auth.errors import AuthUnavailableError, InvalidCredentialsError
from hub_proxy.auth.principal import AUTHENTICATED, Principal

ISSUER: Final = "kubernetes"
_SERVICE_ACCOUNT: Final = re.compile(r"system:serviceaccount:([^:]+):([^:]+)")


class ReviewToken(Protocol):
    """Ask the API server about a token; the TokenReview's ``status``.

    Raises :class:`aiohttp.ClientError` or :class:`TimeoutError` when the
    API server cannot answer (see :func:`hub_proxy.kube.review_token`).
    """

    async def __call__(self, token: str, audiences: Sequence[str]) -> Mapping[str, Any]: ...


class TokenReviewer:
    """ServiceAccount tokens made for one audience, as the API server judges them."""

    def __init__(self, review: ReviewToken, audience: str) -> None:
        self._review = review
        self.audience = audience
        self._refused = (
            f"the token is not accepted here; present a ServiceAccount token made for "
            f"audience {audience!r}"
        )

    async def authenticate(self, token: str) -> Principal:
        try:
            status = await self._review(token, [self.audience])
        except aiohttp.ClientResponseError as exc:
            hint = (
                "; the hub's ServiceAccount needs create on tokenreviews.authentication.k8s.io"
                if exc.status == 403
                else ""
            )
            raise AuthUnavailableError(
                f"TokenReview failed: HTTP {exc.status} {exc.message}{hint}"
            ) from None
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise AuthUnavailableError(f"TokenReview failed: {exc!r}") from None
        return self.principal(status)

    def principal(self, status: Mapping[str, Any]) -> Principal:
        """The ServiceAccount a TokenReview status vouches for; refused otherwise."""
        if status.get("authenticated") is not True:
            error = status.get("error") or "not authenticated"
            raise InvalidCredentialsError(f"TokenReview refused the token: {error}", self._refused)
        audiences = status.get("audiences")
        if not isinstance(audiences, list) or self.audience not in audiences:
            raise InvalidCredentialsError(
                f"TokenReview did not confirm audience {self.audience!r} (it said {audiences!r})",
                self._refused,
            )
        user = status.get("user")
        user = user if isinstance(user, Mapping) else {}
        username = user.get("username")
        match = _SERVICE_ACCOUNT.fullmatch(username) if isinstance(username, str) else None
        if match is None:
            raise InvalidCredentialsError(
                f"TokenReview authenticated {username!r}, which is not a ServiceAccount; "
                "only ServiceAccount tokens are accepted through TokenReview",
                self._refused,
            )
        listed = user.get("groups")
        groups = {g for g in (listed if isinstance(listed, list) else ()) if isinstance(g, str)}
        return Principal(
            "ServiceAccount",
            match[2],
            match[1],
            groups=frozenset({*groups, AUTHENTICATED}),
            issuer=ISSUER,
        )

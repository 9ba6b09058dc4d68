"""What can go wrong when the hub decides who is calling.

::

    AuthError
    ├── AuthenticationError            401: no usable credentials
    │   ├── MissingCredentialsError    none were presented
    │   ├── InvalidCredentialsError    some were presented and refused
    │   └── MalformedCredentialsError  some were presented and could not be read
    ├── AuthUnavailableError           503: credentials could not be checked just now
    └── AuthConfigError                the hub's auth settings cannot work (at start)

Authorization has no exceptions: a denial is a :class:`~hub_proxy.auth.policy.Decision`
like any other, because the hub must answer a denied call exactly as it answers
a call to a tool that does not exist, and a denied item simply leaves a list.

The ``reason`` of an :class:`AuthenticationError` is for the hub's log and
audit; what a client is told is ``error`` and ``description`` (RFC 6750's
``WWW-Authenticate`` parameters), which say what to fix without telling an
attacker which check it failed beyond what the standard codes already say.

An unreachable issuer (its JWKS or discovery document) or an unreachable
TokenReview API is not the client's fault, and answering 401 would send a
client off to get a new token that fails the same way: that is
:class:`AuthUnavailableError`, which the hub answers with 503 so the client
retries.
"""

from __future__ import annotations

from typing import Literal


class AuthError(Exception):
    """Anything the hub's authentication or authorization could not do."""


class AuthenticationError(AuthError):
    """The request carries no credentials the hub accepts."""

    #: RFC 6750 section 3.1 error code for ``WWW-Authenticate``, if any.
    error: Literal["invalid_request", "invalid_token"] | None = None

    def __init__(self, reason: str, description: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.description = description or reason


class MissingCredentialsError(AuthenticationError):
    """No credentials were presented (RFC 6750: no error code in the challenge)."""


class InvalidCredentialsError(AuthenticationError):
    """Credentials were presented and refused: bad signature, expired, revoked, unknown."""

    error = "invalid_token"


class MalformedCredentialsError(AuthenticationError):
    """The credentials could not even be parsed: a bad header, an oversized token."""

    error = "invalid_request"


class AuthUnavailableError(AuthError):
    """The credentials could not be checked now: an issuer's keys or TokenReview are unreachable.

    Answered with 503: the client should retry the same credentials later.
    """


class AuthConfigError(AuthError, ValueError):
    """The hub's authentication settings cannot work; the message names the setting and the fix."""

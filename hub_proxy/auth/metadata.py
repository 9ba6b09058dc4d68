"""How a client that was refused finds out where to get a token (RFC 9728).

The MCP authorization spec has a client discover its way from a 401 to a
token: the 401's ``WWW-Authenticate`` challenge names the resource's
*protected-resource metadata* (``resource_metadata="<url>"``), that document
lists the authorization servers whose tokens the resource accepts, and their
own metadata tells the client how to get one.  So the hub answers every
refusal with a challenge, and serves one metadata document per resource (one
per MCP endpoint, since ``/mcp/a`` and ``/mcp/b`` are different resources).

Where the document lives is fixed by RFC 9728 section 3.1: the well-known
path goes *between* the host and the resource's path, so the metadata of
``https://hub/mcp/a`` is at
``https://hub/.well-known/oauth-protected-resource/mcp/a``.

The challenge carries RFC 6750's ``error`` and ``error_description`` when
credentials were presented and refused, and neither when none were (section
3.1: a request without credentials is not an error, just incomplete).  RFC
6750 allows only printable ASCII without ``"`` and ``\\`` in those values,
so anything else is replaced rather than escaped: a client's parser should
never be the thing that fails.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, Final
from urllib.parse import urlsplit, urlunsplit

from hub_proxy.auth.errors import AuthConfigError, AuthenticationError
from hub_proxy.auth.jwt_tokens import require_secure_url

WELL_KNOWN_PATH: Final = "/.well-known/oauth-protected-resource"
# RFC 6750 section 3: %x20-21 / %x23-5B / %x5D-7E.
_NOT_ALLOWED: Final = re.compile(r'[^\x20-\x7e]|["\\]')


def _resource(resource: str) -> str:
    require_secure_url(resource, "the protected resource's URL")
    if urlsplit(resource).fragment:
        raise AuthConfigError(f"a protected resource's URL has no fragment (#...): {resource!r}")
    return resource


def metadata_url(resource: str) -> str:
    """Where ``resource``'s protected-resource metadata is served (RFC 9728 section 3.1)."""
    parts = urlsplit(_resource(resource))
    # The host's own terminating slash goes, so that "https://hub/" has no "//".
    path = "" if parts.path == "/" else parts.path
    return urlunsplit((parts.scheme, parts.netloc, WELL_KNOWN_PATH + path, parts.query, ""))


def protected_resource_metadata(
    resource: str,
    authorization_servers: Sequence[str],
    *,
    resource_name: str | None = None,
) -> dict[str, Any]:
    """The metadata document of ``resource`` (RFC 9728 section 2).

    ``authorization_servers`` are the issuers a client may get a token from
    (:attr:`~hub_proxy.auth.authenticator.AuthSettings.authorization_servers`).
    """
    document: dict[str, Any] = {
        "resource": _resource(resource),
        "bearer_methods_supported": ["header"],
    }
    if authorization_servers:
        document["authorization_servers"] = list(authorization_servers)
    if resource_name:
        document["resource_name"] = resource_name
    return document


def _quoted(value: str) -> str:
    return '"' + _NOT_ALLOWED.sub("?", value) + '"'


def www_authenticate(metadata: str, refusal: AuthenticationError | None = None) -> str:
    """The ``WWW-Authenticate`` value of a 401: where the metadata is, and what went wrong."""
    params = [("resource_metadata", metadata)]
    if refusal is not None and refusal.error is not None:
        params += [("error", refusal.error), ("error_description", refusal.description)]
    return "Bearer " + ", ".join(f"{name}={_quoted(value)}" for name, value in params)

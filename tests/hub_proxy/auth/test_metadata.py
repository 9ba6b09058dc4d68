"""RFC 9728 metadata and the RFC 6750 challenge that points a refused client at it."""

from __future__ import annotations

import pytest

from hub_proxy.auth.errors import (
    AuthConfigError,
    InvalidCredentialsError,
    MalformedCredentialsError,
    MissingCredentialsError,
)
from hub_proxy.auth.metadata import metadata_url, protected_resource_metadata, www_authenticate

METADATA = "https://hub.internal/.well-known/oauth-protected-resource/mcp"


@pytest.mark.parametrize(
    ("resource", "url"),
    [
        (
            "https://hub.internal/mcp/x",
            "https://hub.internal/.well-known/oauth-protected-resource/mcp/x",
        ),
        ("https://hub.internal", "https://hub.internal/.well-known/oauth-protected-resource"),
        ("https://hub.internal/", "https://hub.internal/.well-known/oauth-protected-resource"),
        (
            "https://hub.internal/mcp/",
            "https://hub.internal/.well-known/oauth-protected-resource/mcp/",
        ),
        (
            "https://hub.internal:8443/mcp?tenant=a",
            "https://hub.internal:8443/.well-known/oauth-protected-resource/mcp?tenant=a",
        ),
        (
            "http://127.0.0.1:8080/mcp",
            "http://127.0.0.1:8080/.well-known/oauth-protected-resource/mcp",
        ),
    ],
)
def test_the_well_known_path_goes_between_host_and_path(resource: str, url: str) -> None:
    assert metadata_url(resource) == url


@pytest.mark.parametrize(
    ("resource", "problem"),
    [
        ("http://hub.internal/mcp", "must be an https URL"),
        ("/mcp", "must be an https URL"),
        ("https://hub.internal/mcp#tools", "no fragment"),
    ],
)
def test_a_resource_must_be_an_https_url_without_fragment(resource: str, problem: str) -> None:
    with pytest.raises(AuthConfigError, match=problem):
        metadata_url(resource)
    with pytest.raises(AuthConfigError, match=problem):
        protected_resource_metadata(resource, [])


def test_the_metadata_names_the_resource_and_where_to_get_tokens() -> None:
    document = protected_resource_metadata(
        "https://hub.internal/mcp/x",
        ["https://login.corp.internal"],
        resource_name="mcphub: group x",
    )
    assert document == {
        "resource": "https://hub.internal/mcp/x",
        "authorization_servers": ["https://login.corp.internal"],
        "bearer_methods_supported": ["header"],
        "resource_name": "mcphub: group x",
    }


def test_without_issuers_the_metadata_lists_no_authorization_servers() -> None:
    assert protected_resource_metadata("https://hub.internal/mcp", []) == {
        "resource": "https://hub.internal/mcp",
        "bearer_methods_supported": ["header"],
    }


def test_no_credentials_get_a_challenge_without_an_error() -> None:
    missing = MissingCredentialsError("no credentials", "authenticate")
    assert www_authenticate(METADATA, missing) == f'Bearer resource_metadata="{METADATA}"'
    assert www_authenticate(METADATA) == f'Bearer resource_metadata="{METADATA}"'


def test_refused_credentials_get_the_error_and_its_description() -> None:
    refused = InvalidCredentialsError("exp in the past", "the token has expired; get a new one")
    assert www_authenticate(METADATA, refused) == (
        f'Bearer resource_metadata="{METADATA}", error="invalid_token", '
        'error_description="the token has expired; get a new one"'
    )
    malformed = MalformedCredentialsError("the bearer token has 2 dot-separated segments")
    assert 'error="invalid_request"' in www_authenticate(METADATA, malformed)


def test_descriptions_keep_to_the_characters_rfc_6750_allows() -> None:
    refused = InvalidCredentialsError("r", 'say "hi"\\ to\r\nX-Injected: 1 — über')
    challenge = www_authenticate(METADATA, refused)
    assert challenge.endswith('error_description="say ?hi?? to??X-Injected: 1 ? ?ber"')
    assert challenge.isascii()
    assert "\r" not in challenge
    assert "\n" not in challenge

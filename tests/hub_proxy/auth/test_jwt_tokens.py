"""Bearer JWTs against a real issuer on loopback: what is accepted, and every forgery refused."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization

from hub_proxy.auth.errors import (
    AuthConfigError,
    AuthenticationError,
    AuthUnavailableError,
    InvalidCredentialsError,
    MalformedCredentialsError,
)
from hub_proxy.auth.jwt_tokens import (
    MAX_TOKEN_BYTES,
    NOT_ACCEPTED,
    JWTIssuer,
    JWTVerifier,
    UnverifiedToken,
    is_secure_url,
)
from hub_proxy.auth.principal import AUTHENTICATED, Principal
from tests.hub_proxy.auth.issuer import (
    AUDIENCE,
    HS_ISSUER,
    SECRET,
    Issuer,
    b64,
    claims,
    ec_key,
    forge,
    rsa_key,
    serving_issuer,
    sign,
    sign_hs,
)
from tests.testbed.processes import free_port

RSA = rsa_key("rsa-1")
EC = ec_key("ec-1")
NEW_RSA = rsa_key("rsa-2")
ALICE = frozenset({"dev", "ops", AUTHENTICATED})


@pytest.fixture
async def idp() -> AsyncIterator[Issuer]:
    async with serving_issuer(RSA, EC) as issuer:
        yield issuer


def hs_verifier(**options: Any) -> JWTVerifier:
    return JWTVerifier(JWTIssuer(HS_ISSUER, AUDIENCE, secret=SECRET), **options)


def jwks_verifier(idp: Issuer, *, discovery: bool = False, **options: Any) -> JWTVerifier:
    jwks_url = None if discovery else idp.jwks_url
    return JWTVerifier(JWTIssuer(idp.url, AUDIENCE, jwks_url=jwks_url), **options)


async def verify(verifier: JWTVerifier, raw: str) -> Principal:
    return await verifier.verify(UnverifiedToken.parse(raw))


def with_segment(raw: str, index: int, segment: str) -> str:
    segments = raw.split(".")
    segments[index] = segment
    return ".".join(segments)


# -- HS256: a shared secret ---------------------------------------------------------------


async def test_hs256_token_names_its_user_and_groups() -> None:
    principal = await verify(hs_verifier(), sign_hs(claims(HS_ISSUER)))
    assert principal == Principal("User", "alice", groups=ALICE, issuer=HS_ISSUER)


async def test_subject_and_groups_claims_are_configurable() -> None:
    issuer = JWTIssuer(
        HS_ISSUER, AUDIENCE, secret=SECRET, subject_claim="email", groups_claim="roles"
    )
    token = sign_hs(claims(HS_ISSUER, email="alice@corp", roles=["admins"]))
    principal = await verify(JWTVerifier(issuer), token)
    assert principal.name == "alice@corp"
    assert principal.groups == {"admins", AUTHENTICATED}


@pytest.mark.parametrize(
    ("groups", "expected"),
    [
        ("dev", set()),
        ({"dev": True}, set()),
        ([1, "dev", None, ["ops"]], {"dev"}),
        # The "system:" groups are the hub's to give, never an issuer's.
        (["system:masters", "system:serviceaccounts", "dev"], {"dev"}),
        (None, set()),
    ],
)
async def test_groups_other_than_strings_in_a_list_are_ignored(
    groups: Any, expected: set[str]
) -> None:
    principal = await verify(hs_verifier(), sign_hs(claims(HS_ISSUER, groups=groups)))
    assert principal.groups == {*expected, AUTHENTICATED}


async def test_a_token_within_the_leeway_is_accepted_and_beyond_it_refused() -> None:
    late = sign_hs(claims(HS_ISSUER, exp=int(time.time()) - 10))
    assert (await verify(hs_verifier(leeway=30), late)).name == "alice"
    with pytest.raises(InvalidCredentialsError, match="expired"):
        await verify(hs_verifier(leeway=0), late)


def _now() -> int:
    return int(time.time())


# Each: how to make the token, and what the refusal's reason says.
REFUSED: dict[str, tuple[Callable[[], str], str]] = {
    "expired": (lambda: sign_hs(claims(HS_ISSUER, exp=_now() - 120)), "expired"),
    "not yet valid": (lambda: sign_hs(claims(HS_ISSUER, nbf=_now() + 120)), r"not yet valid \(nbf"),
    "issued in the future": (
        lambda: sign_hs(claims(HS_ISSUER, iat=_now() + 120)),
        r"not yet valid \(iat",
    ),
    "wrong audience": (lambda: sign_hs(claims(HS_ISSUER, "another-service")), "Audience"),
    "no audience": (lambda: sign_hs(claims(HS_ISSUER, aud=None)), '"aud"'),
    "no expiry": (lambda: sign_hs(claims(HS_ISSUER, exp=None)), '"exp"'),
    "no issuer": (lambda: sign_hs(claims(HS_ISSUER, iss=None)), '"iss"'),
    "wrong issuer": (lambda: sign_hs(claims("someone-else")), "Invalid issuer"),
    "no subject": (lambda: sign_hs(claims(HS_ISSUER, sub=None)), "'sub' claim"),
    "wrong secret": (
        lambda: sign_hs(claims(HS_ISSUER), b"another secret, just as long as the real one"),
        "Signature verification failed",
    ),
    "tampered payload": (
        lambda: with_segment(
            sign_hs(claims(HS_ISSUER)),
            1,
            b64(json.dumps(claims(HS_ISSUER, sub="admin")).encode()),
        ),
        "Signature verification failed",
    ),
    "tampered signature": (
        lambda: with_segment(sign_hs(claims(HS_ISSUER)), 2, b64(b"\x00" * 32)),
        "Signature verification failed",
    ),
    "alg none": (
        lambda: forge({"alg": "none", "typ": "JWT"}, claims(HS_ISSUER)),
        "must be signed with HS256, not 'none'",
    ),
    "RS256 for an HS256 issuer": (
        lambda: sign(claims(HS_ISSUER), RSA),
        "must be signed with HS256, not 'RS256'",
    ),
}


@pytest.mark.parametrize("case", REFUSED)
async def test_refused_tokens_say_why(case: str) -> None:
    make, reason = REFUSED[case]
    with pytest.raises(InvalidCredentialsError, match=reason) as refused:
        await verify(hs_verifier(), make())
    assert refused.value.error == "invalid_token"
    expected = "the token has expired; get a new one" if case == "expired" else NOT_ACCEPTED
    assert refused.value.description == expected


MALFORMED: dict[str, tuple[str, str]] = {
    "oversized": ("a" * (MAX_TOKEN_BYTES + 1) + ".b.c", "refused unread"),
    "two segments": ("eyJhbGciOiJIUzI1NiJ9.e30", "has 2 dot-separated segments"),
    "four segments": ("a.b.c.d", "has 4 dot-separated segments"),
    "header not base64url": ("!!!.e30.c2ln", "header is not a base64url"),
    "header not JSON": (f"{b64(b'not json')}.e30.c2ln", "header is not a base64url"),
    "header not an object": (f"{b64(b'[1]')}.e30.c2ln", "header is not a base64url"),
    "header without alg": (f"{b64(b'{}')}.e30.c2ln", "'alg' as a string"),
    "kid not a string": (forge({"alg": "HS256", "kid": 5}, {}), "'kid'"),
    "empty payload": ("eyJhbGciOiJIUzI1NiJ9..c2ln", "payload is not a base64url"),
    "payload not an object": (
        "eyJhbGciOiJIUzI1NiJ9." + b64(json.dumps("alice").encode()) + ".c2ln",
        "payload is not a base64url",
    ),
    "signature not base64url": ("eyJhbGciOiJIUzI1NiJ9.e30.c2ln+/==", "signature is not base64url"),
}


@pytest.mark.parametrize("case", MALFORMED)
def test_malformed_tokens_are_refused_before_any_verification(case: str) -> None:
    raw, reason = MALFORMED[case]
    with pytest.raises(MalformedCredentialsError, match=reason) as refused:
        UnverifiedToken.parse(raw)
    assert refused.value.error == "invalid_request"


# -- RS256 and ES256: keys from a JWKS ------------------------------------------------------


async def test_rs256_token_verifies_with_a_key_from_the_jwks_url(idp: Issuer) -> None:
    principal = await verify(jwks_verifier(idp), sign(claims(idp.url), RSA))
    assert principal == Principal("User", "alice", groups=ALICE, issuer=idp.url)


async def test_es256_token_verifies_with_a_key_found_by_oidc_discovery(idp: Issuer) -> None:
    principal = await verify(jwks_verifier(idp, discovery=True), sign(claims(idp.url), EC))
    assert principal == Principal("User", "alice", groups=ALICE, issuer=idp.url)


async def test_hs256_signed_with_the_rsa_public_key_is_refused(idp: Issuer) -> None:
    # The key-confusion forgery: the public key, which anyone can fetch, as an HMAC secret.
    public_pem = RSA.private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    header, payload = {"alg": "HS256", "typ": "JWT", "kid": RSA.kid}, claims(idp.url)
    unsigned = forge(header, payload).rsplit(".", 1)[0]
    signature = hmac.new(public_pem, unsigned.encode(), hashlib.sha256).digest()
    with pytest.raises(InvalidCredentialsError, match="must be signed with ES256 or RS256"):
        await verify(jwks_verifier(idp), f"{unsigned}.{b64(signature)}")


async def test_a_key_verifies_only_the_algorithm_of_its_type(idp: Issuer) -> None:
    # An RSA signature under a header claiming ES256 and naming the RSA key.
    header, payload = {"alg": "ES256", "typ": "JWT", "kid": RSA.kid}, claims(idp.url)
    unsigned = forge(header, payload).rsplit(".", 1)[0]
    signature = jwt.get_algorithm_by_name("RS256").sign(unsigned.encode(), RSA.private)
    with pytest.raises(InvalidCredentialsError, match="has no ES256 key 'rsa-1'"):
        await verify(jwks_verifier(idp), f"{unsigned}.{b64(signature)}")


async def test_an_unknown_kid_refetches_the_jwks_and_is_still_refused(idp: Issuer) -> None:
    verifier = jwks_verifier(idp, jwks_min_refresh=0)
    await verify(verifier, sign(claims(idp.url), RSA))
    assert idp.jwks_requests == 1
    with pytest.raises(InvalidCredentialsError, match="has no RS256 key 'rsa-2'"):
        await verify(verifier, sign(claims(idp.url), NEW_RSA))
    assert idp.jwks_requests == 2


async def test_key_rotation_is_followed(idp: Issuer) -> None:
    verifier = jwks_verifier(idp, jwks_min_refresh=0)
    old_token = sign(claims(idp.url), RSA)
    await verify(verifier, old_token)
    idp.keys = [NEW_RSA]
    assert (await verify(verifier, sign(claims(idp.url), NEW_RSA))).name == "alice"
    # The refetch that found the new key also dropped the withdrawn one.
    with pytest.raises(InvalidCredentialsError, match="has no RS256 key 'rsa-1'"):
        await verify(verifier, old_token)
    # A kid unknown even after the rotation is refused.
    with pytest.raises(InvalidCredentialsError, match="has no RS256 key 'rsa-3'"):
        await verify(verifier, sign(claims(idp.url), rsa_key("rsa-3")))


async def test_a_withdrawn_key_stops_working_once_the_keys_are_old(idp: Issuer) -> None:
    verifier = jwks_verifier(idp, jwks_min_refresh=0, jwks_max_age=0)
    token = sign(claims(idp.url), EC)
    await verify(verifier, token)
    idp.keys = [RSA]
    with pytest.raises(InvalidCredentialsError, match="has no ES256 key 'ec-1'"):
        await verify(verifier, token)


async def test_refetching_for_unknown_kids_is_rate_limited(idp: Issuer) -> None:
    verifier = jwks_verifier(idp, jwks_min_refresh=3600)
    await verify(verifier, sign(claims(idp.url), RSA))
    idp.keys = [RSA, NEW_RSA]
    for _ in range(5):
        with pytest.raises(InvalidCredentialsError, match="'rsa-2'"):
            await verify(verifier, sign(claims(idp.url), NEW_RSA))
    assert idp.jwks_requests == 1


async def test_concurrent_first_uses_share_one_fetch(idp: Issuer) -> None:
    verifier = jwks_verifier(idp, discovery=True)
    token = sign(claims(idp.url), RSA)
    principals = await asyncio.gather(*(verify(verifier, token) for _ in range(20)))
    assert {p.name for p in principals} == {"alice"}
    assert idp.jwks_requests == 1


async def test_an_unreachable_issuer_is_unavailable_not_a_bad_token() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    verifier = JWTVerifier(JWTIssuer(url, AUDIENCE, jwks_url=f"{url}/jwks"))
    with pytest.raises(AuthUnavailableError, match="could not be fetched") as unavailable:
        await verify(verifier, sign(claims(url), RSA))
    assert not isinstance(unavailable.value, AuthenticationError)


async def test_discovery_naming_another_issuer_is_not_trusted(idp: Issuer) -> None:
    idp.advertised_issuer = "http://127.0.0.1:1"
    with pytest.raises(AuthUnavailableError, match="not the OIDC discovery document"):
        await verify(jwks_verifier(idp, discovery=True), sign(claims(idp.url), RSA))
    assert idp.jwks_requests == 0


# -- configuration ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "problem"),
    [
        ({"issuer": "", "audience": AUDIENCE}, "needs both an issuer and an audience"),
        ({"issuer": HS_ISSUER, "audience": ""}, "needs both an issuer and an audience"),
        ({"issuer": HS_ISSUER, "audience": AUDIENCE, "secret": b"short"}, "at least 32"),
        (
            {
                "issuer": HS_ISSUER,
                "audience": AUDIENCE,
                "secret": SECRET,
                "jwks_url": "https://idp.internal/jwks",
            },
            "both a secret and a jwks_url",
        ),
        (
            {
                "issuer": "https://idp.internal",
                "audience": AUDIENCE,
                "jwks_url": "http://10.1.2.3/k",
            },
            "must be an https URL",
        ),
        ({"issuer": "mcphub-dev", "audience": AUDIENCE}, "found by OIDC discovery"),
        ({"issuer": "http://idp.internal", "audience": AUDIENCE}, "must be an https URL"),
    ],
)
def test_unusable_issuer_settings_say_what_to_fix(options: dict[str, Any], problem: str) -> None:
    with pytest.raises(AuthConfigError, match=problem):
        JWTIssuer(**options)


def test_the_secret_stays_out_of_the_settings_repr() -> None:
    assert "0123456789" not in repr(JWTIssuer(HS_ISSUER, AUDIENCE, secret=SECRET))


@pytest.mark.parametrize(
    ("url", "secure"),
    [
        ("https://idp.internal/jwks", True),
        ("http://127.0.0.1:8080/jwks", True),
        ("http://127.9.9.9/jwks", True),
        ("http://[::1]:8080/jwks", True),
        ("http://localhost/jwks", True),
        ("http://10.0.0.1/jwks", False),
        ("http://idp.internal/jwks", False),
        ("http://[::2]/jwks", False),
        ("ftp://127.0.0.1/jwks", False),
        ("https:///jwks", False),
        ("/jwks", False),
    ],
)
def test_only_https_or_loopback_http_is_fetched(url: str, secure: bool) -> None:
    assert is_secure_url(url) is secure

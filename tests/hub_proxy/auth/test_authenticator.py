"""The authenticator: one credential per request, routed to what can judge it, remembered."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

import pytest
from multidict import CIMultiDict, CIMultiDictProxy

from hub_proxy.auth.apikeys import hash_key, mint_key
from hub_proxy.auth.authenticator import Authenticator, AuthSettings, TokenCache
from hub_proxy.auth.errors import (
    AuthConfigError,
    AuthenticationError,
    InvalidCredentialsError,
    MalformedCredentialsError,
    MissingCredentialsError,
)
from hub_proxy.auth.jwt_tokens import JWTIssuer
from hub_proxy.auth.policy import Evaluator, Item
from hub_proxy.auth.principal import ANONYMOUS, AUTHENTICATED, Principal
from hub_proxy.catalog import API_KEY_LABEL
from mcphub_api import AccessPolicy
from mcphub_api.secret import Secret
from tests.hub_proxy.auth.issuer import (
    AUDIENCE,
    HS_ISSUER,
    SECRET,
    Issuer,
    claims,
    rsa_key,
    serving_issuer,
    sign,
    sign_hs,
)

RSA = rsa_key("rsa-1")
KEY = mint_key()
BOT = Principal("APIKey", "bot", "team-a", frozenset({AUTHENTICATED}), "api-key")


@pytest.fixture
async def idp() -> AsyncIterator[Issuer]:
    async with serving_issuer(RSA) as issuer:
        yield issuer


def key_secret(name: str, key: str) -> Secret:
    return Secret.model_validate(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": name, "namespace": "team-a", "labels": {API_KEY_LABEL: "true"}},
            "stringData": {"sha256": hash_key(key)},
        }
    )


def authenticator(idp: Issuer | None = None, **settings: Any) -> Authenticator:
    issuers = [JWTIssuer(HS_ISSUER, AUDIENCE, secret=SECRET)]
    if idp is not None:
        issuers.append(JWTIssuer(idp.url, AUDIENCE, jwks_url=idp.jwks_url))
    made = Authenticator(AuthSettings(jwt_issuers=tuple(issuers), **settings))
    made.api_keys.replace([key_secret("bot", KEY)])
    return made


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_no_credentials_is_a_challenge_without_an_error_code() -> None:
    with pytest.raises(MissingCredentialsError) as missing:
        await authenticator().authenticate({})
    assert missing.value.error is None
    assert "Authorization: Bearer" in missing.value.description


async def test_no_credentials_is_the_anonymous_caller_when_enabled() -> None:
    assert await authenticator(anonymous=True).authenticate({}) is ANONYMOUS


@pytest.mark.parametrize(
    "headers",
    [
        bearer("not-a-key"),
        bearer(sign_hs(claims(HS_ISSUER, exp=1))),
        {"X-API-Key": "not-a-key"},
        {"Authorization": ""},
        {"Authorization": "Basic YWxpY2U6c2VjcmV0"},
    ],
    ids=["unknown key", "expired JWT", "unknown X-API-Key", "empty header", "basic"],
)
async def test_bad_credentials_are_refused_even_when_anonymous_is_on(
    headers: dict[str, str],
) -> None:
    with pytest.raises(AuthenticationError) as refused:
        await authenticator(anonymous=True).authenticate(headers)
    assert not isinstance(refused.value, MissingCredentialsError)


@pytest.mark.parametrize(
    ("headers", "problem"),
    [
        ({"Authorization": "Bearer"}, "must be 'Bearer <token>'"),
        ({"Authorization": "Bearer   "}, "must be 'Bearer <token>'"),
        ({"Authorization": "Basic YWxpY2U6c2VjcmV0"}, "must be 'Bearer <token>'"),
        ({"Authorization": f"Bearer {KEY}", "X-API-Key": KEY}, "send one of them"),
        (bearer("a.b"), "2 dot-separated segments"),
        ({"X-API-Key": ""}, "the API key is empty"),
    ],
)
async def test_unreadable_credentials_are_malformed(headers: dict[str, str], problem: str) -> None:
    with pytest.raises(MalformedCredentialsError, match=problem):
        await authenticator().authenticate(headers)


@pytest.mark.parametrize(
    "sent",
    [
        [("Authorization", f"Bearer {KEY}"), ("Authorization", f"Bearer {KEY}")],
        [("Authorization", f"Bearer {KEY}"), ("authorization", "Bearer other")],
        [("X-API-Key", KEY), ("X-API-Key", KEY)],
        [("X-API-Key", "first"), ("x-api-key", KEY)],
    ],
    ids=["same bearer twice", "two bearers", "same key twice", "two keys"],
)
async def test_a_credential_header_sent_twice_is_refused(sent: list[tuple[str, str]]) -> None:
    headers = CIMultiDictProxy(CIMultiDict(sent))
    with pytest.raises(MalformedCredentialsError, match="several credentials were sent"):
        await authenticator(anonymous=True).authenticate(headers)


async def test_an_api_key_is_accepted_as_a_bearer_token_or_in_its_own_header() -> None:
    auth = authenticator()
    assert await auth.authenticate(bearer(KEY)) == BOT
    assert await auth.authenticate({"X-API-Key": KEY}) == BOT
    assert await auth.authenticate({"Authorization": f"bearer  {KEY} "}) == BOT


async def test_api_keys_are_replaced_while_running() -> None:
    auth, new = authenticator(), mint_key()
    auth.api_keys.replace([key_secret("bot-2", new)])
    assert (await auth.authenticate(bearer(new))).name == "bot-2"
    with pytest.raises(InvalidCredentialsError, match="unknown API key"):
        await auth.authenticate(bearer(KEY))


async def test_jwts_go_to_the_issuer_they_name(idp: Issuer) -> None:
    auth = authenticator(idp)
    hs = await auth.authenticate(bearer(sign_hs(claims(HS_ISSUER))))
    rs = await auth.authenticate(bearer(sign(claims(idp.url), RSA)))
    assert (hs.issuer, rs.issuer) == (HS_ISSUER, idp.url)
    assert hs.key != rs.key  # two issuers' "alice" are two people


ALICE_POLICY = AccessPolicy.model_validate(
    {
        "apiVersion": "mcphub.dev/v1alpha1",
        "kind": "AccessPolicy",
        "metadata": {"name": "alice", "namespace": "default"},
        "spec": {
            "subjects": [{"kind": "User", "name": f"{HS_ISSUER}#alice"}],
            "rules": [{"servers": ["time"], "actions": ["call"]}],
        },
    }
)


async def test_another_issuers_alice_is_not_alice(idp: Issuer) -> None:
    """Among several issuers, each one's names are its own: ``{issuer}#name`` by default."""
    auth = authenticator(idp)
    hs = await auth.authenticate(bearer(sign_hs(claims(HS_ISSUER, groups=["admins"]))))
    rs = await auth.authenticate(bearer(sign(claims(idp.url, groups=["admins"]), RSA)))
    assert (hs.name, rs.name) == (f"{HS_ISSUER}#alice", f"{idp.url}#alice")
    assert f"{HS_ISSUER}#admins" in hs.groups
    assert f"{idp.url}#admins" in rs.groups
    evaluator = Evaluator([ALICE_POLICY], {})
    item = Item("tool", "time", ("get_current_time",))
    assert evaluator.allows(hs, "call", item)
    assert not evaluator.allows(rs, "call", item)


async def test_one_issuer_names_users_as_they_are() -> None:
    alice = await authenticator().authenticate(bearer(sign_hs(claims(HS_ISSUER))))
    assert (alice.name, alice.groups) == ("alice", frozenset({"dev", "ops", AUTHENTICATED}))


async def test_explicit_prefixes_replace_the_default(idp: Issuer) -> None:
    settings = AuthSettings(
        jwt_issuers=(
            JWTIssuer(HS_ISSUER, AUDIENCE, secret=SECRET, username_prefix="hs:"),
            JWTIssuer(
                idp.url, AUDIENCE, jwks_url=idp.jwks_url, username_prefix="u:", groups_prefix="g:"
            ),
        )
    )
    auth = Authenticator(settings)
    hs = await auth.authenticate(bearer(sign_hs(claims(HS_ISSUER))))
    rs = await auth.authenticate(bearer(sign(claims(idp.url), RSA)))
    assert (hs.name, rs.name) == ("hs:alice", "u:alice")
    assert f"{HS_ISSUER}#dev" in hs.groups
    assert "g:dev" in rs.groups


@pytest.mark.parametrize(
    ("prefixes", "problem"),
    [
        (("", "b:"), "begins the prefix 'b:'"),
        (("a", "ab"), "begins the prefix 'ab'"),
        (("same:", "same:"), "both could name the same user"),
    ],
)
def test_prefixes_that_could_name_one_user_twice_are_refused(
    prefixes: tuple[str, str], problem: str
) -> None:
    with pytest.raises(AuthConfigError, match=problem):
        AuthSettings(
            jwt_issuers=(
                JWTIssuer(HS_ISSUER, AUDIENCE, secret=SECRET, username_prefix=prefixes[0]),
                JWTIssuer("other", AUDIENCE, secret=SECRET, username_prefix=prefixes[1]),
            )
        )


async def test_an_issuer_cannot_name_a_system_user() -> None:
    token = sign_hs(claims(HS_ISSUER, sub="system:anonymous", groups=["system:masters"]))
    with pytest.raises(InvalidCredentialsError, match="reserved user"):
        await authenticator().authenticate(bearer(token))


async def test_a_jwt_of_an_issuer_not_configured_is_refused() -> None:
    stranger = sign_hs(claims("https://stranger.internal"))
    with pytest.raises(InvalidCredentialsError, match=r"'https://stranger\.internal' is not one"):
        await authenticator().authenticate(bearer(stranger))
    with pytest.raises(InvalidCredentialsError, match="None is not one"):
        await authenticator().authenticate(bearer(sign_hs(claims(HS_ISSUER, iss=None))))


async def test_a_verified_jwt_is_remembered_until_it_expires(idp: Issuer) -> None:
    auth = authenticator(idp, jwks_min_refresh_seconds=0, jwks_max_age_seconds=0)
    remembered = sign(claims(idp.url), RSA)
    first = await auth.authenticate(bearer(remembered))
    # The issuer withdraws its key: fresh tokens fail, the remembered one is not re-checked.
    idp.keys = []
    assert await auth.authenticate(bearer(remembered)) is first
    with pytest.raises(InvalidCredentialsError, match="no RS256 key"):
        await auth.authenticate(bearer(sign(claims(idp.url, sub="bob"), RSA)))
    assert idp.jwks_requests == 2


def test_the_token_cache_forgets_expired_tokens_and_stays_bounded() -> None:
    cache = TokenCache(8)
    alice = Principal("User", "alice")
    cache.put("gone", alice, time.time() - 1)
    assert cache.get("gone") is None
    for number in range(20):
        cache.put(f"t{number}", alice, time.time() + 60)
        assert len(cache) <= 8
    assert cache.get("t19") is alice
    assert cache.get("t0") is None


async def _no_review(token: str, audiences: Sequence[str]) -> Mapping[str, Any]:
    raise AssertionError("never asked")


def test_tokenreview_needs_both_an_audience_and_an_api_to_ask() -> None:
    with pytest.raises(AuthConfigError, match="run the hub in a cluster"):
        Authenticator(AuthSettings(token_review_audience="mcphub"))
    with pytest.raises(AuthConfigError, match="set its audience"):
        Authenticator(AuthSettings(), review=_no_review)


@pytest.mark.parametrize(
    ("settings", "problem"),
    [
        (
            {
                "jwt_issuers": (
                    JWTIssuer(HS_ISSUER, AUDIENCE, secret=SECRET),
                    JWTIssuer(HS_ISSUER, "other", secret=SECRET),
                )
            },
            "mcphub-test configured more than once",
        ),
        ({"token_review_audience": ""}, "the TokenReview audience is empty"),
        ({"token_cache_size": 0}, "at least 1"),
    ],
)
def test_unusable_settings_say_what_to_fix(settings: dict[str, Any], problem: str) -> None:
    with pytest.raises(AuthConfigError, match=problem):
        AuthSettings(**settings)


def test_the_authorization_servers_are_the_issuers_a_client_can_reach() -> None:
    settings = AuthSettings(
        jwt_issuers=(
            JWTIssuer(HS_ISSUER, AUDIENCE, secret=SECRET),
            JWTIssuer("https://login.corp.internal", AUDIENCE),
        )
    )
    assert settings.authorization_servers == ("https://login.corp.internal",)

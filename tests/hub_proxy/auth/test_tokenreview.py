"""ServiceAccount tokens, reviewed by a real API server: the audience decides."""

from __future__ import annotations

import contextlib
import ssl
import uuid
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from hub_proxy import kube
from hub_proxy.auth.authenticator import Authenticator, AuthSettings
from hub_proxy.auth.errors import AuthUnavailableError, InvalidCredentialsError
from hub_proxy.auth.jwt_tokens import JWTIssuer
from hub_proxy.auth.principal import AUTHENTICATED, Principal
from hub_proxy.auth.tokenreview import ReviewToken, TokenReviewer
from tests.hub_proxy.auth.issuer import AUDIENCE, HS_ISSUER, SECRET, claims, sign_hs
from tests.testbed.kube import ControlPlane
from tests.testbed.processes import free_port

REVIEW_AUDIENCE = "mcphub"


@pytest.fixture(scope="module")
def account(control_plane: ControlPlane) -> Iterator[tuple[str, str]]:
    """A namespace and a ServiceAccount in it, for the module's tokens."""
    namespace = f"sa-{uuid.uuid4().hex[:8]}"
    control_plane.kubectl("create", "namespace", namespace)
    control_plane.kubectl("create", "serviceaccount", "agent", "-n", namespace)
    yield namespace, "agent"
    control_plane.kubectl("delete", "namespace", namespace, "--wait=false")


def token(control_plane: ControlPlane, account: tuple[str, str], *audiences: str) -> str:
    namespace, name = account
    flags = [f"--audience={audience}" for audience in audiences]
    return control_plane.kubectl("create", "token", name, "-n", namespace, *flags).strip()


@pytest.fixture
def connection(control_plane: ControlPlane, monkeypatch: pytest.MonkeyPatch) -> kube.Connection:
    monkeypatch.setenv("KUBECONFIG", str(control_plane.kubeconfig))
    return kube.connection()


@contextlib.asynccontextmanager
async def reviewing(connection: kube.Connection) -> AsyncIterator[TokenReviewer]:
    """A reviewer as the hub makes one, its client session closed afterwards."""
    reviews = kube.TokenReviews(connection)
    try:
        yield TokenReviewer(reviews, REVIEW_AUDIENCE)
    finally:
        await reviews.close()


@pytest.fixture
async def reviewer(connection: kube.Connection) -> AsyncIterator[TokenReviewer]:
    async with reviewing(connection) as made:
        yield made


async def test_a_token_for_the_audience_is_its_service_account(
    control_plane: ControlPlane, account: tuple[str, str], reviewer: TokenReviewer
) -> None:
    namespace, name = account
    principal = await reviewer.authenticate(token(control_plane, account, REVIEW_AUDIENCE))
    assert principal == Principal(
        "ServiceAccount",
        name,
        namespace,
        frozenset({"system:serviceaccounts", f"system:serviceaccounts:{namespace}", AUTHENTICATED}),
        issuer="kubernetes",
    )


async def test_a_token_for_another_audience_is_refused(
    control_plane: ControlPlane, account: tuple[str, str], reviewer: TokenReviewer
) -> None:
    with pytest.raises(InvalidCredentialsError, match="TokenReview refused the token") as refused:
        await reviewer.authenticate(token(control_plane, account, "another-service"))
    assert "'mcphub'" in refused.value.description


async def test_a_token_for_the_api_server_itself_is_refused(
    control_plane: ControlPlane, account: tuple[str, str], reviewer: TokenReviewer
) -> None:
    # The token that would let its bearer act as the workload against the cluster.
    with pytest.raises(InvalidCredentialsError, match="TokenReview refused the token"):
        await reviewer.authenticate(token(control_plane, account))


async def test_a_made_up_token_is_refused(reviewer: TokenReviewer) -> None:
    forged = sign_hs(claims("https://kubernetes.default.svc", REVIEW_AUDIENCE))
    with pytest.raises(InvalidCredentialsError, match="TokenReview refused the token"):
        await reviewer.authenticate(forged)


async def test_a_hub_without_rbac_for_tokenreview_says_so(
    control_plane: ControlPlane,
    account: tuple[str, str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    # The ServiceAccount itself may not create TokenReviews: what a hub without its RBAC meets.
    unprivileged = control_plane.token_kubeconfig(token(control_plane, account), tmp_path / "kc")
    monkeypatch.setenv("KUBECONFIG", str(unprivileged))
    async with reviewing(kube.connection()) as reviewer:
        with pytest.raises(AuthUnavailableError, match="needs create on tokenreviews"):
            await reviewer.authenticate(token(control_plane, account, REVIEW_AUDIENCE))


async def test_an_unreachable_api_server_is_unavailable_not_a_bad_token() -> None:
    nowhere = kube.Connection(f"https://127.0.0.1:{free_port()}", ssl.create_default_context(), {})
    async with reviewing(nowhere) as reviewer:
        with pytest.raises(AuthUnavailableError, match="TokenReview failed"):
            await reviewer.authenticate("a.b.c")


def _status(username: str = "system:serviceaccount:ns:agent", **changes: Any) -> dict[str, Any]:
    status: dict[str, Any] = {
        "authenticated": True,
        "audiences": [REVIEW_AUDIENCE],
        "user": {"username": username, "groups": ["system:serviceaccounts"]},
    }
    status.update(changes)
    return status


async def _never(token: str, audiences: Sequence[str]) -> Mapping[str, Any]:
    raise AssertionError("only principal() is exercised here")


@pytest.mark.parametrize(
    ("status", "problem"),
    [
        (_status(authenticated=False, error="token expired"), "token expired"),
        ({}, "not authenticated"),
        (_status(audiences=None), "did not confirm audience 'mcphub'"),
        (_status(audiences=["https://kubernetes.default.svc"]), "did not confirm audience"),
        (_status("alice"), "'alice', which is not a ServiceAccount"),
        (_status("system:serviceaccount:ns"), "not a ServiceAccount"),
        (_status("system:serviceaccount:ns:a:b"), "not a ServiceAccount"),
        (_status(user=None), "None, which is not a ServiceAccount"),
    ],
)
def test_a_review_that_does_not_vouch_for_a_service_account_is_refused(
    status: dict[str, Any], problem: str
) -> None:
    with pytest.raises(InvalidCredentialsError, match=problem):
        TokenReviewer(_never, REVIEW_AUDIENCE).principal(status)


def test_groups_other_than_strings_are_ignored() -> None:
    status = _status(user={"username": "system:serviceaccount:ns:agent", "groups": [1, "g"]})
    principal = TokenReviewer(_never, REVIEW_AUDIENCE).principal(status)
    assert principal.groups == {"g", AUTHENTICATED}


async def test_the_authenticator_reviews_tokens_of_issuers_it_does_not_know_and_remembers(
    control_plane: ControlPlane, account: tuple[str, str], connection: kube.Connection
) -> None:
    reviews: list[str] = []
    async with contextlib.AsyncExitStack() as stack:
        api = kube.TokenReviews(connection)
        stack.push_async_callback(api.close)

        async def counted(token: str, audiences: Sequence[str]) -> Mapping[str, Any]:
            reviews.append(token)
            return await api(token, audiences)

        review: ReviewToken = counted
        authenticator = Authenticator(
            AuthSettings(
                jwt_issuers=(JWTIssuer(HS_ISSUER, AUDIENCE, secret=SECRET),),
                token_review_audience=REVIEW_AUDIENCE,
            ),
            review=review,
        )
        service_account = token(control_plane, account, REVIEW_AUDIENCE)
        bearer = {"Authorization": f"Bearer {service_account}"}
        first = await authenticator.authenticate(bearer)
        assert (first.kind, first.namespace, first.name) == ("ServiceAccount", *account)
        assert await authenticator.authenticate(bearer) is first
        assert len(reviews) == 1
        # A JWT of a configured issuer never reaches the API server.
        user = await authenticator.authenticate(
            {"Authorization": f"Bearer {sign_hs(claims(HS_ISSUER))}"}
        )
        assert user.kind == "User"
        assert len(reviews) == 1
        wrong = token(control_plane, account, "another-service")
        with pytest.raises(InvalidCredentialsError):
            await authenticator.authenticate({"Authorization": f"Bearer {wrong}"})

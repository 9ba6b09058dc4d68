"""Access control at the hub, end to end: a hub process, real credentials, real upstreams.

The hub runs standalone in front of mcp-server-time and server-everything,
with AccessPolicies, API-key Secrets, an HS256 issuer (a secret file) and an
RS256/ES256 issuer serving its JWKS from this process on loopback.  Requests
are raw HTTP, because most cases here are things no honest client sends.

The attack matrix is one parametrized test per layer -- credentials, sessions,
policy -- each case refused, and each mechanism has a case that passes, so a
hub that refuses everything fails here too.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from cryptography.hazmat.primitives import serialization

from hub_proxy.auth.apikeys import hash_key
from tests.hub_proxy.auth.issuer import (
    AUDIENCE,
    HS_ISSUER,
    SECRET,
    Issuer,
    claims,
    ec_key,
    forge,
    rsa_key,
    serving_issuer,
    sign,
    sign_hs,
)
from tests.hub_proxy.bridge_process import INITIALIZE, JSON_AND_SSE, command_of
from tests.hub_proxy.test_standalone_hub import Hub, server_yaml, start_hub
from tests.testbed.mcp_servers import everything_stdio, time_stdio

CI_KEY = "mcphub_ci-key-of-the-default-namespace-0123456789"
OTHER_NAMESPACE_KEY = "mcphub_ci-key-of-the-other-namespace-0123456789"
REVOKED_KEY = "mcphub_revoked-key-0123456789-0123456789-0123"

POLICIES = """
apiVersion: mcphub.dev/v1alpha1
kind: AccessPolicy
metadata: {name: alice-time}
spec:
  subjects: [{kind: User, name: "hs:alice"}]
  rules:
    - {effect: allow, servers: [time], actions: [list, call]}
    - {effect: deny, servers: [time], tools: [convert_time], actions: [list, call]}
---
apiVersion: mcphub.dev/v1alpha1
kind: AccessPolicy
metadata: {name: team-a}
spec:
  subjects: [{kind: Group, name: "idp:team-a"}]
  rules:
    - {effect: allow, groups: [narrow], actions: [list, call]}
---
apiVersion: mcphub.dev/v1alpha1
kind: AccessPolicy
metadata: {name: ci}
spec:
  subjects: [{kind: APIKey, name: ci}]
  rules:
    - {effect: allow, servers: [everything], tools: [echo], actions: [list, call]}
---
apiVersion: mcphub.dev/v1alpha1
kind: AccessPolicy
metadata: {name: prompter}
spec:
  subjects: [{kind: User, name: "idp:prompter"}]
  rules:
    - {servers: [everything], prompts: [completable-prompt], actions: [list, get]}
---
apiVersion: mcphub.dev/v1alpha1
kind: AccessPolicy
metadata: {name: viewer}
spec:
  subjects: [{kind: User, name: "idp:viewer"}]
  rules:
    - {effect: allow, servers: [everything], tools: [echo], actions: [list]}
"""

GROUPS = """
apiVersion: mcphub.dev/v1alpha1
kind: MCPGroup
metadata: {name: team}
spec:
  servers: [{name: time}, {name: everything, tools: {include: [echo]}}]
---
apiVersion: mcphub.dev/v1alpha1
kind: MCPGroup
metadata: {name: narrow}
spec:
  servers: [{name: time, tools: {include: ["get_*"]}}]
"""


def key_secret(name: str, namespace: str, key: str, *, revoked: bool = False) -> str:
    annotations = "{mcphub.dev/revoked: 'true'}" if revoked else "{}"
    return (
        "apiVersion: v1\nkind: Secret\n"
        f"metadata: {{name: {name}, namespace: {namespace}, "
        f"labels: {{mcphub.dev/api-key: 'true'}}, annotations: {annotations}}}\n"
        f"stringData: {{sha256: {hash_key(key)}}}\n"
    )


def write_guarded_config(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "time.yaml").write_text(
        server_yaml(
            "time",
            command_of(time_stdio()),
            "  tools: {overrides: [{name: convert_time, alias: convert}]}\n",
        )
    )
    (folder / "everything.yaml").write_text(
        server_yaml("everything", command_of(everything_stdio()))
    )
    (folder / "groups.yaml").write_text(GROUPS)
    (folder / "policies.yaml").write_text(POLICIES)
    (folder / "keys.yaml").write_text(
        "---\n".join(
            [
                key_secret("ci", "default", CI_KEY),
                key_secret("ci", "other", OTHER_NAMESPACE_KEY),
                key_secret("old", "default", REVOKED_KEY, revoked=True),
            ]
        )
    )
    return folder


@dataclass(frozen=True)
class Guarded:
    hub: Hub
    issuer: Issuer
    folder: Path

    def alice(self, **overrides: Any) -> str:
        return sign_hs(claims(HS_ISSUER, AUDIENCE, **overrides))

    def jwks_user(self, sub: str, groups: list[str], kid: str = "r1") -> str:
        key = next(key for key in self.issuer.keys if key.kid == kid)
        return sign(claims(self.issuer.url, AUDIENCE, sub=sub, groups=groups), key)


def guarded_args(tmp: Path, issuer: Issuer) -> list[str]:
    secret = tmp / "hs256.secret"
    secret.write_bytes(SECRET)
    session_key = tmp / "session.key"
    session_key.write_bytes(b"k" * 32)
    return [
        "--audience",
        AUDIENCE,
        "--hs256",
        f"{HS_ISSUER}={secret}",
        "--jwks",
        f"{issuer.url}={issuer.jwks_url}",
        # Two issuers: each names its own users and groups.
        "--username-prefix",
        f"{HS_ISSUER}=hs:",
        "--groups-prefix",
        f"{HS_ISSUER}=hs:",
        "--username-prefix",
        f"{issuer.url}=idp:",
        "--groups-prefix",
        f"{issuer.url}=idp:",
        "--session-key",
        str(session_key),
    ]


@asynccontextmanager
async def guarded_hub(tmp: Path, write: Callable[[Path], Path]) -> AsyncIterator[Hub]:
    """A hub on the folder ``write`` makes, trusting the HS256 issuer and one serving a JWKS."""
    async with serving_issuer(rsa_key("r1")) as issuer:
        args = guarded_args(tmp, issuer)
        hub = await asyncio.to_thread(start_hub, tmp, write, args=args, open_access=False)
        try:
            yield hub
        finally:
            await asyncio.to_thread(hub.process.stop)


@pytest.fixture(scope="module")
async def guarded(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Guarded]:
    tmp = tmp_path_factory.mktemp("guarded-hub")
    async with serving_issuer(rsa_key("r1"), ec_key("e1")) as issuer:
        hub = start_hub(
            tmp, write_guarded_config, args=guarded_args(tmp, issuer), open_access=False
        )
        try:
            yield Guarded(hub, issuer, tmp / "config")
        finally:
            hub.process.stop()


@dataclass(frozen=True)
class Answer:
    status: int
    headers: Mapping[str, str]
    body: Any

    @property
    def error(self) -> dict[str, Any]:
        assert isinstance(self.body, dict), (self.status, self.body)
        assert "error" in self.body, (self.status, self.body)
        error: dict[str, Any] = self.body["error"]
        return error

    @property
    def result(self) -> dict[str, Any]:
        assert self.status == 200, (self.status, self.body)
        assert isinstance(self.body, dict), self.body
        assert "result" in self.body, self.body
        result: dict[str, Any] = self.body["result"]
        return result


def credentials(token: str | None = None, api_key: str | None = None) -> dict[str, str]:
    headers = {}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    if api_key is not None:
        headers["X-API-Key"] = api_key
    return headers


async def post(
    url: str, message: Mapping[str, Any], headers: Mapping[str, str], session: str | None = None
) -> Answer:
    sent = {"Content-Type": "application/json", "Accept": JSON_AND_SSE, **headers}
    if session is not None:
        sent["Mcp-Session-Id"] = session
    async with (
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as client,
        client.post(url, data=json.dumps(message), headers=sent) as response,
    ):
        text = await response.text()
        body: Any = None
        if response.content_type == "text/plain":
            body = text
        elif response.content_type == "text/event-stream":
            events = [line[6:] for line in text.splitlines() if line.startswith("data: ")]
            body = json.loads(events[-1])
        elif text:
            body = json.loads(text)
        return Answer(response.status, dict(response.headers), body)


async def initialize(url: str, headers: Mapping[str, str]) -> Answer:
    return await post(url, INITIALIZE, headers)


async def open_session(url: str, headers: Mapping[str, str]) -> str:
    answer = await initialize(url, headers)
    assert answer.status == 200, (answer.status, answer.body)
    session = answer.headers["Mcp-Session-Id"]
    note = {"jsonrpc": "2.0", "method": "notifications/initialized"}
    assert (await post(url, note, headers, session)).status == 202
    return session


async def request(
    url: str, method: str, params: Mapping[str, Any], headers: Mapping[str, str], session: str
) -> Answer:
    return await post(
        url, {"jsonrpc": "2.0", "id": 7, "method": method, "params": params}, headers, session
    )


async def tools(url: str, headers: Mapping[str, str]) -> set[str]:
    session = await open_session(url, headers)
    answer = await request(url, "tools/list", {}, headers, session)
    return {tool["name"] for tool in answer.result["tools"]}


async def call(
    url: str, name: str, headers: Mapping[str, str], arguments: Mapping[str, Any] | None = None
) -> Answer:
    session = await open_session(url, headers)
    params = {"name": name, "arguments": dict(arguments or {})}
    return await request(url, "tools/call", params, headers, session)


# --- credentials ------------------------------------------------------------------------


def _attacks() -> dict[str, Callable[[Guarded], dict[str, str]]]:
    def token(make: Callable[[Guarded], str]) -> Callable[[Guarded], dict[str, str]]:
        return lambda guarded: credentials(make(guarded))

    def public_pem(guarded: Guarded) -> bytes:
        return (
            guarded.issuer.keys[0]
            .private.public_key()
            .public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )

    now = int(time.time())
    return {
        "no credentials": lambda guarded: {},
        "alg none": token(
            lambda g: forge({"alg": "none", "typ": "JWT"}, claims(HS_ISSUER, AUDIENCE))
        ),
        "alg none for the JWKS issuer": token(
            lambda g: forge({"alg": "none", "kid": "r1"}, claims(g.issuer.url, AUDIENCE))
        ),
        "HS256 signed with the RSA public key (key confusion)": token(
            lambda g: hmac_signed(
                {"alg": "HS256", "kid": "r1"}, claims(g.issuer.url, AUDIENCE), public_pem(g)
            )
        ),
        "HS256 secret used for the JWKS issuer": token(
            lambda g: sign_hs(claims(g.issuer.url, AUDIENCE))
        ),
        "expired": token(lambda g: g.alice(exp=now - 3600, iat=now - 7200, nbf=now - 7200)),
        "not yet valid": token(lambda g: g.alice(nbf=now + 3600)),
        "issued in the future": token(lambda g: g.alice(iat=now + 3600)),
        "wrong audience": token(lambda g: g.alice(aud="https://other.test/mcp")),
        "no audience": token(lambda g: g.alice(aud=None)),
        "wrong issuer": token(lambda g: sign_hs(claims("https://evil.test", AUDIENCE))),
        "no expiry": token(lambda g: g.alice(exp=None)),
        "tampered payload": token(lambda g: _tamper_payload(g.alice(), sub="admin")),
        "tampered signature": token(
            lambda g: g.alice()[:-4] + ("AAAA" if not g.alice().endswith("AAAA") else "BBBB")
        ),
        "unknown kid": token(lambda g: sign(claims(g.issuer.url, AUDIENCE), rsa_key("r-unknown"))),
        "known kid, other key": token(
            lambda g: sign(claims(g.issuer.url, AUDIENCE), rsa_key("r1"))
        ),
        "oversized token": token(lambda g: g.alice(padding="x" * 5_000)),
        "two segments": token(lambda g: ".".join(g.alice().split(".")[:2])),
        "garbage segments": token(lambda g: "a.b.c"),
        "basic scheme": lambda guarded: {"Authorization": "Basic YWxpY2U6cGFzc3dvcmQ="},
        "bearer without token": lambda guarded: {"Authorization": "Bearer "},
        "unknown API key": lambda guarded: credentials(
            api_key="mcphub_not-a-key-of-this-hub-000000"
        ),
        "revoked API key": lambda guarded: credentials(api_key=REVOKED_KEY),
        "revoked API key as bearer": lambda guarded: credentials(REVOKED_KEY),
        "both a token and an API key": lambda guarded: credentials(guarded.alice(), CI_KEY),
    }


def hmac_signed(header: dict[str, Any], payload: dict[str, Any], key: bytes) -> str:
    """HS256 with any key, even a public one: what PyJWT rightly refuses to make."""
    unsigned = forge(header, payload).rstrip(".")
    signature = hmac.new(key, unsigned.encode(), hashlib.sha256).digest()
    return forge(header, payload, signature)


def _tamper_payload(token: str, **changes: Any) -> str:
    header, payload, signature = token.split(".")
    decoded = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    decoded.update(changes)
    encoded = base64.urlsafe_b64encode(json.dumps(decoded).encode()).rstrip(b"=").decode()
    return f"{header}.{encoded}.{signature}"


ATTACKS = _attacks()


@pytest.mark.parametrize("attack", list(ATTACKS))
async def test_bad_credentials_are_refused_with_401_and_a_challenge(
    guarded: Guarded, attack: str
) -> None:
    for path in ("/mcp", "/mcp/time", "/mcp/team", "/sse/time"):
        headers: Mapping[str, str]
        if path.startswith("/sse"):
            async with (
                aiohttp.ClientSession() as client,
                client.get(guarded.hub.url(path), headers=ATTACKS[attack](guarded)) as response,
            ):
                status, headers = response.status, response.headers
        else:
            answer = await initialize(guarded.hub.url(path), ATTACKS[attack](guarded))
            status, headers = answer.status, answer.headers
            assert answer.error["message"].startswith("authentication required"), answer.body
        assert status == 401, (attack, path, status)
        challenge = headers["WWW-Authenticate"]
        assert challenge.startswith("Bearer resource_metadata="), challenge
        assert f'/.well-known/oauth-protected-resource{path}"' in challenge


async def test_a_token_beyond_the_header_limit_is_refused_before_it_is_read(
    guarded: Guarded,
) -> None:
    answer = await initialize(
        guarded.hub.url("/mcp"), credentials(guarded.alice(padding="x" * 20_000))
    )
    assert answer.status == 400


async def test_the_challenge_leads_to_protected_resource_metadata(guarded: Guarded) -> None:
    answer = await initialize(guarded.hub.url("/mcp/time"), {})
    challenge = answer.headers["WWW-Authenticate"]
    metadata_url = challenge.split('resource_metadata="', 1)[1].split('"', 1)[0]
    async with aiohttp.ClientSession() as client, client.get(metadata_url) as response:
        document = await response.json()
    assert document["resource"] == guarded.hub.url("/mcp/time")
    assert guarded.issuer.url in document["authorization_servers"]
    assert document["bearer_methods_supported"] == ["header"]


# --- each mechanism, positively ------------------------------------------------------------


async def test_an_hs256_user_sees_and_calls_what_its_policy_allows(guarded: Guarded) -> None:
    headers = credentials(guarded.alice())
    assert await tools(guarded.hub.url("/mcp/time"), headers) == {"get_current_time"}
    answer = await call(
        guarded.hub.url("/mcp/time"), "get_current_time", headers, {"timezone": "UTC"}
    )
    assert answer.result["isError"] is False


async def test_a_jwks_user_is_granted_a_group_through_its_groups_claim(guarded: Guarded) -> None:
    for kid in ("r1", "e1"):  # RS256 and ES256
        headers = credentials(guarded.jwks_user("bob", ["team-a"], kid))
        assert await tools(guarded.hub.url("/mcp/narrow"), headers) == {"time__get_current_time"}


async def test_another_issuers_alice_is_not_alice(guarded: Guarded) -> None:
    """A token of the JWKS issuer saying sub=alice gets nothing of the HS256 issuer's alice."""
    assert await tools(guarded.hub.url("/mcp/time"), credentials(guarded.alice())) == {
        "get_current_time"
    }
    impostor = credentials(guarded.jwks_user("alice", []))
    # To the impostor /mcp/time is a name that does not exist, and /mcp shows nothing.
    assert (await initialize(guarded.hub.url("/mcp/time"), impostor)).status == 404
    assert await tools(guarded.hub.url("/mcp"), impostor) == set()
    refused = await call(guarded.hub.url("/mcp"), "time__get_current_time", impostor)
    assert refused.error["message"] == "Unknown tool: time__get_current_time"
    # Groups alike: the HS256 issuer's team-a is not the JWKS issuer's, which narrow is for.
    carol = credentials(guarded.alice(sub="carol", groups=["team-a"]))
    assert (await initialize(guarded.hub.url("/mcp/narrow"), carol)).status == 404
    bob = credentials(guarded.jwks_user("bob", ["team-a"]))
    assert await tools(guarded.hub.url("/mcp/narrow"), bob) == {"time__get_current_time"}


async def test_an_api_key_sees_and_calls_its_tool_only(guarded: Guarded) -> None:
    for headers in (credentials(api_key=CI_KEY), credentials(CI_KEY)):
        assert await tools(guarded.hub.url("/mcp"), headers) == {"everything__echo"}
        answer = await call(guarded.hub.url("/mcp"), "everything__echo", headers, {"message": "hi"})
        assert answer.result["content"][0]["text"] == "Echo: hi"


# --- sessions -----------------------------------------------------------------------------


async def test_a_session_answers_only_to_the_principal_that_opened_it(guarded: Guarded) -> None:
    url = guarded.hub.url("/mcp/time")
    session = await open_session(url, credentials(guarded.alice()))
    others = [
        credentials(guarded.jwks_user("alice", [])),  # same name, other issuer
        credentials(guarded.jwks_user("mallory", ["team-a"])),
        credentials(api_key=CI_KEY),
    ]
    for headers in others:
        answer = await request(url, "tools/list", {}, headers, session)
        assert answer.status == 404, answer.body
    # Refreshed credentials of the same principal keep the session.
    fresh = credentials(guarded.alice(iat=int(time.time()) - 1))
    assert (await request(url, "tools/list", {}, fresh, session)).status == 200


async def test_forged_and_replayed_sealed_sessions_are_refused(guarded: Guarded) -> None:
    headers = credentials(guarded.alice())
    url = guarded.hub.url("/mcp/time")
    session = await open_session(url, headers)
    flipped = session[:10] + ("A" if session[10] != "A" else "B") + session[11:]
    for forged in (flipped, session[:-2], "x" * len(session), session + "AA"):
        assert (await request(url, "tools/list", {}, headers, forged)).status == 404, forged
    # The same id at another endpoint is not a session there.
    assert (
        await request(guarded.hub.url("/mcp"), "tools/list", {}, headers, session)
    ).status == 404
    async with (
        aiohttp.ClientSession() as client,
        client.delete(url, headers={**headers, "Mcp-Session-Id": session}) as deleted,
    ):
        assert deleted.status == 204
    assert (await request(url, "tools/list", {}, headers, session)).status == 404


# --- policy -------------------------------------------------------------------------------


async def test_a_denied_tool_is_hidden_and_unknown_on_every_path(guarded: Guarded) -> None:
    headers = credentials(guarded.alice())
    # The deny names convert_time; the server publishes it as "convert".
    for path, denied, existing in (
        ("/mcp/time", "convert", "get_current_time"),
        ("/mcp", "time__convert", "time__get_current_time"),
        ("/mcp/team", "time__convert", "time__get_current_time"),
    ):
        url = guarded.hub.url(path)
        visible = await tools(url, headers)
        assert existing in visible, (path, visible)
        assert denied not in visible, (path, visible)
        refused = await call(url, denied, headers)
        missing = await call(url, f"{denied}-does-not-exist", headers)
        assert refused.error["code"] == missing.error["code"]
        assert refused.error["message"] == missing.error["message"].replace(
            f"{denied}-does-not-exist", denied
        )


@pytest.mark.parametrize(
    ("path", "name"),
    [
        ("/mcp/time", "convert_time"),  # the upstream's own name behind the alias
        ("/mcp/time", "CONVERT"),  # letter case
        ("/mcp/time", "Convert"),
        ("/mcp/time", "\u0441onvert"),  # a Cyrillic letter es
        ("/mcp", "time__convert_time"),
        ("/mcp", "TIME__convert"),
        ("/mcp", "time__\u0441onvert"),
        ("/mcp", "time__convert "),
        ("/mcp", "time__convert\u200b"),  # zero-width space
        ("/mcp", "everything__echo"),  # another server's tool: not granted to alice
    ],
)
async def test_tool_name_tricks_reach_nothing(guarded: Guarded, path: str, name: str) -> None:
    answer = await call(guarded.hub.url(path), name, credentials(guarded.alice()))
    assert answer.error["code"] == -32602
    # Invisible characters are refused as such, whatever the name: that teaches nothing.
    visible = name.isprintable() and " " not in name
    expected = f"Unknown tool: {name}" if visible else "the tool name holds "
    assert answer.error["message"].startswith(expected), answer.error


@pytest.mark.parametrize(
    "path",
    [
        "/mcp/TIME",
        "/mcp/t\u0456me",  # a Cyrillic letter i
        "/mcp/time%2F..%2Feverything",
        "/mcp/time/../everything",
        "/mcp/./everything",
        "/mcp/everything/",
        "/mcp//everything",
        "/mcp/time/everything",
        "/mcp/%65verything",  # a percent-encoded letter
    ],
)
async def test_path_tricks_reach_no_scope_beyond_the_policy(guarded: Guarded, path: str) -> None:
    headers = credentials(guarded.alice())
    answer = await initialize(f"http://127.0.0.1:{guarded.hub.port}{path}", headers)
    if answer.status == 200:
        # Whatever aiohttp normalized the path to, alice sees no tool of everything there.
        session = answer.headers["Mcp-Session-Id"]
        url = f"http://127.0.0.1:{guarded.hub.port}{path}"
        listed = await request(url, "tools/list", {}, headers, session)
        names = {tool["name"] for tool in listed.result["tools"]}
        assert not {name for name in names if "echo" in name or "sum" in name}, names
    else:
        assert answer.status == 404, (path, answer.status, answer.body)


async def opened(url: str, headers: Mapping[str, str]) -> Answer:
    """How a scope answers a client opening a session: initialize, or a legacy stream's GET."""
    if "/sse" not in url:
        return await initialize(url, headers)
    async with (
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as client,
        client.get(url, headers={"Accept": "text/event-stream", **headers}) as response,
    ):
        body = await response.json() if response.status != 200 else None
        return Answer(response.status, dict(response.headers), body)


@pytest.mark.parametrize("transport", ["/mcp", "/sse"])
async def test_a_scope_the_caller_may_see_nothing_of_answers_as_an_unknown_name(
    guarded: Guarded, transport: str
) -> None:
    alice = credentials(guarded.alice())  # granted time, nothing of everything
    hidden = await opened(guarded.hub.url(f"{transport}/everything"), alice)
    unknown = await opened(guarded.hub.url(f"{transport}/nosuchthing"), alice)
    assert hidden.status == unknown.status == 404
    assert hidden.body == json.loads(json.dumps(unknown.body).replace("nosuchthing", "everything"))
    # What alice may see is served: a server, a group with it as a member, and the root.
    for path in ("/time", "/narrow", ""):
        assert (await opened(guarded.hub.url(f"{transport}{path}"), alice)).status == 200, path
    # The CI key sees everything's echo: a group with everything in it is known to it.
    ci = credentials(api_key=CI_KEY)
    assert (await opened(guarded.hub.url(f"{transport}/team"), ci)).status == 200
    assert (await opened(guarded.hub.url(f"{transport}/narrow"), ci)).status == 404


async def test_a_group_grant_covers_only_what_the_group_publishes(guarded: Guarded) -> None:
    bob = credentials(guarded.jwks_user("bob", ["team-a"]))
    # narrow publishes time's get_* tools only; its grant opens nothing else of time.
    assert await tools(guarded.hub.url("/mcp/time"), bob) == {"get_current_time"}
    assert await tools(guarded.hub.url("/mcp"), bob) == {"time__get_current_time"}
    assert (await call(guarded.hub.url("/mcp/time"), "convert", bob)).error["message"] == (
        "Unknown tool: convert"
    )


async def test_an_api_key_of_another_namespace_is_not_granted_its_namesakes_policy(
    guarded: Guarded,
) -> None:
    headers = credentials(api_key=OTHER_NAMESPACE_KEY)
    assert await tools(guarded.hub.url("/mcp"), headers) == set()
    answer = await call(guarded.hub.url("/mcp"), "everything__echo", headers, {"message": "x"})
    assert answer.error["message"] == "Unknown tool: everything__echo"


async def test_a_tool_visible_but_not_callable_is_refused_saying_so(guarded: Guarded) -> None:
    headers = credentials(guarded.jwks_user("viewer", []))
    assert await tools(guarded.hub.url("/mcp/everything"), headers) == {"echo"}
    answer = await call(guarded.hub.url("/mcp/everything"), "echo", headers, {"message": "x"})
    assert "may not call" in answer.error["message"], answer.error


async def test_prompts_and_their_completions_follow_the_get_grant(guarded: Guarded) -> None:
    url = guarded.hub.url("/mcp/everything")
    complete = {
        "ref": {"type": "ref/prompt", "name": "completable-prompt"},
        "argument": {"name": "department", "value": "E"},
    }
    prompter = credentials(guarded.jwks_user("prompter", []))
    session = await open_session(url, prompter)
    listed = await request(url, "prompts/list", {}, prompter, session)
    assert [prompt["name"] for prompt in listed.result["prompts"]] == ["completable-prompt"]
    completed = await request(url, "completion/complete", complete, prompter, session)
    assert completed.result["completion"]["values"] == ["Engineering"]
    # The CI key may call echo, nothing else: no prompt, and nothing completes.
    ci = credentials(api_key=CI_KEY)
    session = await open_session(url, ci)
    assert (await request(url, "prompts/list", {}, ci, session)).result["prompts"] == []
    completed = await request(url, "completion/complete", complete, ci, session)
    assert completed.result["completion"]["values"] == []
    got = await request(url, "prompts/get", {"name": "completable-prompt"}, ci, session)
    assert got.error["message"] == "Unknown prompt: completable-prompt"


async def test_a_call_just_before_a_clean_stop_is_still_audited(tmp_path: Path) -> None:
    """Audit lines are written in batches; stopping the hub writes the last batch."""
    hub = start_hub(tmp_path)
    try:
        answer = await call(hub.url("/mcp/time"), "get_current_time", {}, {"timezone": "UTC"})
        assert answer.result is not None, answer.error
    finally:
        await asyncio.to_thread(hub.process.stop)
    # The hub's own lines are JSON; its children's stderr, passed through, may not be.
    lines = hub.process.log_path.read_text().splitlines()
    audited = [json.loads(line) for line in lines if '"logger": "hub_proxy.audit"' in line]
    assert [(line["event"], line["action"], line["item"]) for line in audited] == [
        ("access allowed", "call", "get_current_time")
    ]

"""Clients of one shared upstream session never see each other's messages (issue 11, items 1-3).

One hub serves server-everything three times, shared by every client: as a
stdio child (``shared``), as a remote server over streamable HTTP
(``remote``), and over streamable HTTP from the stdio bridge in front of a
stdio child (``bridged``, as in a cluster); and once more ``perClient``
(``own``).  Three principals hold API keys with
different policies: alice may do anything, bob may call the tools that ask
their caller something and read the static documents, carol may only call
``echo``.  Each principal's client is another implementation where a client is
involved -- the Python SDK 2.x in this process, the Python SDK 1.x and the
TypeScript SDK as scripts (:mod:`tests.clients`) -- over streamable HTTP,
legacy SSE or MCP 2026-07-28, and each test asserts what every client received
and what it was asked.

What server-everything (2026.8.31) can send a client on its own: ``roots/list``
(right after the handshake, and from ``get-roots-list``),
``sampling/createMessage`` (``trigger-sampling-request``),
``elicitation/create`` (``trigger-elicitation-request``; the URL mode and the
``-async`` variants need client capabilities the hub does not declare),
``notifications/message`` (``toggle-simulated-logging``, and on every
subscribe), ``notifications/resources/updated`` (``toggle-subscriber-updates``
for what the session subscribed to) and progress (covered in
``test_standalone_hub``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import anyio
import pytest
from mcp.shared.exceptions import MCPError

from hub_proxy.auth.apikeys import hash_key
from tests.clients.driver import driving
from tests.clients.plans import Driven, Kind, Plan, Report, Transport
from tests.hub_proxy.bridge_process import command_of, running_bridge
from tests.hub_proxy.remote_server_yaml import remote_yaml
from tests.hub_proxy.test_standalone_hub import (
    TEST_SECONDS,
    Hub,
    connected,
    server_yaml,
    start_hub,
)
from tests.testbed.mcp_servers import everything_stdio, running_everything_http
from tests.testbed.waiting import eventually

KEYS: Final = {
    "alice": "mcphub_alice-may-do-anything-0123456789abcdef",
    "bob": "mcphub_bob-answers-questions-0123456789abcdef",
    "carol": "mcphub_carol-only-echoes-0123456789abcdef0",
}
ROLE_VARIABLE: Final = "MCPHUB_TEST_ROLE"
ALICE_ROOT: Final = "file:///home/alice/project"
BOB_ROOT: Final = "file:///home/bob/secret"
ARCHITECTURE: Final = "demo://resource/static/document/architecture.md"
FEATURES: Final = "demo://resource/static/document/features.md"
# server-everything sends its first log line and resource updates as soon as
# they are toggled on, then one round every 5 s; this covers one round.
ROUND_SECONDS: Final = 6.0
# Time for a message sent where it should not go to arrive there.
SETTLE_SECONDS: Final = 1.0
SHARED: Final = ("shared", "remote", "bridged")

POLICIES: Final = """\
apiVersion: mcphub.dev/v1alpha1
kind: AccessPolicy
metadata: {name: alice}
spec:
  subjects: [{kind: APIKey, name: alice}]
  rules: [{servers: ["*"], actions: [list, call, read, get]}]
---
apiVersion: mcphub.dev/v1alpha1
kind: AccessPolicy
metadata: {name: bob}
spec:
  subjects: [{kind: APIKey, name: bob}]
  rules:
    - servers: [shared, remote, bridged, own]
      tools: [echo, get-roots-list, trigger-sampling-request, trigger-elicitation-request,
              simulate-research-query]
      actions: [list, call]
    - servers: [shared, remote, bridged]
      resources: ["demo://resource/static/document/*"]
      actions: [list, read]
---
apiVersion: mcphub.dev/v1alpha1
kind: AccessPolicy
metadata: {name: carol}
spec:
  subjects: [{kind: APIKey, name: carol}]
  rules: [{servers: [shared, remote, bridged], tools: [echo], actions: [list, call]}]
"""
# Added to POLICIES while bob is subscribed: he may no longer read one document.
BOB_LOSES_ARCHITECTURE: Final = f"""\
---
apiVersion: mcphub.dev/v1alpha1
kind: AccessPolicy
metadata: {{name: bob-not-architecture}}
spec:
  subjects: [{{kind: APIKey, name: bob}}]
  rules: [{{effect: deny, servers: ["*"], resources: ["{ARCHITECTURE}"], actions: [list, read]}}]
"""


def _key_secret(name: str) -> str:
    return (
        "apiVersion: v1\nkind: Secret\n"
        f"metadata: {{name: {name}, namespace: default, labels: {{mcphub.dev/api-key: 'true'}}}}\n"
        f"stringData: {{sha256: {hash_key(KEYS[name])}}}\n"
    )


@dataclass(frozen=True)
class Isolated:
    hub: Hub
    folder: Path
    logs: Path

    def plan(
        self,
        who: str,
        server: str,
        steps: list[dict[str, Any]],
        transport: Transport = "streamable-http",
        **answers: Any,
    ) -> Plan:
        """``who``'s plan against ``/mcp/{server}`` (``/sse/{server}`` over legacy SSE)."""
        path = f"/sse/{server}" if transport == "sse" else f"/mcp/{server}"
        headers = {"X-API-Key": KEYS[who]}
        return Plan(self.hub.url(path), headers, steps, transport, **answers)


@pytest.fixture(scope="module")
def isolated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Isolated]:
    tmp = tmp_path_factory.mktemp("isolation")
    everything = command_of(everything_stdio())
    with (
        running_everything_http(tmp / "remote") as url,
        running_bridge(tmp / "bridge", command=everything) as bridge,
    ):

        def write(folder: Path) -> Path:
            folder.mkdir(parents=True, exist_ok=True)
            role = f"    env: [{{name: {ROLE_VARIABLE}, value: shared}}]\n"
            (folder / "shared.yaml").write_text(server_yaml("shared", everything, role))
            (folder / "own.yaml").write_text(
                server_yaml("own", everything, "  sessionMode: perClient\n")
            )
            (folder / "remote.yaml").write_text(remote_yaml("remote", url))
            (folder / "bridged.yaml").write_text(remote_yaml("bridged", bridge.url))
            (folder / "policies.yaml").write_text(POLICIES)
            (folder / "keys.yaml").write_text("---\n".join(map(_key_secret, KEYS)))
            return folder

        hub = start_hub(tmp, write, open_access=False)
        try:
            yield Isolated(hub, tmp / "config", tmp)
        finally:
            hub.process.stop()


@contextlib.asynccontextmanager
async def clients(isolated: Isolated, *plans: tuple[Kind, Plan]) -> AsyncIterator[list[Driven]]:
    """Run every plan at once, each with its client; all of them stop on the way out."""
    async with contextlib.AsyncExitStack() as stack:
        yield [
            await stack.enter_async_context(driving(kind, plan, isolated.logs))
            for kind, plan in plans
        ]


def call(name: str, **arguments: Any) -> dict[str, Any]:
    return {"do": "call", "name": name, "arguments": arguments}


def wait(label: str) -> dict[str, Any]:
    return {"do": "wait", "label": label}


# The clients of the tests: an implementation, and the downstream transport it uses.
CLIENTS: Final[Mapping[str, tuple[Kind, Transport]]] = {
    "sdk2-streamable": ("sdk2", "streamable-http"),
    "sdk2-sse": ("sdk2", "sse"),
    "sdk2-modern": ("sdk2", "modern"),
    "sdk1-streamable": ("sdk1", "streamable-http"),
    "sdk1-sse": ("sdk1", "sse"),
    "ts-streamable": ("ts", "streamable-http"),
    "ts-sse": ("ts", "sse"),
}


@pytest.mark.parametrize("other", ["ts-streamable", "sdk1-sse", "sdk2-sse"])
@pytest.mark.parametrize("server", SHARED)
async def test_one_clients_roots_never_reach_another(
    isolated: Isolated, server: str, other: str
) -> None:
    """Item 1: the roots a shared upstream asks for stay with the hub, whoever calls.

    The upstream keeps the answer to ``roots/list`` for its session, which
    every client shares: so the hub answers it (with no roots), and no
    client's roots handler is ever called through a shared upstream.
    """
    kind, transport = CLIENTS[other]
    roots_twice = [call("get-roots-list"), {"do": "roots_changed"}, call("get-roots-list")]
    alice = isolated.plan("alice", server, roots_twice, roots=[{"uri": ALICE_ROOT}])
    bob = isolated.plan("bob", server, roots_twice, transport, roots=[{"uri": BOB_ROOT}])
    with anyio.fail_after(TEST_SECONDS):
        # One after the other: the second client is the one a leak would reach.
        async with clients(isolated, ("sdk2", alice)) as (first,):
            alice_saw = await first.report()
        async with clients(isolated, (kind, bob)) as (second,):
            bob_saw = await second.report()
    for report in (alice_saw, bob_saw):
        texts = report.text(0) + report.text(2)
        assert "home/alice" not in texts
        assert "home/bob" not in texts
        assert "no roots are currently configured" in report.text(0), texts
        assert report.asked("roots/list") == []


async def test_a_per_client_upstream_asks_its_own_client_for_roots(isolated: Isolated) -> None:
    """The other side of item 1: an upstream a client has to itself gets that client's roots."""
    steps = [call("get-roots-list")]
    alice = isolated.plan("alice", "own", steps, roots=[{"uri": ALICE_ROOT}])
    bob = isolated.plan("bob", "own", steps, roots=[{"uri": BOB_ROOT}])
    with anyio.fail_after(TEST_SECONDS):
        async with clients(isolated, ("sdk2", alice), ("ts", bob)) as (first, second):
            alice_saw, bob_saw = await first.report(), await second.report()
    assert ALICE_ROOT in alice_saw.text(0)
    assert "home/bob" not in alice_saw.text(0)
    assert BOB_ROOT in bob_saw.text(0)
    assert "home/alice" not in bob_saw.text(0)
    assert alice_saw.asked("roots/list")
    assert bob_saw.asked("roots/list")


def _asking(who: str) -> list[dict[str, Any]]:
    sample = call("trigger-sampling-request", prompt=f"a question of {who}'s", maxTokens=5)
    return [wait("ready"), *[sample, call("trigger-elicitation-request")] * 3]


@pytest.mark.parametrize("other", ["ts-streamable", "sdk1-sse"])
@pytest.mark.parametrize("server", SHARED)
async def test_the_server_asks_only_the_client_whose_call_it_serves(
    isolated: Isolated, server: str, other: str
) -> None:
    """Item 2: sampling and elicitation from calls of two principals at once.

    Over streamable HTTP the upstream says which call each question belongs
    to, and every question reaches its caller.  Over stdio nothing says so:
    a question asked while only one client is calling goes to that client,
    and one asked while both are calling is refused by the hub -- never put
    to the other client.
    """
    kind, transport = CLIENTS[other]
    alice = isolated.plan(
        "alice", server, _asking("alice"), sampling="alice-reply", elicitation={"name": "alice"}
    )
    bob = isolated.plan(
        "bob", server, _asking("bob"), transport, sampling="bob-reply", elicitation={"name": "bob"}
    )
    with anyio.fail_after(TEST_SECONDS):
        async with clients(isolated, ("sdk2", alice), (kind, bob)) as driven:
            for client in driven:
                await client.reached("ready")
            for client in driven:
                client.go()
            reports = [await client.report() for client in driven]
    for report, me, other_one in zip(reports, ("alice", "bob"), ("bob", "alice"), strict=True):
        for asked in report.asked("sampling/createMessage"):
            assert f"a question of {me}'s" in json.dumps(asked)
        texts = [report.text(step) for step in range(1, 7)]
        assert not any(other_one in text for text in texts), texts
        answered = [text for text in texts if me in text]
        if server == "remote":
            # Its server says which call each question is for.  A stdio child
            # says nothing, also behind the bridge, which relates a question
            # to the hub's one request in flight, or to none when several are.
            assert len(answered) == 6, texts
        # Every call was either answered by its own caller or refused, never hanging.
        assert all(me in text or "concerns no one client" in text for text in texts), texts


async def test_an_upstream_restart_asks_no_client_anything(isolated: Isolated) -> None:
    """Item 2, unrelated requests: a restarted server's handshake-time ``roots/list``
    belongs to no client, and goes to none -- not to the newest session."""
    steps = [call("echo", message="hello"), wait("restarted"), call("get-roots-list")]
    alice = isolated.plan("alice", "shared", steps, roots=[{"uri": ALICE_ROOT}])
    bob = isolated.plan("bob", "shared", steps, "sse", roots=[{"uri": BOB_ROOT}])
    with anyio.fail_after(TEST_SECONDS):
        async with clients(isolated, ("sdk2", alice), ("ts", bob)) as driven:
            for client in driven:
                await client.reached("restarted")
            before = _pid_of_role("shared")
            assert before is not None
            os.kill(before, signal.SIGKILL)
            alice_sees = {"X-API-Key": KEYS["alice"]}
            await asyncio.to_thread(
                eventually,
                lambda: (
                    _pid_of_role("shared") not in (None, before)
                    and isolated.hub.status(alice_sees)[1]["servers"]["shared"]["ready"]
                ),
                timeout=TEST_SECONDS / 2,
                what="the shared child to be back",
            )
            # server-everything asks for roots 350 ms after its handshake.
            await asyncio.sleep(SETTLE_SECONDS)
            for client in driven:
                client.go()
            reports = [await client.report() for client in driven]
    for report in reports:
        assert report.asked("roots/list") == []
        assert "no roots are currently configured" in report.text(2)


def _pid_of_role(role: str) -> int | None:
    """The process started with ``MCPHUB_TEST_ROLE=role`` (the hub's shared child)."""
    wanted = f"{ROLE_VARIABLE}={role}".encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            if wanted in (entry / "environ").read_bytes().split(b"\0"):
                return int(entry.name)
    return None


@pytest.mark.parametrize(
    "carol_client", ["sdk2-streamable", "sdk2-modern", "ts-sse", "sdk1-streamable"]
)
@pytest.mark.parametrize("server", SHARED)
async def test_one_clients_log_lines_never_reach_another(
    isolated: Isolated, server: str, carol_client: str
) -> None:
    """Item 3: alice turns the server's simulated logging on; carol, who may only echo,
    receives none of it, also while she is calling the server (over streamable HTTP,
    where the server's own stream says its log lines belong to no call)."""
    kind, transport = CLIENTS[carol_client]
    carol_steps = [call("echo", message="hello"), wait("logging")]
    if server == "remote":  # its GET stream says "nobody's"; the others say nothing
        carol_steps += [call("echo", message="busy"), {"do": "sleep", "seconds": 0.3}] * 20
    carol = isolated.plan("carol", server, [*carol_steps, wait("logged")], transport)
    toggle = [call("toggle-simulated-logging")]
    with anyio.fail_after(TEST_SECONDS):
        async with clients(isolated, (kind, carol)) as (driven,):
            await driven.reached("logging")
            driven.go()
            async with clients(isolated, ("sdk2", isolated.plan("alice", server, toggle))) as (on,):
                started = await on.report()
            await asyncio.sleep(ROUND_SECONDS)
            async with clients(isolated, ("sdk2", isolated.plan("alice", server, toggle))) as (
                off,
            ):
                stopped = await off.report()
            await driven.reached("logged")
            driven.go()
            carol_saw = await driven.report()
    assert "Started simulated" in started.text(0)
    assert "Stopped simulated" in stopped.text(0)
    assert carol_saw.sent("notifications/message") == []
    assert all("error" not in result for result in carol_saw.results if result)


@pytest.mark.parametrize("bob_client", ["ts-streamable", "sdk1-sse", "sdk2-modern"])
@pytest.mark.parametrize("server", SHARED)
async def test_resource_updates_reach_only_subscribers_that_may_read_them(
    isolated: Isolated, server: str, bob_client: str
) -> None:
    """Item 3: subscriptions are each client's, the upstream's is shared and counted.

    alice and bob subscribe to one document, bob to a second; carol, who may
    read neither, cannot subscribe and hears of neither.  alice unsubscribing
    leaves bob's subscription upstream; bob losing the right to read a
    document stops its updates to him at once.
    """
    kind, transport = CLIENTS[bob_client]
    toggle = call("toggle-subscriber-updates")
    alice = isolated.plan(
        "alice",
        server,
        [
            {"do": "subscribe", "uri": ARCHITECTURE},
            wait("subscribed"),
            toggle,
            {"do": "sleep", "seconds": SETTLE_SECONDS},
            toggle,
            {"do": "unsubscribe", "uri": ARCHITECTURE},
            wait("unsubscribed"),
            toggle,
            {"do": "sleep", "seconds": SETTLE_SECONDS},
            toggle,
            wait("denied"),
            toggle,
            {"do": "sleep", "seconds": SETTLE_SECONDS},
            toggle,
        ],
    )
    bob = isolated.plan(
        "bob",
        server,
        [
            {"do": "subscribe", "uri": ARCHITECTURE},
            {"do": "subscribe", "uri": FEATURES},
            wait("round 1"),
            wait("round 2"),
            wait("round 3"),
        ],
        transport,
    )
    carol = isolated.plan(
        "carol",
        server,
        [{"do": "subscribe", "uri": ARCHITECTURE}, call("echo", message="hi"), wait("done")],
    )
    with anyio.fail_after(TEST_SECONDS):
        async with clients(isolated, ("sdk2", alice), (kind, bob), ("ts", carol)) as driven:
            first, second, third = driven
            await second.reached("round 1")
            await third.reached("done")
            await first.reached("subscribed")
            first.go()
            await first.reached("unsubscribed")
            second.go()
            round_one = _updated(await second.reached("round 2"))
            first.go()
            await first.reached("denied")
            second.go()
            round_two = _updated(await second.reached("round 3"))[len(round_one) :]
            policies = isolated.folder / "policies.yaml"
            policies.write_text(POLICIES + BOB_LOSES_ARCHITECTURE)
            try:
                await _until_bob_may_read(isolated, server, ARCHITECTURE, allowed=False)
                first.go()
                alice_saw = await first.report()
            finally:
                policies.write_text(POLICIES)
                await _until_bob_may_read(isolated, server, ARCHITECTURE, allowed=True)
            second.go()
            bob_saw = await second.report()
            third.go()
            carol_saw = await third.report()
    assert "error" in carol_saw.results[0], carol_saw.results[0]
    assert _updated(carol_saw) == []
    assert carol_saw.sent("notifications/message") == []
    # alice heard of her document while subscribed, and of nothing else.
    assert set(_updated(alice_saw)) == {ARCHITECTURE}
    # bob: both documents in the first round, and in the second although
    # alice unsubscribed; in the third only the one he may still read.
    assert set(round_one) == {ARCHITECTURE, FEATURES}
    assert set(round_two) == {ARCHITECTURE, FEATURES}
    round_three = _updated(bob_saw)[len(round_one) + len(round_two) :]
    assert set(round_three) == {FEATURES}


def _updated(notifications: Report | list[dict[str, Any]]) -> list[str]:
    if isinstance(notifications, Report):
        notifications = notifications.notifications
    updated = "notifications/resources/updated"
    return [note["params"]["uri"] for note in notifications if note["method"] == updated]


async def _until_bob_may_read(isolated: Isolated, server: str, uri: str, *, allowed: bool) -> None:
    """Wait for the hub to apply a change of bob's policy: his read of ``uri`` is then
    ``allowed`` (or refused)."""
    headers = {"X-API-Key": KEYS["bob"]}

    async def reads() -> bool:
        async with connected(isolated.hub.url(f"/mcp/{server}"), headers) as client:
            try:
                await client.read_resource(uri)
            except MCPError:
                return False
        return True

    while await reads() != allowed:  # noqa: ASYNC110 - the hub polls its folder; so does this
        await asyncio.sleep(0.5)


def _task(step: int) -> dict[str, Any]:
    return {"step": step}


def _status_ids(report: Report) -> set[str]:
    return {params["taskId"] for params in report.sent("notifications/tasks/status")}


@pytest.mark.parametrize("server", SHARED)
async def test_tasks_are_their_creators_alone(isolated: Isolated, server: str) -> None:
    """Item 13: task-augmented calls and ``tasks/*`` pass through, per upstream, with policy.

    alice and bob each start server-everything's research task on the one
    shared upstream session.  bob, handed alice's task id, gets "task not
    found" for every operation on it, as for a task that does not exist;
    ``tasks/list`` shows each only their own; the elicitation alice's
    ambiguous task asks (with the task's id in its ``_meta``) reaches alice
    alone; carol, who may not call the tool, cannot start one.
    """
    research = "simulate-research-query"
    started = {"do": "call_task", "name": research}
    alice = isolated.plan(
        "alice",
        server,
        [
            {**started, "arguments": {"topic": "alice's topic", "ambiguous": True}},
            wait("started"),
            {"do": "list_tasks"},
            {"do": "task_result", "task": _task(0)},
            {"do": "get_task", "task": _task(0)},
        ],
        elicitation={"interpretation": "historical"},
    )
    bob = isolated.plan(
        "bob",
        server,
        [
            {**started, "arguments": {"topic": "bob's topic"}},
            wait("alice's task"),
            {"do": "get_task", "task": {"given": "alice's task"}},
            {"do": "task_result", "task": {"given": "alice's task"}},
            {"do": "cancel_task", "task": {"given": "alice's task"}},
            {"do": "list_tasks"},
            {"do": "task_result", "task": _task(0)},
        ],
        "sse",
        elicitation={"interpretation": "current"},
    )
    carol = isolated.plan(
        "carol", server, [{**started, "arguments": {"topic": "carol's"}}, {"do": "list_tasks"}]
    )
    with anyio.fail_after(TEST_SECONDS):
        async with clients(isolated, ("sdk1", alice), ("ts", bob), ("ts", carol)) as driven:
            first, second, third = driven
            alice_task = (await first.reached("started")).results[0]["result"]["task"]["taskId"]
            await second.reached("alice's task")
            second.go(alice_task)
            bob_saw = await second.report()
            first.go()
            alice_saw, carol_saw = await first.report(), await third.report()
    bob_task = bob_saw.results[0]["result"]["task"]["taskId"]
    for step in (2, 3, 4):
        error = bob_saw.results[step]["error"]
        assert (error["code"], alice_task in error["message"]) == (-32602, True), error
    assert [task["taskId"] for task in bob_saw.results[5]["result"]["tasks"]] == [bob_task]
    assert "bob's topic" in bob_saw.text(6)
    assert [task["taskId"] for task in alice_saw.results[2]["result"]["tasks"]] == [alice_task]
    assert "alice's topic" in alice_saw.text(3)
    assert "historical" in alice_saw.text(3)
    assert alice_saw.results[4]["result"]["status"] == "completed"
    assert len(alice_saw.asked("elicitation/create")) == 1
    assert bob_saw.asked("elicitation/create") == []
    assert _status_ids(alice_saw) <= {alice_task}
    assert _status_ids(bob_saw) <= {bob_task}
    assert "error" in carol_saw.results[0], carol_saw.results[0]
    assert carol_saw.results[1]["result"]["tasks"] == []

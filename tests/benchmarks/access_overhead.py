"""Benchmark: what authentication plus policy evaluation add to a tool call, 100 policies in force.

Run on demand (not part of the test suite); it prints its figures as JSON:

    .venv/bin/python -m tests.benchmarks.access_overhead [--quick]

The budget is a p50 under 0.2 ms for authenticating a call and deciding it,
with 100 AccessPolicies in force.  That is far below what a hub process
answering over HTTP can resolve from outside, where one loopback round trip
through a stdio child costs milliseconds and wanders by more than 0.2 ms from
call to call.  So the work is measured twice, for two different questions:

* **In process, precisely.**  The hub's own :class:`AccessControl` and
  :class:`Authenticator`, built from a standalone folder loaded as the hub
  loads it: 50 MCPServers (not run) of 20 tools each, 10 MCPGroups, 100
  API-key Secrets and 100 AccessPolicies mixing users, groups, API keys and
  ServiceAccounts, allow and deny rules, server and group globs.  The caller
  is a user of two teams, named by 16 of the policies.  Each figure is
  ``perf_counter_ns`` around one awaited step, p50/p90/p99 in ms:
  authentication alone (an HS256 bearer JWT seen before, which the hub
  remembers; the same user's new JWT, whose signature is verified; an API key
  among 100, which is hashed and compared with all of them every time); the
  decision alone (warm, answered from memory, with and without the audit
  record; a tool never decided for a known caller; a caller never seen); and
  both together per call, the target being the cached JWT's.  The audit log
  is on, at INFO, formatted as JSON lines into ``os.devnull``, because a
  deployed hub writes one audit line per call and that line is part of what a
  decision costs (most of it, as the unaudited figure shows).  Filtering a
  ``tools/list`` of all 1000 tools for the caller is reported too (warm, one
  audit line per list).  The **clock baseline** is the same timing around an
  awaited step that does nothing.  The figures take turns, a chunk each per
  round, so that the machine's drift (ARCHITECTURE.md, "How fast") lands on
  all of them rather than on whichever ran while it lasted.

* **End to end, as a difference.**  Two standalone hub processes, each
  serving one mcp-server-time child as ``server07``, driven in raw HTTP over
  one client session with their calls interleaved: one with an HS256 issuer
  and the same 100 policies, called with a bearer JWT (one of the policies
  grants it the tool); the other with ``--anonymous`` and the single allow-all
  policy of the tests, a baseline that pays no authentication.  Both p50s of
  ``tools/call`` and their difference are reported.  The baseline still
  decides and audits each call, so what the difference can show is the JWT
  and the 99 extra policies, a few microseconds -- the in-process replica of
  the baseline's work gives the expected value -- against a noise of tenths
  of a millisecond.  It confirms that nothing else in the request path grows
  with access control; the in-process figures are the cost itself.

Only loopback traffic; every wait is bounded.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import itertools
import json
import logging
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Final

import aiohttp
import yaml
from multidict import CIMultiDict, CIMultiDictProxy
from prometheus_client import CollectorRegistry

from hub_proxy.access import AccessControl
from hub_proxy.auth.apikeys import mint_key, secret_manifest
from hub_proxy.auth.audit import Audit
from hub_proxy.auth.audit import logger as audit_logger
from hub_proxy.auth.authenticator import API_KEY_HEADER, Authenticator, AuthSettings
from hub_proxy.auth.jwt_tokens import JWTIssuer
from hub_proxy.auth.policy import Item
from hub_proxy.auth.principal import AUTHENTICATED, Principal
from hub_proxy.catalog import load_catalog
from hub_proxy.live import LiveCatalog
from mcphub_runtime.logs import JsonLineFormatter
from tests.benchmarks.policy_evaluation import GROUPS, SERVERS, groups, server, tools
from tests.hub_proxy.auth.issuer import AUDIENCE, HS_ISSUER, SECRET, claims, sign_hs
from tests.hub_proxy.bridge_process import JSON_AND_SSE, command_of
from tests.hub_proxy.test_standalone_hub import OPEN_ACCESS, Hub, server_yaml, start_hub
from tests.testbed.mcp_servers import time_stdio

POLICIES: Final = 100
API_KEYS: Final = 100
NAMESPACES: Final = 5
TEAMS: Final = 10
TARGET_P50_MS: Final = 0.2
CALL_SECONDS: Final = 30.0
PHASE_SECONDS: Final = 300.0
# Longer than any run, so that the cached token never expires under the benchmark.
TOKEN_SECONDS: Final = 3600
PROTOCOL_VERSION: Final = "2025-06-18"

# The server the hubs run (mcp-server-time) and the tool the benchmark calls on it.
CALLED_SERVER: Final = server(7)
CALLED_TOOL: Final = "get_current_time"
CALLER_NAME: Final = "bench"
CALLER_TEAMS: Final = ("team3", "team8")
# Named by policy 2 (see policy_documents), in that policy's namespace.
CALLER_KEY: Final = 2


def key_name(number: int) -> str:
    return f"key{number:02}"


def namespace(number: int) -> str:
    return f"ns{number % NAMESPACES}"


def policy_documents() -> list[dict[str, Any]]:
    """100 AccessPolicies shaped like a cluster's, the last granting the caller its tool."""
    made = []
    for i in range(POLICIES - 1):
        where = namespace(i)
        team = {"kind": "Group", "name": f"team{i % TEAMS}"}
        subjects: list[dict[str, str]] = [
            [{"kind": "User", "name": f"user{i}"}, team],
            [team, {"kind": "Group", "name": AUTHENTICATED}] if i % 20 == 1 else [team],
            [{"kind": "APIKey", "name": key_name(i)}],
            [{"kind": "ServiceAccount", "name": f"agent{i}", "namespace": where}],
        ][i % 4]
        rules: list[dict[str, Any]] = [
            {"servers": [server(i % SERVERS)], "actions": ["list", "call"]},
            # A tenth of the servers at once: server1* is server10 to server19.
            {
                "servers": [f"server{i % 5}*"],
                "tools": ["get_*", "list_*"],
                "actions": ["list", "call"],
            },
            {"groups": [f"group{i % GROUPS}"], "actions": ["list", "call"]},
            {
                "servers": ["*"],
                "prompts": ["*"],
                "resources": ["file:///*"],
                "actions": ["list", "get", "read"],
            },
        ]
        if i % 3 == 0:
            rules.append(
                {
                    "effect": "deny",
                    "servers": ["server*"],
                    "groups": ["group*"],
                    "tools": ["delete_*", "run_*"],
                    "actions": ["call"],
                }
            )
        made.append(
            {
                "apiVersion": "mcphub.dev/v1alpha1",
                "kind": "AccessPolicy",
                "metadata": {"name": f"policy{i:02}", "namespace": where},
                "spec": {"subjects": subjects, "rules": rules},
            }
        )
    made.append(
        {
            "apiVersion": "mcphub.dev/v1alpha1",
            "kind": "AccessPolicy",
            "metadata": {"name": "bench-time", "namespace": "default"},
            "spec": {
                "subjects": [{"kind": "User", "name": CALLER_NAME}],
                "rules": [
                    {"servers": [CALLED_SERVER], "tools": ["get_*"], "actions": ["list", "call"]}
                ],
            },
        }
    )
    return made


def group_documents() -> list[dict[str, Any]]:
    """The policy benchmark's groups, as the MCPGroups a folder holds."""
    return [
        {
            "apiVersion": "mcphub.dev/v1alpha1",
            "kind": "MCPGroup",
            "metadata": {"name": name},
            "spec": {
                "servers": [
                    {"name": member}
                    | (
                        {"tools": tool_filter.model_dump(mode="json", exclude_none=True)}
                        if tool_filter is not None
                        else {}
                    )
                    for member, tool_filter in members.items()
                ]
            },
        }
        for name, members in groups().items()
    ]


def write_access_config(
    folder: Path, servers: Mapping[str, list[str]], keys: Sequence[str]
) -> Path:
    """A standalone folder: ``servers`` (name -> argv), the groups, keys and policies."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, argv in servers.items():
        (folder / f"{name}.yaml").write_text(server_yaml(name, argv))
    (folder / "groups.yaml").write_text(yaml.safe_dump_all(group_documents()))
    (folder / "policies.yaml").write_text(yaml.safe_dump_all(policy_documents()))
    (folder / "keys.yaml").write_text(
        yaml.safe_dump_all(
            secret_manifest(key_name(n), namespace(n), key) for n, key in enumerate(keys)
        )
    )
    return folder


def write_open_config(folder: Path) -> Path:
    """The baseline hub's folder: the called server alone (start_hub adds OPEN_ACCESS)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{CALLED_SERVER}.yaml").write_text(
        server_yaml(CALLED_SERVER, command_of(time_stdio()))
    )
    return folder


def bearer_token(subject: str, teams: Sequence[str], **extra: Any) -> str:
    expires = int(time.time()) + TOKEN_SECONDS
    return sign_hs(
        claims(HS_ISSUER, AUDIENCE, sub=subject, groups=list(teams), exp=expires, **extra)
    )


def request_headers(credentials: Mapping[str, str]) -> CIMultiDictProxy[str]:
    """A tools/call POST's headers as aiohttp hands them to the middleware."""
    return CIMultiDictProxy(
        CIMultiDict(
            {
                "Host": "127.0.0.1:8080",
                "User-Agent": "python-httpx/0.28.1",
                "Accept": JSON_AND_SSE,
                "Content-Type": "application/json",
                "Content-Length": "96",
                "Mcp-Session-Id": "s" * 86,
                "Mcp-Protocol-Version": PROTOCOL_VERSION,
                **credentials,
            }
        )
    )


def ms(nanoseconds: float) -> float:
    return round(nanoseconds / 1e6, 4)


def percentiles(samples_ns: Sequence[float]) -> dict[str, float]:
    cuts = statistics.quantiles(samples_ns, n=100, method="inclusive")
    return {
        "p50_ms": ms(statistics.median(samples_ns)),
        "p90_ms": ms(cuts[89]),
        "p99_ms": ms(cuts[98]),
        "n": len(samples_ns),
    }


Step = Callable[[int], Awaitable[object]]


async def interleaved(figures: Mapping[str, tuple[Step, int]], rounds: int) -> dict[str, list[int]]:
    """Nanoseconds of each awaited step, the figures taking turns in ``rounds`` chunks.

    A figure is a step and how many times to time it; the step is given its
    number, unique within the figure, so that steps meant to be first-time can
    use a new input each time.  Taking turns spreads the machine's drift over
    every figure instead of letting it land on whichever ran during it.
    """
    clock = time.perf_counter_ns
    names = list(figures)
    samples: dict[str, list[int]] = {name: [] for name in names}
    for turn in range(rounds):
        for name in names[turn % len(names) :] + names[: turn % len(names)]:
            step, count = figures[name]
            chunk = count // rounds
            for n in range(turn * chunk, (turn + 1) * chunk):
                start = clock()
                await step(n)
                samples[name].append(clock() - start)
    return samples


@contextlib.contextmanager
def audit_log_to_devnull() -> Iterator[None]:
    """The audit trail on at INFO, formatted as the hub formats it, written nowhere."""
    with open(os.devnull, "w") as sink:
        handler = logging.StreamHandler(sink)
        handler.setFormatter(JsonLineFormatter())
        level, propagate = audit_logger.level, audit_logger.propagate
        audit_logger.addHandler(handler)
        audit_logger.setLevel(logging.INFO)
        audit_logger.propagate = False
        try:
            yield
        finally:
            audit_logger.removeHandler(handler)
            audit_logger.setLevel(level)
            audit_logger.propagate = propagate


async def in_process(
    folder: Path, open_folder: Path, keys: Sequence[str], args: argparse.Namespace
) -> dict[str, Any]:
    catalog = load_catalog(folder)
    authenticator = Authenticator(
        AuthSettings(jwt_issuers=(JWTIssuer(HS_ISSUER, AUDIENCE, secret=SECRET),))
    )
    access = AccessControl(authenticator, LiveCatalog(catalog), Audit(CollectorRegistry()))
    # What the end-to-end baseline hub does for each call, to read that difference by.
    open_access = AccessControl(
        Authenticator(AuthSettings(anonymous=True)),
        LiveCatalog(load_catalog(open_folder)),
        Audit(CollectorRegistry()),
    )
    no_credentials = request_headers({})
    items = tools()
    samples = args.samples
    jwt_headers = request_headers(
        {"Authorization": f"Bearer {bearer_token(CALLER_NAME, CALLER_TEAMS)}"}
    )
    key_headers = request_headers({API_KEY_HEADER: keys[CALLER_KEY]})
    caller = await authenticator.authenticate(jwt_headers)
    key_caller = await authenticator.authenticate(key_headers)
    # Minted before timing: signing is the issuer's work, not the hub's.
    same_user_tokens = [
        request_headers(
            {"Authorization": f"Bearer {bearer_token(CALLER_NAME, CALLER_TEAMS, jti=str(n))}"}
        )
        for n in range(args.first_uses)
    ]
    newcomer_tokens = [
        request_headers(
            {"Authorization": f"Bearer {bearer_token(f'newcomer{n}', [f'team{n % TEAMS}'])}"}
        )
        for n in range(args.first_uses)
    ]
    # Same name and groups, another issuer: a principal the evaluator has not seen.
    strangers = [
        Principal("User", CALLER_NAME, groups=caller.groups, issuer=f"https://idp{n}")
        for n in range(samples)
    ]

    # Known callers, tools never decided for them: the catalog's names, renamed per step.
    fresh_items = [
        Item("tool", tool.server, tuple(f"{name}_r{n}" for name in tool.names))
        for n, tool in enumerate(itertools.islice(itertools.cycle(items), samples))
    ]

    def known(n: int) -> Item:
        return items[n % len(items)]

    async def nothing(n: int) -> None:
        return None

    async def authenticate_jwt(n: int) -> None:
        await authenticator.authenticate(jwt_headers)

    async def authenticate_jwt_first_use(n: int) -> None:
        await authenticator.authenticate(same_user_tokens[n])

    async def authenticate_api_key(n: int) -> None:
        await authenticator.authenticate(key_headers)

    async def decide(n: int) -> None:
        access.decide(caller, "call", known(n))

    async def decide_unaudited(n: int) -> None:
        access.evaluator.decide(caller, "call", known(n))

    async def decide_fresh_item(n: int) -> None:
        access.decide(caller, "call", fresh_items[n])

    async def decide_stranger(n: int) -> None:
        access.decide(strangers[n], "call", known(n))

    async def call_with_jwt(n: int) -> None:
        access.decide(await authenticator.authenticate(jwt_headers), "call", known(n))

    async def call_with_api_key(n: int) -> None:
        access.decide(await authenticator.authenticate(key_headers), "call", known(n))

    async def call_of_newcomer(n: int) -> None:
        access.decide(await authenticator.authenticate(newcomer_tokens[n]), "call", known(n))

    async def call_anonymously(n: int) -> None:
        principal = await open_access.authenticator.authenticate(no_credentials)
        open_access.decide(principal, "call", known(n))

    async def list_tools(n: int) -> None:
        access.visible(caller, "tool", items)

    figures: dict[str, tuple[Step, int]] = {
        "clock_baseline": (nothing, samples),
        "authentication.jwt_cached": (authenticate_jwt, samples),
        "authentication.jwt_first_use": (authenticate_jwt_first_use, args.first_uses),
        f"authentication.api_key_of_{len(authenticator.api_keys)}": (
            authenticate_api_key,
            samples,
        ),
        "decision.warm": (decide, samples),
        "decision.warm_without_audit": (decide_unaudited, samples),
        "decision.first_time_item": (decide_fresh_item, samples),
        "decision.first_time_principal": (decide_stranger, samples),
        "per_call.jwt_cached": (call_with_jwt, samples),
        "per_call.api_key": (call_with_api_key, samples),
        "per_call.new_caller_first_request": (call_of_newcomer, args.first_uses),
        "per_call.anonymous_open_access": (call_anonymously, samples),
        f"tools_list_filter_of_{len(items)}_warm": (list_tools, args.lists),
    }
    with audit_log_to_devnull():
        # Warm: every decision the warm figures will ask for, made once.
        for n in range(len(items)):
            await call_with_jwt(n)
            await call_with_api_key(n)
            await call_anonymously(n)
        await list_tools(0)
        measured = await interleaved(figures, args.rounds)
    report: dict[str, Any] = {}
    for name, values in measured.items():
        section, _, figure = name.rpartition(".")
        place = report.setdefault(section, {}) if section else report
        place[figure] = percentiles(values)
    per_call = report["per_call"]
    p50 = per_call["jwt_cached"]["p50_ms"]
    return {
        "policies": len(catalog.policies),
        "rules": sum(len(policy.spec.rules) for policy in catalog.policies),
        "api_keys": len(authenticator.api_keys),
        "servers": len(catalog.servers),
        "groups": len(catalog.groups),
        "tools": len(items),
        "caller": str(caller),
        "caller_named_by_policies": sum(
            any(
                (subject.kind == "User" and subject.name == CALLER_NAME)
                or (subject.kind == "Group" and subject.name in caller.groups)
                for subject in policy.spec.subjects
            )
            for policy in catalog.policies
        ),
        "api_key_caller": str(key_caller),
        "audit_log": "INFO, JSON lines to os.devnull",
        "rounds": args.rounds,
        **report,
        "target_p50_ms": TARGET_P50_MS,
        "meets_target": p50 < TARGET_P50_MS,
    }


class McpSession:
    """One MCP session at a hub endpoint, spoken in raw HTTP over a shared client."""

    def __init__(
        self, http: aiohttp.ClientSession, url: str, credentials: Mapping[str, str]
    ) -> None:
        self._http = http
        self._url = url
        self._headers = {"Content-Type": "application/json", "Accept": JSON_AND_SSE, **credentials}
        self._ids = 0

    async def open(self) -> None:
        init = {
            "protocolVersion": PROTOCOL_VERSION,
            "capabilities": {},
            "clientInfo": {"name": "access-overhead-benchmark", "version": "0"},
        }
        async with self._http.post(
            self._url, json=self._message("initialize", init), headers=self._headers
        ) as answer:
            answer.raise_for_status()
            self._headers["Mcp-Session-Id"] = answer.headers["Mcp-Session-Id"]
            self._headers["Mcp-Protocol-Version"] = PROTOCOL_VERSION
        initialized = {"jsonrpc": "2.0", "method": "notifications/initialized"}
        async with self._http.post(self._url, json=initialized, headers=self._headers) as answer:
            answer.raise_for_status()

    async def call(self, tool: str, arguments: Mapping[str, Any]) -> None:
        """One tools/call; its whole answer read, a refusal or tool error raised."""
        body = json.dumps(self._message("tools/call", {"name": tool, "arguments": arguments}))
        async with self._http.post(self._url, data=body, headers=self._headers) as answer:
            answer.raise_for_status()
            # Nothing is sent before a time call's answer, so the hub answers in JSON.
            reply = json.loads(await answer.read())
        if "result" not in reply or reply["result"].get("isError"):
            raise RuntimeError(f"{tool} at {self._url} failed: {reply}")

    def _message(self, method: str, params: Mapping[str, Any]) -> dict[str, Any]:
        self._ids += 1
        return {"jsonrpc": "2.0", "id": self._ids, "method": method, "params": params}


async def end_to_end(
    urls: Mapping[str, tuple[str, Mapping[str, str]]], calls: int, warmup: int
) -> dict[str, list[float]]:
    """Sequential tools/calls to each hub in turn (order alternating), each timed alone."""
    timeout = aiohttp.ClientTimeout(total=CALL_SECONDS)
    async with asyncio.timeout(PHASE_SECONDS), aiohttp.ClientSession(timeout=timeout) as http:
        sessions = {name: McpSession(http, url, creds) for name, (url, creds) in urls.items()}
        for session in sessions.values():
            await session.open()
        names = list(sessions)
        samples: dict[str, list[float]] = {name: [] for name in names}
        for i in range(warmup + calls):
            for name in names if i % 2 else reversed(names):
                start = time.perf_counter_ns()
                await sessions[name].call(CALLED_TOOL, {"timezone": "UTC"})
                if i >= warmup:
                    samples[name].append(time.perf_counter_ns() - start)
    return samples


def hubs(work: Path, keys: Sequence[str], stack: contextlib.ExitStack) -> tuple[Hub, Hub]:
    """The hub with access control and 100 policies, and the open baseline hub."""
    secret = work / "hs256.secret"
    secret.write_bytes(SECRET)
    guarded_args = ["--audience", AUDIENCE, "--hs256", f"{HS_ISSUER}={secret}"]
    write = functools.partial(
        write_access_config, servers={CALLED_SERVER: command_of(time_stdio())}, keys=keys
    )
    guarded = start_hub(work / "guarded", write, args=guarded_args, open_access=False)
    stack.callback(guarded.process.stop)
    baseline = start_hub(work / "open", write_open_config)
    stack.callback(baseline.process.stop)
    return guarded, baseline


def run(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    keys = [mint_key() for _ in range(API_KEYS)]
    # The in-process catalog's servers are never started: only their names matter.
    unused = {server(n): ["unused-in-process"] for n in range(SERVERS)}
    folder = write_access_config(work / "in-process", unused, keys)
    open_folder = work / "in-process-open"
    open_folder.mkdir()
    (open_folder / "open-access.yaml").write_text(OPEN_ACCESS)
    result = {"in_process": asyncio.run(in_process(folder, open_folder, keys, args))}
    if args.skip_hubs:
        return result
    with contextlib.ExitStack() as stack:
        guarded, baseline = hubs(work, keys, stack)
        path = f"/mcp/{CALLED_SERVER}"
        token = bearer_token(CALLER_NAME, CALLER_TEAMS)
        urls = {
            "jwt_100_policies": (guarded.url(path), {"Authorization": f"Bearer {token}"}),
            "anonymous_open_access": (baseline.url(path), {}),
        }
        raw = asyncio.run(end_to_end(urls, args.calls, args.warmup))
    per_call = result["in_process"]["per_call"]
    guarded_p50 = statistics.median(raw["jwt_100_policies"])
    open_p50 = statistics.median(raw["anonymous_open_access"])
    paired = [
        g - o for g, o in zip(raw["jwt_100_policies"], raw["anonymous_open_access"], strict=True)
    ]
    result["end_to_end"] = {
        "call": f"tools/call {CALLED_TOOL} at {path} (mcp-server-time, stdio child of each hub)",
        "calls_per_hub": args.calls,
        "warmup_calls": args.warmup,
        "jwt_100_policies_p50_ms": ms(guarded_p50),
        "anonymous_open_access_p50_ms": ms(open_p50),
        "added_p50_ms": ms(guarded_p50 - open_p50),
        "paired_difference_p50_ms": ms(statistics.median(paired)),
        "expected_difference_p50_ms": round(
            per_call["jwt_cached"]["p50_ms"] - per_call["anonymous_open_access"]["p50_ms"], 4
        ),
        "note": "a difference of two noisy loopback medians, which cannot resolve the "
        "in-process figures: the baseline hub decides and audits every call too, so what "
        "separates the two hubs is the expected difference, a few microseconds",
    }
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=20_000, help="timed steps per figure")
    parser.add_argument(
        "--first-uses", type=int, default=2000, help="new tokens for the first-use figures"
    )
    parser.add_argument("--lists", type=int, default=500, help="tools/list filterings timed")
    parser.add_argument("--calls", type=int, default=2000, help="tools/calls per hub")
    parser.add_argument("--warmup", type=int, default=100, help="untimed calls per hub first")
    parser.add_argument("--rounds", type=int, default=10, help="turns the in-process figures take")
    parser.add_argument("--skip-hubs", action="store_true", help="in-process figures only")
    parser.add_argument("--quick", action="store_true", help="a short run for iterating")
    args = parser.parse_args(argv)
    if args.quick:
        args.samples, args.first_uses, args.lists, args.calls, args.warmup = 5000, 500, 100, 300, 30
    with tempfile.TemporaryDirectory(prefix="mcphub-access-bench-") as tmp:
        result = run(args, Path(tmp))
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

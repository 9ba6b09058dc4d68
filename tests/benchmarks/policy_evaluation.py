"""Benchmark: how long one authorization decision takes with 100 AccessPolicies in force.

Run on demand (not part of the test suite); it prints its figures as JSON:

    .venv/bin/python -m tests.benchmarks.policy_evaluation [--samples N]

The budget for authentication plus policy evaluation of a call is 0.2 ms at
p50 with 100 policies in force, and a list of hundreds of tools is filtered
item by item on every request, so a warm decision should cost about a
microsecond.  The policies are shaped like a cluster's: per-team users and
groups, a few grants to every authenticated caller, server, group and item
globs, and denies.  The principal measured is named by about twenty of them.

Figures, each p50/p90/p99 in microseconds per decision:

* **cold principal**: a principal the evaluator has not seen (a new issuer
  each time), so its matching rules are gathered and the decision worked out;
  what the first request of a new caller costs.
* **cold item**: a known principal, an item it has not been decided on.
* **warm**: a decision made before, answered from memory.
* **list of N (warm)**: filtering a whole list, per request.
* **audit**: recording one decision, with the audit log off and on (JSON
  formatter into a discarding stream).

Each is timed with ``perf_counter_ns`` around one call; the **baseline** is the
same timing around a call that does nothing, to read the others against,
because these machines are noisy (ARCHITECTURE.md, "How fast").  Building the
evaluator (once per change of policies or catalog) is reported too.
"""

from __future__ import annotations

import argparse
import io
import itertools
import json
import logging
import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any, Final

from prometheus_client import CollectorRegistry

from hub_proxy.auth.audit import Audit
from hub_proxy.auth.audit import logger as audit_logger
from hub_proxy.auth.policy import Action, Evaluator, Groups, Item
from hub_proxy.auth.principal import AUTHENTICATED, Principal
from mcphub_api import AccessPolicy
from mcphub_api.mcpgroup import ToolFilter
from mcphub_runtime.logs import JsonLineFormatter

POLICIES: Final = 100
SERVERS: Final = 50
TOOLS_PER_SERVER: Final = 20
GROUPS: Final = 10
LIST_SIZE: Final = 500

PRINCIPAL: Final = Principal(
    "User", "user7", groups=frozenset({AUTHENTICATED, "team7"}), issuer="https://idp"
)


def server(n: int) -> str:
    return f"server{n:02}"


def policies() -> list[AccessPolicy]:
    made = []
    for i in range(POLICIES):
        subjects = [
            {"kind": "User", "name": f"user{i}"},
            {"kind": "Group", "name": f"team{i % 10}"},
        ]
        if i % 10 == 0:
            subjects.append({"kind": "Group", "name": AUTHENTICATED})
        rules: list[dict[str, Any]] = [
            {"servers": [server(i % SERVERS)], "actions": ["list", "call"]},
            {
                "groups": [f"group{i % GROUPS}"],
                "tools": ["get_*", "list_*"],
                "actions": ["list", "call"],
            },
            {
                "servers": ["*"],
                "prompts": ["*"],
                "resources": ["file:///*"],
                "actions": ["list", "get", "read"],
            },
        ]
        if i % 4 == 0:
            rules.append(
                {
                    "effect": "deny",
                    "servers": ["server*"],
                    "tools": ["delete_*"],
                    "actions": ["call"],
                }
            )
        made.append(
            AccessPolicy.model_validate(
                {
                    "metadata": {"name": f"policy{i:03}", "namespace": f"ns{i % 5}"},
                    "spec": {"subjects": subjects, "rules": rules},
                }
            )
        )
    return made


def groups() -> Groups:
    return {
        f"group{g}": {
            server(s): ToolFilter(exclude=["*_secret"]) if s % 2 else None
            for s in range(g, SERVERS, GROUPS)
        }
        for g in range(GROUPS)
    }


def tools() -> list[Item]:
    verbs = ("get", "list", "delete", "run")
    return [
        # Every fifth tool is aliased, as a server's tool policy may do.
        Item("tool", server(s), (name, f"{name}_v2") if t % 5 == 0 else (name,))
        for s in range(SERVERS)
        for t in range(TOOLS_PER_SERVER)
        for name in (f"{verbs[t % 4]}_thing{t}",)
    ]


def percentiles(samples_ns: Sequence[int]) -> dict[str, float]:
    cuts = statistics.quantiles(samples_ns, n=100, method="inclusive")
    return {
        "p50_us": round(statistics.median(samples_ns) / 1000, 3),
        "p90_us": round(cuts[89] / 1000, 3),
        "p99_us": round(cuts[98] / 1000, 3),
        "n": len(samples_ns),
    }


Decide = Callable[[Principal, Action, Item], object]


def timed(decide: Decide, calls: Sequence[tuple[Principal, Action, Item]]) -> list[int]:
    clock = time.perf_counter_ns
    samples = []
    for principal, action, item in calls:
        start = clock()
        decide(principal, action, item)
        samples.append(clock() - start)
    return samples


def nothing(principal: Principal, action: Action, item: Item) -> None:
    return None


def run(samples: int) -> dict[str, Any]:
    catalog = tools()
    built = time.perf_counter()
    evaluator = Evaluator(policies(), groups())
    build_ms = (time.perf_counter() - built) * 1000
    actions: tuple[Action, ...] = ("call", "list")
    calls = [
        (PRINCIPAL, action, item)
        for action, item in itertools.islice(
            itertools.cycle(itertools.product(actions, catalog)), samples
        )
    ]
    strangers = [
        (
            Principal("User", f"user{n % POLICIES}", groups=PRINCIPAL.groups, issuer=f"idp{n}"),
            action,
            item,
        )
        for n, (_, action, item) in enumerate(calls)
    ]
    figures = {
        "baseline": percentiles(timed(nothing, calls)),
        # Every key new, as long as samples stay within the 2 x 1000 distinct ones.
        "cold_principal": percentiles(timed(evaluator.decide, strangers)),
        "cold_item": percentiles(timed(evaluator.decide, calls)),
        "warm": percentiles(timed(evaluator.decide, calls)),
    }
    listed = catalog[:LIST_SIZE]
    per_list = []
    for _ in range(200):
        start = time.perf_counter_ns()
        [item for item in listed if evaluator.allows(PRINCIPAL, "list", item)]
        per_list.append(time.perf_counter_ns() - start)
    figures[f"list_of_{LIST_SIZE}_warm_per_request"] = percentiles(per_list)

    audit = Audit(CollectorRegistry())

    def record(principal: Principal, action: Action, item: Item) -> None:
        audit.record(principal, action, item, evaluator.decide(principal, action, item))

    audit_logger.propagate = False
    audit_logger.setLevel(logging.WARNING)
    figures["warm_with_audit_log_off"] = percentiles(timed(record, calls))
    handler = logging.StreamHandler(io.StringIO())
    handler.setFormatter(JsonLineFormatter())
    audit_logger.addHandler(handler)
    audit_logger.setLevel(logging.INFO)
    figures["warm_with_audit_log_on"] = percentiles(timed(record, calls[:2000]))
    audit_logger.removeHandler(handler)
    return {
        "policies": POLICIES,
        "rules": sum(len(p.spec.rules) for p in policies()),
        "items": len(catalog),
        "build_ms": round(build_ms, 2),
        **figures,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument(
        "--samples",
        type=int,
        default=2 * SERVERS * TOOLS_PER_SERVER,
        help="decisions per figure (at most the number of distinct keys keeps cold cold)",
    )
    args = parser.parse_args(argv)
    print(json.dumps(run(args.samples), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

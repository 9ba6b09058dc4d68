"""Check what an ``AccessPolicy`` refers to, and count what it covers.

The hub enforces policies; the operator only tells the admin whether a
policy means what it seems to.  A rule target written as a plain name (no
glob characters) that matches no MCPServer or MCPGroup is almost certainly a
typo, and since policies only ever open access, a typo silently grants
nothing: the status says so, by name, until the target exists.
"""

from __future__ import annotations

import datetime
from collections.abc import Collection, Mapping
from typing import Any

from mcphub_api import AccessPolicy
from mcphub_api.toolpolicy import matches_any
from mcphub_operator.core.conditions import Resolution, Transition, settle

_GLOB_CHARACTERS = frozenset("*?[")
REFERENCES = Resolution("ReferencesResolved", "AllTargetsFound", "TargetNotFound")


def _is_literal(pattern: str) -> bool:
    return not _GLOB_CHARACTERS & set(pattern)


def resolve(
    policy: AccessPolicy,
    servers: Collection[str],
    groups: Collection[str],
    previous_status: Mapping[str, Any] | None,
    now: datetime.datetime,
) -> tuple[dict[str, Any], list[Transition]]:
    missing: list[str] = []
    covered_servers: set[str] = set()
    covered_groups: set[str] = set()
    for number, rule in enumerate(policy.spec.rules, start=1):
        for kind, patterns, existing, covered in (
            ("MCPServer", rule.servers or [], servers, covered_servers),
            ("MCPGroup", rule.groups or [], groups, covered_groups),
        ):
            covered |= {name for name in existing if matches_any(name, patterns)}
            missing += [
                f"rule {number} names {kind} {pattern!r}, which does not exist"
                for pattern in patterns
                if _is_literal(pattern) and pattern not in existing
            ]
    problem = "; ".join(missing) + f" in {policy.metadata.namespace}" if missing else None
    summary = f"covers {len(covered_servers)} servers and {len(covered_groups)} groups"
    status, transitions = settle(
        previous_status,
        REFERENCES.conclude(problem, summary),
        generation=policy.metadata.generation,
        now=now,
    )
    status.update(
        subjectCount=len(policy.spec.subjects),
        ruleCount=len(policy.spec.rules),
        serverCount=len(covered_servers),
        groupCount=len(covered_groups),
    )
    return status, transitions

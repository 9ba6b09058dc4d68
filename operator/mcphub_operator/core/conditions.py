"""Conditions in the shape of ``metav1.Condition``, merged the way kstatus expects.

A condition's ``lastTransitionTime`` moves only when its status changes, so
that "Ready since 10:02" stays true while the operator re-verifies every few
seconds; every condition carries the generation it was computed from, so a
GitOps tool never mistakes an old Ready for an answer about a new spec.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

Status = Literal["True", "False", "Unknown"]


@dataclass(frozen=True)
class Observed:
    """One condition as a reconcile pass observed it."""

    type: str
    status: Status
    reason: str
    message: str = ""


@dataclass(frozen=True)
class Transition:
    """A condition whose status changed in this pass: worth an Event."""

    type: str
    old: Status | None
    new: Observed


def _timestamp(now: datetime.datetime) -> str:
    return now.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def merge(
    existing: Sequence[dict[str, Any]] | None,
    observed: Iterable[Observed],
    *,
    generation: int,
    now: datetime.datetime,
) -> tuple[list[dict[str, Any]], list[Transition]]:
    """The new condition list, and the transitions that lead to it."""
    previous = {condition["type"]: condition for condition in existing or []}
    merged: list[dict[str, Any]] = []
    transitions: list[Transition] = []
    for condition in observed:
        before = previous.get(condition.type)
        changed = before is None or before.get("status") != condition.status
        merged.append(
            {
                "type": condition.type,
                "status": condition.status,
                "observedGeneration": generation,
                "lastTransitionTime": (
                    before["lastTransitionTime"] if before and not changed else _timestamp(now)
                ),
                "reason": condition.reason,
                "message": condition.message,
            }
        )
        if changed:
            transitions.append(
                Transition(condition.type, before.get("status") if before else None, condition)
            )
    return merged, transitions


@dataclass(frozen=True)
class Resolution:
    """A kind whose readiness is "are the names it references there?" (groups, policies)."""

    condition: str
    resolved_reason: str
    broken_reason: str

    def observe(self, problem: str | None, summary: str) -> list[Observed]:
        """The resolution condition and Ready: False naming the problem, else True."""
        if problem:
            return [
                Observed(self.condition, "False", self.broken_reason, problem),
                Observed("Ready", "False", self.broken_reason, problem),
            ]
        return [
            Observed(self.condition, "True", self.resolved_reason, summary),
            Observed("Ready", "True", self.condition, summary),
        ]


def settle(
    previous_status: Mapping[str, Any] | None,
    observed: Iterable[Observed],
    *,
    generation: int,
    now: datetime.datetime,
) -> tuple[dict[str, Any], list[Transition]]:
    """The common part of a status -- observedGeneration and conditions -- and its transitions."""
    conditions, transitions = merge(
        (previous_status or {}).get("conditions"), observed, generation=generation, now=now
    )
    return {"observedGeneration": generation, "conditions": conditions}, transitions


def status_of(conditions: Sequence[dict[str, Any]] | None, kind: str) -> str | None:
    return next((c.get("status") for c in conditions or [] if c.get("type") == kind), None)


def without_times(conditions: Sequence[dict[str, Any]] | None) -> list[dict[str, Any]]:
    """Conditions minus their timestamps, to tell whether anything really changed."""
    return [{k: v for k, v in c.items() if k != "lastTransitionTime"} for c in conditions or []]

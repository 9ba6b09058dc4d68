"""Conditions in the shape of ``metav1.Condition``, merged the way kstatus expects.

A condition's ``lastTransitionTime`` moves only when its status changes, so
that "Ready since 10:02" stays true while the operator re-verifies every few
seconds; every condition carries the generation it was computed from, so a
GitOps tool never mistakes an old Ready for an answer about a new spec.

Besides ``Ready``, every kind carries kstatus' two abnormal-true conditions
(sigs.k8s.io/cli-utils, ``pkg/kstatus``), which Flux, cli-utils and
``kubectl wait``-style tools key on, since ``Ready=False`` alone does not say
whether waiting helps:

* ``Reconciling=True``: the operator is still converging and will get there by
  itself (pods starting, members on their way up).  kstatus: InProgress.
* ``Stalled=True``: the operator cannot get there without a change elsewhere
  (a missing Secret or member, a server that does not answer MCP); it keeps
  retrying, and the condition clears by itself once the cause is fixed.
  kstatus: Failed.
* both ``False`` with ``status.observedGeneration`` equal to the object's
  generation: kstatus falls back on ``Ready`` (True: Current, else
  InProgress), so an object that is not Ready is always one or the other.
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


Progress = Literal["Current", "InProgress", "Failed"]
"""Where an object stands, in kstatus' words."""


def progress(state: Progress, reason: str, message: str) -> list[Observed]:
    """``Reconciling`` and ``Stalled`` for ``state``; the true one carries ``reason`` and why."""
    if state == "InProgress":
        return [
            Observed("Reconciling", "True", reason, message),
            Observed("Stalled", "False", "Progressing"),
        ]
    if state == "Failed":
        return [
            Observed("Reconciling", "False", "Stalled"),
            Observed("Stalled", "True", reason, message),
        ]
    return [
        Observed("Reconciling", "False", "Reconciled"),
        Observed("Stalled", "False", "Reconciled"),
    ]


def progress_of(body: Mapping[str, Any]) -> Progress:
    """Where an object of ours stands, by kstatus' generic rules (what a member tells its group)."""
    status = body.get("status") or {}
    if status.get("observedGeneration") != body["metadata"].get("generation"):
        return "InProgress"
    conditions = status.get("conditions")
    if status_of(conditions, "Reconciling") == "True":
        return "InProgress"
    if status_of(conditions, "Stalled") == "True":
        return "Failed"
    return "Current"


@dataclass(frozen=True)
class Resolution:
    """A kind whose readiness is "are the names it references there?" (groups, policies)."""

    condition: str
    resolved_reason: str
    broken_reason: str

    def observe(self, problem: str | None, summary: str) -> Observed:
        """The resolution condition: False naming the problem, else True."""
        if problem:
            return Observed(self.condition, "False", self.broken_reason, problem)
        return Observed(self.condition, "True", self.resolved_reason, summary)

    def conclude(self, problem: str | None, summary: str) -> list[Observed]:
        """The resolution condition, Ready, and a stall while the problem lasts.

        A name that refers to nothing is Stalled, not Reconciling: the
        operator can do nothing about it, and it resolves by itself once the
        object named appears (GitOps tools apply in any order).
        """
        resolution = self.observe(problem, summary)
        if problem:
            return [
                resolution,
                Observed("Ready", "False", self.broken_reason, problem),
                *progress("Failed", self.broken_reason, problem),
            ]
        return [
            resolution,
            Observed("Ready", "True", self.condition, summary),
            *progress("Current", self.condition, summary),
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


def condition_of(conditions: Sequence[Mapping[str, Any]] | None, kind: str) -> Mapping[str, Any]:
    """The condition of type ``kind``, or an empty mapping."""
    return next((c for c in conditions or [] if c.get("type") == kind), {})


def status_of(conditions: Sequence[Mapping[str, Any]] | None, kind: str) -> str | None:
    status = condition_of(conditions, kind).get("status")
    return str(status) if status is not None else None


def without_times(conditions: Sequence[dict[str, Any]] | None) -> list[dict[str, Any]]:
    """Conditions minus their timestamps, to tell whether anything really changed."""
    return [{k: v for k, v in c.items() if k != "lastTransitionTime"} for c in conditions or []]

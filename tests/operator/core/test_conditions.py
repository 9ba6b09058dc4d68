"""Condition merging: transition times move only when the status does."""

from __future__ import annotations

import datetime

from mcphub_operator.core.conditions import Observed, merge

EARLY = datetime.datetime(2026, 1, 1, 10, 0, tzinfo=datetime.UTC)
LATE = datetime.datetime(2026, 1, 1, 10, 5, tzinfo=datetime.UTC)


def test_unchanged_status_keeps_its_transition_time_and_reports_no_transition() -> None:
    first, _ = merge(None, [Observed("Ready", "True", "Verified", "ok")], generation=1, now=EARLY)
    second, transitions = merge(
        first, [Observed("Ready", "True", "Verified", "still ok")], generation=2, now=LATE
    )
    assert second[0]["lastTransitionTime"] == "2026-01-01T10:00:00Z"
    assert second[0]["message"] == "still ok"
    assert second[0]["observedGeneration"] == 2
    assert transitions == []


def test_changed_status_moves_the_transition_time_and_reports_old_and_new() -> None:
    first, _ = merge(None, [Observed("Ready", "True", "Verified")], generation=1, now=EARLY)
    second, transitions = merge(
        first, [Observed("Ready", "False", "Unreachable", "gone")], generation=1, now=LATE
    )
    assert second[0]["lastTransitionTime"] == "2026-01-01T10:05:00Z"
    assert [(t.type, t.old, t.new.status, t.new.reason) for t in transitions] == [
        ("Ready", "True", "False", "Unreachable")
    ]


def test_a_new_condition_is_a_transition_from_nothing() -> None:
    _, transitions = merge([], [Observed("Degraded", "False", "Fine")], generation=1, now=EARLY)
    assert [(t.type, t.old) for t in transitions] == [("Degraded", None)]

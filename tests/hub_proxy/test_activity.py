"""The in-memory record of decisions and calls the dashboard reads."""

from __future__ import annotations

from unittest import mock

from hub_proxy.activity import (
    BUCKET_SECONDS,
    WINDOW_SECONDS,
    Activity,
    CallOutcome,
    Event,
    outcome_of,
)
from hub_proxy.auth.policy import Decision, Item
from hub_proxy.auth.principal import Principal
from hub_proxy.transport import jsonrpc

ALICE = Principal("User", "alice")
TOOL = Item("tool", "time", ("get_current_time",))
ALLOWED = Decision(True, "default/p", 0, "matching allow")


def test_the_ring_keeps_the_newest_events_and_tells_listeners() -> None:
    activity = Activity(size=3)
    heard: list[Event] = []
    activity.subscribe(heard.append)
    for _ in range(5):
        activity.decided(ALICE, "call", TOOL, ALLOWED)
    recent = activity.recent()
    assert [event.id for event in recent] == [3, 4, 5]
    assert len(heard) == 5
    assert (recent[0].servers, recent[0].item, recent[0].outcome) == (
        ("time",),
        "get_current_time",
        "allowed",
    )
    activity.unsubscribe(heard.append)
    hidden = Item("tool", "vault", ("secret",))
    activity.listed(ALICE, "tool", [(TOOL, ALLOWED), (hidden, Decision(False, None, None, "no"))])
    assert len(heard) == 5
    listed = activity.recent()[-1]
    # Whoever listed may read the event: it names nothing they may not see.
    assert (listed.servers, listed.detail, listed.hidden) == (("time",), "tools: 1 shown", 1)


def test_calls_are_counted_per_server_over_the_window() -> None:
    activity = Activity()
    with mock.patch("hub_proxy.activity.time.time", return_value=1_000_000.0):
        activity.called(ALICE, "call", TOOL, CallOutcome("ok"), 0.010)
        activity.called(ALICE, "call", TOOL, CallOutcome("error", "down"), 0.030)
        activity.called(ALICE, "call", TOOL, CallOutcome("ok"), 0.020)
        stats = activity.stats("time")
    assert (stats.calls, stats.errors, stats.median_seconds) == (3, 1, 0.020)
    assert stats.per_minute == 3 * 60 / WINDOW_SECONDS
    assert stats.error_ratio == 1 / 3
    later = 1_000_000.0 + WINDOW_SECONDS + BUCKET_SECONDS
    with mock.patch("hub_proxy.activity.time.time", return_value=later):
        assert activity.stats("time").calls == 0
    assert activity.stats("other").error_ratio is None
    activity.forget(["time"])
    assert activity.stats("time").calls == 0


def test_an_answer_says_how_the_call_ended() -> None:
    assert outcome_of(jsonrpc.Result(1, {"content": []})) == CallOutcome("ok")
    failed = jsonrpc.Result(1, {"isError": True, "content": [{"type": "text", "text": "boom"}]})
    assert outcome_of(failed) == CallOutcome("tool error", "boom")
    refused = jsonrpc.Error(1, -32602, "Unknown tool: x" + "!" * 1000)
    outcome = outcome_of(refused)
    assert outcome.outcome == "error"
    assert len(outcome.detail) == 200

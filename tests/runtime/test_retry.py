"""The back-off policy: capped, doubling, and never two replicas in lockstep."""

from __future__ import annotations

from mcphub_runtime.retry import Backoff


def test_delays_double_up_to_the_cap_within_their_upper_half() -> None:
    policy = Backoff(first=1.0, cap=8.0)
    for failures, ceiling in ((1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (10, 8.0)):
        for _ in range(50):
            assert ceiling / 2 <= policy.delay(failures) <= ceiling


def test_replicas_failing_together_retry_apart() -> None:
    policy = Backoff(first=1.0, cap=30.0)
    assert len({policy.delay(3) for _ in range(20)}) == 20


def test_a_bounded_series_is_fresh_on_every_iteration_as_kopf_iterates_it() -> None:
    series = Backoff(first=1.0, cap=5.0).attempts(4)
    first, second = list(series), list(series)
    assert len(series) == len(first) == len(second) == 4
    assert first != second

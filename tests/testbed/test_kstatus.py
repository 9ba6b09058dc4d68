"""The kstatus command of the test bed judges objects as the cli-utils package does."""

from __future__ import annotations

from typing import Any

from tests.testbed.kstatus import compute


def custom_resource(generation: int, observed: int, *conditions: dict[str, str]) -> dict[str, Any]:
    return {
        "apiVersion": "mcphub.dev/v1alpha1",
        "kind": "MCPServer",
        "metadata": {"name": "x", "namespace": "default", "generation": generation},
        "status": {"observedGeneration": observed, "conditions": list(conditions)},
    }


def test_an_unobserved_generation_is_in_progress() -> None:
    result = compute(custom_resource(2, 1))
    assert result.status == "InProgress"
    assert "generation is 2" in result.message


def test_stalled_is_failed_and_reconciling_is_in_progress() -> None:
    stalled = {"type": "Stalled", "status": "True", "reason": "X", "message": "stuck"}
    reconciling = {"type": "Reconciling", "status": "True", "reason": "Y", "message": "busy"}
    assert compute(custom_resource(1, 1, stalled)).status == "Failed"
    assert compute(custom_resource(1, 1, reconciling)).status == "InProgress"


def test_without_abnormal_conditions_ready_decides() -> None:
    ready = {"type": "Ready", "status": "True", "reason": "Z", "message": ""}
    assert compute(custom_resource(1, 1, ready)).status == "Current"
    assert compute(custom_resource(1, 1, {**ready, "status": "False"})).status == "InProgress"

"""LabelSelector.matches: metav1.LabelSelector semantics, shared by the operator and the hub."""

from __future__ import annotations

import pytest

from mcphub_api.meta import LabelSelector

LABELS = {"team": "platform", "tier": "utility"}


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        ({}, True),
        ({"matchLabels": {"team": "platform"}}, True),
        ({"matchLabels": {"team": "data"}}, False),
        (
            {
                "matchExpressions": [
                    {"key": "team", "operator": "In", "values": ["data", "platform"]}
                ]
            },
            True,
        ),
        (
            {"matchExpressions": [{"key": "team", "operator": "NotIn", "values": ["platform"]}]},
            False,
        ),
        ({"matchExpressions": [{"key": "owner", "operator": "NotIn", "values": ["x"]}]}, True),
        ({"matchExpressions": [{"key": "tier", "operator": "Exists"}]}, True),
        ({"matchExpressions": [{"key": "tier", "operator": "DoesNotExist"}]}, False),
        (
            {
                "matchLabels": {"team": "platform"},
                "matchExpressions": [{"key": "owner", "operator": "Exists"}],
            },
            False,
        ),
    ],
)
def test_selector_semantics(selector: dict[str, object], expected: bool) -> None:
    assert LabelSelector.model_validate(selector).matches(LABELS) is expected

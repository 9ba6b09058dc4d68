"""The operator's settings: defaults that let it run beside the hub on one machine."""

from __future__ import annotations

import pytest

from mcphub_operator import config


def test_the_endpoint_defaults_to_loopback_beside_the_hubs_port() -> None:
    settings = config.parse([])
    assert (settings.host, settings.port) == ("127.0.0.1", 8081)


def test_a_pod_sets_the_endpoint_by_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MCPHUB_HOST", "0.0.0.0")
    monkeypatch.setenv("MCPHUB_PORT", "9000")
    settings = config.parse([])
    assert (settings.host, settings.port) == ("0.0.0.0", 9000)

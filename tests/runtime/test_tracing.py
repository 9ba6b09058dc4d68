"""Tracing is off unless the ``OTEL_*`` environment asks for it, and refuses what it cannot do."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from mcphub_runtime import tracing

OTEL_VARIABLES = (
    "OTEL_SDK_DISABLED",
    "OTEL_TRACES_EXPORTER",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    "OTEL_EXPORTER_OTLP_PROTOCOL",
    "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
    "OTEL_SERVICE_NAME",
)


Configure = Callable[[], tracing.Tracing]


@pytest.fixture
def configure(monkeypatch: pytest.MonkeyPatch) -> Iterator[Configure]:
    """:func:`tracing.configure` with no OTEL_* variable but those a test sets; off afterwards."""
    for name in OTEL_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    configured: list[tracing.Tracing] = []

    def configure() -> tracing.Tracing:
        configured.append(tracing.configure("mcphub-test"))
        return configured[-1]

    yield configure
    for done in configured:
        done.shutdown()
    assert tracing.tracer() is None


def test_nothing_said_means_off(configure: Configure) -> None:
    assert not configure().enabled
    assert tracing.tracer() is None


@pytest.mark.parametrize(
    "settings",
    [
        {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"},
        {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://127.0.0.1:4318/v1/traces"},
        {"OTEL_TRACES_EXPORTER": "otlp"},
        {"OTEL_TRACES_EXPORTER": "console"},
    ],
)
def test_an_exporter_or_an_endpoint_turns_it_on(
    configure: Configure, monkeypatch: pytest.MonkeyPatch, settings: dict[str, str]
) -> None:
    for name, value in settings.items():
        monkeypatch.setenv(name, value)
    assert configure().enabled
    assert tracing.tracer() is not None


@pytest.mark.parametrize(
    "settings",
    [
        {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318", "OTEL_SDK_DISABLED": "true"},
        {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318", "OTEL_TRACES_EXPORTER": "none"},
    ],
)
def test_disabled_or_none_wins_over_an_endpoint(
    configure: Configure, monkeypatch: pytest.MonkeyPatch, settings: dict[str, str]
) -> None:
    for name, value in settings.items():
        monkeypatch.setenv(name, value)
    assert not configure().enabled


@pytest.mark.parametrize(
    ("settings", "complaint"),
    [
        ({"OTEL_TRACES_EXPORTER": "zipkin"}, "OTEL_TRACES_EXPORTER='zipkin' is not supported"),
        (
            {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4317", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"},
            "OTEL_EXPORTER_OTLP_PROTOCOL='grpc' is not supported",
        ),
        (
            {
                "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318",
                "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
                "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "http/json",
            },
            "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL='http/json' is not supported",
        ),
    ],
)
def test_what_it_cannot_do_is_refused_saying_what_to_set(
    configure: Configure, monkeypatch: pytest.MonkeyPatch, settings: dict[str, str], complaint: str
) -> None:
    for name, value in settings.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(tracing.TracingConfigError, match=complaint):
        configure()
    assert tracing.tracer() is None

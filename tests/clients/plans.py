"""What a client is to do (:class:`Plan`), and what it saw (:class:`Report`)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, Protocol

Kind = Literal["sdk2", "sdk1", "ts"]
# "modern" is MCP 2026-07-28, which only the SDK 2.x speaks.
Transport = Literal["streamable-http", "sse", "modern"]


@dataclass(frozen=True)
class Plan:
    """What one client does: where it connects, how it answers, which steps it takes.

    ``roots``, ``sampling`` and ``elicitation`` declare the capability when
    set: the roots listed, the text of every sampled reply (the model is
    ``{text}-model``), the content every elicitation is accepted with.  Steps
    are dictionaries: ``{"do": "call", "name", "arguments"}``, ``{"do":
    "subscribe", "uri"}``, ``{"do": "unsubscribe", "uri"}``, ``{"do":
    "roots_changed"}``, ``{"do": "sleep", "seconds"}``, ``{"do": "wait",
    "label"}``; and, for tasks (the SDK 1.x and the TypeScript SDK only),
    ``{"do": "call_task", "name", "arguments"}`` and ``{"do": "get_task" |
    "task_result" | "cancel_task", "task": REF}``, ``{"do": "list_tasks"}``,
    where ``REF`` is ``{"step": N}`` (the task step N created) or ``{"given":
    LABEL}`` (what the test handed over at the ``wait`` step ``LABEL``).
    """

    url: str
    headers: Mapping[str, str]
    steps: Sequence[Mapping[str, Any]]
    transport: Transport = "streamable-http"
    roots: Sequence[Mapping[str, str]] | None = None
    sampling: str | None = None
    elicitation: Mapping[str, Any] | None = None

    def to_json(self) -> str:
        return json.dumps(asdict(self))


@dataclass(frozen=True)
class Report:
    """What a client saw: each step's result, and what the server sent it on its own."""

    results: list[Any]
    notifications: list[dict[str, Any]] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)

    def text(self, step: int) -> str:
        """The text content of a call's result, or its error's message."""
        outcome = self.results[step]
        if "error" in outcome:
            return f"error {outcome['error']['code']}: {outcome['error']['message']}"
        return "\n".join(part.get("text", "") for part in outcome["result"].get("content", []))

    def sent(self, method: str) -> list[dict[str, Any]]:
        """The params of every notification of ``method`` the client received."""
        return [note["params"] for note in self.notifications if note["method"] == method]

    def asked(self, method: str) -> list[dict[str, Any]]:
        """The params of every request of ``method`` the client was asked."""
        return [request["params"] for request in self.requests if request["method"] == method]


class Driven(Protocol):
    """A client running its plan."""

    async def reached(self, label: str) -> Report:
        """Once the client waits at the ``wait`` step ``label``: what it saw so far."""

    def go(self, given: str = "") -> None:
        """Let a client waiting at a ``wait`` step go on, handing it ``given``."""

    async def report(self) -> Report:
        """Wait for the plan to end; what the client saw."""

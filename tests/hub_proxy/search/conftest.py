"""Fixtures of the search tests: the offline model once per session, and small corpora."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from hub_proxy.search.embedding.local import LocalEmbedder
from hub_proxy.search.texts import ToolDocument, ToolKey


@pytest.fixture(scope="session")
async def embedder() -> AsyncIterator[LocalEmbedder]:
    model = LocalEmbedder()
    yield model
    await model.close()


def tool(server: str, name: str, description: str, **parameters: str) -> ToolDocument:
    schema = {
        "type": "object",
        "properties": {p: {"type": "string", "description": d} for p, d in parameters.items()},
    }
    return ToolDocument(ToolKey(server, name), description, None, schema, f"The {server} server")


# Two servers with look-alike tools, and a few that differ: enough to rank.
TOOLS: tuple[ToolDocument, ...] = (
    tool("github", "create_issue", "Create a new issue in a GitHub repository", repo="Repository"),
    tool("github", "list_issues", "List issues in a GitHub repository", repo="Repository"),
    tool("github", "merge_pull_request", "Merge a pull request", number="Pull request number"),
    tool("gitlab", "create_issue", "Create a new issue in a GitLab project", project="Project"),
    tool("gitlab", "list_issues", "List issues in a GitLab project", project="Project"),
    tool("weather", "get_forecast", "Get the weather forecast for a city", city="City name"),
    tool("weather", "get_alerts", "Get severe weather alerts for a US state", state="State"),
    tool("todoist", "complete-tasks", "Complete one or more tasks by their IDs", ids="Task ids"),
    tool("todoist", "add-tasks", "Add tasks to a project", content="Task text"),
    tool("slack", "post_message", "Post a message to a Slack channel", channel="Channel"),
    tool("discord", "send_message", "Send a message to a Discord channel", channel="Channel"),
    tool("time", "get_current_time", "Current time in a timezone", timezone="IANA name"),
)

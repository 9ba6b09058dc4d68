"""What a tool is indexed by, and what a request is embedded as."""

from __future__ import annotations

import dataclasses

from hub_proxy.search.lexical import terms, words
from hub_proxy.search.texts import ToolDocument, ToolKey, intent
from tests.hub_proxy.search.conftest import tool


def test_identifiers_read_as_words() -> None:
    assert words("jira_assign_issue") == ["jira", "assign", "issue"]
    assert words("linear_getProjectMembers") == ["linear", "get", "project", "members"]
    assert words("add-reminders API-move-page") == ["add", "reminders", "api", "move", "page"]
    assert "the" not in terms("list the issues of the repo")


def test_the_text_has_server_name_title_description_and_parameters() -> None:
    document = tool("yahoo-finance", "get_income_statement", "Get the income statement")
    document = dataclasses.replace(
        document,
        title="Income statement",
        input_schema={"properties": {"freq": {"description": "yearly or quarterly"}}},
    )
    text = document.text
    for part in (
        "yahoo finance",
        "get income statement",
        "Income statement",
        "yearly or quarterly",
    ):
        assert part in text
    assert "The yahoo-finance server" in text


def test_the_head_is_what_the_tool_is_and_the_text_begins_with_it() -> None:
    document = dataclasses.replace(
        tool("yahoo-finance", "get_income_statement", "Get the income statement", freq="yearly"),
        title="Income statement",
    )
    text, head = document.views
    assert head == "yahoo finance: get income statement. Income statement. Get the income statement"
    assert text.startswith(head)
    assert "yearly" in text
    assert "The yahoo-finance server" in text


def test_a_changed_description_changes_the_hash_and_nothing_else_does() -> None:
    document = ToolDocument(ToolKey("s", "t"), "does a thing")
    same = ToolDocument(ToolKey("s", "t"), "does a thing")
    assert document.content_hash == same.content_hash
    assert dataclasses.replace(document, description="does another").content_hash != (
        document.content_hash
    )


def test_schemas_that_are_not_objects_are_not_fatal() -> None:
    weird = ToolDocument(ToolKey("s", "t"), "x", input_schema={"properties": ["not", "a", "map"]})
    assert weird.text.startswith("s: t.")


def test_intent_drops_literal_values() -> None:
    assert intent("Mark recA as 'Shipped' in the Airtable") == "Mark recA as in the Airtable"
    assert intent("Give PAY-77 to Priya in Jira") == "Give to Priya in Jira"
    assert intent("Send events to https://hooks.example.com") == "Send events to"
    # Apostrophes inside words are not quotes.
    assert intent("What's in Apple's report") == "What's in Apple's report"
    # A request made only of values is kept as it is.
    assert intent("'PAY-77'") == "'PAY-77'"

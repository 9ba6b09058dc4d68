"""The dashboard's tool search: smart routing's ranking and scores, as ``/mcp/$smart`` gives them.

The hub of :mod:`tests.hub_proxy.dashboard.hub` runs smart routing (every
hub started from the command line does), so its search page must show what
``search_tools`` answers the same principal for the same query, in the same
order with the same scores -- including that a tool its policy hides is
neither shown nor counted.  An engine that cannot answer says why on the
page; a hub built without smart routing matches text plainly, and says so.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp
import pytest
from selenium.webdriver.chrome.webdriver import WebDriver
from selenium.webdriver.common.by import By

from hub_proxy.auth.policy import Item
from hub_proxy.dashboard.search import SubstringSearch
from hub_proxy.dashboard.signin import COOKIE
from hub_proxy.dashboard.view import Offered
from tests.hub_proxy.dashboard.browser import wait_for
from tests.hub_proxy.dashboard.hub import (
    ADMIN_KEY,
    DEV_KEY,
    DashboardHub,
    screenshot,
    search_hits,
    sign_in,
    signed_in,
    smart_search_as,
    write_config,
)
from tests.hub_proxy.test_standalone_hub import start_hub
from tests.testbed.processes import free_port

QUERY = "what time is it now in another timezone"
# The dashboard's limit, and the most /mcp/$smart gives.
LIMIT = 50


def searched(driver: WebDriver, hub: DashboardHub, key: str) -> list[tuple[str, float]]:
    sign_in(driver, hub, key, "/ui/search")
    box = driver.find_element(By.ID, "q")
    box.send_keys(QUERY)
    box.submit()
    answered = "table.hits, p.empty, p.problem"
    wait_for(driver, lambda d: d.find_elements(By.CSS_SELECTOR, answered), "the search's answer")
    return search_hits(driver)


def test_search_ranks_as_smart_routing_does_with_its_scores(
    browser: WebDriver, dashboard_hub: DashboardHub
) -> None:
    smart = dashboard_hub.url("/mcp/$smart")

    async def ranked() -> list[tuple[str, float]]:
        return await smart_search_as(smart, DEV_KEY, QUERY, LIMIT)

    expected = asyncio.run(ranked())
    shown = searched(browser, dashboard_hub, DEV_KEY)
    assert "as /mcp/$smart's search_tools ranks them" in browser.find_element(By.ID, "engine").text
    screenshot(browser, "search")
    # Nothing changed the hub's tools meanwhile, or the comparison would prove nothing.
    assert asyncio.run(ranked()) == expected
    assert [name for name, _ in shown] == [name for name, _ in expected]
    assert [score for _, score in shown] == pytest.approx(
        [score for _, score in expected], abs=1e-4
    )
    assert shown[0][0] == "time__get_current_time", shown
    # The vault serves the same tools as time, and would rank beside them.
    assert not any(name.startswith("vault__") for name, _ in shown), shown


def test_the_tools_a_policy_hides_are_in_the_index_for_those_it_shows_them(
    browser: WebDriver, dashboard_hub: DashboardHub
) -> None:
    # So that their absence for the developers is the policy's doing, not the index's.
    names = [name for name, _ in searched(browser, dashboard_hub, ADMIN_KEY)]
    assert "vault__get_current_time" in names, names


def test_an_engine_that_cannot_answer_says_why_on_the_page(
    browser: WebDriver, tmp_path: Path
) -> None:
    port = free_port()
    closed = f"postgresql://hub@127.0.0.1:{port}/hub"
    hub = start_hub(
        tmp_path,
        lambda folder: write_config(folder, "http://127.0.0.1:9"),
        args=["--database-url", closed],
        open_access=False,
    )
    try:
        sign_in(browser, hub, DEV_KEY, "/ui/search")
        box = browser.find_element(By.ID, "q")
        box.send_keys("current time")
        box.submit()
        problem = wait_for(
            browser, lambda d: d.find_elements(By.CSS_SELECTOR, "p.problem"), "the message"
        )[0]
        assert problem.get_attribute("role") == "alert"
        assert "tool search is unavailable" in problem.text
        assert f"the search database 127.0.0.1:{port}" in problem.text
        assert browser.find_elements(By.CSS_SELECTOR, "table.hits") == []

        async def page() -> tuple[int, str]:
            base = hub.url("")
            async with aiohttp.ClientSession() as http:
                cookie, _ = await signed_in(http, base, DEV_KEY)
                async with http.get(
                    f"{base}/ui/search?q=current+time", headers={"Cookie": f"{COOKIE}={cookie}"}
                ) as response:
                    return response.status, await response.text()

        status, body = asyncio.run(page())
        assert status == 200
        assert "tool search is unavailable" in body
    finally:
        hub.process.stop()


def _tool(server: str, name: str, description: str) -> Offered:
    item = Item("tool", server, (name,))
    return Offered(
        "tool", server, name, f"{server}__{name}", {"name": name, "description": description}, item
    )


def test_without_smart_routing_a_plain_match_ranks_names_first() -> None:
    tools = [
        _tool("clock", "convert", "Convert a time between timezones"),
        _tool("clock", "current_time", "Now, in a timezone"),
        _tool("clock", "echo", "Say it back"),
    ]
    engine = SubstringSearch()
    hits = asyncio.run(engine.search("time", tools))
    assert [hit.tool.hub_name for hit in hits] == ["clock__current_time", "clock__convert"]
    assert 0 < hits[1].score < hits[0].score <= 1
    assert not engine.smart
    assert "smart routing is not enabled" in engine.label

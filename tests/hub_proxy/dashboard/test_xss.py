"""A malicious MCP server cannot run script in the browser of someone using the dashboard.

The ``evil`` server (:mod:`tests.hub_proxy.dashboard.raw_server`) puts markup
that would set ``window.pwned`` or request a loopback canary into every
string it controls: tool names, titles, descriptions, schema property names,
titles, descriptions, enum values and defaults, prompts, resources, progress
messages and every kind of result content.  An administrator -- who sees the
most -- visits every page where those strings appear, tries the tool, and
watches them arrive live in the activity stream; the markup must show as
text, and nothing may run: ``window.pwned`` stays undefined, the canary hears
nothing, and the Content-Security-Policy never even has to refuse something.
"""

from __future__ import annotations

import asyncio

from selenium.webdriver.chrome.webdriver import WebDriver
from selenium.webdriver.common.by import By

from tests.hub_proxy.dashboard.browser import console_errors, wait_for
from tests.hub_proxy.dashboard.hub import (
    ADMIN_KEY,
    DashboardHub,
    activity_row,
    call_as,
    sign_in,
    wait_for_stream,
)

SHOWN_AS_TEXT = "description<script>window.pwned='description script'</script>"


def assert_nothing_ran(driver: WebDriver, hub: DashboardHub, where: str) -> None:
    assert driver.execute_script("return typeof window.pwned") == "undefined", (
        where,
        driver.execute_script("return window.pwned"),
    )
    assert hub.canary.hits == [], where
    refused = [e for e in console_errors(driver) if "Content Security Policy" in e]
    assert refused == [], (where, refused)


def test_an_evil_servers_strings_are_shown_as_text_and_never_run(
    browser: WebDriver, dashboard_hub: DashboardHub
) -> None:
    sign_in(browser, dashboard_hub, ADMIN_KEY, "/ui/servers/evil")
    page = browser.find_element(By.TAG_NAME, "main").text
    assert SHOWN_AS_TEXT in page
    assert "<svg/onload=window.pwned='prompt-svg'>" in page
    assert_nothing_ran(browser, dashboard_hub, "the server page")
    browser.execute_script("document.querySelectorAll('details').forEach(d => d.open = true)")
    assert "field-description<script>" in browser.find_element(By.ID, "tools").text
    assert_nothing_ran(browser, dashboard_hub, "the input schemas")

    links = [
        link.get_attribute("href") or ""
        for link in browser.find_elements(By.CSS_SELECTOR, "#tools h3 a")
    ]
    # The third tool's name holds whitespace: not published, since no call could reach it.
    assert len(links) == 2, links
    assert "uncallable" not in page
    for link in links:
        browser.get(link)
        assert_nothing_ran(browser, dashboard_hub, f"the tool page {link}")
        browser.find_element(By.CSS_SELECTOR, "form[data-try] button[type=submit]").click()
        result = wait_for(
            browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#result .result"), "a result"
        )
        assert "result-text<script>" in result[0].text
        # Neither the SVG "image" nor the one with a forged media type is shown as an image.
        assert browser.find_elements(By.CSS_SELECTOR, "#result img") == []
        assert "javascript:window.pwned" in result[0].text
        assert browser.find_elements(By.CSS_SELECTOR, "#result a") == []
        assert_nothing_ran(browser, dashboard_hub, f"the result of {link}")

    for path in (
        "/ui/",
        "/ui/search?q=evil",
        "/ui/search?q=script",
        "/ui/who-can?kind=APIKey&name=dev",
        "/ui/activity",
    ):
        browser.get(dashboard_hub.url(path))
        assert_nothing_ran(browser, dashboard_hub, path)
    browser.get(dashboard_hub.url("/ui/search?q=script"))
    assert "name<script>" in browser.find_element(By.CSS_SELECTOR, "table.hits").text


def test_evil_names_arriving_live_in_activity_run_nothing(
    browser: WebDriver, dashboard_hub: DashboardHub
) -> None:
    sign_in(browser, dashboard_hub, ADMIN_KEY, "/ui/activity?server=evil")
    wait_for_stream(browser)
    browser.execute_script("window.sameDocument = true")
    asyncio.run(call_as(dashboard_hub.url("/mcp/evil"), ADMIN_KEY, "plain", {}))
    row = activity_row(browser, "plain", "call")
    assert browser.execute_script("return window.sameDocument") is True
    assert "APIKey default/admin" in row.text
    assert_nothing_ran(browser, dashboard_hub, "the live activity rows")

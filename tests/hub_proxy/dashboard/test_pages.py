"""The dashboard in a real browser: sign in, see, search, try, watch, ask, write.

Driven through Debian's Chromium against a real hub (see
:mod:`tests.hub_proxy.dashboard.hub`) in front of real MCP servers.  With
``MCPHUB_SCREENSHOTS=tests/hub_proxy/dashboard/screenshots`` the tests also leave a picture of
each page there (the README's).
"""

from __future__ import annotations

import asyncio
import json
import shlex
import sys
import time

import pytest
from selenium.webdriver.chrome.webdriver import WebDriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from tests.hub_proxy.auth.issuer import AUDIENCE, HS_ISSUER, claims, sign_hs
from tests.hub_proxy.dashboard.browser import axe_violations, console_errors, wait_for
from tests.hub_proxy.dashboard.hub import (
    ADMIN_KEY,
    DEV_KEY,
    RAW_SERVER,
    DashboardHub,
    activity_row,
    call_as,
    list_as,
    raw_server,
    screenshot,
    server_rows,
    sign_in,
    wait_for_stream,
)
from tests.hub_proxy.dashboard.oidc_provider import USER

SERIOUS = frozenset({"serious", "critical"})


def test_a_developer_signs_in_with_an_api_key_and_sees_the_servers_policies_allow(
    browser: WebDriver, dashboard_hub: DashboardHub
) -> None:
    sign_in(browser, dashboard_hub, DEV_KEY)
    rows = wait_for(browser, server_rows, "the servers table")
    assert {"time", "everything", "shapes", "evil"} <= set(rows)
    # Hidden, not greyed out: nowhere on the page, not even as a name.
    assert "vault" not in rows
    assert "vault" not in browser.page_source
    assert "APIKey default/dev" in browser.find_element(By.CSS_SELECTOR, ".principal").text
    group = browser.find_element(By.CSS_SELECTOR, "table.groups").text
    assert "basics" in group
    assert "/mcp/basics" in group
    screenshot(browser, "overview")


def test_an_administrator_sees_every_server(
    browser: WebDriver, dashboard_hub: DashboardHub
) -> None:
    sign_in(browser, dashboard_hub, ADMIN_KEY)
    rows = wait_for(browser, server_rows, "the servers table")
    assert "vault" in rows
    assert "administrator" in browser.find_element(By.CSS_SELECTOR, ".principal").text


def test_a_wrong_key_is_refused_and_nothing_is_shown(
    browser: WebDriver, dashboard_hub: DashboardHub
) -> None:
    sign_in_page = dashboard_hub.url("/ui/login")
    browser.delete_all_cookies()
    browser.get(dashboard_hub.url("/ui/"))
    wait_for(browser, lambda d: d.current_url.startswith(sign_in_page), "the sign-in page")
    field = browser.find_element(By.ID, "credential")
    field.send_keys("not-a-key-of-this-hub")
    field.submit()
    problem = wait_for(browser, lambda d: d.find_elements(By.CSS_SELECTOR, ".problem"), "a refusal")
    assert "Not signed in" in problem[0].text
    browser.get(dashboard_hub.url("/ui/servers/time"))
    assert browser.current_url.startswith(sign_in_page)
    screenshot(browser, "sign-in")


def test_a_hidden_server_is_answered_as_one_that_does_not_exist(
    browser: WebDriver, dashboard_hub: DashboardHub
) -> None:
    sign_in(browser, dashboard_hub, DEV_KEY)
    browser.get(dashboard_hub.url("/ui/servers/vault"))
    hidden = browser.find_element(By.TAG_NAME, "main").text
    browser.get(dashboard_hub.url("/ui/servers/no-such-server"))
    assert browser.find_element(By.TAG_NAME, "main").text == hidden
    assert "No such server" in hidden
    # Nor does asking about oneself reveal it, nor one's own lists in the activity.
    browser.get(dashboard_hub.url("/ui/who-can"))
    assert "vault" not in browser.find_element(By.TAG_NAME, "main").text
    asyncio.run(list_as(dashboard_hub.url("/mcp"), DEV_KEY))
    browser.get(dashboard_hub.url("/ui/activity?kind=list"))
    listed = browser.find_element(By.ID, "activity-rows").text
    assert "tools: " in listed
    assert "vault" not in listed
    assert "hidden" not in listed


def fill(driver: WebDriver, label: str, value: str) -> None:
    field = driver.find_element(By.XPATH, f"//label[starts-with(normalize-space(), '{label}')]")
    target = driver.find_element(By.ID, field.get_attribute("for") or "")
    target.clear()
    target.send_keys(value)


def test_a_tool_is_called_with_the_form_made_from_its_schema(
    browser: WebDriver, dashboard_hub: DashboardHub
) -> None:
    sign_in(browser, dashboard_hub, DEV_KEY, "/ui/servers/shapes/tool?name=shape")
    fill(browser, "Some text", "hello <b>world</b>")
    fill(browser, "count", "3")
    Select(
        browser.find_element(
            By.XPATH, "//label[starts-with(normalize-space(), 'colour')]/following-sibling::select"
        )
    ).select_by_visible_text("blue")
    fill(browser, "tags", "a\nb")
    fill(browser, "city", "Paris")
    fill(browser, "floor", "2")
    # The browser itself enforces what the schema requires.
    assert browser.find_element(
        By.XPATH, "//label[starts-with(normalize-space(), 'count')]"
    ).text.endswith("(required)")
    browser.find_element(By.CSS_SELECTOR, "form[data-try] button[type=submit]").click()
    result = wait_for(
        browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#result .content-text"), "the result"
    )
    assert json.loads(result[0].text) == {
        "colour": "blue",
        "count": 3,
        "ratio": 0.5,
        "tags": ["a", "b"],
        "text": "hello <b>world</b>",
        "where": {"city": "Paris", "floor": 2},
    }
    assert browser.find_elements(By.CSS_SELECTOR, "#result img.content-image")
    assert "memo://shape" in browser.find_element(By.CSS_SELECTOR, "#result .content-resource").text
    assert "memo://elsewhere" in browser.find_element(By.CSS_SELECTOR, "#result .content-link").text
    # Both progress notifications reached the page while the call ran.
    bar = browser.find_element(By.ID, "call-progress")
    assert (bar.get_attribute("value"), bar.get_attribute("max")) == ("2", "2")
    browser.execute_script("window.scrollTo(0, 0)")
    screenshot(browser, "try-a-tool")


def test_a_tool_that_fails_is_shown_as_an_error(
    browser: WebDriver, dashboard_hub: DashboardHub
) -> None:
    sign_in(browser, dashboard_hub, DEV_KEY, "/ui/servers/shapes/tool?name=fails")
    browser.find_element(By.CSS_SELECTOR, "form[data-try] button[type=submit]").click()
    failed = wait_for(
        browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#result .result.failed"), "an error"
    )
    assert "this tool always fails" in failed[0].text


def test_a_server_added_to_the_folder_appears_without_a_reload(
    browser: WebDriver, dashboard_hub: DashboardHub
) -> None:
    sign_in(browser, dashboard_hub, DEV_KEY)
    wait_for_stream(browser)
    browser.execute_script("window.sameDocument = true")
    added = dashboard_hub.folder / "added-live.yaml"
    added.write_text(raw_server("added-live", "shapes", dashboard_hub.canary.url))
    try:
        wait_for(browser, lambda d: "added-live" in server_rows(d), "the new server's row")
        assert browser.execute_script("return window.sameDocument") is True
    finally:
        added.unlink()
    wait_for(browser, lambda d: "added-live" not in server_rows(d), "the row to go")


def test_a_call_through_mcp_appears_in_activity_as_it_happens(
    browser: WebDriver, dashboard_hub: DashboardHub
) -> None:
    sign_in(browser, dashboard_hub, DEV_KEY, "/ui/activity?kind=call")
    wait_for_stream(browser)
    asyncio.run(
        call_as(dashboard_hub.url("/mcp"), DEV_KEY, "time__get_current_time", {"timezone": "UTC"})
    )
    row = activity_row(browser, "get_current_time")
    assert "APIKey default/dev" in row.text
    assert "ok" in row.find_element(By.CSS_SELECTOR, ".outcome").text
    # The server's page lists it among its recent calls, and counts it.
    browser.get(dashboard_hub.url("/ui/servers/time"))
    calls = browser.find_element(By.ID, "calls").text
    assert "get_current_time" in calls
    screenshot(browser, "server")
    browser.get(dashboard_hub.url("/ui/activity"))
    screenshot(browser, "activity")


def test_an_administrator_asks_who_can_and_sees_the_deciding_policy(
    browser: WebDriver, dashboard_hub: DashboardHub
) -> None:
    sign_in(browser, dashboard_hub, ADMIN_KEY, "/ui/who-can")
    Select(browser.find_element(By.ID, "kind")).select_by_visible_text("APIKey")
    browser.find_element(By.ID, "name").send_keys("dev")
    browser.find_element(By.CSS_SELECTOR, "form.who-can button").click()
    rows = wait_for(
        browser, lambda d: d.find_elements(By.CSS_SELECTOR, "table.verdicts tbody tr"), "verdicts"
    )
    by_name = {
        (cells[0].text, cells[2].text): cells
        for cells in (row.find_elements(By.TAG_NAME, "td") for row in rows)
    }
    get_env = by_name["everything", "get-env"]
    assert get_env[3].text == "no"
    assert "default/developers rule 1" in get_env[5].text
    echo = by_name["everything", "echo"]
    assert (echo[3].text, echo[4].text) == ("yes", "call: yes")
    assert "default/developers rule 0" in echo[5].text
    clock = by_name["vault", "get_current_time"]
    assert clock[3].text == "no"
    assert "no policy" in clock[5].text
    screenshot(browser, "who-can")


def test_an_administrator_adds_edits_and_removes_a_server_in_the_folder(
    browser: WebDriver, dashboard_hub: DashboardHub
) -> None:
    sign_in(browser, dashboard_hub, ADMIN_KEY, "/ui/config/new")
    browser.find_element(By.ID, "s-name").send_keys("clock")
    browser.find_element(By.ID, "s-command").send_keys("mcp-server-time --local-timezone=UTC")
    browser.find_element(By.CSS_SELECTOR, "button[value=validate]").click()
    shown = wait_for(browser, lambda d: d.find_elements(By.ID, "new-yaml"), "the YAML")
    assert "args:\n    - --local-timezone=UTC" in shown[0].text
    screenshot(browser, "new-server")
    for field in ("s-name", "s-command"):
        browser.find_element(By.ID, field).clear()
    browser.find_element(By.ID, "s-name").send_keys("added-form")
    argv = [sys.executable, str(RAW_SERVER), "shapes", dashboard_hub.canary.url]
    browser.find_element(By.ID, "s-command").send_keys(shlex.join(argv))
    browser.find_element(By.CSS_SELECTOR, "button[value=validate]").click()
    wait_for(browser, lambda d: "added-form" in d.find_element(By.ID, "new-yaml").text, "YAML")
    browser.find_element(By.CSS_SELECTOR, "button[value=save]").click()
    wait_for(browser, lambda d: d.find_elements(By.CSS_SELECTOR, ".notice"), "the saved notice")
    written = dashboard_hub.folder / "added-form.yaml"
    assert "name: added-form" in written.read_text()
    browser.get(dashboard_hub.url("/ui/"))
    wait_for(browser, lambda d: "added-form" in server_rows(d), "the added server")
    browser.get(dashboard_hub.url("/ui/servers/added-form/edit"))
    area = browser.find_element(By.ID, "yaml")
    text = area.get_attribute("value") or ""
    area.clear()
    area.send_keys(text.rstrip() + "\n  tools: {exclude: [fails]}\n")
    browser.find_element(By.CSS_SELECTOR, "form.stack button[type=submit]").click()
    wait_for(
        browser,
        lambda d: "/ui/servers/added-form" in d.current_url and "edit" not in d.current_url,
        "the server page",
    )
    assert "exclude" in written.read_text()

    def reloaded_without_fails(driver: WebDriver) -> bool:
        driver.refresh()
        return "fails" not in driver.find_element(By.ID, "tools").text

    wait_for(browser, reloaded_without_fails, "the excluded tool to go")
    browser.get(dashboard_hub.url("/ui/servers/added-form/edit"))
    browser.find_element(By.CSS_SELECTOR, "form.danger button").click()
    wait_for(browser, lambda d: not written.exists(), "the file to be removed")
    wait_for(browser, lambda d: "added-form" not in server_rows(d), "the server to go")


def test_an_invalid_server_is_refused_with_what_to_fix(
    browser: WebDriver, dashboard_hub: DashboardHub
) -> None:
    sign_in(browser, dashboard_hub, ADMIN_KEY, "/ui/config/new")
    browser.find_element(By.ID, "s-name").send_keys("Not_A_Name")
    browser.find_element(By.ID, "runs-remote").click()
    browser.find_element(By.CSS_SELECTOR, "button[value=save]").click()
    problem = wait_for(browser, lambda d: d.find_elements(By.CSS_SELECTOR, ".problem"), "problems")
    assert "metadata.name" in problem[0].text
    assert not list(dashboard_hub.folder.glob("Not_A_Name*"))


def test_a_bearer_token_signs_in_as_its_user(
    browser: WebDriver, dashboard_hub: DashboardHub
) -> None:
    token = sign_hs(
        claims(HS_ISSUER, AUDIENCE, sub="alice", groups=["dev"], exp=int(time.time()) + 600)
    )
    sign_in(browser, dashboard_hub, token)
    assert "User hs:alice" in browser.find_element(By.CSS_SELECTOR, ".principal").text
    assert "evil" in wait_for(browser, server_rows, "the servers")


def test_openid_connect_signs_in_with_pkce(browser: WebDriver, dashboard_hub: DashboardHub) -> None:
    browser.delete_all_cookies()
    given = dashboard_hub.provider.tokens_given
    browser.get(dashboard_hub.url("/ui/login?next=/ui/activity"))
    browser.find_element(By.ID, "oidc-sign-in").click()
    wait_for(browser, lambda d: d.current_url.endswith("/ui/activity"), "the way back")
    assert f"User oidc:{USER}" in browser.find_element(By.CSS_SELECTOR, ".principal").text
    assert dashboard_hub.provider.tokens_given == given + 1
    assert dashboard_hub.provider.refusals == []


@pytest.mark.parametrize(
    "path",
    [
        "/ui/",
        "/ui/servers/everything",
        "/ui/servers/shapes/tool?name=shape",
        "/ui/search?q=time",
        "/ui/who-can?kind=APIKey&name=dev",
        "/ui/activity",
        "/ui/config/new",
    ],
)
def test_axe_finds_no_serious_accessibility_violations(
    browser: WebDriver, dashboard_hub: DashboardHub, path: str
) -> None:
    sign_in(browser, dashboard_hub, ADMIN_KEY, path)
    violations = axe_violations(browser, SERIOUS)
    assert violations == [], [
        (v["id"], v["help"], [n.get("target") for n in v["nodes"]][:3]) for v in violations
    ]
    assert [e for e in console_errors(browser) if "Content Security Policy" in e] == []


def test_the_sign_in_page_has_no_serious_accessibility_violations(
    browser: WebDriver, dashboard_hub: DashboardHub
) -> None:
    browser.delete_all_cookies()
    browser.get(dashboard_hub.url("/ui/login"))
    assert axe_violations(browser, SERIOUS) == []

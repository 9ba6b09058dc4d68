"""Debian's Chromium, driven through chromedriver by Selenium, for the dashboard's tests.

The browser is the one the test bed installs with apt (``/usr/bin/chromium``
and its ``chromedriver``), started headless with a fresh profile and nothing
that reaches beyond loopback (no component updates, sync, QUIC or background
networking); Selenium is given both paths, so it never looks for or
downloads a driver.  axe-core comes from the test bed's npm packages and is
injected into the page under test through the driver, which the page's
Content-Security-Policy does not govern.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Final, TypeVar

from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.chrome.webdriver import WebDriver
from selenium.webdriver.support.wait import WebDriverWait

from tests.testbed.errors import TestbedError
from tests.testbed.install import CHROMEDRIVER, CHROMIUM, node_package_entry

FLAGS: Final = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    # A laptop's screen.
    "--window-size=1366,768",
)
WAIT_SECONDS: Final = 20.0
PAGE_LOAD_SECONDS: Final = 30.0
T = TypeVar("T")


@contextmanager
def running_browser(profile: Path) -> Iterator[WebDriver]:
    """Chromium with a fresh profile in ``profile``, quit when the block ends."""
    for needed in (CHROMIUM, CHROMEDRIVER):
        if not needed.exists():
            raise TestbedError(
                f"{needed} is missing: run `python -m tests.testbed.install` as root, which "
                "installs Debian's chromium and chromium-driver"
            )
    profile.mkdir(parents=True, exist_ok=True)
    options = Options()
    options.binary_location = str(CHROMIUM)
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    # Selenium Manager would look for a driver online; both paths are given, so it must not run.
    os.environ["SE_OFFLINE"] = "true"
    service = Service(executable_path=str(CHROMEDRIVER), log_output=str(profile / "driver.log"))
    driver = webdriver.Chrome(options=options, service=service)
    driver.set_page_load_timeout(PAGE_LOAD_SECONDS)
    try:
        yield driver
    finally:
        driver.quit()


def wait_for(driver: WebDriver, condition: Callable[[WebDriver], T], what: str) -> T:
    """``condition``'s first truthy answer, or a failure that says what never happened.

    An element the condition read may be replaced by a navigation or a live
    update while it reads it: that answer is no answer, and the next poll asks again.
    """
    wait = WebDriverWait(
        driver,
        WAIT_SECONDS,
        poll_frequency=0.1,
        ignored_exceptions=(StaleElementReferenceException,),
    )
    return wait.until(condition, message=f"waited {WAIT_SECONDS:g} s for {what}")


def axe_violations(driver: WebDriver, impacts: frozenset[str]) -> list[dict[str, Any]]:
    """axe-core's violations of the page as it is, of the given impacts."""
    source = node_package_entry("axe-core", "axe.min.js")
    if not source.exists():
        raise TestbedError(f"{source} is missing: run `python -m tests.testbed.install`")
    driver.execute_script(source.read_text())
    found: list[dict[str, Any]] = driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "axe.run(document, {resultTypes: ['violations']})"
        ".then(r => done(r.violations), e => done([{id: 'axe failed', impact: 'critical',"
        " help: String(e), nodes: []}]));"
    )
    return [violation for violation in found if violation.get("impact") in impacts]


def console_errors(driver: WebDriver) -> list[str]:
    """The browser console's errors since the last call (CSP violations among them)."""
    entries: list[dict[str, Any]] = driver.get_log("browser")  # type: ignore[no-untyped-call]
    return [entry["message"] for entry in entries if entry.get("level") == "SEVERE"]

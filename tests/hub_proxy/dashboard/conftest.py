"""Fixtures of the dashboard's browser tests: one hub, one OIDC provider, one browser."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from selenium.webdriver.chrome.webdriver import WebDriver

from tests.hub_proxy.dashboard.browser import running_browser
from tests.hub_proxy.dashboard.hub import DashboardHub, running_dashboard_hub
from tests.hub_proxy.dashboard.oidc_provider import Provider, serving_provider


@pytest.fixture(scope="package")
def provider() -> Iterator[Provider]:
    with serving_provider() as served:
        yield served


@pytest.fixture(scope="package")
def dashboard_hub(
    tmp_path_factory: pytest.TempPathFactory, provider: Provider
) -> Iterator[DashboardHub]:
    with running_dashboard_hub(tmp_path_factory.mktemp("dashboard-hub"), provider) as hub:
        yield hub


@pytest.fixture(scope="package")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebDriver]:
    with running_browser(tmp_path_factory.mktemp("chromium")) as driver:
        yield driver

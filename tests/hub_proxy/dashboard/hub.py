"""The hub the dashboard's browser tests drive, and how a test signs in to it.

One hub serves every browser test of the package: starting ``server-everything``
and ``mcp-server-time`` costs seconds, and the tests only read its state or
change what they themselves add.  It serves

* ``time`` and ``everything`` (the reference servers), in group ``basics``;
* ``shapes``: a tool with every schema shape the form handles (see
  :mod:`tests.hub_proxy.dashboard.raw_server`);
* ``evil``: the attacker's server, whose every string carries script;
* ``vault``: another ``mcp-server-time``, which the developers' policy does
  not name, so it must be absent from their dashboard.

Like every hub started from the command line it runs smart routing, whose
index is built (by a first search) before any test runs, so that the
dashboard's search pages rank with it rather than say it is still building.

Two API keys: ``admin`` (a dashboard administrator, allowed everything) and
``dev`` (allowed every server but the vault, and denied ``everything``'s
``get-env``).  Bearer JWTs (HS256) and an OpenID Connect provider sign people
in too; the ``dev`` group has the developers' grants.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.cookies import SimpleCookie
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Final

import aiohttp
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client
from selenium.webdriver.chrome.webdriver import WebDriver
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webelement import WebElement

from hub_proxy.dashboard.signin import COOKIE
from tests.hub_proxy.auth.issuer import AUDIENCE, HS_ISSUER, SECRET
from tests.hub_proxy.bridge_process import command_of, only_text, until
from tests.hub_proxy.dashboard.browser import wait_for
from tests.hub_proxy.dashboard.oidc_provider import CLIENT_ID, Provider
from tests.hub_proxy.test_access_control import key_secret
from tests.hub_proxy.test_standalone_hub import Hub, connected, server_yaml, start_hub
from tests.testbed.mcp_servers import everything_stdio, time_stdio

ADMIN_KEY: Final = "dashboard-admin-key-0123456789abcdef"
DEV_KEY: Final = "dashboard-dev-key-0123456789abcdef"
RAW_SERVER: Final = Path(__file__).with_name("raw_server.py")
# Smart routing indexes on first use: the hub's servers' tools, embedded once.
INDEXED_SECONDS: Final = 300.0

POLICIES: Final = """\
apiVersion: mcphub.dev/v1alpha1
kind: AccessPolicy
metadata: {name: admins}
spec:
  subjects: [{kind: APIKey, name: admin}]
  rules: [{servers: ["*"], groups: ["*"], actions: [list, call, read, get]}]
---
apiVersion: mcphub.dev/v1alpha1
kind: AccessPolicy
metadata: {name: developers}
spec:
  subjects:
    - {kind: APIKey, name: dev}
    - {kind: Group, name: "hs:dev"}
    - {kind: Group, name: "oidc:dev"}
  rules:
    - servers: [time, everything, evil, shapes, "added-*"]
      groups: [basics]
      actions: [list, call, read, get]
    - effect: deny
      servers: [everything]
      tools: [get-env]
      actions: [list, call]
"""

GROUP: Final = """\
apiVersion: mcphub.dev/v1alpha1
kind: MCPGroup
metadata: {name: basics}
spec:
  servers: [{name: time}, {name: everything}]
"""


def raw_server(name: str, character: str, canary: str) -> str:
    return server_yaml(name, [sys.executable, str(RAW_SERVER), character, canary])


def write_config(folder: Path, canary: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    time_command = command_of(time_stdio())
    (folder / "time.yaml").write_text(server_yaml("time", time_command))
    (folder / "vault.yaml").write_text(server_yaml("vault", time_command))
    (folder / "everything.yaml").write_text(
        server_yaml("everything", command_of(everything_stdio()))
    )
    (folder / "shapes.yaml").write_text(raw_server("shapes", "shapes", canary))
    (folder / "evil.yaml").write_text(raw_server("evil", "evil", canary))
    (folder / "group.yaml").write_text(GROUP)
    (folder / "policies.yaml").write_text(POLICIES)
    (folder / "keys.yaml").write_text(
        "---\n".join(
            [key_secret("admin", "default", ADMIN_KEY), key_secret("dev", "default", DEV_KEY)]
        )
    )
    return folder


@dataclass(frozen=True)
class DashboardHub:
    hub: Hub
    folder: Path
    provider: Provider
    canary: Canary

    def url(self, path: str = "/ui/") -> str:
        return self.hub.url(path)

    @property
    def base(self) -> str:
        return self.hub.url("")


class Canary:
    """A loopback HTTP server that counts the requests script in the evil payloads would make."""

    def __init__(self) -> None:
        self.hits: list[str] = []
        canary = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                canary.hits.append(self.path)
                self.send_response(204)
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"

    @contextmanager
    def serving(self) -> Iterator[Canary]:
        thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self._server.shutdown()
            self._server.server_close()


@contextmanager
def running_dashboard_hub(tmp: Path, provider: Provider) -> Iterator[DashboardHub]:
    with Canary().serving() as canary:
        secret = tmp / "hs256.secret"
        secret.write_bytes(SECRET)
        session_key = tmp / "session.key"
        session_key.write_bytes(b"d" * 32)
        args = [
            "--audience",
            AUDIENCE,
            "--hs256",
            f"{HS_ISSUER}={secret}",
            "--oidc-issuer",
            provider.url,
            # Two issuers: each names its own users and groups.
            "--username-prefix",
            f"{HS_ISSUER}=hs:",
            "--groups-prefix",
            f"{HS_ISSUER}=hs:",
            "--username-prefix",
            f"{provider.url}=oidc:",
            "--groups-prefix",
            f"{provider.url}=oidc:",
            "--ui-oidc-client-id",
            CLIENT_ID,
            "--ui-admin",
            "APIKey:default/admin",
            "--ui-write",
            "--session-key",
            str(session_key),
        ]
        hub = start_hub(
            tmp, lambda folder: write_config(folder, canary.url), args=args, open_access=False
        )
        try:
            # Started now, so that every search page has the index to answer from.
            asyncio.run(
                until(
                    lambda: smart_search_as(hub.url("/mcp/$smart"), ADMIN_KEY, "time", 1),
                    within=INDEXED_SECONDS,
                    what="the search index",
                    every=1,
                )
            )
            yield DashboardHub(hub, tmp / "config", provider, canary)
        finally:
            hub.process.stop()


def sign_in(
    driver: WebDriver, hub: DashboardHub | Hub, credential: str, path: str = "/ui/"
) -> None:
    """Sign in with an API key or bearer token through the sign-in form; land on ``path``."""
    driver.delete_all_cookies()
    driver.get(hub.url(f"/ui/login?next={path}"))
    field = driver.find_element(By.ID, "credential")
    field.send_keys(credential)
    field.submit()
    wait_for(driver, lambda d: "/ui/login" not in d.current_url, "the sign-in to finish")


def screenshot(driver: WebDriver, name: str) -> None:
    """Keep a picture of the page, when ``MCPHUB_SCREENSHOTS`` names a folder for them.

    The README's pictures are taken this way:
    ``MCPHUB_SCREENSHOTS=tests/hub_proxy/dashboard/screenshots``.
    """
    folder = os.environ.get("MCPHUB_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(Path(folder) / f"{name}.png"))


def server_rows(driver: WebDriver) -> list[str]:
    # In one script: a live update may replace the rows between two WebDriver calls.
    rows: list[str] = driver.execute_script(
        "return [...document.querySelectorAll('tr[data-server]')].map(r => r.dataset.server)"
    )
    return rows


async def call_as(url: str, key: str, tool: str, arguments: dict[str, Any]) -> None:
    http = create_mcp_http_client(headers={"X-API-Key": key})
    async with Client(streamable_http_client(url, http_client=http), mode="legacy") as client:
        await client.call_tool(tool, arguments)


async def list_as(url: str, key: str) -> None:
    http = create_mcp_http_client(headers={"X-API-Key": key})
    async with Client(streamable_http_client(url, http_client=http), mode="legacy") as client:
        await client.list_tools()


async def smart_search_as(url: str, key: str, query: str, limit: int) -> list[tuple[str, float]]:
    """What ``/mcp/$smart``'s search_tools at ``url`` finds for ``key``: names and scores."""
    async with connected(url, {"X-API-Key": key}) as client:
        result = await client.call_tool("search_tools", {"query": query, "limit": limit})
    assert not result.is_error, only_text(result.content)
    found = json.loads(only_text(result.content))
    return [(tool["name"], tool["score"]) for tool in found["tools"]]


def search_hits(driver: WebDriver) -> list[tuple[str, float]]:
    """The search page's hits, best first: each tool's name at ``/mcp`` and its score."""
    # In one script, as server_rows: the rows are read as one page showed them.
    rows: list[list[str]] = driver.execute_script(
        "return [...document.querySelectorAll('table.hits tr[data-tool]')]"
        ".map(r => [r.dataset.tool, r.querySelector('td.num').textContent])"
    )
    return [(name, float(score)) for name, score in rows]


def wait_for_stream(driver: WebDriver) -> None:
    """Until the page's script has its server-sent events stream open."""
    wait_for(
        driver, lambda d: d.execute_script("return document.body.dataset.events"), "the stream"
    )


def activity_row(driver: WebDriver, *texts: str) -> WebElement:
    """The first row of the activity table that shows every one of ``texts``, once it does."""

    def found(d: WebDriver) -> list[WebElement]:
        rows = d.find_elements(By.CSS_SELECTOR, "#activity-rows tr")
        return [row for row in rows if all(text in row.text for text in texts)]

    return wait_for(driver, found, f"an activity row with {texts}")[0]


def cookie_of(response: aiohttp.ClientResponse) -> str:
    jar = SimpleCookie()
    for header in response.headers.getall("Set-Cookie", []):
        jar.load(header)
    return jar[COOKIE].value


async def signed_in(http: aiohttp.ClientSession, base: str, key: str) -> tuple[str, str]:
    """The cookie and CSRF token of a session signed in with ``key`` at the hub at ``base``."""
    async with http.get(f"{base}/ui/login", allow_redirects=False) as page:
        cookie = cookie_of(page)
        token = re.search(r'name="csrf" value="([^"]+)"', await page.text())
    assert token is not None
    form = {"csrf": token[1], "credential": key, "next": "/ui/"}
    async with http.post(
        f"{base}/ui/login",
        data=form,
        headers={"Cookie": f"{COOKIE}={cookie}"},
        allow_redirects=False,
    ) as done:
        assert done.status == 303, await done.text()
        cookie = cookie_of(done)
    async with http.get(f"{base}/ui/", headers={"Cookie": f"{COOKIE}={cookie}"}) as page:
        token = re.search(r'name="csrf-token" content="([^"]+)"', await page.text())
    assert token is not None
    return cookie, token[1]

"""Sign-in, its cookie and CSRF protection, over plain HTTP against the dashboard's hub."""

from __future__ import annotations

import re

import aiohttp
import pytest

from hub_proxy.dashboard.pages import CONTENT_SECURITY_POLICY
from hub_proxy.dashboard.signin import COOKIE, Sealer
from tests.hub_proxy.dashboard.hub import ADMIN_KEY, DEV_KEY, DashboardHub, signed_in


async def test_pages_carry_a_strict_content_security_policy(dashboard_hub: DashboardHub) -> None:
    assert "unsafe-inline" not in CONTENT_SECURITY_POLICY
    assert "unsafe-eval" not in CONTENT_SECURITY_POLICY
    async with aiohttp.ClientSession() as http:
        cookie, _ = await signed_in(http, dashboard_hub.base, DEV_KEY)
        for path in ("/ui/login", "/ui/", "/ui/servers/time", "/ui/static/dashboard.js"):
            async with http.get(
                dashboard_hub.url(path), headers={"Cookie": f"{COOKIE}={cookie}"}
            ) as page:
                assert page.status == 200, path
                assert page.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
                assert page.headers["X-Content-Type-Options"] == "nosniff"
                assert page.headers["X-Frame-Options"] == "DENY"
                body = await page.text()
                if path.endswith(".js"):
                    assert page.content_type in ("text/javascript", "application/javascript")
                else:
                    # No inline script, no inline style, no inline handler.
                    assert re.search(r"<script(?![^>]*\bsrc=)", body) is None
                    assert re.search(r"\son[a-z]+=", body) is None
                    assert "style=" not in body


async def test_the_cookie_is_sealed_secure_httponly_and_same_site(
    dashboard_hub: DashboardHub,
) -> None:
    async with (
        aiohttp.ClientSession() as http,
        http.get(dashboard_hub.url("/ui/login"), allow_redirects=False) as page,
    ):
        header = next(h for h in page.headers.getall("Set-Cookie") if h.startswith(COOKIE))
    attributes = {part.strip().split("=")[0].lower() for part in header.split(";")[1:]}
    assert {"httponly", "secure", "samesite", "path"} <= attributes
    assert "domain" not in attributes
    assert "SameSite=Lax" in header
    assert "Path=/;" in header or header.endswith("Path=/")
    # The API key never appears in the clear.
    async with aiohttp.ClientSession() as http:
        cookie, _ = await signed_in(http, dashboard_hub.base, DEV_KEY)
    assert DEV_KEY not in cookie


@pytest.mark.parametrize(
    "headers",
    [{}, {"X-CSRF-Token": "guessed"}, {"Sec-Fetch-Site": "cross-site", "X-CSRF-Token": None}],
)
async def test_a_state_change_without_the_csrf_token_is_refused(
    dashboard_hub: DashboardHub, headers: dict[str, str | None]
) -> None:
    async with aiohttp.ClientSession() as http:
        cookie, token = await signed_in(http, dashboard_hub.base, ADMIN_KEY)
        sent = {"Cookie": f"{COOKIE}={cookie}"}
        sent.update({name: value or token for name, value in headers.items()})
        async with http.post(
            dashboard_hub.url("/ui/config/new"),
            data={"name": "csrf-made", "command": "x", "action": "save"},
            headers=sent,
        ) as refused:
            assert refused.status == 403
        async with http.post(
            dashboard_hub.url("/ui/servers/time/tool?name=get_current_time"),
            data={"arg.0": "UTC"},
            headers=sent,
        ) as refused:
            assert refused.status == 403
    assert not (dashboard_hub.folder / "csrf-made.yaml").exists()


async def test_the_sign_in_form_itself_needs_its_token(dashboard_hub: DashboardHub) -> None:
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            dashboard_hub.url("/ui/login"), data={"credential": DEV_KEY}, allow_redirects=False
        ) as refused,
    ):
        assert refused.status == 403
        assert "The sign-in form expired" in await refused.text()


async def test_a_forged_or_foreign_cookie_signs_nobody_in(dashboard_hub: DashboardHub) -> None:
    foreign = Sealer(b"x" * 32).seal({"credential": ADMIN_KEY, "csrf": "t"})
    async with aiohttp.ClientSession() as http:
        for cookie in (foreign, "garbage", ""):
            async with http.get(
                dashboard_hub.url("/ui/"),
                headers={"Cookie": f"{COOKIE}={cookie}"},
                allow_redirects=False,
            ) as page:
                assert page.status == 303
                assert page.headers["Location"].startswith("/ui/login")
        async with http.get(
            dashboard_hub.url("/ui/events"), headers={"Accept": "text/event-stream"}
        ) as stream:
            assert stream.status == 401


def test_a_sealed_value_opens_only_with_its_key_and_within_its_age() -> None:
    sealer = Sealer(b"k" * 32)
    sealed = sealer.seal({"credential": "c", "csrf": "t"})
    assert sealer.open(sealed, 60) == {"credential": "c", "csrf": "t"}
    assert Sealer(b"j" * 32).open(sealed, 60) is None
    assert sealer.open(sealed[:-2] + "AA", 60) is None
    assert sealer.open(sealed, -1) is None

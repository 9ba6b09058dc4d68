"""The live event stream: nothing recorded between a page's rendering and its stream is lost."""

from __future__ import annotations

import asyncio
import html
import json
import re

import aiohttp

from hub_proxy.dashboard.signin import COOKIE
from tests.hub_proxy.dashboard.hub import DEV_KEY, DashboardHub, call_as, signed_in

STREAM_SECONDS = 15.0


async def test_activity_recorded_before_the_stream_opened_is_sent_on_it(
    dashboard_hub: DashboardHub,
) -> None:
    async with aiohttp.ClientSession() as http:
        cookie, _ = await signed_in(http, dashboard_hub.base, DEV_KEY)
        headers = {"Cookie": f"{COOKIE}={cookie}"}
        async with http.get(dashboard_hub.url("/ui/activity?kind=call"), headers=headers) as page:
            stream_path = re.search(r'data-stream="([^"]+)"', await page.text())
        assert stream_path is not None
        # The call ends after the page was made and before its script connects.
        await call_as(
            dashboard_hub.url("/mcp"), DEV_KEY, "time__get_current_time", {"timezone": "UTC"}
        )
        async with http.get(
            dashboard_hub.url(html.unescape(stream_path[1])),
            headers={**headers, "Accept": "text/event-stream"},
        ) as stream:
            event = await asyncio.wait_for(first_activity(stream), STREAM_SECONDS)
    assert event["item"] == "get_current_time"
    assert (event["kind"], event["outcome"], event["principal"]) == (
        "call",
        "ok",
        "APIKey default/dev",
    )


async def first_activity(stream: aiohttp.ClientResponse) -> dict[str, str]:
    kind = ""
    async for raw in stream.content:
        line = raw.decode().rstrip("\r\n")
        if line.startswith("event:"):
            kind = line.removeprefix("event:").strip()
        elif line.startswith("data:") and kind == "activity":
            found: dict[str, str] = json.loads(line.removeprefix("data:").strip())
            return found
    raise AssertionError("the stream ended without an activity event")

"""The whole evaluation corpus behind a hub: /mcp/$smart ranks as the evaluate command does.

Seventy corpus servers (:mod:`tests.hub_proxy.search.corpus_server`, one file
of the shared evaluation set each, 1,800 tools) run behind one standalone hub.
A real MCP client asks ``search_tools`` every dev query and must get the
top 10 that the evaluate command's code (:class:`SearchIndex` over the corpus
files, the same model) ranks; then ``call_tool`` on a found tool reaches its
server with the arguments intact.  Scores equal to 1e-3 may swap places: the
hub embeds in other batches, and int8 inference is not bit-identical across
batch shapes.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest

from hub_proxy.search import SearchIndex, ToolKey
from hub_proxy.search.corpus import load_folder
from hub_proxy.search.embedding.local import LocalEmbedder
from hub_proxy.search.evaluate import load_queries
from hub_proxy.search.memory import MemoryStore
from tests.hub_proxy.bridge_process import only_text, until
from tests.hub_proxy.smart_hub import EVAL_DIR, write_corpus_config
from tests.hub_proxy.test_standalone_hub import Hub, connected, start_hub

pytestmark = pytest.mark.timeout(2400)
TIE = 1e-3


def _config(folder: Path) -> Path:
    return write_corpus_config(folder, sorted((EVAL_DIR / "tools").glob("*.json")))


@pytest.fixture(scope="module")
def corpus_hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    hub = start_hub(tmp_path_factory.mktemp("corpus"), _config)
    try:
        yield hub
    finally:
        hub.process.stop()


@pytest.fixture(scope="module")
async def evaluated() -> AsyncIterator[SearchIndex]:
    """The evaluate command's index of the corpus files."""
    embedder = LocalEmbedder()
    index = SearchIndex(MemoryStore(), embedder)
    await index.open()
    await index.sync(load_folder(EVAL_DIR / "tools"))
    yield index
    await index.close()
    await embedder.close()


async def _search(hub: Hub, query: str) -> dict[str, Any]:
    async with connected(hub.url("/mcp/$smart")) as client:
        result = await client.call_tool("search_tools", {"query": query, "limit": 10})
    assert not result.is_error, only_text(result.content)
    found: dict[str, Any] = json.loads(only_text(result.content))
    return found


async def test_search_tools_ranks_as_the_evaluate_command(
    corpus_hub: Hub, evaluated: SearchIndex
) -> None:
    total = len(load_folder(EVAL_DIR / "tools"))

    async def complete() -> bool:
        found = await _search(corpus_hub, "weather")
        return bool(found["metadata"]["searched"] == total)

    await until(complete, within=1800, what=f"the hub's index to hold {total} tools", every=2)
    for labelled in load_queries(EVAL_DIR / "dev-queries.jsonl"):
        with anyio.fail_after(60):
            found = await _search(corpus_hub, labelled.query)
        expected = (await evaluated.search(labelled.query, 10)).hits
        got = [
            (ToolKey(t["serverName"], t["name"].split("__", 1)[1]), t["score"])
            for t in found["tools"]
        ]
        assert len(got) == len(expected), labelled.query
        for position, ((key, score), hit) in enumerate(zip(got, expected, strict=True)):
            assert score == pytest.approx(hit.score, abs=TIE), (labelled.query, position)
            if key != hit.key:
                tied = [h.key for h in expected if abs(h.score - hit.score) <= TIE]
                assert key in tied, (labelled.query, position, key, hit.key)


async def test_call_tool_reaches_the_tool_found(corpus_hub: Hub) -> None:
    found = await _search(corpus_hub, "Reply in Discord forum thread 9988 with the link to the fix")
    top = found["tools"][0]
    assert top["name"] == "discord__discord_reply_to_forum"
    arguments = {"threadId": "9988", "message": "https://example.com/fix ✓"}
    async with connected(corpus_hub.url("/mcp/$smart")) as client:
        called = await client.call_tool(
            "call_tool", {"toolName": top["name"], "arguments": arguments}
        )
    assert json.loads(only_text(called.content)) == {
        "server": "discord",
        "tool": "discord_reply_to_forum",
        "arguments": arguments,
    }

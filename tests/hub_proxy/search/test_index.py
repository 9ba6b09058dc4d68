"""Index life: embed once per text, follow changes, survive restarts, share safely, fail loudly."""

from __future__ import annotations

import asyncio
import dataclasses

import asyncpg
import numpy as np
import pytest

from hub_proxy.search import (
    EmbeddingError,
    IndexMismatchError,
    QueryError,
    SearchIndex,
    StoreError,
    ToolDocument,
    ToolKey,
)
from hub_proxy.search.embedding.local import LocalEmbedder
from hub_proxy.search.embedding.openai import OpenAIEmbedder
from hub_proxy.search.memory import MemoryStore
from hub_proxy.search.postgres import PostgresStore
from tests.hub_proxy.search.conftest import TOOLS
from tests.hub_proxy.search.databases import drop_index, fresh_index
from tests.hub_proxy.search.embeddings_server import embeddings_server
from tests.testbed.postgres import Postgres
from tests.testbed.processes import free_port


def _changed(index: int, description: str) -> tuple[ToolDocument, ...]:
    tools = list(TOOLS)
    tools[index] = dataclasses.replace(tools[index], description=description)
    return tuple(tools)


async def test_only_changed_texts_are_embedded(embedder: LocalEmbedder) -> None:
    index = SearchIndex(MemoryStore(), embedder)
    await index.open()
    first = await index.sync(TOOLS)
    assert (first.computed, first.reused) == (len(TOOLS), 0)
    again = await index.sync(TOOLS)
    assert (again.computed, again.changed) == (0, 0)
    changed = await index.sync(_changed(5, "Get a ten-day forecast for a city"))
    assert (changed.computed, changed.changed) == (1, 1)
    ranking = await index.search("ten-day forecast", 1)
    assert ranking.hits[0].key == ToolKey("weather", "get_forecast")


@pytest.mark.parametrize("store", [MemoryStore, "postgres"])
async def test_a_tool_ranks_by_the_mean_cosine_of_its_two_views(
    embedder: LocalEmbedder, store: type[MemoryStore] | str, request: pytest.FixtureRequest
) -> None:
    if store == "postgres":
        index = await fresh_index(request.getfixturevalue("postgres").dsn, embedder)
    else:
        index = SearchIndex(MemoryStore(), embedder)
        await index.open()
    await index.sync(TOOLS)
    forecast = TOOLS[5]
    query, *views = await embedder.embed(["forecast for Paris", *forecast.views])
    ranking = await index.search("forecast for Paris", 1)
    await index.close()
    assert ranking.hits[0].key == forecast.key
    assert ranking.hits[0].dense == pytest.approx(float(np.mean([query @ v for v in views])))


async def test_a_removed_server_leaves_the_index(embedder: LocalEmbedder) -> None:
    index = SearchIndex(MemoryStore(), embedder)
    await index.open()
    await index.sync(TOOLS)
    report = await index.sync([d for d in TOOLS if d.key.server != "weather"])
    assert report.removed == 2
    assert report.tools == len(TOOLS) - 2
    ranking = await index.search("weather forecast", 20)
    assert all(hit.key.server != "weather" for hit in ranking.hits)


async def test_a_restart_does_not_re_embed(embedder: LocalEmbedder, postgres: Postgres) -> None:
    await drop_index(postgres.dsn)
    for expected in (len(TOOLS), 0):
        index = SearchIndex(PostgresStore(postgres.dsn), embedder)
        await index.open()
        report = await index.sync(TOOLS)
        await index.search("weather", 1)
        await index.close()
        assert report.computed == expected


async def test_replicas_keep_one_row_per_tool_and_the_newest_text(
    embedder: LocalEmbedder, postgres: Postgres
) -> None:
    await drop_index(postgres.dsn)
    stores = [PostgresStore(postgres.dsn), PostgresStore(postgres.dsn)]
    replicas = [SearchIndex(store, embedder) for store in stores]
    await asyncio.gather(*(replica.open() for replica in replicas))
    await asyncio.gather(*(replica.sync(TOOLS) for replica in replicas))
    newer = _changed(0, "Open a bug report in a GitHub repository")
    await replicas[0].sync(newer)
    connection = await asyncpg.connect(postgres.dsn)
    try:
        rows = await connection.fetch("SELECT server, tool, content_hash FROM mcphub_search.tools")
        migrations = await connection.fetch(
            "SELECT version FROM mcphub_search.migrations ORDER BY version"
        )
    finally:
        await connection.close()
    assert len(rows) == len(TOOLS) == len({(r["server"], r["tool"]) for r in rows})
    stored = {ToolKey(r["server"], r["tool"]): r["content_hash"] for r in rows}
    assert stored[ToolKey("github", "create_issue")] == newer[0].content_hash
    # Both schema steps, each once, though two replicas migrated together.
    assert [m["version"] for m in migrations] == [1, 2]
    ranking = await replicas[1].search("file a bug report on GitHub", 1)
    assert ranking.hits[0].key == ToolKey("github", "create_issue")
    for replica in replicas:
        await replica.close()


async def test_another_model_is_refused_with_what_to_do(
    embedder: LocalEmbedder, postgres: Postgres
) -> None:
    await drop_index(postgres.dsn)
    first = SearchIndex(PostgresStore(postgres.dsn), embedder)
    await first.open()
    await first.close()
    other = OpenAIEmbedder("http://127.0.0.1:1/v1", "text-embedding-3-small", 1536)
    with pytest.raises(IndexMismatchError) as refused:
        await SearchIndex(PostgresStore(postgres.dsn), other).open()
    message = str(refused.value)
    assert "all-MiniLM-L6-v2-int8-128 (384 dimensions)" in message
    assert "text-embedding-3-small (1536)" in message
    assert "DROP SCHEMA mcphub_search CASCADE" in message


async def test_a_database_that_is_down_fails_searches_clearly(embedder: LocalEmbedder) -> None:
    index = SearchIndex(PostgresStore(f"postgresql://hub@127.0.0.1:{free_port()}/hub"), embedder)
    with pytest.raises(StoreError, match=r"search database 127\.0\.0\.1:\d+/hub is unavailable"):
        await index.open()
    with pytest.raises(StoreError, match="has not been reached yet"):
        await index.search("anything", 3)


async def test_bad_requests_say_what_to_fix(embedder: LocalEmbedder) -> None:
    index = SearchIndex(MemoryStore(), embedder)
    for query, limit, said in (
        ("", 5, "non-empty"),
        ("   ", 5, "non-empty"),
        ("x" * 10_000, 5, "at most 2000"),
        ("weather", 0, "from 1 to"),
        ("weather", -1, "from 1 to"),
        ("weather", 10_000, "from 1 to"),
        ("weather", True, "from 1 to"),
    ):
        with pytest.raises(QueryError, match=said):
            await index.search(query, limit)


async def test_an_embeddings_api_that_fails_fails_the_search(embedder: LocalEmbedder) -> None:
    async with embeddings_server(embedder, "k3y") as server:
        provider = OpenAIEmbedder(server.url, "minilm", 384, key_file=None)
        index = SearchIndex(MemoryStore(), provider)
        with pytest.raises(EmbeddingError, match="answered 401"):
            await index.sync(TOOLS)
        await provider.close()


async def test_the_event_loop_runs_while_a_model_embeds(embedder: LocalEmbedder) -> None:
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0)

    running = asyncio.create_task(ticker())
    await embedder.embed([d.text for d in TOOLS] * 8)
    running.cancel()
    # Had inference run on the loop, the ticker could not have run before it ended.
    assert ticks > 10

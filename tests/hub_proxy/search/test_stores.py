"""Both stores rank the same way, filter before the limit, and keep what they are given."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator

import asyncpg
import pytest

from hub_proxy.search.embedding.local import LocalEmbedder
from hub_proxy.search.index import SearchIndex
from hub_proxy.search.memory import MemoryStore
from hub_proxy.search.postgres import PostgresStore
from hub_proxy.search.store import Store
from hub_proxy.search.texts import ToolKey
from tests.hub_proxy.search.conftest import TOOLS
from tests.hub_proxy.search.databases import drop_index, fresh_index
from tests.testbed.postgres import Postgres

QUERIES = (
    "open a ticket in GitLab",
    "will it rain in Paris tomorrow",
    "check off my todo items",
    "tell the team on Slack that the build is green",
    "what time is it in Tokyo",
)


@pytest.fixture(params=["memory", "postgres"])
async def index(
    request: pytest.FixtureRequest, embedder: LocalEmbedder
) -> AsyncIterator[SearchIndex]:
    store: Store
    if request.param == "postgres":
        database: Postgres = request.getfixturevalue("postgres")
        await drop_index(database.dsn)
        store = PostgresStore(database.dsn)
    else:
        store = MemoryStore()
    made = SearchIndex(store, embedder)
    await made.open()
    await made.sync(TOOLS)
    yield made
    await store.close()


async def test_the_stores_rank_alike(embedder: LocalEmbedder, postgres: Postgres) -> None:
    await drop_index(postgres.dsn)
    memory, database = MemoryStore(), PostgresStore(postgres.dsn)
    for store in (memory, database):
        made = SearchIndex(store, embedder)
        await made.open()
        await made.sync(TOOLS)
    # Small limits too: PostgreSQL fuses only the tools with a lexical score and the
    # `limit` nearest, which must rank as fusing every tool does.
    some = {d.key for d in TOOLS if d.key.server not in ("gitlab", "slack")}
    try:
        for query, limit, allowed in itertools.product(QUERIES, (1, 3, 5), (None, some)):
            ranked = [
                await SearchIndex(store, embedder).search(query, limit, allowed=allowed)
                for store in (memory, database)
            ]
            assert [h.key for h in ranked[0].hits] == [h.key for h in ranked[1].hits], query
            assert ranked[0].searched == ranked[1].searched
            for a, b in zip(ranked[0].hits, ranked[1].hits, strict=True):
                assert a.score == pytest.approx(b.score, abs=1e-5)
    finally:
        await database.close()


async def test_an_index_of_the_first_schema_is_migrated_in_place(
    embedder: LocalEmbedder, postgres: Postgres
) -> None:
    made = await fresh_index(postgres.dsn, embedder)
    await made.sync(TOOLS)
    before = await made.search(QUERIES[1], 5)
    await made.close()
    # Back to what the first migration made, the rows kept: as a hub of that version left it.
    connection = await asyncpg.connect(postgres.dsn)
    try:
        await connection.execute(
            "DROP TABLE mcphub_search.tool_vectors, mcphub_search.stats;"
            "ALTER TABLE mcphub_search.terms DROP COLUMN length, DROP COLUMN tool_id;"
            "ALTER TABLE mcphub_search.tools DROP COLUMN id;"
            "DELETE FROM mcphub_search.migrations WHERE version > 1"
        )
    finally:
        await connection.close()
    again = SearchIndex(PostgresStore(postgres.dsn), embedder)
    await again.open()
    after = await again.search(QUERIES[1], 5)
    report = await again.sync(TOOLS)
    await again.close()
    assert after == before
    assert (report.computed, report.changed) == (0, 0)


async def test_obvious_queries_find_their_tool(index: SearchIndex) -> None:
    expected = {
        QUERIES[0]: ToolKey("gitlab", "create_issue"),
        QUERIES[1]: ToolKey("weather", "get_forecast"),
        QUERIES[2]: ToolKey("todoist", "complete-tasks"),
        QUERIES[3]: ToolKey("slack", "post_message"),
        QUERIES[4]: ToolKey("time", "get_current_time"),
    }
    for query, key in expected.items():
        ranking = await index.search(query, 3)
        assert ranking.hits[0].key == key, (query, ranking.hits)
        assert ranking.searched == len(TOOLS)


async def test_allowed_tools_are_filtered_before_the_limit(index: SearchIndex) -> None:
    allowed = {d.key for d in TOOLS if d.key.server != "gitlab"}
    ranking = await index.search("open a ticket in GitLab", 5, allowed=allowed)
    assert len(ranking.hits) == 5
    assert all(hit.key in allowed for hit in ranking.hits)
    assert ranking.searched == len(allowed)
    assert ranking.hits[0].key == ToolKey("github", "create_issue")


async def test_nothing_allowed_finds_nothing(index: SearchIndex) -> None:
    ranking = await index.search("anything", 5, allowed=())
    assert ranking.hits == ()
    assert ranking.searched == 0


async def test_min_score_cuts_the_tail(index: SearchIndex) -> None:
    every = await index.search("weather forecast", 12)
    cut = every.hits[2].score
    kept = await index.search("weather forecast", 12, min_score=cut)
    assert [h.key for h in kept.hits] == [h.key for h in every.hits[:3]]
    assert all(hit.score >= cut for hit in kept.hits)


async def test_a_replica_filters_by_tools_another_replica_indexed(
    embedder: LocalEmbedder, postgres: Postgres
) -> None:
    writer = await fresh_index(postgres.dsn, embedder)
    await writer.sync(TOOLS)
    # This one has synced nothing itself: the allowed tools' rows are not its own.
    reader = SearchIndex(PostgresStore(postgres.dsn), embedder)
    await reader.open()
    allowed = {d.key for d in TOOLS if d.key.server != "gitlab"}
    ranking = await reader.search("open a ticket in GitLab", 5, allowed=allowed)
    await writer.close()
    await reader.close()
    assert ranking.searched == len(allowed)
    assert ranking.hits[0].key == ToolKey("github", "create_issue")


async def test_one_allowed_tool_is_all_a_search_sees(index: SearchIndex) -> None:
    # The first key in order has the lowest row id in PostgreSQL: every other
    # tool's id lies past the end of the allowed-tools bitmap.
    first = min(d.key for d in TOOLS)
    ranking = await index.search("weather forecast", 5, allowed={first}, min_score=-1.0)
    assert [hit.key for hit in ranking.hits] == [first]
    assert ranking.searched == 1

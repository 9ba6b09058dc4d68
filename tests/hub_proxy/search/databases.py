"""The search index's PostgreSQL in tests: a fresh schema per test that needs one."""

from __future__ import annotations

import asyncpg

from hub_proxy.search.embedding import Embedder
from hub_proxy.search.index import SearchIndex
from hub_proxy.search.postgres import PostgresStore


async def drop_index(dsn: str) -> None:
    connection = await asyncpg.connect(dsn)
    try:
        await connection.execute("DROP SCHEMA IF EXISTS mcphub_search CASCADE")
    finally:
        await connection.close()


async def fresh_index(dsn: str, embedder: Embedder) -> SearchIndex:
    """An opened index on an empty schema (the caller closes it)."""
    await drop_index(dsn)
    index = SearchIndex(PostgresStore(dsn), embedder)
    await index.open()
    return index

"""PostgreSQL is real and has pgvector: nearest-neighbour search over TCP."""

from __future__ import annotations

import asyncpg

from tests.testbed.postgres import Postgres


async def test_pgvector_nearest_neighbour_query_returns_the_closest_row(
    postgres: Postgres,
) -> None:
    connection = await asyncpg.connect(postgres.dsn, timeout=10)
    try:
        await connection.execute("CREATE EXTENSION IF NOT EXISTS vector")
        version = await connection.fetchval(
            "SELECT extversion FROM pg_extension WHERE extname = 'vector'"
        )
        assert version.startswith("0.8")
        await connection.execute(
            "CREATE TEMP TABLE tools (name text PRIMARY KEY, embedding vector(3))"
        )
        await connection.executemany(
            "INSERT INTO tools VALUES ($1, $2::vector)",
            [("north", "[0,1,0]"), ("east", "[1,0,0]"), ("up", "[0,0,1]")],
        )
        nearest = await connection.fetch(
            "SELECT name FROM tools ORDER BY embedding <=> $1::vector LIMIT 2",
            "[0.9,0.1,0.2]",
        )
        assert [row["name"] for row in nearest] == ["east", "up"]
    finally:
        await connection.close()

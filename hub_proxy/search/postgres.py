"""The PostgreSQL store: one index, with pgvector, shared by every hub replica.

The hub owns the schema ``mcphub_search`` and migrates it itself: migrations
are numbered, recorded in ``mcphub_search.migrations``, and applied in one
transaction under an advisory lock, so replicas starting together migrate
once and the others wait.  The first migration records the embedding model and
its dimensions in ``mcphub_search.index`` and sizes the vector column; a hub
started later with another model is refused (:class:`IndexMismatchError`)
with what to do, instead of mixing vectors that cannot be compared.

Tables:

* ``vectors`` -- one embedding per content hash: a restart, another replica,
  or a tool whose text comes back never embeds that text again;
* ``tools`` -- one row per ``(server, tool)``: its row id (how a search's
  allowed tools are named), content hash, length in terms, and when a replica
  last saw it (``observed_at``, the database's
  clock).  Upserts keep the newest observation, so there is never a second row
  for a tool and the latest text wins;
* ``terms`` -- the tool's terms and their frequencies, and its length, for
  BM25 (a search reads only the rows of its terms);
* ``stats`` -- the tool count and total length, BM25's statistics, kept by
  every write: reading them is one row, counting them a scan of every tool;
* ``tool_vectors`` -- each tool's copy of its hash's vector, by row id, so
  that a search scans one table: joining 10,000 tools to their vectors took
  8.5 ms at p50 where the scan alone takes 4.8.  ``tools`` stays narrow, so
  counting a caller's allowed tools reads a tenth of the pages.

Writers are serialized by a transaction-level advisory lock (syncs are rare
and short), so two replicas never deadlock over the same rows.  A replica
removes the tools it saw leave; rows that no replica has kept alive for
``forget_after`` seconds (every sync touches the rows it holds) are deleted,
so the tools of a server that went away while no replica watched do not
linger.  Rows of tools a replica does not serve never reach its callers
anyway: searches are filtered to the caller's tools.

Ranking is one SQL statement (one for every tool, one for allowed tools), the
formula of :mod:`hub_proxy.search.ranking` and :mod:`hub_proxy.search.lexical`
(BM25 statistics over the whole table, the maximum for normalization over the
allowed rows), exact over every allowed row -- no approximate index, so it
ranks exactly as the in-memory store does.  It fuses only the candidates that
can win: the tools with any lexical score (found through the terms' index) and
the ``limit`` nearest by the dense score alone.
That is exact: a tool with no lexical score scores ``DENSE_WEIGHT * dense``,
and ``limit`` nearer tools each score at least that and sort before it.  10,000
tools rank in 7 ms at p50, 13 with every one of them allowed
(``tests/benchmarks/search_scale.py``).  Ties
sort by server and tool in the C collation, Python's order.

Any database failure is a :class:`~hub_proxy.search.errors.StoreError` naming
the database: searches fail with it, and calls that do not search never touch
the database.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Collection, Mapping, Sequence
from typing import Final
from urllib.parse import urlsplit

import asyncpg
import numpy as np
from pgvector.asyncpg import register_vector

from hub_proxy.search import lexical
from hub_proxy.search.embedding import Vectors
from hub_proxy.search.errors import IndexMismatchError, StoreError
from hub_proxy.search.ranking import DENSE_WEIGHT, Hit, Query, Ranking
from hub_proxy.search.store import Entry
from hub_proxy.search.texts import ToolKey

# pg_advisory_xact_lock keys: one for migrations, one for writers.
_MIGRATION_LOCK: Final = 0x6D637068_0001
_WRITE_LOCK: Final = 0x6D637068_0002
# A search waits this long for the database; a sync (thousands of rows) longer.
_TIMEOUT: Final = 10.0
_WRITE_TIMEOUT: Final = 300.0


def _migrations(dimensions: int) -> tuple[str, ...]:
    """The schema, one step per entry; never edit a step, append one."""
    # The one value put into SQL text: an int (a type modifier cannot be a parameter).
    return (
        f"""
        CREATE EXTENSION IF NOT EXISTS vector;
        CREATE TABLE mcphub_search.index (
            singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
            model text NOT NULL,
            dimensions integer NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now()
        );
        CREATE TABLE mcphub_search.vectors (
            content_hash text PRIMARY KEY,
            embedding vector({int(dimensions)}) NOT NULL
        );
        CREATE TABLE mcphub_search.tools (
            server text NOT NULL,
            tool text NOT NULL,
            content_hash text NOT NULL,
            length integer NOT NULL,
            observed_at timestamptz NOT NULL,
            PRIMARY KEY (server, tool)
        );
        CREATE TABLE mcphub_search.terms (
            server text NOT NULL,
            tool text NOT NULL,
            term text NOT NULL,
            frequency integer NOT NULL,
            PRIMARY KEY (server, tool, term),
            FOREIGN KEY (server, tool) REFERENCES mcphub_search.tools ON DELETE CASCADE
        );
        CREATE INDEX terms_by_term ON mcphub_search.terms (term);
        """,
        f"""
        ALTER TABLE mcphub_search.tools ADD COLUMN id bigint GENERATED ALWAYS AS IDENTITY UNIQUE;
        CREATE TABLE mcphub_search.tool_vectors (
            tool_id bigint PRIMARY KEY REFERENCES mcphub_search.tools (id) ON DELETE CASCADE,
            server text NOT NULL,
            tool text NOT NULL,
            embedding vector({int(dimensions)}) NOT NULL
        );
        INSERT INTO mcphub_search.tool_vectors (tool_id, server, tool, embedding)
        SELECT t.id, t.server, t.tool, v.embedding
        FROM mcphub_search.tools t JOIN mcphub_search.vectors v USING (content_hash);
        ALTER TABLE mcphub_search.terms ADD COLUMN tool_id bigint, ADD COLUMN length integer;
        UPDATE mcphub_search.terms t SET tool_id = r.id, length = r.length
        FROM mcphub_search.tools r WHERE (r.server, r.tool) = (t.server, t.tool);
        ALTER TABLE mcphub_search.terms ALTER COLUMN tool_id SET NOT NULL,
            ALTER COLUMN length SET NOT NULL;
        CREATE TABLE mcphub_search.stats (
            singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
            tools bigint NOT NULL,
            total_length bigint NOT NULL
        );
        INSERT INTO mcphub_search.stats (tools, total_length)
        SELECT count(*), coalesce(sum(length), 0) FROM mcphub_search.tools;
        """,  # noqa: S608 - the one value in it is an int, as above
    )


def _rank_statement(*, filtered: bool) -> str:
    """The ranking SQL, for every tool or only the tools whose ids are set in $8.

    Two statements rather than one with ``$8 IS NULL OR ...``: that condition
    hides from the planner how many rows pass, and with its estimate of one
    row it chose nested loops that took 40 ms instead of 8.  The allowed tools
    are a bitmap of row ids (see :func:`_bitmap`): with 10,000 tools all
    allowed, 8 ms at p50, where an array of their ids tested with ``= ANY``
    took 19 (sending it and planning with it cost more than the ranking) and
    (server, tool) pairs joined took 56.
    """
    # CASE, not AND: get_bit fails past the bitmap's end (a tool written since).
    allowed = (
        "CASE WHEN {id} < 8 * octet_length($8::bytea) THEN get_bit($8::bytea, {id}) = 1"
        " ELSE false END"
    )
    only = f"WHERE {allowed.format(id='r.tool_id')}" if filtered else ""
    searched = (
        f"(SELECT count(*) FROM mcphub_search.tools WHERE {allowed.format(id='id')})"  # noqa: S608
        if filtered
        else "(SELECT n FROM stats)::bigint"
    )
    # See the module docstring: BM25 over the query terms' rows, the nearest by
    # the dense score alone, and the fusion over those candidates only.
    return f"""
WITH stats AS MATERIALIZED (
    SELECT tools::float8 AS n,
           CASE WHEN tools > 0 THEN total_length::float8 / tools ELSE 1 END AS avgdl
    FROM mcphub_search.stats
),
matched AS (
    SELECT tool_id, frequency, length, count(*) OVER (PARTITION BY term)::float8 AS df
    FROM mcphub_search.terms
    WHERE term = ANY($2::text[])
),
lexical AS MATERIALIZED (
    SELECT r.tool_id,
           sum(ln(1 + (stats.n - r.df + 0.5) / (r.df + 0.5))
               * r.frequency * ($5::float8 + 1)
               / (r.frequency + $5::float8
                  * (1 - $6::float8 + $6::float8 * r.length / stats.avgdl))) AS score
    FROM matched r
    CROSS JOIN stats
    {only}
    GROUP BY r.tool_id
),
nearest AS MATERIALIZED (
    SELECT r.tool_id FROM mcphub_search.tool_vectors r
    {only}
    ORDER BY r.embedding <#> $1, r.server COLLATE "C", r.tool COLLATE "C"
    LIMIT $4
),
candidates AS (
    SELECT tool_id, max(score) AS lexical
    FROM (SELECT * FROM lexical UNION ALL SELECT tool_id, 0 FROM nearest) c
    GROUP BY tool_id
),
scored AS (
    SELECT r.server, r.tool, -(r.embedding <#> $1)::float8 AS dense,
           coalesce(c.lexical / nullif(max(c.lexical) OVER (), 0), 0)::float8 AS lexical
    FROM candidates c
    JOIN mcphub_search.tool_vectors r USING (tool_id)
),
ranked AS (
    SELECT server, tool, dense, lexical,
           $7::float8 * dense + (1 - $7::float8) * lexical AS score
    FROM scored
)
SELECT {searched} AS searched, top.*
FROM (SELECT 1) one
LEFT JOIN LATERAL (
    SELECT * FROM ranked WHERE score >= $3::float8
    ORDER BY score DESC, server COLLATE "C", tool COLLATE "C"
    LIMIT $4
) top ON true
"""  # noqa: S608 - it interpolates only the constants above


_RANK_EVERY: Final = _rank_statement(filtered=False)
_RANK_ALLOWED: Final = _rank_statement(filtered=True)


class PostgresStore:
    """:class:`~hub_proxy.search.store.Store` in PostgreSQL with pgvector, at ``dsn``."""

    def __init__(self, dsn: str, *, forget_after: float = 600.0) -> None:
        self._dsn = dsn
        self._forget_after = forget_after
        self._pool: asyncpg.Pool | None = None
        # Each tool's row id, for the ranking's filter (see _ids_of).
        self._ids: dict[ToolKey, int] = {}
        parts = urlsplit(dsn)
        # Named in errors without its password.
        self._where = f"{parts.hostname or 'localhost'}:{parts.port or 5432}{parts.path}"

    async def open(self, model: str, dimensions: int) -> None:
        async with self._failures():
            connection = await asyncpg.connect(self._dsn, timeout=_TIMEOUT)
            try:
                await self._migrate(connection, model, dimensions)
            finally:
                await connection.close()
            self._pool = await asyncpg.create_pool(
                self._dsn,
                min_size=1,
                max_size=4,
                timeout=_TIMEOUT,
                command_timeout=_WRITE_TIMEOUT,
                init=register_vector,
                # A search is one short statement: starting parallel workers for
                # it cost 5 ms of its 24 (measured on 10,000 tools), more than they save.
                server_settings={"max_parallel_workers_per_gather": "0"},
            )

    async def _migrate(self, connection: asyncpg.Connection, model: str, dimensions: int) -> None:
        async with connection.transaction():
            await connection.execute("SELECT pg_advisory_xact_lock($1)", _MIGRATION_LOCK)
            await connection.execute(
                "CREATE SCHEMA IF NOT EXISTS mcphub_search;"
                "CREATE TABLE IF NOT EXISTS mcphub_search.migrations ("
                " version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
            )
            done = await connection.fetchval(
                "SELECT coalesce(max(version), 0) FROM mcphub_search.migrations"
            )
            if done:
                # Before any further step: a later step sizes columns by the dimensions.
                self._refuse_another_model(
                    await connection.fetchrow("SELECT model, dimensions FROM mcphub_search.index"),
                    model,
                    dimensions,
                )
            steps = _migrations(dimensions)
            for version, step in enumerate(steps[done:], done + 1):
                try:
                    await connection.execute(step)
                except asyncpg.exceptions.FeatureNotSupportedError as error:
                    raise StoreError(
                        f"the search database {self._where} has no pgvector extension "
                        f"({error}); install pgvector there (the sample in "
                        "manifests/postgres has it)"
                    ) from error
                await connection.execute(
                    "INSERT INTO mcphub_search.migrations (version) VALUES ($1)", version
                )
                if version == 1:
                    await connection.execute(
                        "INSERT INTO mcphub_search.index (model, dimensions) VALUES ($1, $2)",
                        model,
                        dimensions,
                    )

    def _refuse_another_model(
        self, stored: asyncpg.Record | None, model: str, dimensions: int
    ) -> None:
        if stored is not None and (stored["model"], stored["dimensions"]) != (model, dimensions):
            raise IndexMismatchError(
                f"the search index in {self._where} was built with the model "
                f"{stored['model']} ({stored['dimensions']} dimensions), and this hub embeds "
                f"with {model} ({dimensions}); vectors of two models cannot be compared. "
                "Start the hub with the index's embedding model, point --database-url at "
                "another database, or drop the index (DROP SCHEMA mcphub_search CASCADE) to "
                "rebuild it with this model"
            )

    @contextlib.asynccontextmanager
    async def _failures(self) -> AsyncIterator[None]:
        try:
            yield
        except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError) as error:
            raise StoreError(
                f"the search database {self._where} is unavailable: {type(error).__name__}: {error}"
            ) from error

    @contextlib.asynccontextmanager
    async def _connection(self) -> AsyncIterator[asyncpg.Connection]:
        if self._pool is None:
            raise StoreError(
                f"the search database {self._where} has not been reached yet; the hub keeps trying"
            )
        async with self._failures(), self._pool.acquire() as connection:
            yield connection

    async def hashes(self) -> dict[ToolKey, str]:
        # Every sync starts here: the row ids the ranking's filter uses are read afresh too.
        async with self._connection() as connection:
            rows = await connection.fetch(
                "SELECT server, tool, content_hash, id FROM mcphub_search.tools"
            )
        self._ids = {ToolKey(r["server"], r["tool"]): r["id"] for r in rows}
        return {ToolKey(r["server"], r["tool"]): r["content_hash"] for r in rows}

    async def missing(self, hashes: Collection[str]) -> set[str]:
        wanted = list(hashes)
        async with self._connection() as connection:
            rows = await connection.fetch(
                "SELECT content_hash FROM mcphub_search.vectors"
                " WHERE content_hash = ANY($1::text[])",
                wanted,
            )
        return set(wanted) - {r["content_hash"] for r in rows}

    async def update(
        self,
        changed: Sequence[Entry],
        vectors: Mapping[str, Vectors],
        removed: Collection[ToolKey],
        current: Collection[ToolKey],
    ) -> None:
        ordered = sorted(changed, key=lambda e: e.key)
        lengths = {e.key: sum(e.terms.values()) for e in ordered}
        async with self._connection() as connection, connection.transaction():
            await connection.execute("SELECT pg_advisory_xact_lock($1)", _WRITE_LOCK)
            await connection.executemany(
                "INSERT INTO mcphub_search.vectors (content_hash, embedding) VALUES ($1, $2)"
                " ON CONFLICT (content_hash) DO NOTHING",
                [(h, np.asarray(v, dtype=np.float32)) for h, v in sorted(vectors.items())],
            )
            written = await connection.fetch(
                """
                INSERT INTO mcphub_search.tools AS t
                    (server, tool, content_hash, length, observed_at)
                SELECT server, tool, content_hash, length, now()
                FROM unnest($1::text[], $2::text[], $3::text[], $4::int[])
                     AS u(server, tool, content_hash, length)
                ON CONFLICT (server, tool) DO UPDATE
                SET content_hash = EXCLUDED.content_hash, length = EXCLUDED.length,
                    observed_at = EXCLUDED.observed_at
                WHERE t.observed_at <= EXCLUDED.observed_at
                RETURNING server, tool, id
                """,
                [e.key.server for e in ordered],
                [e.key.tool for e in ordered],
                [e.content_hash for e in ordered],
                [lengths[e.key] for e in ordered],
            )
            kept = {ToolKey(r["server"], r["tool"]): r["id"] for r in written}
            fresh = [e for e in ordered if e.key in kept]
            await connection.execute(
                """
                INSERT INTO mcphub_search.tool_vectors AS t (tool_id, server, tool, embedding)
                SELECT u.tool_id, u.server, u.tool, v.embedding
                FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[])
                     AS u(tool_id, server, tool, content_hash)
                JOIN mcphub_search.vectors v USING (content_hash)
                ON CONFLICT (tool_id) DO UPDATE SET embedding = EXCLUDED.embedding
                """,
                [kept[e.key] for e in fresh],
                [e.key.server for e in fresh],
                [e.key.tool for e in fresh],
                [e.content_hash for e in fresh],
            )
            await connection.execute(
                "DELETE FROM mcphub_search.terms WHERE (server, tool) IN "
                "(SELECT * FROM unnest($1::text[], $2::text[]))",
                *_columns([e.key for e in fresh]),
            )
            terms = [
                (e.key.server, e.key.tool, t, f, kept[e.key], lengths[e.key])
                for e in fresh
                for t, f in e.terms.items()
            ]
            await connection.copy_records_to_table(
                "terms",
                schema_name="mcphub_search",
                records=terms,
                columns=("server", "tool", "term", "frequency", "tool_id", "length"),
            )
            await self._forget(connection, removed, current)
            await connection.execute(
                "UPDATE mcphub_search.stats SET (tools, total_length) ="
                " (SELECT count(*), coalesce(sum(length), 0) FROM mcphub_search.tools)"
            )
        self._ids.update(kept)

    async def _forget(
        self,
        connection: asyncpg.Connection,
        removed: Collection[ToolKey],
        current: Collection[ToolKey],
    ) -> None:
        await connection.execute(
            "UPDATE mcphub_search.tools SET observed_at = now() WHERE (server, tool) IN "
            "(SELECT * FROM unnest($1::text[], $2::text[]))",
            *_columns(current),
        )
        await connection.execute(
            "DELETE FROM mcphub_search.tools WHERE (server, tool) IN "
            "(SELECT * FROM unnest($1::text[], $2::text[])) AND observed_at < now()",
            *_columns(removed),
        )
        await connection.execute(
            "DELETE FROM mcphub_search.tools WHERE observed_at < now() - make_interval(secs => $1)",
            self._forget_after,
        )
        await connection.execute(
            "DELETE FROM mcphub_search.vectors v WHERE NOT EXISTS "
            "(SELECT 1 FROM mcphub_search.tools t WHERE t.content_hash = v.content_hash)"
        )

    async def rank(self, query: Query) -> Ranking:
        arguments: list[object] = [
            np.asarray(query.vector, dtype=np.float32),
            list(query.terms),
            query.min_score,
            query.limit,
            lexical.K1,
            lexical.B,
            DENSE_WEIGHT,
        ]
        async with self._connection() as connection:
            if query.allowed is not None:
                arguments.append(_bitmap(await self._ids_of(connection, query.allowed)))
            rows = await connection.fetch(
                _RANK_EVERY if query.allowed is None else _RANK_ALLOWED,
                *arguments,
                timeout=_TIMEOUT,
            )
        searched = int(rows[0]["searched"]) if rows else 0
        hits = tuple(
            Hit(ToolKey(r["server"], r["tool"]), r["score"], r["dense"], r["lexical"])
            for r in rows
            if r["server"] is not None
        )
        return Ranking(hits, searched)

    async def _ids_of(self, connection: asyncpg.Connection, keys: Collection[ToolKey]) -> list[int]:
        """The row ids of the tools of ``keys`` that the index holds.

        Known from this hub's own syncs; keys it has not seen (another replica
        wrote them since) are looked up, so that no allowed tool is left out.
        An id goes stale only when another replica deletes a tool and writes it
        again; until this hub's next sync (a minute at most) reads every id
        afresh, that tool is missing from this hub's results.
        """
        ids: list[int] = []
        unknown: list[ToolKey] = []
        for key in keys:  # one pass: thousands of keys per search
            found = self._ids.get(key)
            if found is None:
                unknown.append(key)
            else:
                ids.append(found)
        if unknown:
            rows = await connection.fetch(
                "SELECT server, tool, id FROM mcphub_search.tools"
                " JOIN unnest($1::text[], $2::text[]) AS u(server, tool) USING (server, tool)",
                *_columns(unknown),
            )
            for row in rows:
                self._ids[ToolKey(row["server"], row["tool"])] = row["id"]
                ids.append(row["id"])
        return ids

    async def size(self) -> tuple[int, int]:
        async with self._connection() as connection:
            row = await connection.fetchrow(
                "SELECT (SELECT count(*) FROM mcphub_search.tools) AS tools,"
                " pg_total_relation_size('mcphub_search.vectors')"
                " + pg_total_relation_size('mcphub_search.tools')"
                " + pg_total_relation_size('mcphub_search.terms')"
                " + pg_total_relation_size('mcphub_search.tool_vectors') AS bytes"
            )
        assert row is not None  # noqa: S101 - a SELECT without FROM always has its row
        return int(row["tools"]), int(row["bytes"])

    async def close(self) -> None:
        if self._pool is not None:
            pool, self._pool = self._pool, None
            await pool.close()


def _bitmap(ids: Sequence[int]) -> bytes:
    """Bit ``id`` set for each id, in the order of PostgreSQL's ``get_bit``."""
    if not ids:
        return b""
    bits = np.zeros(max(ids) + 1, dtype=bool)
    bits[np.asarray(ids, dtype=np.int64)] = True
    return np.packbits(bits, bitorder="little").tobytes()


def _columns(keys: Collection[ToolKey]) -> tuple[list[str], list[str]]:
    """Keys as the two arrays ``unnest($1::text[], $2::text[])`` pairs up, in key order.

    Sorted, so that concurrent writers lock rows in one order; each key once, as
    the ranking joins them.
    """
    ordered = sorted(set(keys))
    return [k.server for k in ordered], [k.tool for k in ordered]

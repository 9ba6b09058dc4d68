"""A small OpenAI-compatible embeddings server for the tests, on 127.0.0.1.

It answers ``POST /v1/embeddings`` with the offline model's vectors, so a hub
configured for an "OpenAI" provider ranks exactly as one with the local model.
It checks the bearer key, and can be told to fail (``status``) or to answer
vectors of the wrong size (``dimensions``), to test how the hub takes it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from aiohttp import web

from hub_proxy.search.embedding.local import LocalEmbedder
from tests.testbed.processes import free_port


@dataclass
class EmbeddingsServer:
    url: str
    key: str
    # What to do to the next answers: an error status, or vectors cut to this size.
    status: int = 200
    dimensions: int | None = None
    requests: list[dict[str, object]] = field(default_factory=list)


@asynccontextmanager
async def embeddings_server(embedder: LocalEmbedder, key: str) -> AsyncIterator[EmbeddingsServer]:
    port = free_port()
    server = EmbeddingsServer(f"http://127.0.0.1:{port}/v1", key)

    async def embeddings(request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != f"Bearer {key}":
            return web.json_response({"error": {"message": "bad key"}}, status=401)
        body = await request.json()
        server.requests.append(body)
        if server.status != 200:
            return web.json_response({"error": {"message": "overloaded"}}, status=server.status)
        vectors = await embedder.embed(body["input"])
        if server.dimensions is not None:
            vectors = vectors[:, : server.dimensions]
        data = [
            {"object": "embedding", "index": i, "embedding": v.tolist()}
            for i, v in enumerate(vectors)
        ]
        return web.json_response({"object": "list", "data": data, "model": body["model"]})

    app = web.Application()
    app.router.add_post("/v1/embeddings", embeddings)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield server
    finally:
        await runner.cleanup()

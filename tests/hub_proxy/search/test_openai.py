"""The OpenAI-compatible provider, against a loopback server of the offline model's vectors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from hub_proxy.search import EmbeddingError, SearchIndex, ToolKey
from hub_proxy.search.embedding.local import LocalEmbedder
from hub_proxy.search.embedding.openai import OpenAIEmbedder
from hub_proxy.search.memory import MemoryStore
from tests.hub_proxy.search.conftest import TOOLS
from tests.hub_proxy.search.embeddings_server import embeddings_server


async def test_it_embeds_as_the_model_behind_it(embedder: LocalEmbedder, tmp_path: Path) -> None:
    key_file = tmp_path / "key"
    key_file.write_text("s3cret\n")
    async with embeddings_server(embedder, "s3cret") as server:
        provider = OpenAIEmbedder(server.url, "all-minilm", 384, key_file=key_file)
        try:
            texts = ["create an issue", "weather in Paris"]
            got = await provider.embed(texts)
            np.testing.assert_allclose(got, await embedder.embed(texts), atol=1e-5)
            assert server.requests[-1] == {
                "model": "all-minilm",
                "input": texts,
                "encoding_format": "float",
                "dimensions": 384,
            }
            index = SearchIndex(MemoryStore(), provider)
            await index.open()
            await index.sync(TOOLS)
            ranking = await index.search("open a ticket in GitLab", 1)
            assert ranking.hits[0].key == ToolKey("gitlab", "create_issue")
        finally:
            await provider.close()


@pytest.mark.parametrize(
    ("status", "dimensions", "said"),
    [(503, None, "answered 503: .*overloaded"), (200, 100, "unusable embedding at position 0")],
)
async def test_bad_answers_are_loud(
    embedder: LocalEmbedder, tmp_path: Path, status: int, dimensions: int | None, said: str
) -> None:
    key_file = tmp_path / "key"
    key_file.write_text("k")
    async with embeddings_server(embedder, "k") as server:
        server.status, server.dimensions = status, dimensions
        provider = OpenAIEmbedder(server.url, "all-minilm", 384, key_file=key_file)
        try:
            with pytest.raises(EmbeddingError, match=said):
                await SearchIndex(MemoryStore(), provider).search("weather", 3)
        finally:
            await provider.close()


async def test_an_unreachable_api_is_an_embedding_error() -> None:
    provider = OpenAIEmbedder("http://127.0.0.1:9/v1", "m", 8)
    try:
        with pytest.raises(EmbeddingError, match=r"http://127\.0\.0\.1:9/v1/embeddings failed"):
            await provider.embed(["x"])
    finally:
        await provider.close()

"""An OpenAI-compatible embeddings API as the embedding provider.

``POST {url}/embeddings`` with ``{"model", "input": [texts], "dimensions"?,
"encoding_format": "float"}`` and ``Authorization: Bearer {key}``: the API of
OpenAI and of the servers that copy it (vLLM, Ollama, LiteLLM, text-embeddings-
inference, llama.cpp).  ``dimensions`` is sent only when set, since servers of
fixed-size models reject it.  The key is read from a file (a mounted Secret)
when the provider is made, never taken from the command line, where ``ps``
would show it.

Everything in the answer is checked -- one finite vector of the expected size
per input, at its index -- and anything else is an
:class:`~hub_proxy.search.errors.EmbeddingError` naming the server and what
was wrong: a provider that answers garbage must fail searches loudly, not fill
the index with vectors that rank at random.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Final

import aiohttp
import numpy as np

from hub_proxy.search.embedding import Vectors, normalized
from hub_proxy.search.errors import EmbeddingError

_TIMEOUT: Final = aiohttp.ClientTimeout(total=60, connect=10)


class OpenAIEmbedder:
    """:class:`~hub_proxy.search.embedding.Embedder` over an OpenAI-compatible API."""

    def __init__(
        self,
        url: str,
        model: str,
        dimensions: int,
        *,
        key_file: Path | None = None,
        send_dimensions: bool = True,
    ) -> None:
        self._url = url.rstrip("/") + "/embeddings"
        self._model = model
        self._dimensions = dimensions
        self._send_dimensions = send_dimensions
        self._headers = {"Content-Type": "application/json"}
        if key_file is not None:
            key = key_file.read_text(encoding="utf-8").strip()
            self._headers["Authorization"] = f"Bearer {key}"
        self._session: aiohttp.ClientSession | None = None

    @property
    def model(self) -> str:
        return self._model

    @property
    def dimensions(self) -> int:
        return self._dimensions

    async def embed(self, texts: Sequence[str]) -> Vectors:
        if not texts:
            return np.zeros((0, self._dimensions), dtype=np.float32)
        body: dict[str, Any] = {
            "model": self._model,
            "input": list(texts),
            "encoding_format": "float",
        }
        if self._send_dimensions:
            body["dimensions"] = self._dimensions
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=_TIMEOUT)
        try:
            async with self._session.post(self._url, json=body, headers=self._headers) as answer:
                if answer.status != 200:
                    said = (await answer.text())[:300]
                    raise EmbeddingError(
                        f"the embeddings API {self._url} answered {answer.status}: {said}"
                    )
                payload = await answer.json(content_type=None)
        except (TimeoutError, aiohttp.ClientError, ValueError) as error:
            raise EmbeddingError(
                f"the embeddings API {self._url} failed: {type(error).__name__}: {error}"
            ) from error
        return normalized(self._vectors(payload, len(texts)))

    def _vectors(self, payload: object, count: int) -> Vectors:
        data = payload.get("data") if isinstance(payload, Mapping) else None
        if not isinstance(data, list) or len(data) != count:
            raise EmbeddingError(
                f"the embeddings API {self._url} answered no list of {count} embeddings"
            )
        out = np.zeros((count, self._dimensions), dtype=np.float32)
        seen = set()
        for position, item in enumerate(data):
            index = item.get("index", position) if isinstance(item, Mapping) else None
            vector = item.get("embedding") if isinstance(item, Mapping) else None
            try:
                row = np.asarray(vector, dtype=np.float32)
            except (TypeError, ValueError):
                row = np.zeros(0, dtype=np.float32)
            if (
                not isinstance(index, int)
                or not 0 <= index < count
                or index in seen
                or row.shape != (self._dimensions,)
                or not np.isfinite(row).all()
            ):
                raise EmbeddingError(
                    f"the embeddings API {self._url} answered an unusable embedding at "
                    f"position {position}: {self._dimensions} finite numbers with a distinct "
                    f"index were expected (is --embedding-dimensions right for {self._model}?)"
                )
            seen.add(index)
            out[index] = row
        return out

    async def close(self) -> None:
        if self._session is not None:
            session, self._session = self._session, None
            await session.close()

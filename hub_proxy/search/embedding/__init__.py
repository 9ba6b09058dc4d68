"""Embedding providers: text in, unit vectors out.

Two providers stand behind one :class:`Embedder` protocol:

* :mod:`~hub_proxy.search.embedding.local`, the default: a small sentence
  model run on the CPU by onnxruntime from files a Python package installed,
  so nothing is downloaded when the hub runs;
* :mod:`~hub_proxy.search.embedding.openai`, any OpenAI-compatible
  ``/v1/embeddings`` API (what a production cluster would usually use).

Vectors are L2-normalized float32 rows, so a dot product is the cosine.  An
index records the provider's :attr:`Embedder.model` and
:attr:`Embedder.dimensions`; vectors of two models are never mixed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np
import numpy.typing as npt

Vectors = npt.NDArray[np.float32]


class Embedder(Protocol):
    """Turns texts into unit vectors, without blocking the event loop."""

    @property
    def model(self) -> str:
        """What made the vectors, as recorded in an index: vectors of two models never mix."""
        ...

    @property
    def dimensions(self) -> int: ...

    async def embed(self, texts: Sequence[str]) -> Vectors:
        """One unit row per text, in order; raises EmbeddingError when it cannot."""
        ...

    async def close(self) -> None: ...


def normalized(vectors: npt.NDArray[np.floating]) -> Vectors:
    """Rows scaled to unit length (a zero row stays zero rather than becoming NaN)."""
    rows = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    unit: Vectors = np.divide(rows, norms, out=np.zeros_like(rows), where=norms > 0)
    return unit

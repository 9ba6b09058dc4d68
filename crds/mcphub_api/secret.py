"""``v1`` Secrets, as far as mcphub reads them.

The API's objects point at Secrets -- a remote server's ``Authorization``
header, a container's environment -- and the hub keeps API keys' hashes in
Secrets selected by label.  In a cluster the hub reads them from the API
server; standalone, the same Secret YAML sits in the configuration folder
next to the objects that use it, so one folder runs a hub on a laptop and
``kubectl apply -k`` puts the same thing in a cluster.

Only what mcphub needs is modelled, leniently for what the API server sets
and strictly for what a person writes: ``data`` must be base64, as the API
server requires, and ``stringData`` wins over ``data`` for the same key, as
the API server merges them.
"""

from __future__ import annotations

import base64
import binascii
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from mcphub_api.meta import ObjectMeta


class Secret(BaseModel):
    """A Secret's name, labels and decoded values."""

    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)

    api_version: Literal["v1"] = Field(default="v1", alias="apiVersion")
    kind: Literal["Secret"] = "Secret"
    metadata: ObjectMeta
    data: dict[str, str] = {}
    string_data: dict[str, str] = Field(default={}, alias="stringData")
    type: str = "Opaque"

    @field_validator("data")
    @classmethod
    def _base64(cls, data: dict[str, str]) -> dict[str, str]:
        for key, encoded in data.items():
            try:
                base64.b64decode(encoded, validate=True)
            except (binascii.Error, ValueError):
                raise ValueError(
                    f"data.{key} is not base64; put plain text under stringData instead"
                ) from None
        return data

    def values(self) -> dict[str, bytes]:
        """Every key's value, ``stringData`` over ``data`` as the API server merges them."""
        merged = {key: base64.b64decode(encoded) for key, encoded in self.data.items()}
        merged.update((key, text.encode()) for key, text in self.string_data.items())
        return merged

    def value(self, key: str) -> str | None:
        """One key's value as text, or None if the Secret has no such key (or it is not UTF-8)."""
        raw = self.values().get(key)
        if raw is None:
            return None
        try:
            return raw.decode()
        except UnicodeDecodeError:
            return None

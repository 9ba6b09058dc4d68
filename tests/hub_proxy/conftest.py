"""Fixtures shared by the hub's tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.hub_proxy.test_standalone_hub import Hub, serving


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    """A hub on the standard test folder (time, everything, a group), one per module."""
    yield from serving(tmp_path_factory.mktemp("hub"))

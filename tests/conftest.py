"""Session-wide fixtures: the real parts of the test bed, started once, lazily.

A fixture starts its part only when some selected test asks for it, so a run
of the unit tests alone never pays for a control plane.  Start-up failures
surface as :class:`~tests.testbed.errors.TestbedError`, whose message says
what is missing and how to get it.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.testbed.kube import ControlPlane, running_control_plane
from tests.testbed.postgres import Postgres, running_postgres


@pytest.fixture(scope="session")
def control_plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    with running_control_plane(tmp_path_factory.mktemp("kube")) as plane:
        yield plane


@pytest.fixture(scope="session")
def postgres() -> Iterator[Postgres]:
    with running_postgres() as server:
        yield server

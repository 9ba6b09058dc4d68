"""Session-wide fixtures: the real parts of the test bed, started once, lazily.

A fixture starts its part only when some selected test asks for it, so a run
of the unit tests alone never pays for a control plane.  Start-up failures
surface as :class:`~tests.testbed.errors.TestbedError`, whose message says
what is missing and how to get it.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from tests.testbed.kube import ControlPlane, running_control_plane
from tests.testbed.operator_process import OperatorProcess, start_operator
from tests.testbed.paths import REPO_ROOT
from tests.testbed.postgres import Postgres, running_postgres


@pytest.fixture(scope="session")
def control_plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    with running_control_plane(tmp_path_factory.mktemp("kube")) as plane:
        yield plane


@pytest.fixture(scope="session")
def postgres() -> Iterator[Postgres]:
    with running_postgres() as server:
        yield server


@pytest.fixture(scope="session")
def crds_installed(control_plane: ControlPlane) -> ControlPlane:
    """The control plane with the project's CRDs applied and Established."""
    control_plane.kubectl("apply", "--server-side", "-k", str(REPO_ROOT / "crds"))
    for plural in ("mcpservers", "mcpgroups", "accesspolicies"):
        control_plane.kubectl(
            "wait", "--for=condition=Established", "--timeout=60s", f"crd/{plural}.mcphub.dev"
        )
    return control_plane


@pytest.fixture
def namespace(crds_installed: ControlPlane) -> Iterator[str]:
    """A fresh namespace per test, so tests sharing one control plane never collide."""
    name = f"t-{uuid.uuid4().hex[:8]}"
    crds_installed.kubectl("create", "namespace", name)
    yield name
    crds_installed.kubectl("delete", "namespace", name, "--wait=false")


@pytest.fixture(scope="module")
def operator(
    crds_installed: ControlPlane, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[OperatorProcess]:
    """One operator per test module, so modules that restart it own theirs."""
    process = start_operator(crds_installed, tmp_path_factory.mktemp("operator"))
    yield process
    process.stop()

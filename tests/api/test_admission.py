"""The CRDs on a real API server: samples round-trip, invalid objects are refused."""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml

from mcphub_api.errors import InvalidObjectError
from mcphub_api.loader import parse_object
from mcphub_api.meta import Resource
from tests.api.invalid_objects import INVALID, Invalid
from tests.testbed.errors import TestbedError
from tests.testbed.kube import ControlPlane
from tests.testbed.paths import REPO_ROOT

SAMPLES = REPO_ROOT / "manifests" / "samples"
SAMPLE_FILES = sorted(p for p in SAMPLES.glob("*.yaml") if p.name != "kustomization.yaml")


def contains(stored: Any, applied: Any) -> bool:
    """Whether every field of ``applied`` is in ``stored`` with the same value."""
    if isinstance(applied, dict):
        return isinstance(stored, dict) and all(
            key in stored and contains(stored[key], value) for key, value in applied.items()
        )
    if isinstance(applied, list):
        return (
            isinstance(stored, list)
            and len(stored) == len(applied)
            and all(contains(s, a) for s, a in zip(stored, applied, strict=True))
        )
    return bool(stored == applied)


@pytest.mark.parametrize("sample", SAMPLE_FILES, ids=[p.stem for p in SAMPLE_FILES])
def test_sample_is_accepted_by_server_side_apply_and_reads_back_unchanged(
    crds_installed: ControlPlane, namespace: str, sample: Any
) -> None:
    applied = yaml.safe_load(sample.read_text())
    crds_installed.kubectl(
        "apply", "--server-side", "--field-manager=samples-test", "-n", namespace, "-f", str(sample)
    )
    kind, name = applied["kind"], applied["metadata"]["name"]
    stored = json.loads(crds_installed.kubectl("get", "-n", namespace, kind, name, "-o", "json"))
    assert contains(stored["spec"], applied["spec"]), (applied["spec"], stored["spec"])
    assert stored["metadata"].get("labels") == applied["metadata"].get("labels")
    # What the API server stored (defaults included) is what the loader produces.
    loaded = parse_object({**applied, "metadata": {**applied["metadata"], "namespace": namespace}})
    assert isinstance(loaded, Resource)
    assert loaded.to_wire()["spec"] == stored["spec"]


def test_kubectl_get_shows_the_printer_columns(
    crds_installed: ControlPlane, namespace: str
) -> None:
    crds_installed.kubectl(
        "apply", "--server-side", "-n", namespace, "-f", str(SAMPLES / "mcpserver-time-stdio.yaml")
    )
    table = crds_installed.kubectl("get", "mcps", "-n", namespace)
    header, row = table.splitlines()[:2]
    assert header.split() == ["NAME", "TRANSPORT", "READY", "TOOLS", "URL", "AGE"]
    assert row.split()[:2] == ["time", "stdio"]
    categories = crds_installed.kubectl("get", "mcphub", "-n", namespace, "-o", "name")
    assert "mcpserver.mcphub.dev/time" in categories.split()


def test_kubectl_explain_teaches_the_api(crds_installed: ControlPlane) -> None:
    explained = crds_installed.kubectl("explain", "mcpserver.spec")
    assert "Run the server in pods from a container image. Exclusive with remote." in explained
    assert "How the server speaks MCP" in explained
    deeper = crds_installed.kubectl("explain", "accesspolicy.spec.rules.effect")
    assert "a matching deny always wins" in deeper


def server_refusal(control_plane: ControlPlane, namespace: str, document: dict[str, Any]) -> str:
    try:
        control_plane.kubectl(
            "apply",
            "--server-side",
            "--field-manager=invalid-test",
            "-n",
            namespace,
            "-f",
            "-",
            stdin=json.dumps(document),
        )
    except TestbedError as refused:
        return str(refused)
    pytest.fail(f"the API server accepted {document}")


def loader_refusal(document: dict[str, Any]) -> InvalidObjectError:
    with pytest.raises(InvalidObjectError) as refused:
        parse_object(document)
    return refused.value


@pytest.mark.parametrize("case", INVALID, ids=[case.id for case in INVALID])
def test_invalid_object_is_refused_at_admission_and_by_the_loader_alike(
    crds_installed: ControlPlane, namespace: str, case: Invalid
) -> None:
    server_message = server_refusal(crds_installed, namespace, case.document)
    loader_error = loader_refusal(case.document)
    if case.path:
        assert f"{case.path}:" in server_message, server_message
        assert case.path in [error.path for error in loader_error.errors], str(loader_error)
    if case.message:
        assert case.message in server_message
        assert case.message in str(loader_error)

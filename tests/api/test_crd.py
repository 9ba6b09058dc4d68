"""The committed CRD YAML is exactly what the models generate, and it teaches the API."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from mcphub_api.crd import KINDS, drifted, openapi_schema
from mcphub_api.meta import Resource
from mcphub_api.schema import walk
from tests.testbed.paths import REPO_ROOT


def test_committed_crds_match_the_models() -> None:
    assert drifted() == [], "CRD YAML is stale: run `make crds` and commit the result"


def test_changing_a_model_without_regenerating_fails_the_drift_check(tmp_path: Path) -> None:
    shutil.copytree(REPO_ROOT / "crds", tmp_path / "crds")
    model = tmp_path / "crds" / "mcphub_api" / "mcpserver.py"
    source = model.read_text()
    assert "le=65535" in source
    model.write_text(source.replace("le=65535", "le=65534"))
    check = subprocess.run(
        [sys.executable, "-m", "mcphub_api.crd", "--check"],
        cwd=tmp_path / "crds",
        env={"PYTHONPATH": str(tmp_path / "crds")},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert check.returncode == 1
    assert "mcphub.dev_mcpservers.yaml" in check.stderr
    assert "make crds" in check.stderr


@pytest.mark.parametrize("kind", KINDS, ids=[kind.info.kind for kind in KINDS])
def test_every_field_has_a_description_and_a_type(kind: type[Resource]) -> None:
    schema = openapi_schema(kind)
    for path, node in walk(schema):
        if path == "metadata":
            continue
        if not path.endswith(("[]", "{}")):
            assert node.get("description"), (
                f"{kind.info.kind} {path or '<root>'} has no description"
            )
        assert "type" in node or node.get("x-kubernetes-int-or-string"), (
            f"{kind.info.kind} {path} has no type"
        )
        assert "$ref" not in node
        assert "anyOf" not in node

"""The control-plane build: replace-block generation and fix-it errors."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.testbed import kube_build
from tests.testbed.errors import TestbedError

KUBERNETES_GO_MOD = """module k8s.io/kubernetes

go 1.26.0

require (
	k8s.io/api v0.0.0
	sigs.k8s.io/yaml v1.6.0
)

replace (
	k8s.io/api => ./staging/src/k8s.io/api
	k8s.io/client-go => ./staging/src/k8s.io/client-go // a comment
)
"""

ETCD_GO_MOD = """module go.etcd.io/etcd/server/v3

replace (
	go.etcd.io/etcd/api/v3 => ../api
	go.etcd.io/etcd/client/v3 => ../client/v3
)

// Bad imports are sometimes causing attempts to pull that code.
replace go.etcd.io/etcd => ./FORBIDDEN_DEPENDENCY

replace go.etcd.io/tests/v3 => ./FORBIDDEN_DEPENDENCY
"""


def test_staging_modules_map_to_their_published_release() -> None:
    assert kube_build.staging_replacements(KUBERNETES_GO_MOD, "v0.37.2") == {
        "k8s.io/api": "v0.37.2",
        "k8s.io/client-go": "v0.37.2",
    }


def test_etcd_siblings_map_to_the_server_version_and_guards_are_dropped() -> None:
    assert kube_build.staging_replacements(ETCD_GO_MOD, "v3.6.16") == {
        "go.etcd.io/etcd/api/v3": "v3.6.16",
        "go.etcd.io/etcd/client/v3": "v3.6.16",
    }


def test_prebuilt_assets_folder_missing_binaries_names_them_and_the_fix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "etcd").write_text("#!/bin/sh\n")
    (tmp_path / "etcd").chmod(0o755)
    monkeypatch.setenv(kube_build.ASSETS_ENV, str(tmp_path))
    with pytest.raises(TestbedError) as failure:
        kube_build.require_assets()
    message = str(failure.value)
    assert re.search(
        r"missing from [^:]+: kube-apiserver, kube-controller-manager, kubectl\.", message
    )
    assert "python -m tests.testbed.kube_build" in message


def test_build_without_go_on_path_says_to_install_go(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(kube_build.ASSETS_ENV, raising=False)
    monkeypatch.setenv("MCPHUB_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(TestbedError, match=r"Go toolchain .* is not on PATH"):
        kube_build.ensure_built()

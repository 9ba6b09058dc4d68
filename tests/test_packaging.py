"""Packaging: import names, the wheel, and the images' entrypoints."""

from __future__ import annotations

import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

from mcphub_api.mcpserver import Container
from mcphub_operator.core import workloads
from tests.testbed.paths import REPO_ROOT


def test_import_operator_from_the_repository_root_is_the_standard_library() -> None:
    probe = subprocess.run(
        [sys.executable, "-c", "import operator, mcphub_operator; print(operator.__file__)"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    stdlib = Path(sysconfig.get_paths()["stdlib"]).resolve()
    assert Path(probe.stdout.strip()).resolve().parent == stdlib


def test_the_wheel_holds_the_three_packages_and_no_top_level_operator(tmp_path: Path) -> None:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "-q",
            "-w",
            str(tmp_path),
            str(REPO_ROOT),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (wheel,) = tmp_path.glob("mcphub-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        top_level = {name.split("/")[0] for name in archive.namelist()}
        names = set(archive.namelist())
    assert {"mcphub_api", "mcphub_operator", "hub_proxy"} <= top_level
    assert "operator" not in top_level
    # The dashboard is served from package data: no build step at install or run time.
    assert {
        "hub_proxy/dashboard/templates/base.html",
        "hub_proxy/dashboard/static/dashboard.js",
        "hub_proxy/dashboard/static/dashboard.css",
    } <= names


def test_images_run_the_commands_the_tests_run() -> None:
    stages = (REPO_ROOT / "Dockerfile").read_text().split("\nFROM ")
    entrypoints = {
        stage.split(" AS ")[1].split()[0]: line.removeprefix("ENTRYPOINT ")
        for stage in stages
        if " AS " in stage
        for line in stage.splitlines()
        if line.startswith("ENTRYPOINT ")
    }
    assert entrypoints == {
        "operator": '["python", "-m", "mcphub_operator"]',
        "hub": '["python", "-m", "hub_proxy"]',
    }
    # The sidecar runs the bridge from the hub image.
    bridge = workloads.bridge_sidecar(Container(image="x", command=["x"]), bridge_image="hub")
    assert bridge["command"] == ["python", "-m", "hub_proxy.bridge"]


def test_make_run_installs_the_servers_without_the_test_dependencies() -> None:
    """``make run`` has the runtime lock only: the test bed's installer must not need pytest."""
    blocked = "import sys; sys.modules['pytest'] = None; import tests.testbed.install"
    probe = subprocess.run(
        [sys.executable, "-c", blocked],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert probe.returncode == 0, probe.stderr

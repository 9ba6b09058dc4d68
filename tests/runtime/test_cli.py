"""Every flag of every program is also an MCPHUB_* variable, and they log alike."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.testbed.paths import REPO_ROOT

PROGRAMS = ("hub_proxy", "hub_proxy.bridge", "mcphub_operator")


def run(
    module: str, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=REPO_ROOT,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize("module", PROGRAMS)
def test_help_names_the_variable_of_every_flag(module: str) -> None:
    shown = run(module, "--help", env={"COLUMNS": "1000"})
    assert shown.returncode == 0, shown.stderr
    flags = set(re.findall(r"^\s+(--[a-z][a-z0-9-]+)", shown.stdout, re.MULTILINE)) - {"--help"}
    variables = set(re.findall(r"\[env var: (MCPHUB_[A-Z0-9_]+)\]", shown.stdout))
    assert {"--log-level", "--log-format", "--host", "--port"} <= flags
    assert {"MCPHUB_" + flag[2:].upper().replace("-", "_") for flag in flags} == variables


def test_a_variable_sets_what_its_flag_sets(tmp_path: Path) -> None:
    """The hub refuses an invalid folder the same way, named by flag or by variable."""
    folder = tmp_path / "nothing-here"
    by_flag = run("hub_proxy", "--config", str(folder))
    by_variable = run("hub_proxy", env={"MCPHUB_CONFIG": str(folder)})
    assert by_flag.returncode == by_variable.returncode == 2
    assert str(folder) in by_variable.stderr
    assert by_flag.stderr == by_variable.stderr

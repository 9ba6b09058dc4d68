"""The folder `operator/` must never shadow the standard library's `operator`."""

from __future__ import annotations

import subprocess
import sys
import sysconfig
from pathlib import Path

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

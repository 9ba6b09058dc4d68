"""kstatus itself, to judge the operator's status the way GitOps tools do.

Flux, cli-utils (``kpt live``, the ``kubectl apply --prune`` successors) and
many ``wait`` tools decide whether an object is done with the
``sigs.k8s.io/cli-utils/pkg/kstatus/status`` package: ``Current``,
``InProgress`` or ``Failed``, from ``observedGeneration`` and the
``Reconciling``/``Stalled`` conditions.  Rather than restate its rules in
Python, the tests ask the package: ``tests/testbed/kstatus`` is a command of a
few lines around ``status.Compute``, built with ``go build`` from the Go
modules (pinned in its ``go.mod`` and ``go.sum``) into the test bed's cache,
once; it takes seconds with a warm Go cache and a few minutes without.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from tests.testbed.errors import TestbedError
from tests.testbed.golang import build_program, go_env

SOURCE = Path(__file__).resolve().parent / "kstatus"


@dataclass(frozen=True)
class Result:
    """What kstatus says of one object."""

    status: Literal["Current", "InProgress", "Failed", "Terminating", "Unknown"]
    message: str


def ensure_built() -> Path:
    """The kstatus command, built when its sources changed or it is missing."""
    return build_program(
        SOURCE,
        "kstatus",
        env=go_env(GOFLAGS="-mod=mod"),
        fallback="install Go to build kstatus for the operator's status tests",
    )


def compute(obj: Mapping[str, Any]) -> Result:
    """kstatus' verdict on ``obj`` (a whole object, as the API server returns it)."""
    done = subprocess.run(
        [str(ensure_built())],
        input=json.dumps(obj),
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    if done.returncode != 0:
        raise TestbedError(f"kstatus could not judge the object: {done.stderr.strip()}")
    verdict = json.loads(done.stdout)
    return Result(status=verdict["status"], message=verdict["message"])

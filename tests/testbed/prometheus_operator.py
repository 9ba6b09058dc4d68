"""The Prometheus Operator's CRDs, so the test control plane judges the monitoring objects.

PodMonitor and PrometheusRule are custom resources; without their CRDs an
API server cannot say whether ``manifests/monitoring`` (or the chart with
``monitoring.*.enabled``) would be accepted.  The CRDs ship inside the
operator's Go module, ``example/prometheus-operator-crd``, so the Go module
proxy brings them at a pinned version, as it brings everything else the test
bed compiles; ``go mod download`` caches the module, a few seconds once.
"""

from __future__ import annotations

import json
from pathlib import Path

from tests.testbed.golang import run_go
from tests.testbed.paths import cache_dir

MODULE = "github.com/prometheus-operator/prometheus-operator"
VERSION = "v0.85.0"
KINDS = ("podmonitors", "prometheusrules")


def crd_files() -> list[Path]:
    """The CRD manifests of the kinds mcphub's monitoring uses, from the module cache."""
    work = cache_dir() / "prometheus-operator"
    work.mkdir(parents=True, exist_ok=True)
    info = json.loads(
        run_go(
            ["mod", "download", "-json", f"{MODULE}@{VERSION}"],
            work,
            fallback="install the CRDs of the Prometheus Operator yourself",
        )
    )
    folder = Path(info["Dir"]) / "example" / "prometheus-operator-crd"
    return [folder / f"monitoring.coreos.com_{kind}.yaml" for kind in KINDS]

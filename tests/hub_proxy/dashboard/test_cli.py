"""The dashboard's command-line settings: a bad one stops the hub at start, saying what to fix."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from hub_proxy.auth.principal import Principal
from hub_proxy.dashboard.settings import Admins
from tests.testbed.paths import REPO_ROOT


@pytest.mark.parametrize(
    ("arguments", "complaint"),
    [
        (["--ui-admin", "alice"], "an administrator is KIND:NAME"),
        (["--ui-admin", "APIKey:ci"], "APIKey administrators are APIKey:NAMESPACE/NAME"),
        (["--ui-admin", "ServiceAccount:Bad_NS/x"], "invalid dashboard administrator"),
        (["--ui-oidc-client-id", "dashboard"], "exactly one --oidc-issuer"),
    ],
)
def test_a_bad_dashboard_setting_is_a_usage_error(
    tmp_path: Path, arguments: list[str], complaint: str
) -> None:
    # A process of its own: the hub registers its metrics once per process.
    done = subprocess.run(
        [sys.executable, "-m", "hub_proxy", "--config", str(tmp_path), *arguments],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=REPO_ROOT,
    )
    assert done.returncode == 2, done.stderr
    assert complaint in done.stderr


def test_administrators_are_matched_as_policy_subjects_are() -> None:
    admins = Admins(["Group:ops", "APIKey:team/ci", "ServiceAccount:ns/deployer", "User:root"])
    assert Principal("User", "bob", groups=frozenset({"ops"})) in admins
    assert Principal("User", "root") in admins
    assert Principal("APIKey", "ci", "team") in admins
    # An API key of the same name in another namespace is another key.
    assert Principal("APIKey", "ci", "other") not in admins
    assert Principal("ServiceAccount", "deployer", "ns") in admins
    assert Principal("ServiceAccount", "deployer", "elsewhere") not in admins
    assert Principal("User", "Root") not in admins
    assert Principal("User", "ops") not in admins

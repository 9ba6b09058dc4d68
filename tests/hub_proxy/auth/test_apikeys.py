"""API keys: minted by the CLI, held as hashes in Secrets, refused when unknown or revoked."""

from __future__ import annotations

import base64
import json
import logging
import subprocess
import sys
from typing import Any

import pytest
import yaml

from hub_proxy.auth.apikeys import (
    KEY_PREFIX,
    REVOKED_ANNOTATION,
    APIKeys,
    hash_key,
    main,
    mint_key,
    secret_manifest,
)
from hub_proxy.auth.errors import InvalidCredentialsError, MalformedCredentialsError
from hub_proxy.auth.principal import AUTHENTICATED, Principal
from hub_proxy.catalog import API_KEY_LABEL
from mcphub_api.secret import Secret
from tests.testbed.kube import ControlPlane
from tests.testbed.paths import REPO_ROOT


def secret(
    name: str,
    namespace: str | None = "team-a",
    *,
    string_data: dict[str, str] | None = None,
    data: dict[str, str] | None = None,
    annotations: dict[str, str] | None = None,
    labelled: bool = True,
) -> Secret:
    metadata: dict[str, Any] = {"name": name}
    if namespace is not None:
        metadata["namespace"] = namespace
    if labelled:
        metadata["labels"] = {API_KEY_LABEL: ""}
    if annotations:
        metadata["annotations"] = annotations
    obj = {"apiVersion": "v1", "kind": "Secret", "metadata": metadata}
    if string_data is not None:
        obj["stringData"] = string_data
    if data is not None:
        obj["data"] = data
    return Secret.model_validate(obj)


def key_secret(name: str, key: str, namespace: str | None = "team-a", **extra: Any) -> Secret:
    return secret(name, namespace, string_data={"sha256": hash_key(key)}, **extra)


def test_keys_are_prefixed_random_and_long() -> None:
    keys = {mint_key() for _ in range(100)}
    assert len(keys) == 100
    assert all(k.startswith(KEY_PREFIX) and len(k) == len(KEY_PREFIX) + 43 for k in keys)


def test_a_stored_key_names_its_secret_in_its_namespace() -> None:
    key = mint_key()
    keys = APIKeys([key_secret("ci-bot", key)])
    assert keys.authenticate(key) == Principal(
        "APIKey", "ci-bot", "team-a", frozenset({AUTHENTICATED}), issuer="api-key"
    )


def test_data_is_read_as_the_api_server_returns_it() -> None:
    key = mint_key()
    encoded = base64.b64encode(f"{hash_key(key)}\n".encode()).decode()
    keys = APIKeys([secret("ci-bot", data={"sha256": encoded})])
    assert keys.authenticate(key).name == "ci-bot"


def test_a_secret_without_a_namespace_is_in_default() -> None:
    key = mint_key()
    assert APIKeys([key_secret("laptop", key, None)]).authenticate(key).namespace == "default"


def test_the_same_name_in_another_namespace_is_another_principal() -> None:
    key_a, key_b = mint_key(), mint_key()
    keys = APIKeys([key_secret("bot", key_a, "team-a"), key_secret("bot", key_b, "team-b")])
    a, b = keys.authenticate(key_a), keys.authenticate(key_b)
    assert (a.name, a.namespace, b.name, b.namespace) == ("bot", "team-a", "bot", "team-b")
    assert a != b
    assert a.key != b.key


def test_an_unknown_key_is_refused() -> None:
    keys = APIKeys([key_secret("ci-bot", mint_key())])
    with pytest.raises(InvalidCredentialsError, match="unknown API key") as refused:
        keys.authenticate(mint_key())
    assert refused.value.error == "invalid_token"
    with pytest.raises(MalformedCredentialsError, match="empty"):
        keys.authenticate("")


def test_a_revoked_key_is_refused_as_revoked() -> None:
    key = mint_key()
    keys = APIKeys([key_secret("ci-bot", key, annotations={REVOKED_ANNOTATION: "true"})])
    with pytest.raises(InvalidCredentialsError, match="APIKey team-a/ci-bot is revoked"):
        keys.authenticate(key)


def test_a_revocation_annotation_other_than_true_or_false_revokes(
    caplog: pytest.LogCaptureFixture,
) -> None:
    key, other = mint_key(), mint_key()
    keys = APIKeys(
        [
            key_secret("unsure", key, annotations={REVOKED_ANNOTATION: "yes"}),
            key_secret("kept", other, annotations={REVOKED_ANNOTATION: "false"}),
        ]
    )
    with pytest.raises(InvalidCredentialsError, match="revoked"):
        keys.authenticate(key)
    assert keys.authenticate(other).name == "kept"
    assert 'set it to "true" or "false"' in caplog.text


def test_replacing_the_secrets_takes_effect_at_once() -> None:
    old, new = mint_key(), mint_key()
    keys = APIKeys([key_secret("bot", old)])
    keys.replace([key_secret("bot", new)])
    assert keys.authenticate(new).name == "bot"
    with pytest.raises(InvalidCredentialsError, match="unknown"):
        keys.authenticate(old)
    keys.replace([key_secret("bot", new, annotations={REVOKED_ANNOTATION: "true"})])
    with pytest.raises(InvalidCredentialsError, match="revoked"):
        keys.authenticate(new)
    keys.replace([])
    with pytest.raises(InvalidCredentialsError, match="unknown"):
        keys.authenticate(new)


def test_bad_secrets_are_skipped_with_a_warning_that_says_what_to_fix(
    caplog: pytest.LogCaptureFixture,
) -> None:
    good, leaked = mint_key(), mint_key()
    caplog.set_level(logging.WARNING)
    keys = APIKeys(
        [
            secret("no-hash", string_data={"other": "x"}),
            # The key itself where its hash belongs: refused, and never logged.
            secret("raw-key", string_data={"sha256": leaked}),
            secret("upper", string_data={"sha256": hash_key(good).upper()}),
            secret("not-labelled", string_data={"sha256": hash_key(leaked)}, labelled=False),
            key_secret("good", good),
            key_secret("copy", good, "team-b"),
        ]
    )
    assert len(keys) == 1
    assert keys.authenticate(good) == Principal(
        "APIKey", "good", "team-a", frozenset({AUTHENTICATED}), "api-key"
    )
    with pytest.raises(InvalidCredentialsError, match="unknown"):
        keys.authenticate(leaked)
    assert "Secret team-a/no-hash" in caplog.text
    assert "set stringData.sha256" in caplog.text
    assert "Secret team-a/raw-key" in caplog.text
    assert "never the key itself" in caplog.text
    assert "Secret team-a/upper" in caplog.text
    assert "team-b/copy: another Secret holds the same hash" in caplog.text
    assert "not-labelled" not in caplog.text
    assert leaked not in caplog.text


def test_the_cli_prints_the_key_once_and_a_secret_with_only_its_hash(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["ci-bot", "--namespace", "team-a"]) == 0
    out, err = capsys.readouterr()
    key = err.split()[-1]
    assert key.startswith(KEY_PREFIX)
    assert key not in out
    manifest = yaml.safe_load(out)
    assert manifest == secret_manifest("ci-bot", "team-a", key)
    assert manifest["stringData"] == {"sha256": hash_key(key)}
    assert APIKeys([Secret.model_validate(manifest)]).authenticate(key).name == "ci-bot"


@pytest.mark.parametrize(
    ("argv", "problem"),
    [
        (["CI_Bot"], "cannot name a Secret"),
        (["bot", "--namespace", "Team A"], "cannot name a namespace"),
    ],
)
def test_the_cli_refuses_names_kubernetes_would(
    argv: list[str], problem: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 2
    assert problem in capsys.readouterr().err


def test_the_cli_runs_as_a_module() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "hub_proxy.auth.apikeys", "laptop"],
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO_ROOT,
        timeout=60,
    )
    assert yaml.safe_load(done.stdout)["metadata"]["name"] == "laptop"
    assert KEY_PREFIX in done.stderr


def test_a_minted_secret_applied_to_a_cluster_authenticates_as_read_back(
    crds_installed: ControlPlane, namespace: str, capsys: pytest.CaptureFixture[str]
) -> None:
    main(["ci-bot", "--namespace", namespace])
    out, err = capsys.readouterr()
    key = err.split()[-1]
    crds_installed.kubectl("apply", "-f", "-", stdin=out)
    read = json.loads(
        crds_installed.kubectl("get", "secret", "ci-bot", "-n", namespace, "-o", "json")
    )
    assert "stringData" not in read  # the API server keeps only base64 data
    keys = APIKeys([Secret.model_validate(read)])
    assert keys.authenticate(key) == Principal(
        "APIKey", "ci-bot", namespace, frozenset({AUTHENTICATED}), "api-key"
    )

"""GitOps: Argo CD's health check on status the operator really wrote, and examples that hold.

The health check runs in gopher-lua (the interpreter Argo CD embeds, built
from Go modules by the test bed), read from the very ConfigMap the shipped
kustomization renders, against MCPServers, MCPGroups and AccessPolicies that
the real operator reconciled on the real control plane.  The Flux and Argo
CD examples are checked against what they point at: each path renders, each
health check names an object it renders, each values block passes the chart.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.manifests.helm import helm
from tests.testbed.go_tools import GLUA, run
from tests.testbed.kube import ControlPlane
from tests.testbed.manifests import MANIFESTS, kustomize
from tests.testbed.mcp_servers import running_everything_http
from tests.testbed.operator_process import start_operator
from tests.testbed.paths import REPO_ROOT
from tests.testbed.processes import free_port
from tests.testbed.waiting import eventually

GITOPS = MANIFESTS / "gitops"
API = "mcphub.dev/v1alpha1"
SETTLE_SECONDS = 45.0


def lua_literal(value: Any) -> str:
    """``value`` (decoded JSON) as a Lua constructor, the way Argo CD hands objects to Lua."""
    if isinstance(value, dict):
        return (
            "{"
            + ", ".join(f"[{lua_literal(k)}] = {lua_literal(v)}" for k, v in value.items())
            + "}"
        )
    if isinstance(value, list):
        return "{" + ", ".join(lua_literal(item) for item in value) + "}"
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "nil"
    if isinstance(value, int | float):
        return repr(value)
    # Lua 5.1 strings are bytes: escape every byte that is not plain printable ASCII.
    return (
        '"'
        + "".join(
            chr(byte) if 32 <= byte < 127 and chr(byte) not in '"\\' else f"\\{byte}"
            for byte in str(value).encode()
        )
        + '"'
    )


def health_checks(plane: ControlPlane) -> dict[str, str]:
    """The Lua script per kind, from the argocd-cm keys the shipped kustomization renders."""
    (config,) = kustomize(plane, GITOPS / "argocd" / "health")
    prefix = "resource.customizations.health."
    return {
        key.removeprefix(prefix): script
        for key, script in config["data"].items()
        if key.startswith(prefix)
    }


def argo_health(script: str, obj: dict[str, Any], folder: Path) -> tuple[str, str]:
    """(status, message) of ``obj`` as Argo CD's Lua health check judges it."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "check.lua").write_text(script)
    (folder / "run.lua").write_text(
        f"obj = {lua_literal(obj)}\n"
        f"local hs = dofile({lua_literal(str(folder / 'check.lua'))})\n"
        "io.write(hs.status, '\\n', hs.message or '')\n"
    )
    status, _, message = run(GLUA, str(folder / "run.lua")).partition("\n")
    return status, message


def test_the_check_covers_the_three_kinds(control_plane: ControlPlane) -> None:
    kinds = {
        f"{crd['spec']['group']}_{crd['spec']['names']['kind']}"
        for path in (REPO_ROOT / "crds").glob("mcphub.dev_*.yaml")
        for crd in [yaml.safe_load(path.read_text())]
    }
    assert set(health_checks(control_plane)) == kinds


def test_objects_reach_lua_intact(control_plane: ControlPlane, tmp_path: Path) -> None:
    script = health_checks(control_plane)["mcphub.dev_MCPServer"]
    message = 'a "quoted" \\ back\nslash, ünïcode ✓ and 30%'
    obj = {
        "metadata": {"generation": 3, "labels": {}},
        "status": {
            "observedGeneration": 3,
            "conditions": [{"type": "Ready", "status": "False", "reason": "R", "message": message}],
        },
    }
    assert argo_health(script, obj, tmp_path) == ("Progressing", f"R: {message}")


def _server(name: str, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": API, "kind": "MCPServer", "metadata": {"name": name}, "spec": spec}


def _remote(url: str, **more: Any) -> dict[str, Any]:
    return {"transport": "streamable-http", "remote": {"url": url, **more}}


@pytest.fixture
def everything(tmp_path: Path) -> Iterator[str]:
    with running_everything_http(tmp_path / "everything") as url:
        yield url


def test_argo_cd_health_follows_the_status_the_operator_writes(
    crds_installed: ControlPlane, namespace: str, everything: str, tmp_path: Path
) -> None:
    checks = health_checks(crds_installed)
    missing_secret = {
        "name": "Authorization",
        "valueFrom": {"secretKeyRef": {"name": "nope", "key": "t"}},
    }
    objects = [
        _server("ok", **_remote(everything)),
        _server("down", **_remote(f"http://127.0.0.1:{free_port()}/mcp")),
        _server("no-secret", **_remote(everything, headers=[missing_secret])),
        # No kubelet in the test bed: its pods never run, so it never becomes available.
        _server("starting", transport="streamable-http", container={"image": "x", "port": 80}),
        {"apiVersion": API, "kind": "MCPGroup", "metadata": {"name": "full"},
         "spec": {"servers": [{"name": "ok"}]}},
        {"apiVersion": API, "kind": "MCPGroup", "metadata": {"name": "dangling"},
         "spec": {"servers": [{"name": "ghost"}]}},
        {"apiVersion": API, "kind": "AccessPolicy", "metadata": {"name": "readers"},
         "spec": {"subjects": [{"kind": "User", "name": "alice"}],
                  "rules": [{"groups": ["full"], "actions": ["list"]}]}},
    ]  # fmt: skip
    expected = {
        ("MCPServer", "ok"): "Healthy",
        ("MCPServer", "down"): "Degraded",
        ("MCPServer", "no-secret"): "Degraded",
        ("MCPServer", "starting"): "Progressing",
        ("MCPGroup", "full"): "Healthy",
        ("AccessPolicy", "readers"): "Healthy",
    }
    operator = start_operator(crds_installed, tmp_path / "operator", f"--namespace={namespace}")
    try:
        crds_installed.kubectl(
            "apply", "--server-side", "-n", namespace, "-f", "-",
            stdin="\n---\n".join(json.dumps(o) for o in objects),
        )  # fmt: skip

        def judged(kind: str, name: str) -> tuple[str, str, dict[str, Any]]:
            obj = json.loads(
                crds_installed.kubectl("get", kind, name, "-n", namespace, "-o", "json")
            )
            status, message = argo_health(checks[f"mcphub.dev_{kind}"], obj, tmp_path / name)
            return status, message, obj

        def judged_as(kind: str, name: str, health: str) -> bool:
            status, message, obj = judged(kind, name)
            # Raised, so that a timeout quotes what Argo CD would show instead.
            assert "status" in obj, "no status yet"
            assert status == health, message
            return True

        for (kind, name), health in expected.items():
            eventually(
                functools.partial(judged_as, kind, name, health),
                timeout=SETTLE_SECONDS,
                what=f"Argo CD to judge {kind} {name} {health}",
            )

        def naming_the_missing_member() -> str:
            status, message, _ = judged("MCPGroup", "dangling")
            return status if "ghost" in message else ""

        # A group whose member does not exist is not healthy, and says which member.
        status = eventually(
            naming_the_missing_member,
            timeout=SETTLE_SECONDS,
            what="the operator to report the group's missing member",
        )
        assert status in {"Progressing", "Degraded"}
    finally:
        operator.stop()

    # With the operator away, a changed spec is not yet observed: never Healthy.
    crds_installed.kubectl(
        "patch", "mcpserver", "ok", "-n", namespace, "--type=merge",
        "-p", json.dumps({"spec": {"tools": {"include": ["echo"]}}}),
    )  # fmt: skip
    status, message, obj = judged("MCPServer", "ok")
    assert obj["status"]["observedGeneration"] < obj["metadata"]["generation"]
    assert (status, message) == (
        "Progressing",
        f"Waiting for the operator to observe generation {obj['metadata']['generation']}",
    )
    crds_installed.kubectl(
        "apply", "--server-side", "-n", namespace, "-f", "-",
        stdin=json.dumps(_server("new", **_remote(everything))),
    )  # fmt: skip
    assert judged("MCPServer", "new")[:2] == (
        "Progressing",
        "Waiting for the operator to report status",
    )


def _documents(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def test_flux_kustomizations_check_objects_their_paths_render(control_plane: ControlPlane) -> None:
    (source,) = _documents(GITOPS / "flux" / "source.yaml")
    for flux in _documents(GITOPS / "flux" / "kustomize.yaml"):
        spec = flux["spec"]
        assert spec["sourceRef"] == {"kind": source["kind"], "name": source["metadata"]["name"]}
        rendered = {
            (
                doc["kind"],
                doc["metadata"]["name"],
                spec.get("targetNamespace") or doc["metadata"].get("namespace"),
            )
            for doc in kustomize(control_plane, REPO_ROOT / spec["path"])
        }
        checked = {(c["kind"], c["name"], c["namespace"]) for c in spec["healthChecks"]}
        assert checked <= rendered, f"{flux['metadata']['name']} checks what it does not apply"
        assert checked


def test_the_helm_release_and_the_argo_cd_applications_render(
    control_plane: ControlPlane, tmp_path: Path
) -> None:
    (release,) = _documents(GITOPS / "flux" / "helmrelease.yaml")
    chart = REPO_ROOT / release["spec"]["chart"]["spec"]["chart"]
    values = tmp_path / "flux.yaml"
    values.write_text(yaml.safe_dump(release["spec"]["values"]))
    helm("template", release["spec"]["releaseName"], str(chart), "--values", str(values))
    for application in _documents(GITOPS / "argocd" / "application.yaml"):
        source = application["spec"]["source"]
        if "helm" in source:
            values.write_text(yaml.safe_dump(source["helm"]["valuesObject"]))
            rendered = helm(
                "template", source["helm"]["releaseName"], str(REPO_ROOT / source["path"]),
                "--values", str(values),
            )  # fmt: skip
            assert "kind: Deployment" in rendered
        else:
            assert kustomize(control_plane, REPO_ROOT / source["path"])

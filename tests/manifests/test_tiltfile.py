"""The Tiltfile, run as far as this machine allows, and held against the manifests it applies.

There is no Docker engine here and Tilt is not on the Go module proxy, so
``tilt up`` cannot run.  What can: the Tiltfile executes in go.starlark.net,
the interpreter Tilt embeds (built by the test bed), after stand-ins of the
Tilt functions it calls (``tiltfile_stubs.star``, with Tilt's parameter
names).  The recorded calls are then checked the way Tilt would use them,
against the manifests rendered by the test bed's kubectl:

* every object lands in a resource (none left "uncategorized", which Tilt
  applies in no particular order), every object selector matches one object;
* the resource order respects what each object needs first: its CRD, its
  namespace, its ServiceAccount, and the operator before the hub (the
  operator creates the hub's session key);
* every image of the project that a pod names is one Tilt builds, and the
  bridge image in the operator's environment is rewritten too
  (``match_in_env_vars``), so stdio sidecars run the image Tilt loaded.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.testbed.go_tools import STARLARK, run
from tests.testbed.kube import ControlPlane
from tests.testbed.manifests import kustomize
from tests.testbed.paths import REPO_ROOT

STUBS = REPO_ROOT / "tests" / "manifests" / "tiltfile_stubs.star"
OWN_IMAGES = "ghcr.io/mcphub/"


@dataclass
class Resource:
    name: str
    deps: list[str]
    objects: list[dict[str, Any]] = field(default_factory=list)


def _repository(image: str) -> str:
    return re.split(r"[@]|:(?=[^/]*$)", image, maxsplit=1)[0]


def tilt_calls(folder: Path) -> list[dict[str, Any]]:
    program = folder / "Tiltfile.star"
    program.write_text(
        STUBS.read_text()
        + "\n"
        + (REPO_ROOT / "Tiltfile").read_text()
        + "\nprint(json.encode(tilt_calls))\n"
    )
    output = run(
        STARLARK, "-globalreassign", "-recursion", str(program), cwd=REPO_ROOT, stderr=True
    )
    calls: list[dict[str, Any]] = json.loads(output.strip().splitlines()[-1])
    return calls


def _selected(selector: str, doc: dict[str, Any]) -> bool:
    """Tilt's object selector ``name[:kind[:namespace]]``, case-insensitive."""
    parts = selector.lower().split(":")
    actual = [doc["metadata"]["name"], doc["kind"], doc["metadata"].get("namespace", "")]
    return all(want == got.lower() for want, got in zip(parts, actual, strict=False))


def _pod_labels(doc: dict[str, Any]) -> dict[str, str]:
    labels: dict[str, str] = doc["spec"]["template"]["metadata"]["labels"]
    return labels


def group(calls: list[dict[str, Any]], docs: list[dict[str, Any]]) -> dict[str, Resource]:
    """Objects into resources as Tilt groups them: workloads by name, their Services, selectors."""
    settings = {c["workload"] or c["new_name"]: c for c in calls if c["function"] == "k8s_resource"}
    resources: dict[str, Resource] = {}
    workloads = [d for d in docs if d["kind"] == "Deployment"]
    claimed: list[int] = []
    for workload in workloads:
        name = workload["metadata"]["name"]
        resources[name] = Resource(name, settings.get(name, {}).get("resource_deps", []))
        resources[name].objects.append(workload)
        claimed.append(id(workload))
        for service in (d for d in docs if d["kind"] == "Service"):
            if service["spec"]["selector"].items() <= _pod_labels(workload).items():
                resources[name].objects.append(service)
                claimed.append(id(service))
    for name, call in settings.items():
        if not call["objects"]:
            continue
        resource = resources.setdefault(name, Resource(name, call["resource_deps"]))
        for selector in call["objects"]:
            matches = [d for d in docs if _selected(selector, d) and id(d) not in claimed]
            assert len(matches) == 1, f"{name}: selector {selector!r} matches {len(matches)}"
            resource.objects += matches
            claimed += [id(d) for d in matches]
    unclaimed = [f"{d['kind']}/{d['metadata']['name']}" for d in docs if id(d) not in claimed]
    assert unclaimed == [], "Tilt would apply these as 'uncategorized', in no order"
    return resources


def _before(resources: dict[str, Resource], name: str) -> Iterator[str]:
    """Every resource ``name`` waits for, directly or not."""
    for dep in resources[name].deps:
        assert dep in resources, f"{name} depends on {dep}, which is no resource"
        yield dep
        yield from _before(resources, dep)


@pytest.fixture(scope="module")
def tilt(
    control_plane: ControlPlane, tmp_path_factory: pytest.TempPathFactory
) -> tuple[list[dict[str, Any]], dict[str, Resource]]:
    calls = tilt_calls(tmp_path_factory.mktemp("tilt"))
    docs = [
        doc
        for call in calls
        if call["function"] == "k8s_yaml"
        for doc in kustomize(control_plane, REPO_ROOT / call["yaml"]["kustomize"])
    ]
    return calls, group(calls, docs)


def test_each_object_waits_for_what_it_needs(
    tilt: tuple[list[dict[str, Any]], dict[str, Resource]],
) -> None:
    _, resources = tilt
    home = {
        (doc["kind"], doc["metadata"]["name"]): name
        for name, resource in resources.items()
        for doc in resource.objects
    }
    crds = {
        doc["spec"]["names"]["kind"]: home[(doc["kind"], doc["metadata"]["name"])]
        for resource in resources.values()
        for doc in resource.objects
        if doc["kind"] == "CustomResourceDefinition"
    }
    unmet = []
    for name, resource in resources.items():
        ready = {name, *_before(resources, name)}
        for doc in resource.objects:
            needs = [
                crds.get(doc["kind"]),
                home.get(("Namespace", doc["metadata"].get("namespace"))),
            ]
            if doc["kind"] == "Deployment":
                account = doc["spec"]["template"]["spec"]["serviceAccountName"]
                needs.append(home[("ServiceAccount", account)])
            unmet += [
                (name, doc["metadata"]["name"], need)
                for need in needs
                if need and need not in ready
            ]
    assert unmet == []
    # The operator creates the session key the hub's pods mount.
    assert "mcphub-operator" in set(_before(resources, "mcphub-hub"))


def test_tilt_builds_every_project_image_the_pods_run_and_the_bridge_image(
    tilt: tuple[list[dict[str, Any]], dict[str, Resource]],
) -> None:
    calls, resources = tilt
    builds = {c["ref"]: c for c in calls if c["function"] == "docker_build"}
    stages = set(re.findall(r"^FROM \S+ AS (\S+)$", (REPO_ROOT / "Dockerfile").read_text(), re.M))
    assert {build["target"] for build in builds.values()} <= stages
    containers = [
        container
        for resource in resources.values()
        for doc in resource.objects
        if doc["kind"] == "Deployment"
        for container in doc["spec"]["template"]["spec"]["containers"]
    ]
    images = {_repository(c["image"]) for c in containers if c["image"].startswith(OWN_IMAGES)}
    assert images == set(builds)
    (bridge,) = (
        e["value"]
        for c in containers
        for e in c.get("env", [])
        if e["name"] == "MCPHUB_BRIDGE_IMAGE"
    )
    assert builds[_repository(bridge)]["match_in_env_vars"] is True

"""The control plane is real: CRDs, watches, garbage collection, OpenAPI, kubectl."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from kubernetes import client, config, watch
from kubernetes.client.rest import ApiException

from tests.testbed.errors import TestbedError
from tests.testbed.kube import ControlPlane
from tests.testbed.kube_build import KUBERNETES_VERSION
from tests.testbed.waiting import eventually

GROUP = "testbed.mcphub.dev"
SPEC_DESCRIPTION = "What the widget should look like; a test bed fixture."

WIDGET_CRD: dict[str, Any] = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": f"widgets.{GROUP}"},
    "spec": {
        "group": GROUP,
        "scope": "Namespaced",
        "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
        "versions": [
            {
                "name": "v1",
                "served": True,
                "storage": True,
                "schema": {
                    "openAPIV3Schema": {
                        "type": "object",
                        "properties": {
                            "spec": {
                                "type": "object",
                                "description": SPEC_DESCRIPTION,
                                "properties": {"size": {"type": "integer", "minimum": 1}},
                            }
                        },
                    }
                },
            }
        ],
    },
}


@pytest.fixture(scope="module")
def api(control_plane: ControlPlane) -> client.ApiClient:
    api_client: client.ApiClient = config.new_client_from_config(
        config_file=str(control_plane.kubeconfig)
    )
    return api_client


@pytest.fixture
def namespace(api: client.ApiClient) -> Iterator[str]:
    name = f"testbed-{uuid.uuid4().hex[:8]}"
    core = client.CoreV1Api(api)
    core.create_namespace({"metadata": {"name": name}})
    yield name
    core.delete_namespace(name)


@pytest.fixture(scope="module")
def widget_crd(api: client.ApiClient) -> str:
    extensions = client.ApiextensionsV1Api(api)
    name: str = WIDGET_CRD["metadata"]["name"]
    extensions.create_custom_resource_definition(WIDGET_CRD)

    def established() -> bool:
        crd = extensions.read_custom_resource_definition(name)
        conditions = crd.status.conditions or []
        return any(c.type == "Established" and c.status == "True" for c in conditions)

    eventually(established, timeout=30, what=f"CRD {name} to become Established")
    return name


def is_gone(read: Callable[[], object]) -> bool:
    try:
        read()
    except ApiException as exc:
        if exc.status == 404:
            return True
        raise
    return False


def test_custom_object_created_is_seen_by_a_watch(
    api: client.ApiClient, widget_crd: str, namespace: str
) -> None:
    custom = client.CustomObjectsApi(api)
    listed = custom.list_namespaced_custom_object(GROUP, "v1", namespace, "widgets")
    since = listed["metadata"]["resourceVersion"]
    custom.create_namespaced_custom_object(
        GROUP,
        "v1",
        namespace,
        "widgets",
        {
            "apiVersion": f"{GROUP}/v1",
            "kind": "Widget",
            "metadata": {"name": "w1"},
            "spec": {"size": 3},
        },
    )

    seen = []
    for event in watch.Watch().stream(
        custom.list_namespaced_custom_object,
        GROUP,
        "v1",
        namespace,
        "widgets",
        resource_version=since,
        timeout_seconds=15,
    ):
        seen.append((event["type"], event["object"]["metadata"]["name"]))
        if seen[-1] == ("ADDED", "w1"):
            break
    assert ("ADDED", "w1") in seen


def test_schema_of_the_crd_is_enforced_at_admission(
    api: client.ApiClient, widget_crd: str, namespace: str
) -> None:
    custom = client.CustomObjectsApi(api)
    with pytest.raises(ApiException) as refused:
        custom.create_namespaced_custom_object(
            GROUP,
            "v1",
            namespace,
            "widgets",
            {
                "apiVersion": f"{GROUP}/v1",
                "kind": "Widget",
                "metadata": {"name": "bad"},
                "spec": {"size": 0},
            },
        )
    assert refused.value.status == 422
    assert "spec.size" in str(refused.value.body)


def test_garbage_collector_deletes_deployment_owned_by_deleted_configmap(
    api: client.ApiClient, namespace: str
) -> None:
    core, apps = client.CoreV1Api(api), client.AppsV1Api(api)
    owner = core.create_namespaced_config_map(namespace, {"metadata": {"name": "owner"}})
    labels = {"app": "owned"}
    apps.create_namespaced_deployment(
        namespace,
        {
            "metadata": {
                "name": "owned",
                "ownerReferences": [
                    {
                        "apiVersion": "v1",
                        "kind": "ConfigMap",
                        "name": "owner",
                        "uid": owner.metadata.uid,
                    }
                ],
            },
            "spec": {
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {"containers": [{"name": "c", "image": "example.invalid/none"}]},
                },
            },
        },
    )
    # The Deployment controller of the controller manager makes a ReplicaSet.
    eventually(
        lambda: bool(apps.list_namespaced_replica_set(namespace).items),
        timeout=30,
        what="the Deployment controller to create a ReplicaSet",
    )

    core.delete_namespaced_config_map("owner", namespace)

    eventually(
        lambda: is_gone(lambda: apps.read_namespaced_deployment("owned", namespace)),
        timeout=60,
        what="garbage collection of the Deployment owned by the deleted ConfigMap",
    )


def test_served_openapi_describes_the_crd(control_plane: ControlPlane, widget_crd: str) -> None:
    def published() -> bool:
        try:
            control_plane.kubectl("get", "--raw", f"/openapi/v3/apis/{GROUP}/v1")
        except TestbedError:  # not published yet
            return False
        return True

    eventually(published, timeout=30, what="the CRD's OpenAPI v3 document")
    document = json.loads(control_plane.kubectl("get", "--raw", f"/openapi/v3/apis/{GROUP}/v1"))
    schema = document["components"]["schemas"]["dev.mcphub.testbed.v1.Widget"]
    assert schema["properties"]["spec"]["description"] == SPEC_DESCRIPTION

    explained = control_plane.kubectl("explain", "widgets.spec")
    assert SPEC_DESCRIPTION in explained


def test_kubectl_and_server_are_the_pinned_release(control_plane: ControlPlane) -> None:
    versions = json.loads(control_plane.kubectl("version", "--output=json"))
    assert versions["clientVersion"]["gitVersion"] == KUBERNETES_VERSION
    assert versions["serverVersion"]["gitVersion"] == KUBERNETES_VERSION

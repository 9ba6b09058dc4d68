"""The Deployment and Service an ``MCPServer`` with a container should have.

Pure functions from spec to manifest: the reconciler applies their output
with server-side apply on every pass, so a restart, a duplicate event or a
hand edit all converge to the same objects.  Nothing here reads the cluster.

The pod is locked down by default -- non-root, no privilege escalation, all
capabilities dropped, RuntimeDefault seccomp, read-only root filesystem with a
writable ``/tmp``, no service-account token -- because an MCP server executes
whatever a language model asks it to.  ``spec.container.podTemplate`` is the
escape hatch for a server that needs more.

A ``stdio`` server keeps its own image and entrypoint.  A native sidecar
(an init container with ``restartPolicy: Always``, so it starts first and
stays up) runs the bridge, which creates two named pipes on a shared
in-memory volume and serves MCP over HTTP.  The server container runs its
entrypoint with stdin and stdout redirected to those pipes by ``/bin/sh``.
That is why a stdio server must name its command: the operator cannot read an
image's entrypoint without pulling it.
"""

from __future__ import annotations

import copy
from typing import Any

from mcphub_api import MCPServer
from mcphub_api.mcpserver import Container, EnvFromSource, EnvVar

Manifest = dict[str, Any]

FIELD_MANAGER = "mcphub-operator"
SERVER_LABEL = "mcphub.dev/server"
BRIDGE_DIR = "/var/run/mcphub"
BRIDGE_CONTAINER = "mcp-bridge"
SERVER_CONTAINER = "server"
PORT_NAME = "mcp"
NON_ROOT_ID = 65532
STDIO_WRAPPER = f'exec "$@" <{BRIDGE_DIR}/stdin >{BRIDGE_DIR}/stdout'
DEFAULT_RESOURCES: Manifest = {
    "requests": {"cpu": "10m", "memory": "64Mi"},
    "limits": {"memory": "512Mi"},
}
BRIDGE_RESOURCES: Manifest = {
    "requests": {"cpu": "10m", "memory": "48Mi"},
    "limits": {"memory": "128Mi"},
}


def labels(server: MCPServer) -> dict[str, str]:
    return {
        "app.kubernetes.io/name": "mcp-server",
        "app.kubernetes.io/instance": server.metadata.name,
        "app.kubernetes.io/component": "mcp-server",
        "app.kubernetes.io/part-of": "mcphub",
        "app.kubernetes.io/managed-by": FIELD_MANAGER,
        SERVER_LABEL: server.metadata.name,
    }


def owner_reference(server: MCPServer) -> Manifest:
    return {
        "apiVersion": server.api_version,
        "kind": server.kind,
        "name": server.metadata.name,
        "uid": server.metadata.uid,
        "controller": True,
        "blockOwnerDeletion": True,
    }


def service_url(server: MCPServer, container: Container) -> str:
    return (
        f"http://{server.metadata.name}.{server.metadata.namespace}.svc:"
        f"{container.port}{container.path}"
    )


def _metadata(server: MCPServer) -> Manifest:
    return {
        "name": server.metadata.name,
        "namespace": server.metadata.namespace,
        "labels": labels(server),
        "ownerReferences": [owner_reference(server)],
    }


def _container_security() -> Manifest:
    return {
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def _env(variables: list[EnvVar] | None) -> list[Manifest]:
    declared = [variable.to_wire() for variable in variables or []]
    # A read-only root filesystem leaves /tmp as the only writable place, and
    # many servers (npm caches, Python user dirs) write under $HOME.
    if not any(variable["name"] == "HOME" for variable in declared):
        declared.append({"name": "HOME", "value": "/tmp"})  # noqa: S108 - a private emptyDir
    return declared


def _env_from(sources: list[EnvFromSource] | None) -> list[Manifest]:
    return [source.to_wire() for source in sources or []]


def _tcp_probe(period: int, failures: int) -> Manifest:
    return {"tcpSocket": {"port": PORT_NAME}, "periodSeconds": period, "failureThreshold": failures}


def _http_probe(path: str, period: int, failures: int) -> Manifest:
    return {
        "httpGet": {"path": path, "port": PORT_NAME},
        "periodSeconds": period,
        # The bridge's /readyz pings the server process with a 2 s budget.
        "timeoutSeconds": 3,
        "failureThreshold": failures,
    }


def _server_container(server: MCPServer, container: Container) -> Manifest:
    manifest: Manifest = {
        "name": SERVER_CONTAINER,
        "image": container.image,
        "env": _env(container.env),
        "resources": container.resources.to_wire() if container.resources else DEFAULT_RESOURCES,
        "securityContext": _container_security(),
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],  # noqa: S108 - emptyDir
    }
    if container.env_from:
        manifest["envFrom"] = _env_from(container.env_from)
    if server.spec.transport == "stdio":
        manifest["command"] = ["/bin/sh", "-c", STDIO_WRAPPER, "mcphub-stdio"]
        manifest["args"] = [*(container.command or []), *(container.args or [])]
        manifest["volumeMounts"].append({"name": "bridge", "mountPath": BRIDGE_DIR})
        return manifest
    if container.command:
        manifest["command"] = list(container.command)
    if container.args:
        manifest["args"] = list(container.args)
    manifest["ports"] = [{"name": PORT_NAME, "containerPort": container.port, "protocol": "TCP"}]
    manifest["readinessProbe"] = _tcp_probe(period=5, failures=3)
    manifest["livenessProbe"] = _tcp_probe(period=20, failures=6)
    return manifest


def bridge_sidecar(container: Container, bridge_image: str) -> Manifest:
    return {
        "name": BRIDGE_CONTAINER,
        "image": bridge_image,
        "restartPolicy": "Always",
        "command": ["python", "-m", "hub_proxy.bridge"],
        "args": [
            "--fifo-dir",
            BRIDGE_DIR,
            "--host",
            "0.0.0.0",  # noqa: S104 - the pod's own address, reached through the Service
            "--port",
            str(container.port),
            "--path",
            container.path,
        ],
        "ports": [{"name": PORT_NAME, "containerPort": container.port, "protocol": "TCP"}],
        # The kubelet starts the server container only once this passes, so
        # the named pipes exist before the shell opens them.
        "startupProbe": _http_probe("/healthz", period=1, failures=60),
        "readinessProbe": _http_probe("/readyz", period=5, failures=2),
        "livenessProbe": _http_probe("/healthz", period=20, failures=3),
        "resources": BRIDGE_RESOURCES,
        "securityContext": _container_security(),
        "volumeMounts": [{"name": "bridge", "mountPath": BRIDGE_DIR}],
    }


def _pod_spec(server: MCPServer, container: Container, bridge_image: str) -> Manifest:
    volumes: list[Manifest] = [{"name": "tmp", "emptyDir": {}}]
    spec: Manifest = {
        "automountServiceAccountToken": container.service_account_name is not None,
        "enableServiceLinks": False,
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": NON_ROOT_ID,
            "runAsGroup": NON_ROOT_ID,
            "fsGroup": NON_ROOT_ID,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "containers": [_server_container(server, container)],
        "volumes": volumes,
    }
    if container.service_account_name:
        spec["serviceAccountName"] = container.service_account_name
    if server.spec.transport == "stdio":
        spec["initContainers"] = [bridge_sidecar(container, bridge_image)]
        volumes.append({"name": "bridge", "emptyDir": {"medium": "Memory", "sizeLimit": "1Mi"}})
    return spec


def merge_override(base: Any, override: Any) -> Any:
    """Merge a partial pod template over the generated one.

    Mappings merge key by key; lists of named items (containers, volumes,
    env) merge item by item on ``name``, like a strategic merge patch; any
    other value in the override replaces the generated one.
    """
    if isinstance(base, dict) and isinstance(override, dict):
        merged = dict(base)
        for key, value in override.items():
            merged[key] = merge_override(base[key], value) if key in base else copy.deepcopy(value)
        return merged
    if isinstance(base, list) and isinstance(override, list) and _named(base) and _named(override):
        by_name = {item["name"]: item for item in base}
        merged_list = [merge_override(item, _find(override, item["name"])) for item in base]
        merged_list += [copy.deepcopy(item) for item in override if item["name"] not in by_name]
        return merged_list
    return copy.deepcopy(override)


def _named(items: list[Any]) -> bool:
    return all(isinstance(item, dict) and "name" in item for item in items)


def _find(items: list[Manifest], name: str) -> Manifest:
    return next((item for item in items if item["name"] == name), {})


def deployment(server: MCPServer, bridge_image: str) -> Manifest:
    container = server.spec.container
    if container is None:
        raise ValueError(f"MCPServer {server.metadata.name} has no container")
    selector = {SERVER_LABEL: server.metadata.name}
    template: Manifest = {
        "metadata": {"labels": labels(server)},
        "spec": _pod_spec(server, container, bridge_image),
    }
    if container.pod_template:
        template = merge_override(template, container.pod_template)
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _metadata(server),
        "spec": {
            "replicas": container.replicas,
            "selector": {"matchLabels": selector},
            "template": template,
        },
    }


def service(server: MCPServer) -> Manifest:
    container = server.spec.container
    if container is None:
        raise ValueError(f"MCPServer {server.metadata.name} has no container")
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _metadata(server),
        "spec": {
            "type": "ClusterIP",
            "selector": {SERVER_LABEL: server.metadata.name},
            "ports": [
                {
                    "name": PORT_NAME,
                    "port": container.port,
                    "targetPort": PORT_NAME,
                    "protocol": "TCP",
                    "appProtocol": "http",
                }
            ],
        },
    }

"""Objects the API must refuse, each with the field the refusal has to name.

One table serves two tests: admission by the real API server and the
standalone loader.  ``path`` is the field both must name (``""`` for a rule on
the whole object); ``message`` is a fragment both must contain, given for CEL
rules, whose text is the same in both by construction.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from mcphub_api.meta import API_VERSION


@dataclass(frozen=True)
class Invalid:
    id: str
    document: dict[str, Any]
    path: str
    message: str = ""


def _server(spec: dict[str, Any], name: str = "bad-server") -> dict[str, Any]:
    return {
        "apiVersion": API_VERSION,
        "kind": "MCPServer",
        "metadata": {"name": name},
        "spec": spec,
    }


def _group(spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": API_VERSION,
        "kind": "MCPGroup",
        "metadata": {"name": "bad-group"},
        "spec": spec,
    }


def _policy(spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": API_VERSION,
        "kind": "AccessPolicy",
        "metadata": {"name": "bad-policy"},
        "spec": spec,
    }


CONTAINER = {"image": "mcp/time:latest"}
REMOTE = {"url": "https://mcp.example.com/mcp"}
SUBJECTS = [{"kind": "Group", "name": "developers"}]
RULES = [{"servers": ["*"], "actions": ["list"]}]


def _with(base: dict[str, Any], **changes: Any) -> dict[str, Any]:
    merged = copy.deepcopy(base)
    merged.update(changes)
    return merged


INVALID: tuple[Invalid, ...] = (
    # MCPServer
    Invalid(
        "both-container-and-remote",
        _server({"container": CONTAINER, "remote": REMOTE}),
        "spec",
        "set exactly one of spec.container",
    ),
    Invalid(
        "neither-container-nor-remote",
        _server({"transport": "sse"}),
        "spec",
        "set exactly one of spec.container",
    ),
    Invalid(
        "stdio-remote",
        _server({"transport": "stdio", "remote": REMOTE}),
        "spec.transport",
        "transport stdio needs spec.container",
    ),
    Invalid(
        "unknown-transport",
        _server({"transport": "grpc", "container": CONTAINER}),
        "spec.transport",
    ),
    Invalid("port-zero", _server({"container": _with(CONTAINER, port=0)}), "spec.container.port"),
    Invalid(
        "port-too-high", _server({"container": _with(CONTAINER, port=70000)}), "spec.container.port"
    ),
    Invalid(
        "container-without-image", _server({"container": {"port": 8080}}), "spec.container.image"
    ),
    Invalid(
        "remote-url-not-http",
        _server({"remote": {"url": "ftp://mcp.example.com"}}),
        "spec.remote.url",
    ),
    Invalid(
        "header-value-and-secret",
        _server(
            {
                "remote": _with(
                    REMOTE,
                    headers=[
                        {
                            "name": "Authorization",
                            "value": "Bearer x",
                            "valueFrom": {"secretKeyRef": {"name": "token", "key": "token"}},
                        }
                    ],
                )
            }
        ),
        "spec.remote.headers[0]",
        "set exactly one of value or valueFrom",
    ),
    Invalid(
        "header-without-value",
        _server({"remote": _with(REMOTE, headers=[{"name": "Authorization"}])}),
        "spec.remote.headers[0]",
        "set exactly one of value or valueFrom",
    ),
    Invalid(
        "duplicate-tool-override",
        _server({"container": CONTAINER, "tools": {"overrides": [{"name": "a"}, {"name": "a"}]}}),
        "spec.tools.overrides",
        'duplicate entries for key [name="a"]',
    ),
    Invalid(
        "duplicate-tool-alias",
        _server(
            {
                "container": CONTAINER,
                "tools": {
                    "overrides": [{"name": "a", "alias": "same"}, {"name": "b", "alias": "same"}]
                },
            }
        ),
        "spec.tools.overrides",
        "tool aliases must be unique",
    ),
    Invalid(
        "alias-with-spaces",
        _server(
            {"container": CONTAINER, "tools": {"overrides": [{"name": "a", "alias": "my tool"}]}}
        ),
        "spec.tools.overrides[0].alias",
    ),
    Invalid(
        "flat-image-field", _server({"image": "mcp/time", "container": CONTAINER}), "spec.image"
    ),
    Invalid(
        "unknown-session-mode",
        _server({"container": CONTAINER, "sessionMode": "sticky"}),
        "spec.sessionMode",
    ),
    Invalid(
        "negative-replicas",
        _server({"container": _with(CONTAINER, replicas=-1)}),
        "spec.container.replicas",
    ),
    Invalid(
        "env-value-and-value-from",
        _server(
            {
                "container": _with(
                    CONTAINER,
                    env=[
                        {
                            "name": "TOKEN",
                            "value": "x",
                            "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}},
                        }
                    ],
                )
            }
        ),
        "spec.container.env[0]",
        "set value or valueFrom, not both",
    ),
    Invalid(
        "env-from-nothing",
        _server({"container": _with(CONTAINER, envFrom=[{"prefix": "X_"}])}),
        "spec.container.envFrom[0]",
        "set exactly one of secretRef or configMapRef",
    ),
    Invalid(
        "path-without-slash",
        _server({"container": _with(CONTAINER, path="mcp")}),
        "spec.container.path",
    ),
    Invalid(
        "name-not-a-subdomain",
        _server({"container": CONTAINER}, name="Time_Server"),
        "metadata.name",
    ),
    Invalid(
        "name-not-a-dns-label",
        _server({"container": CONTAINER}, name="time.v2"),
        "",
        "metadata.name must be a DNS label",
    ),
    # MCPGroup
    Invalid(
        "group-without-members",
        _group({"smartRouting": {"enabled": True}}),
        "spec",
        "a group needs members",
    ),
    Invalid(
        "selector-in-without-values",
        _group({"selector": {"matchExpressions": [{"key": "team", "operator": "In"}]}}),
        "spec.selector.matchExpressions[0].values",
        "values must be non-empty for In and NotIn",
    ),
    Invalid(
        "selector-unknown-operator",
        _group({"selector": {"matchExpressions": [{"key": "team", "operator": "Equals"}]}}),
        "spec.selector.matchExpressions[0].operator",
    ),
    Invalid(
        "duplicate-member",
        _group({"servers": [{"name": "time"}, {"name": "time"}]}),
        "spec.servers",
        'duplicate entries for key [name="time"]',
    ),
    Invalid(
        "default-limit-zero",
        _group({"servers": [{"name": "time"}], "smartRouting": {"defaultLimit": 0}}),
        "spec.smartRouting.defaultLimit",
    ),
    Invalid(
        "default-limit-above-max",
        _group(
            {"servers": [{"name": "time"}], "smartRouting": {"defaultLimit": 20, "maxLimit": 10}}
        ),
        "spec.smartRouting.defaultLimit",
        "defaultLimit must not exceed maxLimit",
    ),
    Invalid(
        "min-score-above-one",
        _group({"servers": [{"name": "time"}], "smartRouting": {"minScore": 1.5}}),
        "spec.smartRouting.minScore",
    ),
    # AccessPolicy
    Invalid("no-subjects", _policy({"subjects": [], "rules": RULES}), "spec.subjects"),
    Invalid(
        "unknown-subject-kind",
        _policy({"subjects": [{"kind": "Robot", "name": "r2"}], "rules": RULES}),
        "spec.subjects[0].kind",
    ),
    Invalid(
        "service-account-without-namespace",
        _policy({"subjects": [{"kind": "ServiceAccount", "name": "ci"}], "rules": RULES}),
        "spec.subjects[0].namespace",
        "namespace is required for a ServiceAccount",
    ),
    Invalid(
        "user-with-namespace",
        _policy(
            {"subjects": [{"kind": "User", "name": "alice", "namespace": "ci"}], "rules": RULES}
        ),
        "spec.subjects[0].namespace",
        "namespace is required for a ServiceAccount",
    ),
    Invalid(
        "rule-without-target",
        _policy({"subjects": SUBJECTS, "rules": [{"actions": ["call"]}]}),
        "spec.rules[0]",
        "a rule needs a target",
    ),
    Invalid(
        "rule-without-actions",
        _policy({"subjects": SUBJECTS, "rules": [{"servers": ["*"], "actions": []}]}),
        "spec.rules[0].actions",
    ),
    Invalid(
        "unknown-action",
        _policy({"subjects": SUBJECTS, "rules": [{"servers": ["*"], "actions": ["delete"]}]}),
        "spec.rules[0].actions[0]",
    ),
    Invalid(
        "unknown-effect",
        _policy(
            {
                "subjects": SUBJECTS,
                "rules": [{"effect": "maybe", "servers": ["*"], "actions": ["call"]}],
            }
        ),
        "spec.rules[0].effect",
    ),
    Invalid(
        "tool-glob-with-space",
        _policy(
            {
                "subjects": SUBJECTS,
                "rules": [{"servers": ["*"], "tools": ["get time"], "actions": ["call"]}],
            }
        ),
        "spec.rules[0].tools[0]",
    ),
    *(
        Invalid(
            f"non-canonical-resource-glob-{number}",
            _policy(
                {
                    "subjects": SUBJECTS,
                    "rules": [{"servers": ["*"], "resources": [glob], "actions": ["read"]}],
                }
            ),
            "spec.rules[0].resources",
            "resource globs are matched against canonical URIs",
        )
        for number, glob in enumerate(
            (
                "DEMO://resource/dynamic/*",
                "demo://Resource/dynamic/*",
                "demo://user@RESOURCE/*",
                "demo://resource/static/../dynamic/*",
                "demo://resource/./dynamic/*",
                "demo://resource/dynamic/..",
            )
        )
    ),
)

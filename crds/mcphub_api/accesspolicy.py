"""``AccessPolicy``: who may list and call what, through the hub.

A policy binds subjects (users and groups from JWT claims, API keys,
Kubernetes ServiceAccounts) to rules.  Each rule names targets (servers and
groups, by glob), items (tools, prompts, resources, by glob) and actions.
Deny wins over allow, and no matching allow means no access: a policy can
only ever open what it names, so a typo closes rather than opens.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from mcphub_api.meta import (
    APIModel,
    Conditions,
    Glob,
    KindInfo,
    Resource,
    age_column,
    api_config,
    cel,
    ready_column,
)

Action = Literal["list", "call", "read", "get"]

# What a resource glob must not hold (RE2 syntax, for CEL): an upper-case scheme,
# an upper-case host, a "." or ".." segment.
_UPPER_SCHEME = "^[^:/]*[A-Z][^:/]*:"
_UPPER_HOST = "^[^:/]*://([^/@]*@)?[^/@]*[A-Z]"
_DOT_SEGMENT = "(^|/)[.][.]?(/|$)"


class Subject(APIModel):
    """Someone a policy applies to."""

    model_config = api_config(
        cel(
            "self.kind == 'ServiceAccount' ? has(self.__namespace__) : !has(self.__namespace__)",
            "namespace is required for a ServiceAccount and only allowed for one",
            field_path=".namespace",
        )
    )

    kind: Literal["User", "Group", "APIKey", "ServiceAccount"]
    """User and Group match JWT claims; APIKey an API key by name; ServiceAccount a token."""

    name: str = Field(min_length=1, max_length=256)
    """The user (sub claim), group (groups claim), API key or ServiceAccount name."""

    namespace: str | None = Field(
        default=None, max_length=63, pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
    )
    """Namespace of the ServiceAccount; only for kind ServiceAccount."""


class Rule(APIModel):
    """Allow or deny some actions on some items of some servers or groups."""

    model_config = api_config(
        cel(
            "(has(self.servers) && size(self.servers) > 0) || "
            "(has(self.groups) && size(self.groups) > 0)",
            "a rule needs a target: list servers, groups, or both (globs such as '*' work)",
        ),
        # The hub matches resource globs against canonical URIs (RFC 3986
        # normalized: scheme and host in lower case, no dot segments); a glob in
        # another form would never match, which for a deny means it never denies.
        cel(
            "!has(self.resources) || self.resources.all(r, "
            f"!r.matches('{_UPPER_SCHEME}') && !r.matches('{_UPPER_HOST}') "
            f"&& !r.matches('{_DOT_SEGMENT}'))",
            "resource globs are matched against canonical URIs: write the scheme and host in "
            "lower case and leave out '.' and '..' path segments",
            field_path=".resources",
        ),
    )

    effect: Literal["allow", "deny"] = "allow"
    """allow or deny; a matching deny always wins."""

    servers: list[Glob] | None = Field(default=None, max_length=64)
    """Glob patterns of MCPServer names the rule covers."""

    groups: list[Glob] | None = Field(default=None, max_length=64)
    """Glob patterns of MCPGroup names the rule covers."""

    tools: list[Glob] | None = Field(default=None, max_length=64)
    """Globs of tool names or aliases; unset: all tools if the rule names no kind, else none."""

    prompts: list[Glob] | None = Field(default=None, max_length=64)
    """Globs of prompt names; unset: all prompts if the rule names no kind, else none."""

    resources: list[Glob] | None = Field(default=None, max_length=64)
    """Globs of canonical resource URIs (lower-case scheme and host, no . or .. segments) or
    of templates; unset: all if the rule names no kind, else none."""

    actions: list[Action] = Field(min_length=1, max_length=4)
    """What the rule covers: list (see items), call (tools), read (resources), get (prompts)."""


class AccessPolicySpec(APIModel):
    """Desired state of an AccessPolicy: subjects and the rules that bind them."""

    subjects: list[Subject] = Field(min_length=1, max_length=256)
    """Who the policy applies to."""

    rules: list[Rule] = Field(min_length=1, max_length=64)
    """What the subjects may or may not do."""


class AccessPolicyStatus(APIModel):
    """Observed state of an AccessPolicy: whether it is in force and what it resolves to."""

    observed_generation: int | None = Field(default=None, ge=0)
    """The metadata.generation this status describes."""

    conditions: Conditions | None = None
    """Ready, and ReferencesResolved naming servers or groups that do not exist."""

    subject_count: int | None = Field(default=None, ge=0)
    """Number of subjects."""

    rule_count: int | None = Field(default=None, ge=0)
    """Number of rules."""

    server_count: int | None = Field(default=None, ge=0)
    """Number of existing MCPServers the rules cover."""

    group_count: int | None = Field(default=None, ge=0)
    """Number of existing MCPGroups the rules cover."""


class AccessPolicy(Resource):
    """Who may list and call which tools, prompts and resources through the hub."""

    info: ClassVar[KindInfo] = KindInfo(
        kind="AccessPolicy",
        plural="accesspolicies",
        singular="accesspolicy",
        short_names=("mcpap",),
        description=__doc__ or "",
        printer_columns=(
            {"name": "Subjects", "type": "integer", "jsonPath": ".status.subjectCount"},
            {"name": "Rules", "type": "integer", "jsonPath": ".status.ruleCount"},
            ready_column(),
            age_column(),
        ),
    )

    kind: Literal["AccessPolicy"] = "AccessPolicy"
    spec: AccessPolicySpec
    """Subjects and rules."""

    status: AccessPolicyStatus | None = None
    """What the operator observed."""

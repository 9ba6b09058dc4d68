"""How the dashboard is configured, and who its administrators are.

An administrator sees what everyone does: every server (those the policies
hide from them included), the activity of every principal, and "who can"
for any subject; with ``--ui-write``, standalone, only an administrator may
change the configuration folder.  Administrators are named as AccessPolicy
subjects are (``Group:NAME``, ``User:NAME``, ``APIKey:NAMESPACE/NAME``,
``ServiceAccount:NAMESPACE/NAME``), and a principal is matched against them by
the hub's own :class:`~hub_proxy.auth.policy.Evaluator`, over a policy that
grants one thing to these subjects: a second matcher of subjects would be a
second set of rules for who is who.

Being an administrator grants no MCP access: a tool tried from the dashboard
is called through the hub as the signed-in principal, and the AccessPolicies
decide that call as any other.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Final

import pydantic

from hub_proxy.auth.errors import AuthConfigError
from hub_proxy.auth.policy import Evaluator, Item
from hub_proxy.auth.principal import Principal
from mcphub_api import AccessPolicy

SESSION_SECONDS: Final = 8 * 60 * 60
_ADMIN_TARGET: Final = "mcphub.dev/dashboard"
_ADMIN_ITEM: Final = Item("tool", _ADMIN_TARGET, ("administer",))
_KINDS: Final = ("User", "Group", "APIKey", "ServiceAccount")


@dataclass(frozen=True)
class OIDCSettings:
    """Sign-in with an OpenID Connect issuer: authorization code with PKCE."""

    issuer: str
    client_id: str
    client_secret: str | None = field(default=None, repr=False)
    scopes: tuple[str, ...] = ("openid", "profile")


@dataclass(frozen=True)
class DashboardSettings:
    """What the command line says about the dashboard."""

    # Standalone only: add, edit and remove servers in the configuration folder.
    write: bool = False
    admins: tuple[str, ...] = ()
    oidc: OIDCSettings | None = None
    # The hub's URL as browsers reach it, for the OIDC redirect; default: from each request.
    public_url: str | None = None
    session_seconds: float = SESSION_SECONDS


class Admins:
    """Whether a principal is one of the dashboard's administrators."""

    def __init__(self, subjects: Sequence[str]) -> None:
        policies = list(_admin_policies(subjects))
        self._evaluator = Evaluator(policies, {})
        self.named = tuple(subjects)

    def __contains__(self, principal: object) -> bool:
        return isinstance(principal, Principal) and self._evaluator.allows(
            principal, "list", _ADMIN_ITEM
        )


def _admin_policies(subjects: Iterable[str]) -> Iterable[AccessPolicy]:
    # One policy per namespace: an APIKey subject is matched in its policy's namespace.
    by_namespace: dict[str, list[dict[str, str]]] = {}
    for spec in subjects:
        namespace, subject = parse_subject(spec)
        by_namespace.setdefault(namespace, []).append(subject)
    for namespace, listed in sorted(by_namespace.items()):
        try:
            yield AccessPolicy.model_validate(
                {
                    "metadata": {"name": "dashboard-admins", "namespace": namespace},
                    "spec": {
                        "subjects": listed,
                        "rules": [{"servers": [_ADMIN_TARGET], "actions": ["list"]}],
                    },
                }
            )
        except pydantic.ValidationError as exc:
            problems = "; ".join(str(error["msg"]) for error in exc.errors())
            raise AuthConfigError(f"invalid dashboard administrator: {problems}") from None


def parse_subject(spec: str) -> tuple[str, dict[str, str]]:
    """``KIND:NAME`` or ``KIND:NAMESPACE/NAME`` as (policy namespace, AccessPolicy subject)."""
    kind, separator, rest = spec.partition(":")
    if not separator or kind not in _KINDS or not rest:
        raise AuthConfigError(
            f"an administrator is KIND:NAME with KIND one of {', '.join(_KINDS)} "
            f"(APIKey and ServiceAccount as KIND:NAMESPACE/NAME), not {spec!r}"
        )
    if kind in ("User", "Group"):
        return "default", {"kind": kind, "name": rest}
    namespace, slash, name = rest.rpartition("/")
    if not slash or not namespace or not name:
        raise AuthConfigError(f"{kind} administrators are {kind}:NAMESPACE/NAME, not {spec!r}")
    if kind == "APIKey":
        return namespace, {"kind": kind, "name": name}
    return "default", {"kind": kind, "name": name, "namespace": namespace}

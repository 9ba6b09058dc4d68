"""The caller, as authentication established it.

A principal is a value: frozen, hashable, comparable.  Its :attr:`Principal.key`
names *who* it is independently of *how* they proved it this time, which is what
a session is bound to: a client whose JWT is refreshed, or whose
ServiceAccount token is rotated, keeps its session; someone else presenting
that session's id does not get it.  Groups are not part of the identity --
they change as memberships do, and every request is authorized with the
groups of the credentials it carries.

The kinds are the AccessPolicy subject kinds that name an identity: ``User``
(a JWT's subject), ``APIKey`` and ``ServiceAccount``.  Groups come with the
principal (a JWT's groups claim, a ServiceAccount's groups from TokenReview),
and every principal is in ``system:authenticated`` or, for the anonymous one,
``system:unauthenticated``, as in Kubernetes, so a policy can grant either
population without listing names.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

AUTHENTICATED: Final = "system:authenticated"
UNAUTHENTICATED: Final = "system:unauthenticated"

PrincipalKind = Literal["User", "APIKey", "ServiceAccount"]


@dataclass(frozen=True)
class Principal:
    """Someone the hub has identified (or, where enabled, the anonymous caller)."""

    kind: PrincipalKind
    name: str
    # APIKey: the namespace of the Secret holding its hash.  ServiceAccount: its namespace.
    namespace: str | None = None
    groups: frozenset[str] = frozenset()
    # Who vouched for the name: a JWT issuer, "kubernetes" for TokenReview, "api-key",
    # "anonymous".  Two issuers may both have a user "alice"; they are two principals.
    issuer: str = ""

    @property
    def key(self) -> str:
        """A stable identity, independent of the credential presented this time."""
        where = f"{self.namespace}/" if self.namespace is not None else ""
        return f"{self.kind}:{self.issuer}:{where}{self.name}"

    def __str__(self) -> str:
        where = f"{self.namespace}/" if self.namespace is not None else ""
        return f"{self.kind} {where}{self.name}"


ANONYMOUS: Final = Principal(
    "User", "system:anonymous", groups=frozenset({UNAUTHENTICATED}), issuer="anonymous"
)

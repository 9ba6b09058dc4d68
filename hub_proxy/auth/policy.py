"""Authorization: what a principal may list, call, read and get, decided in one place.

Every path of the hub -- filtering a list, a ``tools/call``, a
``resources/read``, a ``prompts/get``, a completion, and the smart-routing
search -- asks the same :class:`Evaluator` the same question: may *this*
principal do *this* action to *this* item?  One evaluator answering every
path is the whole defence against path tricks: a decision depends on who is
asking, the action and the item (which server it lives on, what it is
called), never on the endpoint (``/mcp``, ``/mcp/{group}``, ``/mcp/{server}``)
the request came through.  A tool denied through a group is denied through its
server's endpoint and through ``/mcp`` alike, so trying another door gets the
caller nothing.

What an item is.  An :class:`Item` is a tool, prompt or resource of one
server, with every name it is known by.  A tool has two when the server's
tool policy aliases it: the server's own name, then the alias.  A rule's item
globs match *any* of them, so a deny written against the upstream name keeps
covering the tool after someone aliases it, and a deny written against the
alias covers it too: renaming a tool is not a way around a policy.  A group's
tool filters, though, apply to the *published* name (the alias if any, the own
name otherwise, ``names[-1]``), because that is the name the group itself
filters on when it publishes; a policy sees a group's tools exactly as the
group's clients do.  A prompt is known by its name, a resource by its URI (or a
resource template by its ``uriTemplate``).

Who a rule applies to.  A policy's subjects match a principal by exact,
case-sensitive string comparison, with no Unicode normalization: ``Alice`` is
not ``alice`` and a Cyrillic ``\u0430`` is not a Latin ``a``.  Normalizing would
let whoever can choose a name that normalizes to someone else's (an identity
provider that accepts look-alikes, a self-service username) inherit that
someone's grants.  A ``User`` subject matches a user principal by name; a
``Group`` matches any principal carrying the group; an ``APIKey`` matches a
key of that name *held in the policy's own namespace*, so a team that can
create a key Secret in its namespace cannot borrow grants written for another
namespace's key of the same name; a ``ServiceAccount`` matches by name and the
namespace the subject names.

What a rule covers.  A rule covers an item when all of these hold:

* its target: the item's server matches one of ``servers``, or a group whose
  name matches one of ``groups`` has that server as a member -- and, for a
  tool, the member's tool filter lets the tool's published name through.  A
  group target means "what this group publishes", not "anything of any server
  in it": a tool the group hides is not granted by a grant on the group.
* its items: a rule that names none of ``tools``, ``prompts``, ``resources``
  covers every item of its targets; a rule that names some covers only items
  of the kinds it names.  ``tools: ["get_*"]`` is about tools and grants no
  prompt -- reading it as "and everything else of the server" would make
  narrowing one kind silently open the others.  An empty list is named, and
  matches nothing.
* its action: ``list`` applies to every kind, ``call`` only to tools, ``read``
  only to resources and ``get`` only to prompts.

Globs are shell-style and case-sensitive (:func:`fnmatch.fnmatchcase`
semantics), like every other glob of the API.

The decision.  A covering deny anywhere decides "denied"; otherwise a
covering allow decides "allowed"; otherwise the answer is "denied" and no
policy decided it.  Deny wins across policies, so a cluster admin's deny
cannot be undone by a team's allow; and nothing is open that no policy opened,
so a typo in a policy closes rather than opens.  The :class:`Decision` names
the policy (``namespace/name``) and the rule (its index in ``spec.rules``)
that decided, for the audit log.  When several could, the first wins in the
order of policy namespace, policy name and rule index, so the same policies
always give the same answer whatever order the catalog read them in.

Whether a server exists, for a caller.  Someone who may list nothing of a
server must not learn that it exists, from an endpoint or a status page, any
more than a hidden tool can be learnt of by calling it.  :meth:`Evaluator.sees`
answers that from the rules alone -- some allow on listing some kind of the
server's items, not undone by a deny of every item of that kind -- because
items come and go with the server's health, and a name must not flicker
between known and unknown while a server restarts.  A group is known, too,
to whoever a rule grants it by name (:meth:`Evaluator.sees_group`), even
before any member exists.

Speed.  A list of hundreds of tools is filtered item by item on every
request, and authentication plus authorization of a call has a budget of
0.2 ms, so the evaluator does its work up front.  It is built once per change
of policies or catalog (the hub builds a new one and swaps it in), compiling
every glob to a regular expression and resolving every group glob to the
member servers and filters it targets.  Per principal it remembers the rules
whose subjects match, denies first (shared by the principals the same
policies name), and per action, kind and server which of those rules can cover
an item there and what is left to check; per (principal, action, item) it
remembers the decision.  These memories are bounded, because principals and
items are unbounded populations.  Since an evaluator never changes after it is
built, nothing it remembers can go stale: a change makes a new evaluator with
empty memories.
"""

from __future__ import annotations

import fnmatch
import re
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Final, Literal, TypeVar

from hub_proxy.auth.principal import Principal
from mcphub_api import AccessPolicy
from mcphub_api.accesspolicy import Action, Rule, Subject
from mcphub_api.mcpgroup import ToolFilter
from mcphub_api.toolpolicy import passes

__all__ = ["Action", "Decision", "Evaluator", "Groups", "Item", "ItemKind"]

ItemKind = Literal["tool", "prompt", "resource"]

Groups = Mapping[str, Mapping[str, ToolFilter | None]]
"""The groups the hub serves: group name -> member server name -> its tool filter."""

# The one kind each action applies to; list applies to all of them.
_KIND_OF_ACTION: Final[Mapping[Action, ItemKind | None]] = {
    "list": None,
    "call": "tool",
    "read": "resource",
    "get": "prompt",
}

_KINDS: Final[tuple[ItemKind, ...]] = ("tool", "prompt", "resource")
_NOTHING: Final = "(?!)"  # a regular expression that never matches

PRINCIPAL_CACHE_SIZE: Final = 4096
DECISION_CACHE_SIZE: Final = 65536


@dataclass(frozen=True, slots=True)
class Item:
    """A tool, prompt or resource of one server, by every name it is known by.

    ``names`` is the server's own name of the item, then, for an aliased tool,
    its alias; a resource's names is its URI (or a template's uriTemplate).
    """

    kind: ItemKind
    server: str
    names: tuple[str, ...]

    def __post_init__(self) -> None:
        if not self.names:
            raise ValueError(f"a {self.kind} of {self.server} needs a name")

    @property
    def published(self) -> str:
        """The name clients see, and the one a group's tool filters apply to."""
        return self.names[-1]


@dataclass(frozen=True, slots=True)
class Decision:
    """Whether an action is allowed, and which policy and rule decided it."""

    allowed: bool
    policy: str | None
    """``namespace/name`` of the deciding policy; None when no policy covered the item."""
    rule: int | None
    """Index in the deciding policy's ``spec.rules``."""
    reason: str


NO_MATCHING_ALLOW: Final = Decision(False, None, None, "no matching allow")


def _glob(patterns: Iterable[str]) -> re.Pattern[str]:
    """One regex that matches what any of ``patterns`` matches under fnmatchcase."""
    # A target or item list that is absent or empty covers nothing.
    return re.compile("|".join(fnmatch.translate(pattern) for pattern in patterns) or _NOTHING)


@dataclass(frozen=True, slots=True)
class _Applied:
    """What is left to check of one rule for the items of one kind on one server."""

    # None: every item of the kind.
    names: re.Pattern[str] | None
    # For tools of a server that the rule targets only through groups: the filters of
    # those groups, one of which must let the tool through.  None: nothing to pass.
    filters: tuple[ToolFilter, ...] | None
    # Shared by every decision the rule makes: a covered item costs no allocation.
    decision: Decision

    def covers(self, item: Item) -> bool:
        if self.names is not None and not any(self.names.match(name) for name in item.names):
            return False
        return self.filters is None or any(passes(item.published, f) for f in self.filters)


@dataclass(frozen=True, slots=True)
class _CompiledRule:
    servers: re.Pattern[str]
    # The group names the rule targets, as written (whether the groups exist or not).
    groups: re.Pattern[str]
    # Server -> its tool filters in the groups the rule targets; None when one of
    # those groups publishes all of its tools.
    members: Mapping[str, tuple[ToolFilter, ...] | None]
    # Item kind -> glob of its names; None when the rule names no kind (it covers all).
    names: Mapping[ItemKind, re.Pattern[str]] | None
    actions: frozenset[Action]
    deny: bool
    decision: Decision

    def applied(self, action: Action, kind: ItemKind, server: str) -> _Applied | None:
        """This rule for ``action`` on items of ``kind`` on ``server``; None if it covers none."""
        if action not in self.actions:
            return None
        names = None
        if self.names is not None:
            names = self.names.get(kind)
            if names is None:
                return None
        if self.servers.match(server):
            return _Applied(names, None, self.decision)
        if server not in self.members:
            return None
        return _Applied(names, self.members[server] if kind == "tool" else None, self.decision)


def _compile(rule: Rule, index: int, policy: str, groups: Groups) -> _CompiledRule:
    targeted = _glob(rule.groups or ())
    members: dict[str, list[ToolFilter | None]] = {}
    for group, servers in groups.items():
        if targeted.match(group):
            for server, tool_filter in servers.items():
                members.setdefault(server, []).append(tool_filter)
    kinds: tuple[tuple[ItemKind, list[str] | None], ...] = (
        ("tool", rule.tools),
        ("prompt", rule.prompts),
        ("resource", rule.resources),
    )
    named = {kind: _glob(patterns) for kind, patterns in kinds if patterns is not None}
    return _CompiledRule(
        servers=_glob(rule.servers or ()),
        groups=targeted,
        members={server: _unless_unfiltered(filters) for server, filters in members.items()},
        names=named or None,
        actions=frozenset(rule.actions),
        deny=rule.effect == "deny",
        decision=Decision(rule.effect == "allow", policy, index, f"matching {rule.effect}"),
    )


def _unless_unfiltered(filters: list[ToolFilter | None]) -> tuple[ToolFilter, ...] | None:
    """The filters, or None when one group publishes everything and the rest cannot narrow it."""
    narrowing = tuple(f for f in filters if f is not None)
    return None if len(narrowing) < len(filters) else narrowing


# How a subject and a principal meet: ("User" | "Group", name), or
# ("APIKey" | "ServiceAccount", namespace, name).
_Identity = tuple[str, ...]


def _subject_identity(subject: Subject, policy_namespace: str) -> _Identity | None:
    if subject.kind in ("User", "Group"):
        return (subject.kind, subject.name)
    if subject.kind == "APIKey":
        return ("APIKey", policy_namespace, subject.name)
    # Admission refuses a ServiceAccount without a namespace; one built around
    # admission names nobody rather than every namespace's account.
    if subject.namespace is None:
        return None
    return ("ServiceAccount", subject.namespace, subject.name)


def _principal_identities(principal: Principal) -> list[_Identity]:
    identities: list[_Identity] = [("Group", group) for group in principal.groups]
    if principal.kind == "User":
        identities.append(("User", principal.name))
    elif principal.namespace is not None:
        identities.append((principal.kind, principal.namespace, principal.name))
    return identities


K = TypeVar("K")
V = TypeVar("V")


class _Bounded(OrderedDict[K, V]):
    """A memory of at most ``size`` entries that forgets the oldest first.

    Oldest rather than least recently used: a hit then costs one lookup and no
    reordering, and what is forgotten takes microseconds to work out again.
    """

    def __init__(self, size: int) -> None:
        super().__init__()
        self._size = size

    def remember(self, key: K, value: V) -> None:
        self[key] = value
        if len(self) > self._size:
            self.popitem(last=False)


class _Grants:
    """The rules of the policies naming a principal, denies first, and what is left per server.

    What is left is worked out the first time a (action, kind, server) comes up
    and then kept: a list of hundreds of tools from a few servers checks a few
    rules per tool instead of every rule.  Servers come from the catalog, so
    this memory is bounded by what the hub serves.
    """

    def __init__(self, rules: Sequence[_CompiledRule]) -> None:
        self._rules = rules
        self._left: dict[tuple[Action, ItemKind, str], tuple[_Applied, ...]] = {}
        self._sees: dict[str, bool] = {}
        self._sees_groups: dict[str, bool] = {}

    def applying(self, action: Action, kind: ItemKind, server: str) -> tuple[_Applied, ...]:
        key = (action, kind, server)
        left = self._left.get(key)
        if left is None:
            applied = (rule.applied(action, kind, server) for rule in self._rules)
            left = self._left[key] = tuple(a for a in applied if a is not None)
        return left

    def sees(self, server: str) -> bool:
        """Whether some rule lets the principal list something of ``server``."""
        seen = self._sees.get(server)
        if seen is None:
            seen = self._sees[server] = any(self._lists(kind, server) for kind in _KINDS)
        return seen

    def sees_group(self, group: str) -> bool:
        """Whether a rule naming ``group`` lets the principal list what it publishes."""
        seen = self._sees_groups.get(group)
        if seen is None:
            seen = self._sees_groups[group] = self._lists_group(group)
        return seen

    def _lists_group(self, group: str) -> bool:
        for rule in self._rules:  # denies first
            if "list" not in rule.actions or not rule.groups.match(group):
                continue
            if not rule.deny:
                return True
            if rule.names is None:
                return False  # a deny of everything the group publishes
        return False

    def _lists(self, kind: ItemKind, server: str) -> bool:
        for applied in self.applying("list", kind, server):
            if applied.decision.allowed:
                if applied.names is not None and applied.names.pattern == _NOTHING:
                    continue  # an allow of an empty list of names opens nothing
                return True
            if applied.names is None and applied.filters is None:
                return False  # a deny of every item of the kind, ahead of any allow
        return False


class Evaluator:
    """Decides from the AccessPolicies in force what principals may do; immutable once built."""

    def __init__(
        self,
        policies: Iterable[AccessPolicy],
        groups: Groups,
        *,
        principal_cache_size: int = PRINCIPAL_CACHE_SIZE,
        decision_cache_size: int = DECISION_CACHE_SIZE,
    ) -> None:
        ordered = sorted(policies, key=lambda p: (p.metadata.namespace, p.metadata.name))
        self._rules = [
            tuple(
                _compile(rule, index, f"{p.metadata.namespace}/{p.metadata.name}", groups)
                for index, rule in enumerate(p.spec.rules)
            )
            for p in ordered
        ]
        self._policies_of: dict[_Identity, set[int]] = {}
        for number, policy in enumerate(ordered):
            for subject in policy.spec.subjects:
                identity = _subject_identity(subject, policy.metadata.namespace)
                if identity is not None:
                    self._policies_of.setdefault(identity, set()).add(number)
        self._grants: _Bounded[Principal, _Grants] = _Bounded(principal_cache_size)
        self._shared: _Bounded[tuple[int, ...], _Grants] = _Bounded(principal_cache_size)
        self._decisions: _Bounded[tuple[Principal, Action, Item], Decision] = _Bounded(
            decision_cache_size
        )

    def decide(self, principal: Principal, action: Action, item: Item) -> Decision:
        """Whether ``principal`` may ``action`` ``item``, and which policy says so."""
        key = (principal, action, item)
        decision = self._decisions.get(key)
        if decision is None:
            decision = self._evaluate(principal, action, item)
            self._decisions.remember(key, decision)
        return decision

    def allows(self, principal: Principal, action: Action, item: Item) -> bool:
        return self.decide(principal, action, item).allowed

    def sees(self, principal: Principal, server: str) -> bool:
        """Whether ``principal`` may list anything at all of ``server``, judged by the rules.

        Items are not looked at: a server that is down, or not listed yet, has
        none, and whether it is known to a caller must not change with that.
        So this errs on the side of "yes": an allow narrowed to names the
        server happens not to have still counts, while no allow, or a deny of
        every item of every kind, is "no".  Remembered per server with the
        principal's grants.
        """
        return self._grants_of(principal).sees(server)

    def sees_group(self, principal: Principal, group: str) -> bool:
        """Whether a rule naming ``group`` (a glob matching it) lets ``principal`` list in it.

        A group is known to whoever is granted it by name, even while it has
        no member, or none that exists yet: its members come and go.
        """
        return self._grants_of(principal).sees_group(group)

    def _evaluate(self, principal: Principal, action: Action, item: Item) -> Decision:
        kind = _KIND_OF_ACTION[action]
        if kind is not None and kind != item.kind:
            return Decision(False, None, None, f"{action} does not apply to a {item.kind}")
        for applied in self._grants_of(principal).applying(action, item.kind, item.server):
            if applied.covers(item):
                return applied.decision
        return NO_MATCHING_ALLOW

    def _grants_of(self, principal: Principal) -> _Grants:
        grants = self._grants.get(principal)
        if grants is None:
            # A set: one policy may name the principal twice (as a user and by a group).
            numbers = tuple(
                sorted(
                    {
                        number
                        for identity in _principal_identities(principal)
                        for number in self._policies_of.get(identity, ())
                    }
                )
            )
            # Principals named by the same policies (a team's members, say) share
            # their grants, and with them what was worked out per server.
            grants = self._shared.get(numbers)
            if grants is None:
                rules = [rule for number in numbers for rule in self._rules[number]]
                # A stable sort: denies first, each kind still in policy and rule order.
                rules.sort(key=lambda rule: not rule.deny)
                grants = _Grants(rules)
                self._shared.remember(numbers, grants)
            self._grants.remember(principal, grants)
        return grants

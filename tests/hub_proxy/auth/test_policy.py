"""The policy evaluator: every rule of who, what, which action, and deny-wins."""

from __future__ import annotations

from typing import Any

import pytest

from hub_proxy.auth.policy import Action, Decision, Evaluator, Groups, Item
from hub_proxy.auth.principal import ANONYMOUS, AUTHENTICATED, UNAUTHENTICATED, Principal
from mcphub_api import AccessPolicy
from mcphub_api.mcpgroup import ToolFilter

ALICE = Principal("User", "alice", groups=frozenset({AUTHENTICATED}), issuer="https://idp")
BOB = Principal("User", "bob", groups=frozenset({AUTHENTICATED, "admins"}), issuer="https://idp")
KEY = Principal("APIKey", "ci", namespace="team", groups=frozenset({AUTHENTICATED}))
ROBOT = Principal("ServiceAccount", "robot", namespace="team", groups=frozenset({AUTHENTICATED}))

ECHO = Item("tool", "everything", ("echo",))
GREETING = Item("prompt", "everything", ("greeting",))
README = Item("resource", "everything", ("file:///readme.md",))


def policy(name: str, subjects: list[dict[str, str]], *rules: dict[str, Any]) -> AccessPolicy:
    namespace, _, name = name.rpartition("/")
    return AccessPolicy.model_validate(
        {
            "metadata": {"name": name, "namespace": namespace or "team"},
            "spec": {"subjects": subjects, "rules": list(rules)},
        }
    )


def user(name: str) -> dict[str, str]:
    return {"kind": "User", "name": name}


def group(name: str) -> dict[str, str]:
    return {"kind": "Group", "name": name}


def allow(**fields: Any) -> dict[str, Any]:
    return {"effect": "allow", "actions": ["list", "call", "read", "get"], **fields}


def deny(**fields: Any) -> dict[str, Any]:
    return {"effect": "deny", "actions": ["list", "call", "read", "get"], **fields}


def evaluator(*policies: AccessPolicy, groups: Groups | None = None) -> Evaluator:
    return Evaluator(policies, groups or {})


def called(ev: Evaluator, principal: Principal, item: Item = ECHO) -> bool:
    return ev.allows(principal, "call", item)


# --- decisions --------------------------------------------------------------


def test_no_policy_denies_with_no_policy_named() -> None:
    assert evaluator().decide(ALICE, "call", ECHO) == Decision(
        False, None, None, "no matching allow"
    )


def test_an_allow_names_the_policy_and_rule_that_decided() -> None:
    ev = evaluator(
        policy("team/tools", [user("alice")], deny(servers=["other"]), allow(servers=["*"]))
    )
    assert ev.decide(ALICE, "call", ECHO) == Decision(True, "team/tools", 1, "matching allow")


def test_deny_wins_over_allow_within_a_policy() -> None:
    ev = evaluator(
        policy("p", [user("alice")], allow(servers=["*"]), deny(tools=["echo"], servers=["*"]))
    )
    assert ev.decide(ALICE, "call", ECHO) == Decision(False, "team/p", 1, "matching deny")


def test_deny_wins_over_allow_across_policies_whatever_their_order() -> None:
    # "a" sorts before "z": the allow comes first in every order, and still loses.
    granting = policy("a/grant", [user("alice")], allow(servers=["*"]))
    refusing = policy("z/refuse", [group(AUTHENTICATED)], deny(servers=["everything"]))
    for ev in (evaluator(granting, refusing), evaluator(refusing, granting)):
        assert ev.decide(ALICE, "call", ECHO) == Decision(False, "z/refuse", 0, "matching deny")


def test_the_first_policy_by_namespace_and_name_decides_among_equals() -> None:
    first = policy("a/one", [user("alice")], allow(servers=["*"]))
    second = policy("a/two", [user("alice")], allow(servers=["*"]))
    assert evaluator(second, first).decide(ALICE, "call", ECHO).policy == "a/one"


def test_a_deny_for_someone_else_does_not_apply() -> None:
    ev = evaluator(
        policy("grant", [user("alice")], allow(servers=["*"])),
        policy("refuse", [user("bob")], deny(servers=["*"])),
    )
    assert called(ev, ALICE)
    assert not called(ev, BOB)


# --- subjects ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("subject", "principal", "matches"),
    [
        (user("alice"), ALICE, True),
        (user("Alice"), ALICE, False),
        (user("ALICE"), ALICE, False),
        (user("\u0430lice"), ALICE, False),  # Cyrillic a
        (user("alice "), ALICE, False),
        (user("ci"), KEY, False),  # a user subject names users only
        (group("admins"), BOB, True),
        (group("Admins"), BOB, False),
        (group("\u0430dmins"), BOB, False),
        (group("admins"), ALICE, False),
        (group(AUTHENTICATED), ROBOT, True),
        ({"kind": "APIKey", "name": "ci"}, KEY, True),
        ({"kind": "APIKey", "name": "CI"}, KEY, False),
        ({"kind": "APIKey", "name": "ci"}, Principal("APIKey", "ci", namespace="other"), False),
        ({"kind": "APIKey", "name": "ci"}, Principal("User", "ci"), False),
        ({"kind": "ServiceAccount", "name": "robot", "namespace": "team"}, ROBOT, True),
        ({"kind": "ServiceAccount", "name": "robot", "namespace": "other"}, ROBOT, False),
        ({"kind": "ServiceAccount", "name": "Robot", "namespace": "team"}, ROBOT, False),
        (
            {"kind": "ServiceAccount", "name": "robot", "namespace": "team"},
            Principal("User", "robot"),
            False,
        ),
        # The same name and namespace as an API key is still not a ServiceAccount.
        ({"kind": "ServiceAccount", "name": "ci", "namespace": "team"}, KEY, False),
    ],
)
def test_subjects_match_exactly(
    subject: dict[str, str], principal: Principal, matches: bool
) -> None:
    ev = evaluator(policy("team/p", [subject], allow(servers=["*"])))
    assert called(ev, principal) is matches


def test_the_anonymous_caller_is_granted_through_the_unauthenticated_group() -> None:
    ev = evaluator(
        policy("open", [group(UNAUTHENTICATED)], allow(servers=["public"])),
        policy("members", [group(AUTHENTICATED)], allow(servers=["*"])),
    )
    assert called(ev, ANONYMOUS, Item("tool", "public", ("echo",)))
    assert not called(ev, ANONYMOUS, ECHO)
    assert called(ev, ALICE, ECHO)


def test_an_api_key_matches_only_in_the_policy_namespace() -> None:
    subject = {"kind": "APIKey", "name": "ci"}
    ev = evaluator(policy("other/p", [subject], allow(servers=["*"])))
    assert not called(ev, KEY)
    assert called(ev, Principal("APIKey", "ci", namespace="other"))


def test_a_service_account_subject_without_a_namespace_names_nobody() -> None:
    # Admission refuses it; a policy constructed around admission must not match every namespace.
    subject = {"kind": "ServiceAccount", "name": "robot"}
    ev = evaluator(policy("team/p", [subject], allow(servers=["*"])))
    assert not called(ev, ROBOT)
    assert not called(ev, Principal("ServiceAccount", "robot"))


def test_a_user_is_matched_by_name_and_by_group_in_one_policy() -> None:
    ev = evaluator(policy("p", [user("bob"), group("admins")], allow(servers=["*"])))
    assert ev.decide(BOB, "call", ECHO) == Decision(True, "team/p", 0, "matching allow")


# --- targets ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("servers", "covered"),
    [
        (["everything"], True),
        (["every*"], True),
        (["*"], True),
        (["ever?thing"], True),
        (["[a-f]verything"], True),
        (["other", "everything"], True),
        (["Everything"], False),
        (["EVERY*"], False),
        (["every"], False),
        (["everything-else"], False),
    ],
)
def test_servers_are_case_sensitive_globs(servers: list[str], covered: bool) -> None:
    ev = evaluator(policy("p", [user("alice")], allow(servers=servers)))
    assert called(ev, ALICE) is covered


def test_a_look_alike_server_is_not_covered() -> None:
    ev = evaluator(policy("p", [user("alice")], allow(servers=["everything"])))
    assert not called(ev, ALICE, Item("tool", "\u0435verything", ("echo",)))  # Cyrillic e


GROUPS: Groups = {
    "public": {"everything": ToolFilter(include=["echo", "add"]), "time": None},
    "ops": {"git": ToolFilter(exclude=["git_push"])},
}


def test_a_group_target_covers_its_members() -> None:
    ev = evaluator(policy("p", [user("alice")], allow(groups=["public"])), groups=GROUPS)
    assert called(ev, ALICE, ECHO)
    assert called(ev, ALICE, Item("tool", "time", ("get_current_time",)))


def test_a_group_target_does_not_cover_a_server_outside_the_group() -> None:
    ev = evaluator(policy("p", [user("alice")], allow(groups=["public"])), groups=GROUPS)
    assert not called(ev, ALICE, Item("tool", "git", ("git_status",)))


def test_group_globs_are_case_sensitive() -> None:
    ev = evaluator(policy("p", [user("alice")], allow(groups=["Public", "pub"])), groups=GROUPS)
    assert not called(ev, ALICE)


def test_a_group_target_honors_the_members_tool_filter() -> None:
    ev = evaluator(policy("p", [user("alice")], allow(groups=["*"])), groups=GROUPS)
    hidden = Item("tool", "everything", ("longRunningOperation",))
    assert not ev.allows(ALICE, "call", hidden)
    assert not ev.allows(ALICE, "list", hidden)
    assert not called(ev, ALICE, Item("tool", "git", ("git_push",)))
    assert called(ev, ALICE, Item("tool", "git", ("git_status",)))


def test_a_group_filter_applies_to_the_published_name() -> None:
    groups: Groups = {"g": {"everything": ToolFilter(include=["say"])}}
    ev = evaluator(policy("p", [user("alice")], allow(groups=["g"])), groups=groups)
    assert called(ev, ALICE, Item("tool", "everything", ("echo", "say")))
    assert not called(ev, ALICE, Item("tool", "everything", ("say", "echo")))


def test_a_tool_one_group_hides_is_covered_through_another_group_that_publishes_it() -> None:
    groups: Groups = {
        "narrow": {"everything": ToolFilter(include=["add"])},
        "wide": {"everything": None},
    }
    ev = evaluator(policy("p", [user("alice")], allow(groups=["narrow", "wide"])), groups=groups)
    assert called(ev, ALICE)
    only_narrow = evaluator(policy("p", [user("alice")], allow(groups=["narrow"])), groups=groups)
    assert not called(only_narrow, ALICE)


def test_tool_filters_do_not_hide_prompts_or_resources_of_a_member() -> None:
    ev = evaluator(policy("p", [user("alice")], allow(groups=["public"])), groups=GROUPS)
    assert ev.allows(ALICE, "get", GREETING)
    assert ev.allows(ALICE, "read", README)


def test_servers_or_groups_either_target_covers() -> None:
    ev = evaluator(
        policy("p", [user("alice")], allow(servers=["git"], groups=["public"])), groups=GROUPS
    )
    assert called(ev, ALICE, ECHO)
    assert called(ev, ALICE, Item("tool", "git", ("git_push",)))  # by server, no filter
    assert not called(ev, ALICE, Item("tool", "fetch", ("fetch",)))


def test_a_deny_on_a_server_holds_whatever_group_grants_it() -> None:
    ev = evaluator(
        policy("p", [user("alice")], allow(groups=["public"]), deny(servers=["everything"])),
        groups=GROUPS,
    )
    assert not called(ev, ALICE)
    assert called(ev, ALICE, Item("tool", "time", ("get_current_time",)))


# --- items ------------------------------------------------------------------


def test_a_rule_naming_no_kind_covers_every_item() -> None:
    ev = evaluator(policy("p", [user("alice")], allow(servers=["everything"])))
    assert ev.allows(ALICE, "call", ECHO)
    assert ev.allows(ALICE, "get", GREETING)
    assert ev.allows(ALICE, "read", README)


@pytest.mark.parametrize(
    ("kinds", "covered"),
    [
        ({"tools": ["*"]}, {"tool"}),
        ({"prompts": ["*"]}, {"prompt"}),
        ({"resources": ["*"]}, {"resource"}),
        ({"tools": ["*"], "prompts": ["*"]}, {"tool", "prompt"}),
        ({"tools": []}, set()),
    ],
)
def test_a_rule_naming_some_kinds_covers_only_those(
    kinds: dict[str, list[str]], covered: set[str]
) -> None:
    ev = evaluator(policy("p", [user("alice")], allow(servers=["*"], **kinds)))
    for item in (ECHO, GREETING, README):
        assert ev.allows(ALICE, "list", item) is (item.kind in covered), item


def test_a_deny_naming_one_kind_leaves_the_others_allowed() -> None:
    ev = evaluator(
        policy("p", [user("alice")], allow(servers=["*"]), deny(servers=["*"], tools=["*"]))
    )
    assert not called(ev, ALICE)
    assert ev.allows(ALICE, "get", GREETING)


@pytest.mark.parametrize(
    ("tools", "name", "covered"),
    [
        (["echo"], "echo", True),
        (["ec*"], "echo", True),
        (["get_*"], "get_weather", True),
        (["*_issue"], "create_issue", True),
        (["Echo"], "echo", False),
        (["echo"], "Echo", False),
        (["echo"], "\u0435cho", False),  # Cyrillic e
        (["e*"], "\u0435cho", False),
        (["echo"], "echo2", False),
    ],
)
def test_tool_globs_are_case_sensitive_and_exact(
    tools: list[str], name: str, covered: bool
) -> None:
    ev = evaluator(policy("p", [user("alice")], allow(servers=["*"], tools=tools)))
    assert called(ev, ALICE, Item("tool", "everything", (name,))) is covered


ALIASED = Item("tool", "github", ("delete_repository", "remove_repo"))


@pytest.mark.parametrize("name", ["delete_repository", "remove_repo", "delete_*", "remove_*"])
def test_a_deny_covers_an_aliased_tool_by_either_name(name: str) -> None:
    ev = evaluator(
        policy("p", [user("alice")], allow(servers=["*"]), deny(servers=["*"], tools=[name]))
    )
    assert not called(ev, ALICE, ALIASED)
    assert not ev.allows(ALICE, "list", ALIASED)


def test_resources_are_matched_by_uri_and_templates_by_uri_template() -> None:
    ev = evaluator(policy("p", [user("alice")], allow(servers=["*"], resources=["file:///docs/*"])))
    assert ev.allows(ALICE, "read", Item("resource", "files", ("file:///docs/a.md",)))
    assert ev.allows(ALICE, "list", Item("resource", "files", ("file:///docs/{path}",)))
    assert not ev.allows(ALICE, "read", Item("resource", "files", ("file:///etc/passwd",)))


def test_prompts_are_matched_by_name() -> None:
    ev = evaluator(policy("p", [user("alice")], allow(servers=["*"], prompts=["greet*"])))
    assert ev.allows(ALICE, "get", GREETING)
    assert not ev.allows(ALICE, "get", Item("prompt", "everything", ("complex_prompt",)))


def test_an_item_needs_a_name() -> None:
    with pytest.raises(ValueError, match="needs a name"):
        Item("tool", "everything", ())


# --- actions ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("action", "item", "allowed"),
    [
        ("list", ECHO, True),
        ("list", GREETING, True),
        ("list", README, True),
        ("call", ECHO, True),
        ("call", GREETING, False),
        ("call", README, False),
        ("get", GREETING, True),
        ("get", ECHO, False),
        ("get", README, False),
        ("read", README, True),
        ("read", ECHO, False),
        ("read", GREETING, False),
    ],
)
def test_actions_fit_kinds(action: Action, item: Item, allowed: bool) -> None:
    ev = evaluator(policy("p", [user("alice")], allow(servers=["*"])))
    assert ev.allows(ALICE, action, item) is allowed


def test_an_action_that_does_not_fit_says_so() -> None:
    ev = evaluator(policy("p", [user("alice")], allow(servers=["*"])))
    assert ev.decide(ALICE, "call", README) == Decision(
        False, None, None, "call does not apply to a resource"
    )


def test_a_rule_covers_only_its_actions() -> None:
    ev = evaluator(
        policy("p", [user("alice")], {"effect": "allow", "servers": ["*"], "actions": ["list"]})
    )
    assert ev.allows(ALICE, "list", ECHO)
    assert not ev.allows(ALICE, "call", ECHO)


def test_a_deny_of_calls_leaves_listing_allowed() -> None:
    ev = evaluator(
        policy(
            "p",
            [user("alice")],
            allow(servers=["*"]),
            {"effect": "deny", "servers": ["*"], "tools": ["echo"], "actions": ["call"]},
        )
    )
    assert ev.allows(ALICE, "list", ECHO)
    assert not ev.allows(ALICE, "call", ECHO)


# --- caching ----------------------------------------------------------------


def test_cached_decisions_do_not_leak_between_principals() -> None:
    ev = evaluator(
        policy("p", [group("admins")], allow(servers=["*"])),
        policy("q", [user("alice")], deny(servers=["*"], tools=["add"])),
    )
    add = Item("tool", "everything", ("add",))
    for _ in range(2):  # cold, then warm
        assert called(ev, BOB, ECHO)
        assert not called(ev, ALICE, ECHO)
        assert called(ev, BOB, add)
        assert ev.decide(ALICE, "call", add).policy == "team/q"


def test_the_same_name_with_other_groups_is_decided_afresh() -> None:
    ev = evaluator(policy("p", [group("admins")], allow(servers=["*"])))
    plain = Principal("User", "bob", groups=frozenset({AUTHENTICATED}), issuer="https://idp")
    assert called(ev, BOB)
    assert not called(ev, plain)
    assert called(ev, BOB)


def test_memories_are_bounded_and_forgetting_changes_no_answer() -> None:
    ev = Evaluator(
        [policy("p", [group("admins")], allow(servers=["*"], tools=["e*"]))],
        {},
        principal_cache_size=1,
        decision_cache_size=2,
    )
    items = [Item("tool", "everything", (name,)) for name in ("echo", "add", "env", "sum")]
    expected = [True, False, True, False]
    for _ in range(3):
        for principal in (BOB, ALICE):
            answers = [called(ev, principal, item) for item in items]
            assert answers == ([False] * 4 if principal is ALICE else expected)
    assert len(ev._decisions) <= 2
    assert len(ev._grants) <= 1


# --- whether a server is known at all -----------------------------------------------------


def test_a_server_is_known_to_whoever_may_list_something_of_it() -> None:
    ev = evaluator(
        policy("p", [user("alice")], allow(servers=["time"], tools=["get_*"])),
        policy("q", [group("admins")], allow(groups=["public"])),
        groups=GROUPS,
    )
    assert ev.sees(ALICE, "time")
    assert not ev.sees(ALICE, "everything")
    # Through a group: its members are known, others are not.
    assert ev.sees(BOB, "everything")
    assert ev.sees(BOB, "time")
    assert not ev.sees(BOB, "git")
    assert not ev.sees(KEY, "time")


def test_a_server_is_unknown_when_a_deny_takes_every_item_or_the_allow_names_none() -> None:
    ev = evaluator(
        policy("p", [user("alice")], allow(servers=["*"]), deny(servers=["time"])),
        policy("q", [user("bob")], allow(servers=["time"], tools=[])),
    )
    assert ev.sees(ALICE, "everything")
    assert not ev.sees(ALICE, "time")
    assert not ev.sees(BOB, "time")


def test_a_partial_deny_leaves_a_server_known() -> None:
    ev = evaluator(
        policy("p", [user("alice")], allow(servers=["time"]), deny(servers=["time"], tools=["*"]))
    )
    # Its tools are all denied, but its prompts and resources may be listed.
    assert ev.sees(ALICE, "time")
    only_list = {"effect": "deny", "actions": ["call"], "servers": ["time"]}
    assert evaluator(policy("p", [user("alice")], allow(servers=["time"]), only_list)).sees(
        ALICE, "time"
    )


def test_a_group_granted_by_name_is_known_even_without_members() -> None:
    ev = evaluator(
        policy("p", [user("alice")], allow(groups=["team-*"])),
        policy("q", [user("bob")], allow(groups=["team-a"]), deny(groups=["team-a"])),
        groups={"team-a": {}},
    )
    assert ev.sees_group(ALICE, "team-a")
    assert ev.sees_group(ALICE, "team-b")  # not served yet: known once it is
    assert not ev.sees_group(ALICE, "ops")
    assert not ev.sees_group(BOB, "team-a")  # a deny of everything it publishes
    assert not ev.sees_group(KEY, "team-a")

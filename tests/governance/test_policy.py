"""Policy rules: globs, deny by default, key × agent intersection, admin, named rules."""

from __future__ import annotations

from domain.policy import PolicyDecision, Principal, decide_agent, decide_model, decide_tool

NOBODY = Principal(key_id="k0", name="nobody")
SEARCHER = Principal(key_id="k1", name="searcher", tools=("search_*", "add"), models=("gpt-4o*",))
EVERYTHING = Principal(key_id="k2", name="all", agents=("*",), tools=("*",), models=("*",))
ADMIN = Principal(key_id="k3", name="root", admin=True)


def test_empty_globs_deny_everything_and_say_so() -> None:
    assert decide_tool(NOBODY, None, "add") == PolicyDecision(
        False, "key.tools:[] (deny by default)"
    )
    assert decide_agent(NOBODY, "helper") == PolicyDecision(
        False, "key.agents:[] (deny by default)"
    )
    assert decide_model(NOBODY, "gpt-4o") == PolicyDecision(
        False, "key.models:[] (deny by default)"
    )


def test_star_allows_everything() -> None:
    assert decide_tool(EVERYTHING, None, "anything") == PolicyDecision(True, "key.tools:*")
    assert decide_agent(EVERYTHING, "helper").allowed
    assert decide_model(EVERYTHING, "o3").allowed


def test_the_matching_glob_names_the_rule() -> None:
    assert decide_tool(SEARCHER, None, "search_docs") == PolicyDecision(True, "key.tools:search_*")
    assert decide_tool(SEARCHER, None, "add") == PolicyDecision(True, "key.tools:add")
    assert decide_model(SEARCHER, "gpt-4o-mini") == PolicyDecision(True, "key.models:gpt-4o*")


def test_no_match_is_denied_by_default() -> None:
    decision = decide_tool(SEARCHER, None, "delete_all")
    assert decision == PolicyDecision(False, "key.tools:[search_*, add] (deny by default)")
    assert not decide_model(SEARCHER, "o3").allowed


def test_globs_are_case_sensitive_and_whole_name() -> None:
    assert not decide_tool(SEARCHER, None, "Search_docs").allowed
    assert not decide_tool(SEARCHER, None, "add_more").allowed
    assert not decide_tool(SEARCHER, None, "my_search_docs").allowed


def test_tool_needs_both_key_and_agent() -> None:
    # key allows, agent does not
    assert decide_tool(SEARCHER, ("add",), "search_docs") == PolicyDecision(False, "agent.tools")
    # agent allows, key does not
    assert not decide_tool(SEARCHER, ("add", "delete_all"), "delete_all").allowed
    assert decide_tool(SEARCHER, ("add", "delete_all"), "delete_all").rule.startswith("key.tools")
    # both allow
    assert decide_tool(SEARCHER, ("add", "search_docs"), "add").allowed


def test_agent_without_tools_allows_none_but_none_means_no_constraint() -> None:
    assert decide_tool(EVERYTHING, (), "add") == PolicyDecision(False, "agent.tools")
    assert decide_tool(EVERYTHING, None, "add").allowed


def test_admin_passes_the_key_side_of_every_check() -> None:
    assert decide_tool(ADMIN, None, "anything") == PolicyDecision(True, "admin")
    assert decide_agent(ADMIN, "any-agent") == PolicyDecision(True, "admin")
    assert decide_model(ADMIN, "any-model") == PolicyDecision(True, "admin")


def test_admin_cannot_make_an_agent_run_a_tool_it_does_not_have() -> None:
    assert decide_tool(ADMIN, ("add",), "search_docs") == PolicyDecision(False, "agent.tools")
    assert decide_tool(ADMIN, ("add",), "add") == PolicyDecision(True, "admin")

"""Retention templates, rule validation and the evaluation of a repository (artifact as the
unit, OR of rules, immutable tags always kept, untagged only when selected)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from moorage.core.errors import BadRequest
from moorage.domain.retention_rules import (
    DELETE,
    RETAIN,
    Candidate,
    Decision,
    Rule,
    evaluate,
    log_table,
    metadata,
    parse_rule,
)
from moorage.domain.selectors import Selector

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
ALL_REPOS = (Selector("doublestar", "repoMatches", "**"),)


def rule(template: str, value: int = 0, pattern: str = "**", untagged: bool = False, rule_id: int = 1,
         repos: tuple[Selector, ...] = ALL_REPOS, decoration: str = "matches") -> Rule:
    return Rule(rule_id, template, value, (Selector("doublestar", decoration, pattern, untagged=untagged),), repos)


def art(i: int, tags: tuple[str, ...], pushed_days_ago: float, pulled_days_ago: float | None = None) -> Candidate:
    pulled = NOW - timedelta(days=pulled_days_ago) if pulled_days_ago is not None else None
    return Candidate(i, f"sha256:{i:064x}", tags, NOW - timedelta(days=pushed_days_ago), pulled)


def fate(decisions: list[Decision]) -> dict[int, str]:
    return {d.candidate.id: d.action for d in decisions}


REPO = [art(1, ("v1",), 30, 1), art(2, ("v2", "stable"), 20), art(3, ("v3",), 10, 5), art(4, ("latest",), 1),
        art(5, (), 0.5)]


def test_latest_pushed_k_keeps_the_newest_and_ignores_untagged() -> None:
    assert fate(evaluate([rule("latestPushedK", 2)], "app", REPO, set(), NOW)) == {
        4: RETAIN, 3: RETAIN, 2: DELETE, 1: DELETE}  # 5 is untagged: left to GC


def test_latest_pulled_n_keeps_the_most_recently_pulled() -> None:
    assert fate(evaluate([rule("latestPulledN", 1)], "app", REPO, set(), NOW)) == {
        4: DELETE, 3: DELETE, 2: DELETE, 1: RETAIN}


@pytest.mark.parametrize(("template", "days", "kept"), [
    ("nDaysSinceLastPush", 15, {3, 4}),
    ("nDaysSinceLastPull", 3, {1}),
    ("always", 0, {1, 2, 3, 4}),
    ("nothing", 0, set()),
    ("latestActiveK", 2, {1, 4}),  # 1 was pulled a day ago, 4 pushed a day ago
])
def test_templates(template: str, days: int, kept: set[int]) -> None:
    got = fate(evaluate([rule(template, days)], "app", REPO, set(), NOW))
    assert {i for i, a in got.items() if a == RETAIN} == kept


def test_rules_are_ored_and_the_unit_is_the_artifact() -> None:
    # "stable" keeps artifact 2 although its other tag v2 matches nothing that keeps it.
    rules = [rule("latestPushedK", 1, "v*", rule_id=1), rule("always", 0, "stable", rule_id=2)]
    decisions = evaluate(rules, "app", REPO, set(), NOW)
    assert fate(decisions) == {4: DELETE, 3: RETAIN, 2: RETAIN, 1: DELETE}
    assert [d.reason for d in decisions if d.candidate.id == 2] == ["rule 2"]


def test_immutable_tags_are_always_kept() -> None:
    decisions = evaluate([rule("nothing")], "app", REPO, {"v1"}, NOW)
    assert fate(decisions)[1] == RETAIN
    assert [d.reason for d in decisions if d.candidate.id == 1] == ["immutable tag v1"]
    assert fate(decisions)[2] == DELETE


def test_untagged_are_candidates_only_when_a_rule_selects_them() -> None:
    keep_one = rule("latestPushedK", 1, untagged=True)
    assert fate(evaluate([keep_one], "app", REPO, set(), NOW)) == {
        5: RETAIN, 4: DELETE, 3: DELETE, 2: DELETE, 1: DELETE}


def test_excludes_decoration() -> None:
    got = fate(evaluate([rule("always", pattern="v*", decoration="excludes")], "app", REPO, set(), NOW))
    assert got == {4: RETAIN, 3: DELETE, 2: RETAIN, 1: DELETE}  # 2 has "stable", which is not v*


def test_repositories_out_of_scope_and_disabled_rules_are_untouched() -> None:
    only_web = (Selector("doublestar", "repoMatches", "web/**"),)
    assert evaluate([rule("nothing", repos=only_web)], "api", REPO, set(), NOW) == []
    disabled = Rule(1, "nothing", 0, (Selector("doublestar", "matches", "**"),), ALL_REPOS, disabled=True)
    assert evaluate([disabled], "app", REPO, set(), NOW) == []


@pytest.mark.parametrize(("raw", "message"), [
    ({"template": "latestPushedK", "params": {}}, "params.latestPushedK"),
    ({"template": "latestPushedK", "params": {"latestPushedK": -1}}, "params.latestPushedK"),
    ({"template": "latestPushedK", "params": {"latestPushedK": "many"}}, "params.latestPushedK"),
    ({"template": "keepEverythingForever"}, "template"),
    ({"template": "always", "action": "delete"}, "action"),
    ({"template": "always", "tag_selectors": []}, "tag selector"),
])
def test_rule_validation(raw: dict[str, Any], message: str) -> None:
    body = {"tag_selectors": [{"kind": "doublestar", "decoration": "matches", "pattern": "**"}],
            "scope_selectors": {"repository": [{"kind": "doublestar", "decoration": "repoMatches", "pattern": "**"}]},
            **raw}
    with pytest.raises(BadRequest, match=message):
        parse_rule(body, "rule 1")


def test_rule_params_are_normalised() -> None:
    body = {"template": "nDaysSinceLastPush", "params": {"nDaysSinceLastPush": 7.0, "extra": 1},
            "tag_selectors": [{"decoration": "matches", "pattern": "**"}],
            "scope_selectors": {"repository": [{"decoration": "repoMatches", "pattern": "**"}]}}
    assert parse_rule(body, "rule 1")["params"] == {"nDaysSinceLastPush": 7}


def test_metadata_lists_harbors_templates_and_selectors() -> None:
    meta = metadata()
    assert [t["rule_template"] for t in meta["templates"]] == [
        "latestPushedK", "latestPulledN", "nDaysSinceLastPush", "nDaysSinceLastPull", "always"]
    assert meta["templates"][0]["params"] == [{"type": "int", "unit": "COUNT", "required": True}]
    assert meta["tag_selectors"][0]["decorations"] == ["matches", "excludes"]
    assert meta["scope_selectors"][0]["decorations"] == ["repoMatches", "repoExcludes"]


def test_log_table_shows_digest_tags_times_and_fate() -> None:
    lines = log_table(evaluate([rule("latestPushedK", 1)], "app", REPO, set(), NOW))
    assert lines[1].split("|")[1:-1] == [c.ljust(len(c)) for c in lines[1].split("|")[1:-1]]
    header = [c.strip() for c in lines[1].split("|")[1:-1]]
    assert header == ["DIGEST", "TAGS", "PUSHED", "PULLED", "RETENTION", "WHY"]
    rows = [[c.strip() for c in line.split("|")[1:-1]] for line in lines[3:-1]]
    assert rows[0][:2] == [f"sha256:{4:064x}", "latest"] and rows[0][4] == RETAIN
    assert [r[1] for r in rows if r[4] == DELETE] == ["v3", "v2,stable", "v1"]
    assert rows[-1][3] != "-"  # v1 was pulled
    assert len({len(line) for line in lines}) == 1  # aligned

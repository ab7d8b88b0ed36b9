"""Harbor's doublestar selectors: pattern syntax, decorations, untagged, validation."""

from __future__ import annotations

import pytest

from moorage.core.errors import BadRequest
from moorage.domain.selectors import (
    Selector,
    doublestar_match,
    parse_scope_selectors,
    parse_selector,
    parse_tag_selectors,
    repository_path,
)


@pytest.mark.parametrize(("pattern", "value", "expected"), [
    ("**", "a", True),
    ("**", "a/b/c", True),
    ("*", "a/b", False),  # * stops at /
    ("a/**", "a/b/c", True),
    ("**/b", "b", True),
    ("v*", "v1.2.3", True),
    ("v*", "latest", False),
    ("{v1,v2}*", "v2-rc", True),
    ("{v1,v2}*", "v3", False),
    ("release-?", "release-1", True),
    ("release-?", "release-12", False),
    ("[0-9]*", "1.0", True),
    ("[!0-9]*", "1.0", False),
    ("latest", "latest", True),
    ("latest", "latest2", False),
])
def test_doublestar_syntax(pattern: str, value: str, expected: bool) -> None:
    assert doublestar_match(pattern, value) is expected


def test_tag_decorations_follow_harbor_on_multi_tag_artifacts() -> None:
    matches = Selector("doublestar", "matches", "v*")
    excludes = Selector("doublestar", "excludes", "v*")
    assert matches.select_tags(["latest", "v1"])  # any tag matches
    assert not matches.select_tags(["latest", "dev"])
    assert excludes.select_tags(["latest", "v1"])  # any tag does not match
    assert not excludes.select_tags(["v1", "v2"])
    assert not matches.select_tags([]) and not excludes.select_tags([])  # untagged: only when asked
    assert Selector("doublestar", "matches", "**", untagged=True).select_tags([])


def test_repository_decorations() -> None:
    assert Selector("doublestar", "repoMatches", "app/**").select_repository("app/web")
    assert not Selector("doublestar", "repoExcludes", "app/**").select_repository("app/web")
    assert Selector("doublestar", "repoExcludes", "app/**").select_repository("tools/x")
    assert repository_path("proj/app/web") == "app/web"


def test_parse_reads_untagged_extras() -> None:
    s = parse_selector({"kind": "doublestar", "decoration": "matches", "pattern": "**",
                        "extras": '{"untagged":true}'}, ("matches", "excludes"), "rule")
    assert s.untagged and s.to_json()["extras"] == '{"untagged":true}'
    assert not parse_selector({"decoration": "matches", "pattern": "**"}, ("matches",), "rule").untagged


@pytest.mark.parametrize("raw", [
    {"kind": "regex", "decoration": "matches", "pattern": "v.*"},
    {"kind": "doublestar", "decoration": "repoMatches", "pattern": "**"},  # a repository decoration on a tag
    {"kind": "doublestar", "decoration": "matches", "pattern": ""},
    {"kind": "doublestar", "decoration": "matches", "pattern": "**", "extras": "{not json"},
    {"kind": "doublestar", "decoration": "matches", "pattern": "**", "extras": '{"untagged":"yes"}'},
    "matches **",
])
def test_invalid_tag_selectors_are_bad_requests(raw: object) -> None:
    with pytest.raises(BadRequest):
        parse_tag_selectors([raw], "rule")


def test_scope_selectors_need_repository() -> None:
    with pytest.raises(BadRequest):
        parse_scope_selectors({}, "rule")
    with pytest.raises(BadRequest):
        parse_scope_selectors({"repository": [], "namespace": []}, "rule")
    [s] = parse_scope_selectors({"repository": [{"kind": "doublestar", "decoration": "repoMatches",
                                                 "pattern": "**"}]}, "rule")
    assert s.decoration == "repoMatches"


@pytest.mark.parametrize("pattern", ["{a,", "v[0-9", "a}"])
def test_unbalanced_patterns_are_refused(pattern: str) -> None:
    with pytest.raises(BadRequest, match="invalid pattern"):
        parse_selector({"decoration": "matches", "pattern": pattern}, ("matches",), "rule")

"""Replication policy rules: Harbor's destination-namespace rule, the filters, policy
validation, and the status names the API shows."""

from __future__ import annotations

from typing import Any

import pytest

from moorage.core.errors import BadRequest
from moorage.domain.replication_rules import (
    EXECUTION_STATUS,
    TASK_STATUS,
    Candidate,
    destination_repository,
    parse_filters,
    parse_policy,
    resource_string,
    statuses_named,
)

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"


@pytest.mark.parametrize(("count", "expected"), [
    (-1, "n/img"),
    (0, "n/a/b/c/img"),
    (1, "n/b/c/img"),
    (2, "n/c/img"),
    (3, "n/img"),
])
def test_namespace_rule_replaces_count_components(count: int, expected: str) -> None:
    assert destination_repository("a/b/c/img", "n", count) == expected


def test_namespace_rule_keeps_the_name_without_a_namespace() -> None:
    assert destination_repository("a/b/c/img", "", 2) == "a/b/c/img"


def test_namespace_rule_accepts_a_multi_component_namespace() -> None:
    assert destination_repository("proj/img", "x/y", 1) == "x/y/img"


def test_namespace_rule_refuses_a_count_beyond_the_path() -> None:
    with pytest.raises(BadRequest, match="only 3 path component"):
        destination_repository("a/b/c/img", "n", 4)


def _filters(*items: dict[str, Any]) -> Any:
    return parse_filters(list(items))


@pytest.mark.parametrize(("decoration", "repository", "selected"), [
    ("matches", "library/app", True),
    ("matches", "other/app", False),
    ("excludes", "library/app", False),
    ("excludes", "other/app", True),
])
def test_name_filter_matches_and_excludes_full_names(decoration: str, repository: str, selected: bool) -> None:
    f = _filters({"type": "name", "value": "library/**", "decoration": decoration})
    assert (f.select(Candidate(repository, ("v1",))) is not None) is selected


def test_tag_filter_keeps_only_matching_tags() -> None:
    f = _filters({"type": "tag", "value": "v*", "decoration": "matches"})
    assert f.select(Candidate("p/r", ("v1", "latest", "v2"))) == ["v1", "v2"]
    assert f.select(Candidate("p/r", ("latest",))) is None


def test_tag_filter_excludes_drops_matching_tags() -> None:
    f = _filters({"type": "tag", "value": "dev-*", "decoration": "excludes"})
    assert f.select(Candidate("p/r", ("dev-1", "1.0"))) == ["1.0"]
    assert f.select(Candidate("p/r", ("dev-1",))) is None


def test_tag_filter_never_selects_untagged_artifacts() -> None:
    f = _filters({"type": "tag", "value": "**"})
    assert f.select(Candidate("p/r", ())) is None


def test_no_filter_selects_untagged_artifacts_by_digest() -> None:
    assert _filters().select(Candidate("p/r", ())) == []


def test_label_filter_needs_every_label_or_none_of_them() -> None:
    matches = _filters({"type": "label", "value": ["prod", "ok"]})
    excludes = _filters({"type": "label", "value": ["prod"], "decoration": "excludes"})
    assert matches.select(Candidate("p/r", ("a",), ("ok", "prod", "x"))) == ["a"]
    assert matches.select(Candidate("p/r", ("a",), ("prod",))) is None
    assert excludes.select(Candidate("p/r", ("a",), ("prod",))) is None
    assert excludes.select(Candidate("p/r", ("a",), ("dev",))) == ["a"]


@pytest.mark.parametrize(("media_type", "artifact_type", "image"), [
    (OCI_MANIFEST, OCI_CONFIG, True),
    (OCI_MANIFEST, "IMAGE", True),
    (OCI_INDEX, None, True),
    (OCI_MANIFEST, None, True),
    ("application/vnd.docker.distribution.manifest.v2+json", None, True),
    (OCI_MANIFEST, "application/vnd.cncf.helm.config.v1+json", False),
    (OCI_MANIFEST, "application/spdx+json", False),
])
def test_resource_filter_tells_images_from_other_artifacts(media_type: str, artifact_type: str | None,
                                                           image: bool) -> None:
    images = _filters({"type": "resource", "value": "image"})
    everything = _filters({"type": "resource", "value": "artifact"})
    candidate = Candidate("p/r", ("t",), (), media_type, artifact_type)
    assert (images.select(candidate) is not None) is image
    assert everything.select(candidate) == ["t"]


@pytest.mark.parametrize(("raw", "message"), [
    ({"type": "size", "value": "1"}, "unknown type"),
    ({"type": "name", "value": ""}, "doublestar pattern"),
    ({"type": "name", "value": "a", "decoration": "contains"}, "decoration"),
    ({"type": "label", "value": "prod"}, "array of label names"),
    ({"type": "resource", "value": "chart"}, "'image' or 'artifact'"),
])
def test_invalid_filters_are_refused(raw: dict[str, Any], message: str) -> None:
    with pytest.raises(BadRequest, match=message):
        parse_filters([raw])


def test_one_filter_per_type() -> None:
    with pytest.raises(BadRequest, match="only one name filter"):
        parse_filters([{"type": "name", "value": "a/**"}, {"type": "name", "value": "b/**"}])


def policy(**fields: Any) -> dict[str, Any]:
    return {"name": "p", "dest_registry": {"id": 1}, **fields}


def test_policy_defaults_are_harbors() -> None:
    parsed = parse_policy(policy())
    assert (parsed.dest_registry_id, parsed.src_registry_id) == (1, None)
    assert parsed.trigger == {"type": "manual", "trigger_settings": {"cron": ""}}
    assert (parsed.override, parsed.enabled, parsed.replicate_deletion, parsed.speed) == (True, True, False, -1)
    assert parsed.dest_namespace_replace_count == -1


@pytest.mark.parametrize("sides", [
    {},
    {"src_registry": {"id": 1}, "dest_registry": {"id": 2}},
    {"src_registry": {"id": 0}, "dest_registry": None},
])
def test_policy_needs_exactly_one_remote_side(sides: dict[str, Any]) -> None:
    with pytest.raises(BadRequest, match="exactly one"):
        parse_policy({"name": "p", **sides})


def test_scheduled_policy_needs_a_valid_six_field_cron() -> None:
    ok = parse_policy(policy(trigger={"type": "scheduled", "trigger_settings": {"cron": "*/2 * * * * *"}}))
    assert ok.trigger["trigger_settings"]["cron"] == "*/2 * * * * *"
    for cron in ("", "* * * * *", "nonsense"):
        with pytest.raises(BadRequest):
            parse_policy(policy(trigger={"type": "scheduled", "trigger_settings": {"cron": cron}}))


def test_pull_based_policy_refuses_event_trigger_and_label_filter() -> None:
    with pytest.raises(BadRequest, match="event_based"):
        parse_policy({"name": "p", "src_registry": {"id": 1}, "trigger": {"type": "event_based"}})
    with pytest.raises(BadRequest, match="label filter"):
        parse_policy({"name": "p", "src_registry": {"id": 1}, "filters": [{"type": "label", "value": ["x"]}]})


@pytest.mark.parametrize(("fields", "message"), [
    ({"dest_namespace": "Bad Name"}, "dest_namespace"),
    ({"dest_namespace_replace_count": -2}, "replace_count"),
    ({"override": "yes"}, "override must be a boolean"),
    ({"trigger": {"type": "hourly"}}, "unknown trigger type"),
    ({"name": ""}, "name is required"),
])
def test_invalid_policy_fields_are_refused(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(BadRequest, match=message):
        parse_policy(policy(**fields))


def test_deprecated_deletion_flag_is_honoured() -> None:
    assert parse_policy(policy(deletion=True)).replicate_deletion is True


def test_status_names_map_to_harbors() -> None:
    assert EXECUTION_STATUS == {"Pending": "InProgress", "Running": "InProgress", "Success": "Succeed",
                                "Error": "Failed", "Stopped": "Stopped"}
    assert TASK_STATUS["Running"] == "InProgress"
    assert sorted(statuses_named("InProgress", EXECUTION_STATUS)) == ["Pending", "Running"]
    with pytest.raises(BadRequest):
        statuses_named("Done", EXECUTION_STATUS)


def test_resource_strings_name_tags_or_digest() -> None:
    assert resource_string("p/r", ["a", "b"], "sha256:x") == "p/r:[a,b]"
    assert resource_string("p/r", [], "sha256:x") == "p/r@sha256:x"

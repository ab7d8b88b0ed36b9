"""``/retentions``: metadata, a project's policy (create, read, update, delete, one per
project, validation) and who may manage and run it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx

from tests.integration.retention.conftest import policy, rule

Factory = Callable[..., dict[str, Any]]


def project_metadata(api: httpx.Client, project_id: int) -> dict[str, str]:
    r = api.get(f"/projects/{project_id}")
    assert r.status_code == 200, r.text
    return dict(r.json()["metadata"])


def test_metadatas_list_templates_and_selectors(api: httpx.Client, anonymous: httpx.Client) -> None:
    r = api.get("/retentions/metadatas")
    assert r.status_code == 200, r.text
    body = r.json()
    assert [t["rule_template"] for t in body["templates"]] == [
        "latestPushedK", "latestPulledN", "nDaysSinceLastPush", "nDaysSinceLastPull", "always"]
    assert body["templates"][2] == {"rule_template": "nDaysSinceLastPush", "display_text": "pushed within the last "
                                    "# days", "action": "retain",
                                    "params": [{"type": "int", "unit": "DAYS", "required": True}]}
    assert body["templates"][4]["params"] == []
    assert body["scope_selectors"] == [{"display_text": "Repositories", "kind": "doublestar",
                                        "decorations": ["repoMatches", "repoExcludes"]}]
    assert body["tag_selectors"] == [{"display_text": "Tags", "kind": "doublestar",
                                      "decorations": ["matches", "excludes"]}]
    assert anonymous.get("/retentions/metadatas").status_code == 401


def test_create_read_update_delete(api: httpx.Client, new_project: Factory) -> None:
    pid = int(new_project()["project_id"])
    r = api.post("/retentions", json=policy(pid, [rule("latestPushedK", 3, tags="v*")], "0 0 2 * * *"))
    assert r.status_code == 201, r.text
    policy_id = int(r.headers["location"].rsplit("/", 1)[1])
    assert r.headers["location"] == f"/api/v2.0/retentions/{policy_id}"
    assert project_metadata(api, pid)["retention_id"] == str(policy_id)
    got = api.get(f"/retentions/{policy_id}").json()
    rule_id = got["rules"][0]["id"]
    assert got == {
        "id": policy_id, "algorithm": "or",
        "rules": [{"id": rule_id, "priority": 0, "disabled": False, "action": "retain", "template": "latestPushedK",
                   "params": {"latestPushedK": 3},
                   "tag_selectors": [{"kind": "doublestar", "decoration": "matches", "pattern": "v*",
                                      "extras": '{"untagged":false}'}],
                   "scope_selectors": {"repository": [{"kind": "doublestar", "decoration": "repoMatches",
                                                       "pattern": "**", "extras": ""}]}}],
        "trigger": {"kind": "Schedule", "settings": {"cron": "0 0 2 * * *"}, "references": {}},
        "scope": {"level": "project", "ref": pid},
    }
    update = policy(pid, [rule("always", tags="release-*"), rule("nDaysSinceLastPull", 7)], "")
    assert api.put(f"/retentions/{policy_id}", json=update).status_code == 200
    got = api.get(f"/retentions/{policy_id}").json()
    assert [(x["template"], x["params"]) for x in got["rules"]] == [("always", {}),
                                                                  ("nDaysSinceLastPull", {"nDaysSinceLastPull": 7})]
    assert got["trigger"]["settings"]["cron"] == ""
    assert api.delete(f"/retentions/{policy_id}").status_code == 200
    assert api.get(f"/retentions/{policy_id}").status_code == 404
    assert "retention_id" not in project_metadata(api, pid)


def test_one_policy_per_project(api: httpx.Client, new_project: Factory,
                                create_policy: Callable[..., int]) -> None:
    pid = int(new_project()["project_id"])
    first = create_policy(pid, [rule("always")])
    r = api.post("/retentions", json=policy(pid, [rule("latestPushedK", 1)]))
    assert r.status_code == 400 and f"already has retention policy {first}" in r.text


def test_invalid_policies_are_bad_requests(api: httpx.Client, new_project: Factory) -> None:
    pid = int(new_project()["project_id"])
    bad_cron = policy(pid, [rule("always")], "every day")
    cases = [
        policy(pid, [rule("latestPushedK")]),  # missing its count
        policy(pid, [rule("latestPushedK", -2)]),
        policy(pid, [rule("keepForever")]),
        policy(pid, [{**rule("always"), "action": "delete"}]),
        policy(pid, [rule("always", repo_decoration="matches")]),
        policy(pid, [rule("always")] * 16),
        {**policy(pid, [rule("always")]), "algorithm": "and"},
        {**policy(pid, [rule("always")]), "scope": {"level": "system", "ref": 0}},
        policy(999999, [rule("always")]),
        bad_cron,
    ]
    for body in cases:
        r = api.post("/retentions", json=body)
        assert r.status_code == 400, (body, r.text)
    assert "retention_id" not in project_metadata(api, pid)
    dup = api.post("/retentions", json=policy(pid, [rule("always"), rule("always")]))
    assert dup.status_code == 409, dup.text


def test_update_keeps_the_scope(api: httpx.Client, new_project: Factory, create_policy: Callable[..., int]) -> None:
    pid, other = int(new_project()["project_id"]), int(new_project()["project_id"])
    policy_id = create_policy(pid, [rule("always")])
    assert api.put(f"/retentions/{policy_id}", json=policy(other, [rule("always")])).status_code == 400
    assert api.put(f"/retentions/{policy_id}", json=policy(pid, [rule("latestPushedK", -1)])).status_code == 400
    assert api.get(f"/retentions/{policy_id}").json()["rules"][0]["template"] == "always"
    assert api.put("/retentions/999999", json=policy(pid, [rule("always")])).status_code == 404


def test_roles(api: httpx.Client, new_project: Factory, member: Callable[..., httpx.Client],
               anonymous: httpx.Client) -> None:
    """tag-retention: C,R,U,D,L,Op for projectAdmin, maintainer and developer; nothing for others."""
    project = new_project(public=True)
    pid = int(project["project_id"])
    for role in ("projectAdmin", "maintainer", "developer"):
        c = member(pid, role)
        r = c.post("/retentions", json=policy(pid, [rule("always")]))
        assert r.status_code == 201, (role, r.text)
        policy_id = int(r.headers["location"].rsplit("/", 1)[1])
        assert c.get(f"/retentions/{policy_id}").status_code == 200
        assert c.put(f"/retentions/{policy_id}", json=policy(pid, [rule("latestPushedK", 2)])).status_code == 200
        assert c.get(f"/retentions/{policy_id}/executions").status_code == 200
        assert c.post(f"/retentions/{policy_id}/executions", json={"dry_run": True}).status_code == 201
        assert c.delete(f"/retentions/{policy_id}").status_code == 200
    r = api.post("/retentions", json=policy(pid, [rule("always")]))
    policy_id = int(r.headers["location"].rsplit("/", 1)[1])
    for role in ("guest", "limitedGuest"):
        c = member(pid, role)
        assert c.get(f"/retentions/{policy_id}").status_code == 403, role
        assert c.post(f"/retentions/{policy_id}/executions", json={"dry_run": True}).status_code == 403, role
        assert c.delete(f"/retentions/{policy_id}").status_code == 403, role
        assert c.post("/retentions", json=policy(pid, [rule("always")])).status_code == 403, role
    assert anonymous.get(f"/retentions/{policy_id}").status_code == 401
    assert anonymous.post(f"/retentions/{policy_id}/executions", json={}).status_code == 401

"""``/projects/{project}/immutabletagrules``: create, list (paged), update, enable/disable,
delete, validation and who may do what."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx

from tests.integration.immutability.conftest import rule_body


def rules_of(api: httpx.Client, project: str, **params: Any) -> httpx.Response:
    r = api.get(f"/projects/{project}/immutabletagrules", params=params)
    assert r.status_code == 200, r.text
    return r


def test_create_returns_location_and_lists_in_harbors_shape(api: httpx.Client, project: dict[str, Any]) -> None:
    name = project["name"]
    r = api.post(f"/projects/{name}/immutabletagrules", json=rule_body("release-*", "app/**"))
    assert r.status_code == 201, r.text
    rule_id = int(r.headers["location"].rsplit("/", 1)[1])
    assert r.headers["location"] == f"/api/v2.0/projects/{name}/immutabletagrules/{rule_id}"
    listed = rules_of(api, name)
    assert listed.headers["x-total-count"] == "1"
    assert listed.json() == [{
        "id": rule_id, "priority": 0, "disabled": False, "action": "immutable", "template": "immutable_template",
        "params": {},
        "tag_selectors": [{"kind": "doublestar", "decoration": "matches", "pattern": "release-*", "extras": ""}],
        "scope_selectors": {"repository": [{"kind": "doublestar", "decoration": "repoMatches", "pattern": "app/**",
                                            "extras": ""}]},
    }]
    by_id = rules_of(api, str(project["project_id"]))  # {project_name_or_id} takes the id too
    assert [x["id"] for x in by_id.json()] == [rule_id]


def test_list_is_paged(api: httpx.Client, project: dict[str, Any], add_rule: Callable[..., int]) -> None:
    ids = [add_rule(project["name"], f"v{i}*") for i in range(3)]
    page = rules_of(api, project["name"], page=1, page_size=2)
    assert [x["id"] for x in page.json()] == ids[:2]
    assert page.headers["x-total-count"] == "3" and 'rel="next"' in page.headers["link"]
    assert [x["id"] for x in rules_of(api, project["name"], page=2, page_size=2).json()] == ids[2:]


def test_update_changes_the_rule_and_toggles_it(api: httpx.Client, project: dict[str, Any],
                                                add_rule: Callable[..., int]) -> None:
    name = project["name"]
    rule_id = add_rule(name, "v*")
    url = f"/projects/{name}/immutabletagrules/{rule_id}"
    assert api.put(url, json={**rule_body("prod-*"), "id": rule_id}).status_code == 200
    assert rules_of(api, name).json()[0]["tag_selectors"][0]["pattern"] == "prod-*"
    assert api.put(url, json={"disabled": True}).status_code == 200  # the portal's toggle
    stored = rules_of(api, name).json()[0]
    assert stored["disabled"] is True and stored["tag_selectors"][0]["pattern"] == "prod-*"
    assert api.put(url, json={"disabled": False}).status_code == 200
    assert rules_of(api, name).json()[0]["disabled"] is False


def test_delete(api: httpx.Client, project: dict[str, Any], add_rule: Callable[..., int]) -> None:
    name = project["name"]
    rule_id = add_rule(name)
    assert api.delete(f"/projects/{name}/immutabletagrules/{rule_id}").status_code == 200
    assert rules_of(api, name).json() == []
    again = api.delete(f"/projects/{name}/immutabletagrules/{rule_id}")
    assert again.status_code == 404 and again.json()["errors"][0]["code"] == "NOT_FOUND"
    assert api.put(f"/projects/{name}/immutabletagrules/{rule_id}", json=rule_body()).status_code == 404


def test_a_rule_of_another_project_is_not_found(api: httpx.Client, new_project: Callable[..., dict[str, Any]],
                                               add_rule: Callable[..., int]) -> None:
    one, other = new_project(), new_project()
    rule_id = add_rule(one["name"])
    assert api.delete(f"/projects/{other['name']}/immutabletagrules/{rule_id}").status_code == 404
    assert api.get("/projects/no-such-project-x/immutabletagrules").status_code == 404


def test_invalid_rules_are_bad_requests(api: httpx.Client, project: dict[str, Any]) -> None:
    url = f"/projects/{project['name']}/immutabletagrules"
    bad_tag = rule_body()
    bad_tag["tag_selectors"][0]["decoration"] = "repoMatches"
    no_scope = {**rule_body(), "scope_selectors": {}}
    for body in (bad_tag, no_scope, {**rule_body(), "tag_selectors": []}, {**rule_body(), "template": "latestPushedK"},
                 {**rule_body(), "disabled": "no"}, {**rule_body("{a,")}):
        r = api.post(url, json=body)
        assert r.status_code == 400, (body, r.text)
        assert r.json()["errors"][0]["code"] == "BAD_REQUEST"
    assert rules_of(api, project["name"]).json() == []


def test_duplicate_rule_is_a_conflict(api: httpx.Client, project: dict[str, Any],
                                      add_rule: Callable[..., int]) -> None:
    add_rule(project["name"], "v*")
    r = api.post(f"/projects/{project['name']}/immutabletagrules", json=rule_body("v*"))
    assert r.status_code == 409 and r.json()["errors"][0]["code"] == "CONFLICT"


def test_roles(api: httpx.Client, new_project: Callable[..., dict[str, Any]], member: Callable[..., httpx.Client],
               anonymous: httpx.Client, add_rule: Callable[..., int]) -> None:
    """Harbor's matrix: immutable-tag C,U,D,L for projectAdmin and maintainer, nothing for others."""
    project = new_project(public=True)
    name, pid = project["name"], int(project["project_id"])
    url = f"/projects/{name}/immutabletagrules"
    for role in ("projectAdmin", "maintainer"):
        c = member(pid, role)
        created = c.post(url, json=rule_body(f"{role}-*"))
        assert created.status_code == 201, (role, created.text)
        rule_id = created.headers["location"].rsplit("/", 1)[1]
        assert c.get(url).status_code == 200
        assert c.put(f"{url}/{rule_id}", json={"disabled": True}).status_code == 200
        assert c.delete(f"{url}/{rule_id}").status_code == 200
    rule_id = add_rule(name)
    for role in ("developer", "guest", "limitedGuest"):
        c = member(pid, role)
        assert c.get(url).status_code == 403, role
        assert c.post(url, json=rule_body("x*")).status_code == 403, role
        assert c.put(f"{url}/{rule_id}", json={"disabled": True}).status_code == 403, role
        assert c.delete(f"{url}/{rule_id}").status_code == 403, role
    assert anonymous.get(url).status_code == 401
    assert anonymous.post(url, json=rule_body("y*")).status_code == 401
    assert [r["id"] for r in rules_of(api, name).json()] == [rule_id]

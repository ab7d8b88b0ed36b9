"""/search: projects and repositories whose name contains q, limited to what the caller may see."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx

from tests.common.oci import push_image
from tests.integration.api.conftest import unique

Factory = Callable[..., dict[str, Any]]


def test_search_finds_projects_and_repositories(client: httpx.Client, api: httpx.Client,
                                                new_project: Factory) -> None:
    word = unique("srch")
    project = new_project(project_name=f"{word}-proj")
    push_image(client, f"{project['name']}/tools/{word}-app", "v1")
    push_image(client, f"{project['name']}/tools/{word}-app", "v2")
    r = api.get("/search", params={"q": word})
    assert r.status_code == 200
    body = r.json()
    assert [p["name"] for p in body["project"]] == [project["name"]]
    hit = body["project"][0]
    assert hit["project_id"] == project["project_id"] and hit["repo_count"] == 1
    assert hit["metadata"]["public"] == "false" and {"creation_time", "update_time", "owner_id"} <= set(hit)
    assert body["repository"] == [{
        "project_id": project["project_id"], "project_name": project["name"], "project_public": False,
        "repository_name": f"{project['name']}/tools/{word}-app", "pull_count": 0, "artifact_count": 2,
    }]
    nothing = api.get("/search", params={"q": unique("nothing")}).json()
    assert nothing == {"project": [], "repository": []}


def test_anonymous_search_sees_only_public(client: httpx.Client, anonymous: httpx.Client,
                                           new_project: Factory) -> None:
    word = unique("srch")
    public = new_project(public=True, project_name=f"{word}-pub")
    private = new_project(project_name=f"{word}-priv")
    for project in (public, private):
        push_image(client, f"{project['name']}/app", "v1")
    r = anonymous.get("/search", params={"q": word})
    assert r.status_code == 200
    body = r.json()
    assert [p["name"] for p in body["project"]] == [public["name"]]
    assert [(h["repository_name"], h["project_public"]) for h in body["repository"]] == [
        (f"{public['name']}/app", True)]


def test_member_search_includes_private_memberships(client: httpx.Client, api: httpx.Client,
                                                    as_user: Callable[..., httpx.Client], new_project: Factory,
                                                    new_user: Factory) -> None:
    word = unique("srch")
    mine, theirs = new_project(project_name=f"{word}-mine"), new_project(project_name=f"{word}-theirs")
    for project in (mine, theirs):
        push_image(client, f"{project['name']}/app", "v1")
    user = new_user()
    r = api.post(f"/projects/{mine['project_id']}/members",
                 json={"role_id": 3, "member_user": {"username": user["username"]}})
    assert r.status_code == 201, r.text
    body = as_user(str(user["username"])).get("/search", params={"q": word}).json()
    assert [p["name"] for p in body["project"]] == [mine["name"]]
    assert [h["repository_name"] for h in body["repository"]] == [f"{mine['name']}/app"]


def test_search_requires_q(api: httpx.Client) -> None:
    r = api.get("/search")
    assert r.status_code == 400 and r.json()["errors"][0]["code"] == "BAD_REQUEST"

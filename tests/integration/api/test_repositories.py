"""Repositories over /api/v2.0: listing (paging, q, sort, visibility), details with
double-encoded names, description updates, deletion and permissions."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx

from tests.common.oci import push_image

Factory = Callable[..., dict[str, Any]]


def _add_member(api: httpx.Client, project: dict[str, Any], username: str, role_id: int = 3) -> None:
    r = api.post(f"/projects/{project['project_id']}/members",
                 json={"role_id": role_id, "member_user": {"username": username}})
    assert r.status_code == 201, r.text


def test_list_project_repositories_pages_newest_first(client: httpx.Client, api: httpx.Client,
                                                      new_project: Factory) -> None:
    project = new_project()
    name = project["name"]
    for repo in ("one", "two", "three"):
        push_image(client, f"{name}/{repo}", "v1")
    r = api.get(f"/projects/{name}/repositories", params={"page": 1, "page_size": 2})
    assert r.status_code == 200
    assert r.headers["x-total-count"] == "3"
    assert 'rel="next"' in r.headers["link"] and "page=2" in r.headers["link"]
    body = r.json()
    assert [repo["name"] for repo in body] == [f"{name}/three", f"{name}/two"]
    first = body[0]
    assert first["project_id"] == project["project_id"] and first["artifact_count"] == 1
    assert first["pull_count"] == 0 and first["description"] == ""
    assert {"id", "creation_time", "update_time"} <= set(first)
    second = api.get(f"/projects/{name}/repositories", params={"page": 2, "page_size": 2})
    assert [repo["name"] for repo in second.json()] == [f"{name}/one"]
    assert 'rel="prev"' in second.headers["link"]


def test_list_repositories_filters_by_name_and_sorts(client: httpx.Client, api: httpx.Client,
                                                     new_project: Factory) -> None:
    name = new_project()["name"]
    for repo in ("alpha", "beta", "alphabet"):
        push_image(client, f"{name}/{repo}", "v1")
    r = api.get(f"/projects/{name}/repositories", params={"q": "name=~alpha", "sort": "name"})
    assert r.status_code == 200 and r.headers["x-total-count"] == "2"
    assert [repo["name"] for repo in r.json()] == [f"{name}/alpha", f"{name}/alphabet"]
    bad = api.get(f"/projects/{name}/repositories", params={"sort": "nope"})
    assert bad.status_code == 400 and bad.json()["errors"][0]["code"] == "BAD_REQUEST"


def test_list_all_repositories_shows_only_visible_projects(client: httpx.Client, api: httpx.Client,
                                                           as_user: Callable[..., httpx.Client],
                                                           new_project: Factory, new_user: Factory) -> None:
    public, private, member_of = new_project(public=True), new_project(), new_project()
    for project in (public, private, member_of):
        push_image(client, f"{project['name']}/app", "v1")
    user = new_user()
    _add_member(api, member_of, str(user["username"]))
    seen = {r["name"] for r in as_user(str(user["username"])).get(
        "/repositories", params={"page_size": 100, "q": "name=~/app"}).json()}
    assert f"{public['name']}/app" in seen and f"{member_of['name']}/app" in seen
    assert f"{private['name']}/app" not in seen
    admin = api.get("/repositories", params={"q": f"name={private['name']}/app"})
    assert admin.status_code == 200 and [r["name"] for r in admin.json()] == [f"{private['name']}/app"]


def test_get_repository_with_double_encoded_name(client: httpx.Client, api: httpx.Client,
                                                 new_project: Factory) -> None:
    name = new_project()["name"]
    push_image(client, f"{name}/a/b", "v1")
    push_image(client, f"{name}/a/b", "v2")
    r = api.get(f"/projects/{name}/repositories/a%252Fb")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["name"] == f"{name}/a/b" and body["artifact_count"] == 2


def test_unknown_repository_is_404(api: httpx.Client, new_project: Factory) -> None:
    name = new_project()["name"]
    r = api.get(f"/projects/{name}/repositories/nothing")
    assert r.status_code == 404 and r.json()["errors"][0]["code"] == "NOT_FOUND"
    assert api.get("/projects/no-such-project-x/repositories").status_code == 404


def test_update_description(client: httpx.Client, api: httpx.Client, new_project: Factory) -> None:
    name = new_project()["name"]
    push_image(client, f"{name}/app", "v1")
    r = api.put(f"/projects/{name}/repositories/app", json={"description": "the app"})
    assert r.status_code == 200
    assert api.get(f"/projects/{name}/repositories/app").json()["description"] == "the app"


def test_delete_repository_removes_artifacts_and_is_audited(client: httpx.Client, api: httpx.Client,
                                                            new_project: Factory) -> None:
    name = new_project()["name"]
    digest = push_image(client, f"{name}/x/app", "v1")
    push_image(client, f"{name}/x/app", "v2")
    r = api.delete(f"/projects/{name}/repositories/x%252Fapp")
    assert r.status_code == 200
    assert api.get(f"/projects/{name}/repositories/x%252Fapp").status_code == 404
    assert client.get(f"/v2/{name}/x/app/manifests/{digest}").status_code == 404
    assert client.get(f"/v2/{name}/x/app/tags/list").status_code == 404
    assert api.delete(f"/projects/{name}/repositories/x%252Fapp").status_code == 404
    logs = api.get("/auditlog-exts", params={"q": f"resource={name}/x/app,operation=delete"}).json()
    assert [(e["resource_type"], e["username"]) for e in logs] == [("repository", "admin")]


def test_guest_can_list_but_not_delete(client: httpx.Client, api: httpx.Client,
                                       as_user: Callable[..., httpx.Client], new_project: Factory,
                                       new_user: Factory) -> None:
    project = new_project()
    name = project["name"]
    push_image(client, f"{name}/app", "v1")
    guest = new_user()
    _add_member(api, project, str(guest["username"]))
    c = as_user(str(guest["username"]))
    listed = c.get(f"/projects/{name}/repositories")
    assert listed.status_code == 200 and [r["name"] for r in listed.json()] == [f"{name}/app"]
    assert c.get(f"/projects/{name}/repositories/app").status_code == 200
    denied = c.delete(f"/projects/{name}/repositories/app")
    assert denied.status_code == 403 and denied.json()["errors"][0]["code"] == "FORBIDDEN"
    assert c.put(f"/projects/{name}/repositories/app", json={"description": "x"}).status_code == 403
    outsider = new_user()
    assert as_user(str(outsider["username"])).get(f"/projects/{name}/repositories").status_code == 403


def test_anonymous_is_401_on_private_and_lists_public(client: httpx.Client, anonymous: httpx.Client,
                                                      new_project: Factory) -> None:
    private, public = new_project(), new_project(public=True)
    push_image(client, f"{private['name']}/app", "v1")
    push_image(client, f"{public['name']}/app", "v1")
    r = anonymous.get(f"/projects/{private['name']}/repositories")
    assert r.status_code == 401 and r.json()["errors"][0]["code"] == "UNAUTHORIZED"
    assert anonymous.delete(f"/projects/{private['name']}/repositories/app").status_code == 401
    listed = anonymous.get(f"/projects/{public['name']}/repositories")
    assert listed.status_code == 200 and listed.json()[0]["name"] == f"{public['name']}/app"
    hidden = anonymous.get("/repositories", params={"q": f"name={private['name']}/app"})
    assert hidden.status_code == 200 and hidden.json() == [] and hidden.headers["x-total-count"] == "0"
    shown = anonymous.get("/repositories", params={"q": f"name={public['name']}/app"})
    assert [r["name"] for r in shown.json()] == [f"{public['name']}/app"]

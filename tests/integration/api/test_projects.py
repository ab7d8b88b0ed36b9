"""Projects (``/api/v2.0/projects``): creation rules, name checks, the visibility-filtered
list with Harbor's query parameters, details, updates, deletion, summary and metadata."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from tests.common.oci import push_image
from tests.common.servers import Server
from tests.integration.api.conftest import unique

NAME = {"X-Is-Resource-Name": "true"}
ProjectFactory = Callable[..., dict[str, Any]]


def codes(r: httpx.Response) -> list[str]:
    return [e["code"] for e in r.json()["errors"]]


def names(r: httpx.Response) -> set[str]:
    assert r.status_code == 200, r.text
    return {p["name"] for p in r.json()}


@pytest.fixture
def member(api: httpx.Client, new_user: Callable[..., dict[str, Any]], as_user: Callable[..., httpx.Client]
           ) -> Callable[[dict[str, Any], int], httpx.Client]:
    """``member(project, role_id)`` → a client for a new user holding that role in the project."""

    def make(project: dict[str, Any], role_id: int) -> httpx.Client:
        user = new_user()
        r = api.post(f"/projects/{project['project_id']}/members",
                     json={"role_id": role_id, "member_user": {"username": user["username"]}})
        assert r.status_code == 201, r.text
        return as_user(str(user["username"]))

    return make


@pytest.fixture
def outsider(new_user: Callable[..., dict[str, Any]], as_user: Callable[..., httpx.Client]) -> httpx.Client:
    """A signed-in user who is a member of nothing."""
    return as_user(str(new_user()["username"]))


@pytest.fixture
def adminonly(api: httpx.Client) -> Iterator[None]:
    assert api.put("/configurations", json={"project_creation_restriction": "adminonly"}).status_code == 200
    try:
        yield
    finally:
        assert api.put("/configurations", json={"project_creation_restriction": "everyone"}).status_code == 200


def audit(api: httpx.Client, resource: str) -> list[dict[str, Any]]:
    r = api.get("/auditlog-exts", params={"q": f"resource={resource}", "page_size": 50})
    assert r.status_code == 200, r.text
    return list(r.json())


# Creating ---------------------------------------------------------------------------------

def test_create_answers_201_with_the_id_in_location(api: httpx.Client) -> None:
    name = unique("p")
    r = api.post("/projects", json={"project_name": name, "metadata": {"public": "false"}})
    assert r.status_code == 201, r.text
    assert r.content == b""
    project_id = int(r.headers["location"].rsplit("/", 1)[1])
    assert r.headers["location"] == f"/api/v2.0/projects/{project_id}"
    got = api.get(f"/projects/{project_id}")
    assert got.status_code == 200 and got.json()["name"] == name


def test_create_with_name_in_location(api: httpx.Client) -> None:
    name = unique("p")
    r = api.post("/projects", json={"project_name": name}, headers={"X-Resource-Name-In-Location": "true"})
    assert r.status_code == 201, r.text
    assert r.headers["location"] == f"/api/v2.0/projects/{name}"


def test_creator_becomes_owner_and_project_admin(api: httpx.Client, new_user: Callable[..., dict[str, Any]],
                                                 as_user: Callable[..., httpx.Client]) -> None:
    user = new_user()
    client = as_user(str(user["username"]))
    name = unique("mine")
    assert client.post("/projects", json={"project_name": name}).status_code == 201
    got = client.get(f"/projects/{name}", headers=NAME).json()
    assert got["owner_id"] == user["user_id"] and got["owner_name"] == user["username"]
    assert got["current_user_role_id"] == 1 and got["current_user_role_ids"] == [1]
    assert got["togglable"] is True
    members = api.get(f"/projects/{got['project_id']}/members").json()
    assert [(m["entity_name"], m["role_name"]) for m in members] == [(user["username"], "projectAdmin")]


def test_create_duplicate_name_conflicts(api: httpx.Client, new_project: ProjectFactory) -> None:
    project = new_project()
    r = api.post("/projects", json={"project_name": project["name"]})
    assert r.status_code == 409 and codes(r) == ["CONFLICT"]


@pytest.mark.parametrize("name", ["UpperCase", "bad name", "-lead", "trail-", "a" * 256, ""])
def test_create_invalid_name_is_bad_request(api: httpx.Client, name: str) -> None:
    r = api.post("/projects", json={"project_name": name})
    assert r.status_code == 400 and codes(r) == ["BAD_REQUEST"], r.text


def test_create_anonymous_is_unauthorized(anonymous: httpx.Client) -> None:
    r = anonymous.post("/projects", json={"project_name": unique("anon")})
    assert r.status_code == 401 and codes(r) == ["UNAUTHORIZED"]


def test_create_proxy_cache_needs_an_existing_endpoint(api: httpx.Client) -> None:
    r = api.post("/projects", json={"project_name": unique("proxy"), "registry_id": 2000000})
    assert r.status_code == 400 and codes(r) == ["BAD_REQUEST"]
    assert "2000000" in r.json()["errors"][0]["message"]


def test_create_accepts_storage_limit(api: httpx.Client) -> None:
    r = api.post("/projects", json={"project_name": unique("quota"), "storage_limit": -1})
    assert r.status_code == 201, r.text


def test_create_public_by_deprecated_flag(api: httpx.Client, anonymous: httpx.Client) -> None:
    name = unique("pub")
    assert api.post("/projects", json={"project_name": name, "public": True}).status_code == 201
    got = anonymous.get(f"/projects/{name}", headers=NAME)
    assert got.status_code == 200 and got.json()["metadata"]["public"] == "true"


def test_create_with_metadata(api: httpx.Client) -> None:
    name = unique("meta")
    body = {"project_name": name, "metadata": {"public": "true", "auto_scan": "true", "severity": "High",
                                                "prevent_vul": "false", "proxy_speed_kb": "10"}}
    assert api.post("/projects", json=body).status_code == 201
    got = api.get(f"/projects/{name}", headers=NAME).json()
    assert got["metadata"] == {"public": "true", "auto_scan": "true", "severity": "high", "prevent_vul": "false"}


def test_create_with_bad_metadata_value(api: httpx.Client) -> None:
    r = api.post("/projects", json={"project_name": unique("bad"), "metadata": {"public": "maybe"}})
    assert r.status_code == 400 and codes(r) == ["BAD_REQUEST"]


def test_adminonly_restricts_creation_to_admins(api: httpx.Client, outsider: httpx.Client, adminonly: None) -> None:
    r = outsider.post("/projects", json={"project_name": unique("denied")})
    assert r.status_code == 403 and codes(r) == ["FORBIDDEN"]
    assert api.post("/projects", json={"project_name": unique("allowed")}).status_code == 201


def test_system_robot_with_project_create(moorage: Server, api: httpx.Client) -> None:
    perm = {"kind": "system", "namespace": "/", "access": [{"resource": "project", "action": "create"}]}
    robot = api.post("/robots", json={"name": unique("maker"), "level": "system", "permissions": [perm]}).json()
    name = unique("bot")
    with httpx.Client(base_url=f"{moorage.url}/api/v2.0", auth=(robot["name"], robot["secret"]), timeout=60) as c:
        assert c.post("/projects", json={"project_name": name}).status_code == 201
    got = api.get(f"/projects/{name}", headers=NAME).json()
    assert "owner_id" not in got
    assert api.get(f"/projects/{got['project_id']}/members").json() == []


def test_project_robot_cannot_create(moorage: Server, api: httpx.Client, new_project: ProjectFactory) -> None:
    project = new_project()
    perm = {"kind": "project", "namespace": project["name"], "access": [{"resource": "project", "action": "read"}]}
    robot = api.post("/robots", json={"name": "maker", "level": "project", "permissions": [perm]}).json()
    with httpx.Client(base_url=f"{moorage.url}/api/v2.0", auth=(robot["name"], robot["secret"]), timeout=60) as c:
        r = c.post("/projects", json={"project_name": unique("bot")})
    assert r.status_code == 403 and codes(r) == ["FORBIDDEN"]


def test_create_is_audited(api: httpx.Client) -> None:
    name = unique("aud")
    api.post("/projects", json={"project_name": name})
    entries = audit(api, name)
    assert [(e["operation"], e["resource_type"], e["username"]) for e in entries] == [("create", "project", "admin")]


# Checking and reading ---------------------------------------------------------------------

def test_head_tells_whether_a_name_exists(api: httpx.Client, new_project: ProjectFactory) -> None:
    project = new_project()
    assert api.head("/projects", params={"project_name": project["name"]}).status_code == 200
    assert api.head("/projects", params={"project_name": unique("none")}).status_code == 404


def test_head_needs_read_access_like_harbor(anonymous: httpx.Client, new_project: ProjectFactory) -> None:
    assert anonymous.head("/projects", params={"project_name": new_project(public=True)["name"]}).status_code == 200
    assert anonymous.head("/projects", params={"project_name": new_project()["name"]}).status_code == 401


def test_get_project_shape(api: httpx.Client, new_project: ProjectFactory) -> None:
    project = new_project()
    got = api.get(f"/projects/{project['project_id']}")
    assert got.status_code == 200
    body = got.json()
    assert body["project_id"] == project["project_id"] and body["name"] == project["name"]
    assert body["owner_id"] == 1 and body["owner_name"] == "admin"
    assert body["deleted"] is False and body["repo_count"] == 0 and body["chart_count"] == 0
    assert body["registry_id"] is None
    assert body["metadata"] == {"public": "false"}
    assert body["current_user_role_id"] == 1 and body["current_user_role_ids"] == [1]
    assert body["togglable"] is True
    allowlist = body["cve_allowlist"]
    assert allowlist["project_id"] == project["project_id"] and allowlist["items"] == []
    assert {"id", "creation_time", "update_time"} <= set(allowlist)
    assert body["creation_time"].startswith("20") and body["update_time"].startswith("20")


def test_get_all_digit_name_needs_is_resource_name(api: httpx.Client) -> None:
    name = "9" + str(uuid.uuid4().int)[:11]
    r = api.post("/projects", json={"project_name": name})
    assert r.status_code == 201, r.text
    project_id = int(r.headers["location"].rsplit("/", 1)[1])
    assert api.get(f"/projects/{name}", headers=NAME).json()["project_id"] == project_id
    assert api.get(f"/projects/{name}").status_code == 404  # read as an id


def test_get_missing_project(api: httpx.Client) -> None:
    r = api.get("/projects/987654321")
    assert r.status_code == 404 and codes(r) == ["NOT_FOUND"]


def test_get_private_project(outsider: httpx.Client, anonymous: httpx.Client, new_project: ProjectFactory,
                             member: Callable[[dict[str, Any], int], httpx.Client]) -> None:
    project = new_project()
    path = f"/projects/{project['project_id']}"
    assert outsider.get(path).status_code == 403
    assert anonymous.get(path).status_code == 401
    guest = member(project, 3).get(path)
    assert guest.status_code == 200
    assert guest.json()["current_user_role_id"] == 3 and guest.json()["togglable"] is False


def test_repo_count(client: httpx.Client, api: httpx.Client, new_project: ProjectFactory) -> None:
    project = new_project()
    push_image(client, f"{project['name']}/app", "v1")
    push_image(client, f"{project['name']}/db", "v1")
    assert api.get(f"/projects/{project['project_id']}").json()["repo_count"] == 2


# Listing ----------------------------------------------------------------------------------

def test_list_hides_private_projects_from_non_members(outsider: httpx.Client, new_project: ProjectFactory,
                                                      member: Callable[[dict[str, Any], int], httpx.Client]
                                                      ) -> None:
    private, public = new_project(), new_project(public=True)
    seen = names(outsider.get("/projects", params={"q": f"name={{{private['name']} {public['name']}}}"}))
    assert seen == {public["name"]}
    developer = member(private, 2)
    listed = developer.get("/projects", params={"q": f"name={{{private['name']} {public['name']}}}"})
    assert names(listed) == {private["name"], public["name"]}
    roles = {p["name"]: p["current_user_role_id"] for p in listed.json()}
    assert roles == {private["name"]: 2, public["name"]: 0}


def test_list_anonymous_sees_only_public(anonymous: httpx.Client, new_project: ProjectFactory) -> None:
    private, public = new_project(), new_project(public=True)
    q = {"q": f"name={{{private['name']} {public['name']}}}"}
    assert names(anonymous.get("/projects", params=q)) == {public["name"]}
    r = anonymous.get("/projects", params={**q, "public": "false"})
    assert r.status_code == 200 and r.json() == [] and r.headers["x-total-count"] == "0"


def test_list_admin_sees_everything(api: httpx.Client, new_project: ProjectFactory) -> None:
    private = new_project()
    assert names(api.get("/projects", params={"name": private["name"]})) == {private["name"]}


def test_list_paging_headers(api: httpx.Client, new_project: ProjectFactory) -> None:
    prefix = unique("pg")
    made = sorted(new_project(project_name=f"{prefix}-{i}")["name"] for i in range(3))
    r = api.get("/projects", params={"name": prefix, "page": 1, "page_size": 2})
    assert r.status_code == 200
    assert r.headers["x-total-count"] == "3"
    assert [p["name"] for p in r.json()] == made[:2]
    assert r.headers["link"] == f'</api/v2.0/projects?name={prefix}&page=2&page_size=2>; rel="next"'
    second = api.get("/projects", params={"name": prefix, "page": 2, "page_size": 2})
    assert [p["name"] for p in second.json()] == made[2:]
    assert second.headers["link"] == f'</api/v2.0/projects?name={prefix}&page=1&page_size=2>; rel="prev"'


def test_list_sort_and_q(api: httpx.Client, new_project: ProjectFactory) -> None:
    prefix = unique("srt")
    made = [new_project(project_name=f"{prefix}-{c}", public=c == "b")["name"] for c in "abc"]
    r = api.get("/projects", params={"q": f"name=~{prefix}", "sort": "-name"})
    assert [p["name"] for p in r.json()] == made[::-1]
    r = api.get("/projects", params={"q": f"name=~{prefix},public=true"})
    assert [p["name"] for p in r.json()] == [made[1]]
    r = api.get("/projects", params={"name": prefix, "public": "false", "sort": "creation_time"})
    assert [p["name"] for p in r.json()] == [made[0], made[2]]
    assert api.get("/projects", params={"sort": "bogus"}).status_code == 400
    assert api.get("/projects", params={"q": "project_id=99999999999"}).status_code == 400


def test_list_by_owner(api: httpx.Client, new_user: Callable[..., dict[str, Any]],
                       as_user: Callable[..., httpx.Client]) -> None:
    user = new_user()
    name = unique("own")
    assert as_user(str(user["username"])).post("/projects", json={"project_name": name}).status_code == 201
    assert names(api.get("/projects", params={"owner": user["username"]})) == {name}
    assert names(api.get("/projects", params={"q": f"owner={user['username']}"})) == {name}


def test_list_without_detail(api: httpx.Client, new_project: ProjectFactory) -> None:
    project = new_project()
    r = api.get("/projects", params={"name": project["name"], "with_detail": "false"})
    (item,) = r.json()
    assert "metadata" not in item and "cve_allowlist" not in item
    assert item["project_id"] == project["project_id"] and item["repo_count"] == 0


def test_list_robot_sees_its_projects(moorage: Server, api: httpx.Client, new_project: ProjectFactory) -> None:
    mine, other = new_project(), new_project()
    perm = {"kind": "project", "namespace": mine["name"], "access": [{"resource": "repository", "action": "pull"}]}
    robot = api.post("/robots", json={"name": "lister", "level": "project", "permissions": [perm]}).json()
    with httpx.Client(base_url=f"{moorage.url}/api/v2.0", auth=(robot["name"], robot["secret"]), timeout=60) as c:
        seen = names(c.get("/projects", params={"q": f"name={{{mine['name']} {other['name']}}}"}))
    assert seen == {mine["name"]}


# Updating and deleting --------------------------------------------------------------------

def test_update_merges_metadata_and_public(api: httpx.Client, anonymous: httpx.Client,
                                           new_project: ProjectFactory) -> None:
    project = new_project()
    path = f"/projects/{project['project_id']}"
    assert api.put(path, json={"metadata": {"auto_scan": "true"}}).status_code == 200
    r = api.put(path, json={"metadata": {"public": "true", "severity": "critical"}})
    assert r.status_code == 200, r.text
    assert api.get(path).json()["metadata"] == {"public": "true", "auto_scan": "true", "severity": "critical"}
    assert anonymous.get(path).status_code == 200  # what /v2 and permission checks read changed too
    assert api.put(path, json={"public": False}).status_code == 200
    assert anonymous.get(path).status_code == 401


def test_update_refuses_cve_allowlist_items(api: httpx.Client, new_project: ProjectFactory) -> None:
    project = new_project()
    path = f"/projects/{project['project_id']}"
    allowlist = {"project_id": project["project_id"], "items": []}
    assert api.put(path, json={"cve_allowlist": allowlist}).status_code == 200
    r = api.put(path, json={"cve_allowlist": {**allowlist, "items": [{"cve_id": "CVE-2024-1"}]}})
    assert r.status_code == 400
    r = api.put(path, json={"cve_allowlist": {"project_id": project["project_id"] + 1000, "items": []}})
    assert r.status_code == 400


def test_update_needs_project_admin(new_project: ProjectFactory,
                                    member: Callable[[dict[str, Any], int], httpx.Client]) -> None:
    project = new_project()
    r = member(project, 4).put(f"/projects/{project['project_id']}", json={"metadata": {"public": "true"}})
    assert r.status_code == 403 and codes(r) == ["FORBIDDEN"]


def test_update_is_audited(api: httpx.Client, new_project: ProjectFactory) -> None:
    project = new_project()
    api.put(f"/projects/{project['project_id']}", json={"metadata": {"auto_scan": "true"}})
    updates = [e for e in audit(api, project["name"]) if e["operation"] == "update"]
    assert len(updates) == 1 and updates[0]["resource_type"] == "project"
    assert "auto_scan=true" in updates[0]["operation_description"]


def test_delete_project(api: httpx.Client, new_project: ProjectFactory) -> None:
    project = new_project()
    path = f"/projects/{project['project_id']}"
    assert api.get(path + "/_deletable").json() == {"deletable": True}
    assert api.delete(path).status_code == 200
    assert api.get(path).status_code == 404
    assert api.head("/projects", params={"project_name": project["name"]}).status_code == 404
    assert [e["operation"] for e in audit(api, project["name"])] == ["delete", "create"]


def test_delete_refused_while_repositories_remain(client: httpx.Client, api: httpx.Client,
                                                  new_project: ProjectFactory) -> None:
    project = new_project()
    push_image(client, f"{project['name']}/app", "v1")
    path = f"/projects/{project['project_id']}"
    assert api.get(path + "/_deletable").json() == {
        "deletable": False, "message": "the project contains repositories, can not be deleted"}
    r = api.delete(path)
    assert r.status_code == 412 and codes(r) == ["PRECONDITION"]
    assert "repositories" in r.json()["errors"][0]["message"]
    assert api.get(path).status_code == 200


def test_delete_needs_project_admin(new_project: ProjectFactory,
                                    member: Callable[[dict[str, Any], int], httpx.Client]) -> None:
    project = new_project()
    maintainer = member(project, 4)
    assert maintainer.delete(f"/projects/{project['project_id']}").status_code == 403
    assert maintainer.get(f"/projects/{project['project_id']}/_deletable").status_code == 403


def test_summary(api: httpx.Client, new_project: ProjectFactory,
                 member: Callable[[dict[str, Any], int], httpx.Client]) -> None:
    project = new_project()
    member(project, 2)
    member(project, 2)
    limited = member(project, 5)
    summary = api.get(f"/projects/{project['project_id']}/summary")
    assert summary.status_code == 200
    quota = {"hard": {"storage": -1}, "used": {"storage": 0}}
    assert summary.json() == {"repo_count": 0, "project_admin_count": 1, "maintainer_count": 0,
                              "developer_count": 2, "guest_count": 0, "limited_guest_count": 1, "quota": quota}
    # Harbor grants limited guests quota:read, not member:list.
    assert limited.get(f"/projects/{project['project_id']}/summary").json() == {"repo_count": 0, "quota": quota}


# Metadata ---------------------------------------------------------------------------------

def test_metadata_crud(api: httpx.Client, new_project: ProjectFactory) -> None:
    project = new_project()
    base = f"/projects/{project['project_id']}/metadatas"
    assert api.get(base + "/").json() == {"public": "false"}
    assert api.post(base + "/", json={"auto_scan": "True"}).status_code == 200
    assert api.get(base + "/auto_scan").json() == {"auto_scan": "true"}
    assert api.put(base + "/auto_scan", json={"auto_scan": "false"}).status_code == 200
    assert api.get(base + "/").json() == {"public": "false", "auto_scan": "false"}
    assert api.delete(base + "/auto_scan").status_code == 200
    assert api.get(base + "/auto_scan").status_code == 404
    assert api.delete(base + "/auto_scan").status_code == 404


def test_metadata_add_existing_conflicts(api: httpx.Client, new_project: ProjectFactory) -> None:
    project = new_project()
    base = f"/projects/{project['project_id']}/metadatas/"
    assert api.post(base, json={"severity": "low"}).status_code == 200
    assert api.post(base, json={"severity": "high"}).status_code == 409
    assert api.post(base, json={"public": "true"}).status_code == 409


def test_metadata_public_is_the_project_visibility(api: httpx.Client, anonymous: httpx.Client,
                                                   new_project: ProjectFactory) -> None:
    project = new_project()
    base = f"/projects/{project['project_id']}/metadatas"
    assert api.put(base + "/public", json={"public": "true"}).status_code == 200
    assert anonymous.get(f"/projects/{project['project_id']}").status_code == 200
    assert api.delete(base + "/public").status_code == 200
    assert api.get(base + "/public").json() == {"public": "false"}
    assert anonymous.get(f"/projects/{project['project_id']}").status_code == 401


@pytest.mark.parametrize(("body", "key"), [
    ({"color": "red"}, "color"), ({"severity": "extreme"}, "severity"), ({"prevent_vul": "yes"}, "prevent_vul"),
])
def test_metadata_invalid(api: httpx.Client, new_project: ProjectFactory, body: dict[str, str], key: str) -> None:
    project = new_project()
    base = f"/projects/{project['project_id']}/metadatas"
    r = api.post(base + "/", json=body)
    assert r.status_code == 400 and codes(r) == ["BAD_REQUEST"]
    assert api.put(f"{base}/{key}", json=body).status_code == 400


def test_metadata_permissions(new_project: ProjectFactory,
                              member: Callable[[dict[str, Any], int], httpx.Client]) -> None:
    project = new_project()
    base = f"/projects/{project['project_id']}/metadatas"
    maintainer, developer = member(project, 4), member(project, 2)
    assert maintainer.get(base + "/").status_code == 200
    assert maintainer.put(base + "/auto_scan", json={"auto_scan": "true"}).status_code == 403
    assert developer.get(base + "/").status_code == 403

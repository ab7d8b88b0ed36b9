"""Project members (``/api/v2.0/projects/{project_name_or_id}/members``): adding users by id
or name with Harbor's roles, listing with a name filter and paging, role changes, removal,
and who may do which."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.integration.api.conftest import unique

UserFactory = Callable[..., dict[str, Any]]
ProjectFactory = Callable[..., dict[str, Any]]
ROLE_NAMES = {1: "projectAdmin", 2: "developer", 3: "guest", 4: "maintainer", 5: "limitedGuest"}


def codes(r: httpx.Response) -> list[str]:
    return [e["code"] for e in r.json()["errors"]]


def add(client: httpx.Client, project: dict[str, Any], role_id: int | None, **member_user: Any) -> httpx.Response:
    return client.post(f"/projects/{project['project_id']}/members",
                       json={"role_id": role_id, "member_user": member_user})


def member_id(r: httpx.Response) -> int:
    assert r.status_code == 201, r.text
    return int(r.headers["location"].rsplit("/", 1)[1])


@pytest.fixture
def project(new_project: ProjectFactory) -> dict[str, Any]:
    return new_project()


@pytest.mark.parametrize("role_id", sorted(ROLE_NAMES))
def test_add_by_username(api: httpx.Client, new_user: UserFactory, project: dict[str, Any], role_id: int) -> None:
    user = new_user()
    r = add(api, project, role_id, username=user["username"])
    mid = member_id(r)
    assert r.headers["location"] == f"/api/v2.0/projects/{project['project_id']}/members/{mid}"
    got = api.get(f"/projects/{project['project_id']}/members/{mid}")
    assert got.status_code == 200
    assert got.json() == {"id": mid, "project_id": project["project_id"], "entity_name": user["username"],
                          "role_name": ROLE_NAMES[role_id], "role_id": role_id, "entity_id": user["user_id"],
                          "entity_type": "u"}


def test_add_by_user_id_with_project_name(api: httpx.Client, new_user: UserFactory, project: dict[str, Any]
                                          ) -> None:
    user = new_user()
    r = api.post(f"/projects/{project['name']}/members", headers={"X-Is-Resource-Name": "true"},
                 json={"role_id": 2, "member_user": {"user_id": user["user_id"]}})
    mid = member_id(r)
    assert r.headers["location"] == f"/api/v2.0/projects/{project['name']}/members/{mid}"
    assert api.get(f"/projects/{project['project_id']}/members/{mid}").json()["entity_name"] == user["username"]


def test_add_twice_conflicts(api: httpx.Client, new_user: UserFactory, project: dict[str, Any]) -> None:
    user = new_user()
    member_id(add(api, project, 2, username=user["username"]))
    r = add(api, project, 3, user_id=user["user_id"])
    assert r.status_code == 409 and codes(r) == ["CONFLICT"]


def test_add_unknown_user(api: httpx.Client, project: dict[str, Any]) -> None:
    r = add(api, project, 2, username=unique("ghost"))
    assert r.status_code == 404 and codes(r) == ["NOT_FOUND"]
    for user_id in (987654321, 99999999999, -5):
        r = add(api, project, 2, user_id=user_id)
        assert r.status_code == 400 and codes(r) == ["BAD_REQUEST"], r.text


@pytest.mark.parametrize("role_id", [0, 6, -1, None])
def test_add_invalid_role(api: httpx.Client, new_user: UserFactory, project: dict[str, Any],
                          role_id: int | None) -> None:
    r = add(api, project, role_id, username=new_user()["username"])
    assert r.status_code == 400 and codes(r) == ["BAD_REQUEST"]


def test_add_without_user_or_with_group(api: httpx.Client, project: dict[str, Any]) -> None:
    r = api.post(f"/projects/{project['project_id']}/members", json={"role_id": 2})
    assert r.status_code == 400
    r = api.post(f"/projects/{project['project_id']}/members",
                 json={"role_id": 2, "member_group": {"group_name": "devs"}})
    assert r.status_code == 400 and "group" in r.json()["errors"][0]["message"]


def test_add_to_missing_project(api: httpx.Client, new_user: UserFactory) -> None:
    r = api.post("/projects/987654321/members", json={"role_id": 2, "member_user": {"username": "x"}})
    assert r.status_code == 404


def test_list_with_filter_and_paging(api: httpx.Client, new_user: UserFactory, project: dict[str, Any]) -> None:
    tag = unique("m")
    users = sorted((new_user(username=f"{tag}{i}") for i in range(3)), key=lambda u: str(u["username"]))
    for i, user in enumerate(users):
        member_id(add(api, project, [2, 3, 4][i], username=user["username"]))
    base = f"/projects/{project['project_id']}/members"
    everyone = api.get(base)
    assert everyone.headers["x-total-count"] == "4"  # the creator (admin) too
    assert {m["entity_name"]: m["role_name"] for m in everyone.json()} == {
        "admin": "projectAdmin", users[0]["username"]: "developer", users[1]["username"]: "guest",
        users[2]["username"]: "maintainer"}
    page = api.get(base, params={"entityname": tag.upper(), "page": 1, "page_size": 2})
    assert page.headers["x-total-count"] == "3"
    assert [m["entity_name"] for m in page.json()] == [users[0]["username"], users[1]["username"]]
    assert page.headers["link"] == (f'</api/v2.0/projects/{project["project_id"]}/members?entityname={tag.upper()}'
                                    '&page=2&page_size=2>; rel="next"')
    last = api.get(base, params={"entityname": tag, "page": 2, "page_size": 2})
    assert [m["entity_name"] for m in last.json()] == [users[2]["username"]]


def test_update_role(api: httpx.Client, new_user: UserFactory, project: dict[str, Any]) -> None:
    user = new_user()
    mid = member_id(add(api, project, 3, username=user["username"]))
    path = f"/projects/{project['project_id']}/members/{mid}"
    assert api.put(path, json={"role_id": 4}).status_code == 200
    got = api.get(path).json()
    assert got["role_id"] == 4 and got["role_name"] == "maintainer"
    assert api.put(path, json={"role_id": 9}).status_code == 400
    assert api.put(path, json={}).status_code == 400
    assert api.put(f"/projects/{project['project_id']}/members/987654321", json={"role_id": 2}).status_code == 404


def test_remove_member(api: httpx.Client, new_user: UserFactory, as_user: Callable[..., httpx.Client],
                       project: dict[str, Any]) -> None:
    user = new_user()
    mid = member_id(add(api, project, 2, username=user["username"]))
    client = as_user(str(user["username"]))
    assert client.get(f"/projects/{project['project_id']}").status_code == 200
    path = f"/projects/{project['project_id']}/members/{mid}"
    assert api.delete(path).status_code == 200
    assert api.get(path).status_code == 404
    assert api.delete(path).status_code == 404
    assert client.get(f"/projects/{project['project_id']}").status_code == 403


@pytest.mark.parametrize("mid", ["0", "99999999999", "-99999999999"])
def test_unknown_member_ids(api: httpx.Client, project: dict[str, Any], mid: str) -> None:
    path = f"/projects/{project['project_id']}/members/{mid}"
    assert api.get(path).status_code == 404
    assert api.put(path, json={"role_id": 2}).status_code == 404
    assert api.delete(path).status_code == 404


def test_member_of_another_project_is_not_found(api: httpx.Client, new_user: UserFactory,
                                                new_project: ProjectFactory) -> None:
    first, second = new_project(), new_project()
    mid = member_id(add(api, first, 2, username=new_user()["username"]))
    assert api.get(f"/projects/{second['project_id']}/members/{mid}").status_code == 404
    assert api.delete(f"/projects/{second['project_id']}/members/{mid}").status_code == 404


def test_developer_cannot_add_members(api: httpx.Client, new_user: UserFactory,
                                      as_user: Callable[..., httpx.Client], project: dict[str, Any]) -> None:
    developer = new_user()
    member_id(add(api, project, 2, username=developer["username"]))
    r = add(as_user(str(developer["username"])), project, 2, username=new_user()["username"])
    assert r.status_code == 403 and codes(r) == ["FORBIDDEN"]


def test_project_admin_manages_members(api: httpx.Client, new_user: UserFactory,
                                       as_user: Callable[..., httpx.Client], project: dict[str, Any]) -> None:
    admin = new_user()
    member_id(add(api, project, 1, username=admin["username"]))
    client = as_user(str(admin["username"]))
    mid = member_id(add(client, project, 3, username=new_user()["username"]))
    path = f"/projects/{project['project_id']}/members/{mid}"
    assert client.put(path, json={"role_id": 2}).status_code == 200
    assert client.delete(path).status_code == 200


def test_cannot_change_own_membership(api: httpx.Client, new_user: UserFactory,
                                      as_user: Callable[..., httpx.Client], project: dict[str, Any]) -> None:
    admin = new_user()
    mid = member_id(add(api, project, 1, username=admin["username"]))
    client = as_user(str(admin["username"]))
    path = f"/projects/{project['project_id']}/members/{mid}"
    r = client.put(path, json={"role_id": 3})
    assert r.status_code == 403 and codes(r) == ["FORBIDDEN"]
    assert client.delete(path).status_code == 403
    assert api.get(path).json()["role_id"] == 1


@pytest.mark.parametrize(("role_id", "status"), [(3, 200), (5, 403)])
def test_who_may_list_members(api: httpx.Client, new_user: UserFactory, as_user: Callable[..., httpx.Client],
                              project: dict[str, Any], role_id: int, status: int) -> None:
    user = new_user()
    mid = member_id(add(api, project, role_id, username=user["username"]))
    client = as_user(str(user["username"]))
    assert client.get(f"/projects/{project['project_id']}/members").status_code == status
    assert client.get(f"/projects/{project['project_id']}/members/{mid}").status_code == status


def test_outsiders_and_anonymous(new_user: UserFactory, as_user: Callable[..., httpx.Client],
                                 anonymous: httpx.Client, new_project: ProjectFactory) -> None:
    public = new_project(public=True)
    outsider = as_user(str(new_user()["username"]))
    assert outsider.get(f"/projects/{public['project_id']}/members").status_code == 403
    assert anonymous.get(f"/projects/{public['project_id']}/members").status_code == 401


def test_membership_changes_are_audited(api: httpx.Client, new_user: UserFactory, project: dict[str, Any]) -> None:
    user = new_user()
    mid = member_id(add(api, project, 2, username=user["username"]))
    path = f"/projects/{project['project_id']}/members/{mid}"
    api.put(path, json={"role_id": 4})
    api.delete(path)
    r = api.get(f"/projects/{project['name']}/auditlog-exts", params={"q": "resource_type=member"})
    entries = [(e["operation"], e["resource"], e["operation_description"]) for e in r.json()]
    resource = f"{project['name']}/{user['username']}"
    assert entries == [
        ("delete", resource, f"removed {user['username']} (maintainer)"),
        ("update", resource, f"changed role of {user['username']} from developer to maintainer"),
        ("create", resource, f"added {user['username']} as developer"),
    ]

"""Robot accounts (``/api/v2.0/robots``): naming, secrets, lifetimes, the rule that a robot
holds only what its creator holds, and listing."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.common.servers import Server
from tests.integration.api.conftest import unique

SERVICE = "moorage-registry"
DAY = 86400


def project_perm(project: str, *accesses: str) -> dict[str, Any]:
    return {
        "kind": "project",
        "namespace": project,
        "access": [{"resource": a.split(":")[0], "action": a.split(":")[1]} for a in accesses],
    }


def system_perm(*accesses: str) -> dict[str, Any]:
    return {
        "kind": "system",
        "namespace": "/",
        "access": [{"resource": a.split(":")[0], "action": a.split(":")[1]} for a in accesses],
    }


def create(client: httpx.Client, name: str, level: str, *perms: dict[str, Any], **extra: Any) -> httpx.Response:
    return client.post("/robots", json={"name": name, "level": level, "permissions": list(perms), **extra})


def granted(moorage: Server, auth: tuple[str, str], scope: str) -> tuple[int, list[str]]:
    """(status, actions granted on the scope's repository) from the token endpoint."""
    r = httpx.get(f"{moorage.url}/service/token", params={"service": SERVICE, "scope": scope}, auth=auth, timeout=60)
    if r.status_code != 200:
        return r.status_code, []
    payload = r.json()["token"].split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return 200, [a for access in claims.get("access") or [] for a in access["actions"]]


@pytest.fixture
def project(new_project: Callable[..., dict[str, Any]]) -> dict[str, Any]:
    return new_project()


@pytest.fixture
def member(
    api: httpx.Client, new_user: Callable[..., dict[str, Any]], as_user: Callable[..., httpx.Client]
) -> Callable[[dict[str, Any], int], httpx.Client]:
    """``member(project, role_id)`` → a client for a new user holding that role in the project."""

    def make(project: dict[str, Any], role_id: int) -> httpx.Client:
        user = new_user()
        r = api.post(
            f"/projects/{project['project_id']}/members",
            json={"role_id": role_id, "member_user": {"username": user["username"]}},
        )
        assert r.status_code == 201, r.text
        return as_user(str(user["username"]))

    return make


def test_create_system_robot(api: httpx.Client) -> None:
    name = unique("sys")
    before = time.time()
    r = create(api, name, "system", system_perm("project:create"), description="ci")
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["name"] == f"robot${name}"
    assert r.headers["location"] == f"/api/v2.0/robots/{body['id']}"
    assert set(body) == {"id", "name", "secret", "creation_time", "expires_at"}
    assert len(body["secret"]) >= 8
    assert abs(body["expires_at"] - (before + 30 * DAY)) < 120  # robot_token_duration defaults to 30 days
    got = api.get(f"/robots/{body['id']}")
    assert got.status_code == 200
    robot = got.json()
    assert robot["name"] == f"robot${name}" and robot["level"] == "system" and robot["description"] == "ci"
    assert robot["duration"] == 30 and robot["editable"] is True and robot["disable"] is False
    assert robot["permissions"] == [system_perm("project:create")]
    assert robot["expires_at"] == body["expires_at"] and "creation_time" in robot and "update_time" in robot


def test_create_project_robot(api: httpx.Client, project: dict[str, Any]) -> None:
    perm = project_perm(project["name"], "repository:pull", "repository:push")
    r = create(api, "ci", "project", perm)
    assert r.status_code == 201, r.text
    assert r.json()["name"] == f"robot${project['name']}+ci"
    robot = api.get(f"/robots/{r.json()['id']}").json()
    assert robot["level"] == "project" and robot["permissions"] == [perm]


def test_secret_is_shown_at_creation_only(api: httpx.Client, project: dict[str, Any]) -> None:
    r = create(api, "shown", "project", project_perm(project["name"], "repository:pull"))
    assert "secret" in r.json()
    assert "secret" not in api.get(f"/robots/{r.json()['id']}").json()
    listed = api.get("/robots", params={"q": f"Level=project,ProjectID={project['project_id']}"}).json()
    assert listed and all("secret" not in robot for robot in listed)


def test_robot_authenticates_with_its_permissions(moorage: Server, api: httpx.Client, project: dict[str, Any]) -> None:
    name = project["name"]
    pusher = create(api, "pusher", "project", project_perm(name, "repository:pull", "repository:push")).json()
    puller = create(api, "puller", "project", project_perm(name, "repository:pull")).json()
    scope = f"repository:{name}/x:pull,push"
    assert granted(moorage, (pusher["name"], pusher["secret"]), scope) == (200, ["pull", "push"])
    assert granted(moorage, (puller["name"], puller["secret"]), scope) == (200, ["pull"])
    assert granted(moorage, (puller["name"], "Wrong1234"), scope)[0] == 401


def test_robot_reads_its_private_project(moorage: Server, api: httpx.Client, project: dict[str, Any]) -> None:
    robot = create(api, "reader", "project", project_perm(project["name"], "project:read")).json()
    with httpx.Client(base_url=f"{moorage.url}/api/v2.0", auth=(robot["name"], robot["secret"]), timeout=60) as c:
        r = c.get(f"/projects/{project['name']}", headers={"X-Is-Resource-Name": "true"})
    assert r.status_code == 200, r.text
    assert r.json()["name"] == project["name"]


def test_system_robot_on_all_projects(moorage: Server, api: httpx.Client, project: dict[str, Any]) -> None:
    robot = create(api, unique("all"), "system", project_perm("*", "repository:pull")).json()
    assert granted(moorage, (robot["name"], robot["secret"]), f"repository:{project['name']}/x:pull,push") == (
        200,
        ["pull"],
    )


def test_refresh_secret_replaces_the_old_one(moorage: Server, api: httpx.Client, project: dict[str, Any]) -> None:
    robot = create(api, "refresh", "project", project_perm(project["name"], "repository:pull")).json()
    scope = f"repository:{project['name']}/x:pull"
    r = api.patch(f"/robots/{robot['id']}", json={})
    assert r.status_code == 200
    new = r.json()["secret"]
    assert new and new != robot["secret"]
    assert granted(moorage, (robot["name"], robot["secret"]), scope)[0] == 401
    assert granted(moorage, (robot["name"], new), scope) == (200, ["pull"])


def test_refresh_with_chosen_secret(moorage: Server, api: httpx.Client, project: dict[str, Any]) -> None:
    robot = create(api, "chosen", "project", project_perm(project["name"], "repository:pull")).json()
    weak = api.patch(f"/robots/{robot['id']}", json={"secret": "weak"})
    assert weak.status_code == 400 and weak.json()["errors"][0]["code"] == "BAD_REQUEST"
    r = api.patch(f"/robots/{robot['id']}", json={"secret": "Chosen12345"})
    assert r.status_code == 200 and "secret" not in r.json()
    assert granted(moorage, (robot["name"], "Chosen12345"), f"repository:{project['name']}/x:pull") == (200, ["pull"])


def test_create_with_chosen_secret(moorage: Server, api: httpx.Client, project: dict[str, Any]) -> None:
    perm = project_perm(project["name"], "repository:pull")
    assert create(api, "weak", "project", perm, secret="short").status_code == 400
    r = create(api, "mine", "project", perm, secret="MySecret123")
    assert r.status_code == 201 and r.json()["secret"] == "MySecret123"
    assert granted(moorage, (r.json()["name"], "MySecret123"), f"repository:{project['name']}/x:pull")[0] == 200


def test_disable_blocks_authentication_at_once(moorage: Server, api: httpx.Client, project: dict[str, Any]) -> None:
    robot = create(api, "off", "project", project_perm(project["name"], "repository:pull")).json()
    auth, scope = (robot["name"], robot["secret"]), f"repository:{project['name']}/x:pull"
    assert granted(moorage, auth, scope)[0] == 200
    assert api.put(f"/robots/{robot['id']}", json={"disable": True}).status_code == 200
    assert api.get(f"/robots/{robot['id']}").json()["disable"] is True
    assert granted(moorage, auth, scope)[0] == 401
    assert api.put(f"/robots/{robot['id']}", json={"disable": False}).status_code == 200
    assert granted(moorage, auth, scope)[0] == 200


def test_created_disabled(moorage: Server, api: httpx.Client, project: dict[str, Any]) -> None:
    robot = create(api, "born-off", "project", project_perm(project["name"], "repository:pull"), disable=True).json()
    assert granted(moorage, (robot["name"], robot["secret"]), f"repository:{project['name']}/x:pull")[0] == 401


def test_duration_sets_expiry(moorage: Server, api: httpx.Client, project: dict[str, Any]) -> None:
    perm = project_perm(project["name"], "repository:pull")
    r = create(api, "oneday", "project", perm, duration=1)
    assert r.status_code == 201
    assert abs(r.json()["expires_at"] - (time.time() + DAY)) < 120
    assert granted(moorage, (r.json()["name"], r.json()["secret"]), f"repository:{project['name']}/x:pull")[0] == 200
    never = create(api, "never", "project", perm, duration=-1)
    assert never.status_code == 201 and never.json()["expires_at"] == -1
    got = api.get(f"/robots/{never.json()['id']}").json()
    assert got["duration"] == -1 and got["expires_at"] == -1


@pytest.mark.parametrize("duration", [0, -2, 2**31])
def test_invalid_duration(api: httpx.Client, project: dict[str, Any], duration: int) -> None:
    r = create(api, "bad", "project", project_perm(project["name"], "repository:pull"), duration=duration)
    assert r.status_code == 400 and r.json()["errors"][0]["code"] == "BAD_REQUEST"


def test_update_duration_counts_from_creation(api: httpx.Client, project: dict[str, Any]) -> None:
    created = create(api, "longer", "project", project_perm(project["name"], "repository:pull"), duration=1).json()
    assert api.put(f"/robots/{created['id']}", json={"duration": 10}).status_code == 200
    robot = api.get(f"/robots/{created['id']}").json()
    assert robot["duration"] == 10 and abs(robot["expires_at"] - (created["expires_at"] + 9 * DAY)) <= 1
    assert api.put(f"/robots/{created['id']}", json={"duration": -1}).status_code == 200
    assert api.get(f"/robots/{created['id']}").json()["expires_at"] == -1
    assert api.put(f"/robots/{created['id']}", json={"duration": 0}).status_code == 400


def test_update_description_and_permissions(moorage: Server, api: httpx.Client, project: dict[str, Any]) -> None:
    name = project["name"]
    robot = create(api, "edit", "project", project_perm(name, "repository:pull")).json()
    current = api.get(f"/robots/{robot['id']}").json()
    perm = project_perm(name, "repository:pull", "repository:push")
    r = api.put(f"/robots/{robot['id']}", json={**current, "description": "now pushes", "permissions": [perm]})
    assert r.status_code == 200, r.text
    got = api.get(f"/robots/{robot['id']}").json()
    assert got["description"] == "now pushes" and got["permissions"] == [perm]
    assert granted(moorage, (robot["name"], robot["secret"]), f"repository:{name}/x:pull,push") == (
        200,
        ["pull", "push"],
    )


def test_update_cannot_change_name_level_or_project(
    api: httpx.Client, new_project: Callable[..., dict[str, Any]]
) -> None:
    project, other = new_project(), new_project()
    robot = create(api, "fixed", "project", project_perm(project["name"], "repository:pull")).json()
    path = f"/robots/{robot['id']}"
    assert api.put(path, json={"name": "robot$renamed"}).status_code == 400
    assert api.put(path, json={"level": "system"}).status_code == 400
    moved = api.put(path, json={"permissions": [project_perm(other["name"], "repository:pull")]})
    assert moved.status_code == 400
    assert api.put(path, json={"name": robot["name"], "level": "project"}).status_code == 200


def test_delete_robot(moorage: Server, api: httpx.Client, project: dict[str, Any]) -> None:
    robot = create(api, "gone", "project", project_perm(project["name"], "repository:pull")).json()
    assert api.delete(f"/robots/{robot['id']}").status_code == 200
    assert api.get(f"/robots/{robot['id']}").status_code == 404
    assert api.delete(f"/robots/{robot['id']}").status_code == 404
    assert granted(moorage, (robot["name"], robot["secret"]), f"repository:{project['name']}/x:pull")[0] == 401


@pytest.mark.parametrize("name", ["", "Upper", "a+b", "-lead", "trail.", "two..dots", "sp ace", "x" * 256])
def test_invalid_name(api: httpx.Client, name: str) -> None:
    r = create(api, name, "system", system_perm("project:create"))
    assert r.status_code == 400, r.text
    assert r.json()["errors"][0]["code"] == "BAD_REQUEST"


def test_duplicate_name(api: httpx.Client, project: dict[str, Any]) -> None:
    perm = project_perm(project["name"], "repository:pull")
    assert create(api, "twice", "project", perm).status_code == 201
    r = create(api, "twice", "project", perm)
    assert r.status_code == 409 and r.json()["errors"][0]["code"] == "CONFLICT"


@pytest.mark.parametrize(
    "case",
    [
        "level",
        "no-permissions",
        "empty-access",
        "kind",
        "system-namespace",
        "project-star",
        "two-projects",
        "system-kind-on-project",
        "not-grantable",
    ],
)
def test_malformed_permissions(api: httpx.Client, new_project: Callable[..., dict[str, Any]], case: str) -> None:
    name, other = new_project()["name"], new_project()["name"]
    pull = project_perm(name, "repository:pull")
    level, perms = {
        "level": ("global", [pull]),
        "no-permissions": ("project", []),
        "empty-access": ("project", [{"kind": "project", "namespace": name, "access": []}]),
        "kind": ("system", [{**pull, "kind": "cluster"}]),
        "system-namespace": ("system", [{**system_perm("project:create"), "namespace": name}]),
        "project-star": ("project", [project_perm("*", "repository:pull")]),
        "two-projects": ("project", [pull, project_perm(other, "repository:pull")]),
        "system-kind-on-project": ("project", [system_perm("project:create")]),
        "not-grantable": ("project", [project_perm(name, "repository:create")]),
    }[case]
    r = create(api, "bad", level, *perms)
    assert r.status_code == 400, r.text


def test_unknown_project(api: httpx.Client) -> None:
    r = create(api, "lost", "project", project_perm(unique("missing"), "repository:pull"))
    assert r.status_code == 404 and r.json()["errors"][0]["code"] == "NOT_FOUND"


def test_project_admin_creates_project_robot(member: Callable[..., httpx.Client], project: dict[str, Any]) -> None:
    admin = member(project, 1)
    r = create(admin, "byadmin", "project", project_perm(project["name"], "repository:pull", "repository:push"))
    assert r.status_code == 201, r.text
    assert admin.get(f"/robots/{r.json()['id']}").status_code == 200


def test_developer_cannot_create_robots(member: Callable[..., httpx.Client], project: dict[str, Any]) -> None:
    developer = member(project, 2)
    r = create(developer, "bydev", "project", project_perm(project["name"], "repository:push"))
    assert r.status_code == 403 and r.json()["errors"][0]["code"] == "FORBIDDEN"


def test_project_admin_cannot_create_robot_in_another_project(
    member: Callable[..., httpx.Client], new_project: Callable[..., dict[str, Any]]
) -> None:
    mine, theirs = new_project(), new_project()
    admin = member(mine, 1)
    assert create(admin, "elsewhere", "project", project_perm(theirs["name"], "repository:pull")).status_code == 403


def test_project_admin_cannot_grant_what_they_lack(
    member: Callable[..., httpx.Client], project: dict[str, Any]
) -> None:
    # metadata:list is grantable to robots, but a ProjectAdmin does not hold it.
    admin = member(project, 1)
    r = create(admin, "more", "project", project_perm(project["name"], "repository:pull", "metadata:list"))
    assert r.status_code == 403 and "metadata:list" in r.json()["errors"][0]["message"]


def test_user_cannot_create_system_robot(member: Callable[..., httpx.Client], project: dict[str, Any]) -> None:
    admin = member(project, 1)
    assert create(admin, unique("sys"), "system", project_perm(project["name"], "repository:pull")).status_code == 403


def test_robot_creates_robots_within_its_own_permissions(
    moorage: Server, api: httpx.Client, project: dict[str, Any]
) -> None:
    name = project["name"]
    maker = create(
        api, unique("maker"), "system", system_perm("robot:create", "robot:read"), project_perm(name, "repository:pull")
    ).json()
    with httpx.Client(base_url=f"{moorage.url}/api/v2.0", auth=(maker["name"], maker["secret"]), timeout=60) as c:
        ok = create(c, unique("child"), "system", project_perm(name, "repository:pull"))
        assert ok.status_code == 201, ok.text
        assert create(c, unique("child"), "system", project_perm(name, "repository:push")).status_code == 403
        assert create(c, unique("child"), "system", project_perm("*", "repository:pull")).status_code == 403
        assert create(c, unique("child"), "system", system_perm("user:list")).status_code == 403
        assert c.get(f"/robots/{ok.json()['id']}").status_code == 200


def test_anonymous_is_unauthorized(anonymous: httpx.Client, api: httpx.Client) -> None:
    robot = create(api, unique("anon"), "system", system_perm("project:create")).json()
    assert create(anonymous, "x", "system", system_perm("project:create")).status_code == 401
    assert anonymous.get("/robots").status_code == 401
    assert anonymous.get(f"/robots/{robot['id']}").status_code == 401
    assert anonymous.delete(f"/robots/{robot['id']}").status_code == 401


def test_member_roles_on_project_robots(
    member: Callable[..., httpx.Client], api: httpx.Client, project: dict[str, Any]
) -> None:
    robot = create(api, "watched", "project", project_perm(project["name"], "repository:pull")).json()
    guest = member(project, 3)
    path = f"/robots/{robot['id']}"
    assert guest.get(path).status_code == 200
    listed = guest.get("/robots", params={"q": f"Level=project,ProjectID={project['project_id']}"})
    assert listed.status_code == 200 and [r["id"] for r in listed.json()] == [robot["id"]]
    assert guest.put(path, json={"disable": True}).status_code == 403
    assert guest.patch(path, json={}).status_code == 403
    assert guest.delete(path).status_code == 403
    limited = member(project, 5)
    assert limited.get(path).status_code == 403


def test_list_project_robots_with_paging(api: httpx.Client, new_project: Callable[..., dict[str, Any]]) -> None:
    project, other = new_project(), new_project()
    ids = [
        create(api, f"r{i}", "project", project_perm(project["name"], "repository:pull")).json()["id"] for i in range(3)
    ]
    create(api, "r0", "project", project_perm(other["name"], "repository:pull"))
    q = f"Level=project,ProjectID={project['project_id']}"
    first = api.get("/robots", params={"q": q, "page": 1, "page_size": 2, "sort": "name"})
    assert first.status_code == 200
    assert first.headers["x-total-count"] == "3"
    assert 'rel="next"' in first.headers["link"] and 'rel="prev"' not in first.headers["link"]
    assert [r["name"] for r in first.json()] == [f"robot${project['name']}+r0", f"robot${project['name']}+r1"]
    second = api.get("/robots", params={"q": q, "page": 2, "page_size": 2, "sort": "name"})
    assert [r["id"] for r in second.json()] == [ids[2]] and 'rel="prev"' in second.headers["link"]
    newest = api.get("/robots", params={"q": q})
    assert [r["id"] for r in newest.json()] == ids[::-1]  # newest first by default
    one = api.get("/robots", params={"q": f"{q},name=~r1"})
    assert [r["id"] for r in one.json()] == [ids[1]]


def test_list_without_project_shows_system_robots(api: httpx.Client, project: dict[str, Any]) -> None:
    tag = unique("lst")
    system = create(api, f"{tag}-sys", "system", system_perm("project:create")).json()
    create(api, f"{tag}-proj", "project", project_perm(project["name"], "repository:pull"))
    r = api.get("/robots", params={"q": f"name=~{tag}"})
    assert r.status_code == 200 and r.headers["x-total-count"] == "1"
    assert [x["id"] for x in r.json()] == [system["id"]]
    exact = api.get("/robots", params={"q": f"name={tag}-sys"})
    assert [x["id"] for x in exact.json()] == [system["id"]]


def test_list_access(
    member: Callable[..., httpx.Client], new_project: Callable[..., dict[str, Any]], api: httpx.Client
) -> None:
    project, other = new_project(), new_project()
    guest = member(project, 3)
    assert guest.get("/robots").status_code == 403
    assert guest.get("/robots", params={"q": f"Level=project,ProjectID={other['project_id']}"}).status_code == 403
    assert api.get("/robots", params={"q": "Level=project"}).status_code == 400
    assert api.get("/robots", params={"q": "Level=project,ProjectID=abc"}).status_code == 400
    assert api.get("/robots", params={"q": "Level=global"}).status_code == 400
    assert api.get("/robots", params={"sort": "secret"}).status_code == 400


def test_changes_are_audited_without_the_secret(api: httpx.Client) -> None:
    robot = create(api, unique("aud"), "system", system_perm("project:create"), secret="Audited12345").json()
    api.put(f"/robots/{robot['id']}", json={"description": "changed"})
    api.patch(f"/robots/{robot['id']}", json={})
    api.delete(f"/robots/{robot['id']}")
    r = api.get("/auditlog-exts", params={"q": f"resource={robot['name']},resource_type=robot", "sort": "id"})
    assert r.status_code == 200, r.text
    entries = r.json()
    assert [e["operation"] for e in entries] == ["create", "update", "update", "delete"]
    assert all(e["username"] == "admin" and e["operation_result"] is True for e in entries)
    assert "Audited12345" not in r.text

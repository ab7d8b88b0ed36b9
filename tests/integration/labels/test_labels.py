"""Global and project labels over /api/v2.0/labels: create, read, list (scope, project, name,
paging), update, delete, name uniqueness per scope, validation, and who may do what."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import httpx
import pytest

from tests.common.databases import server_sql
from tests.common.servers import Server
from tests.integration.labels.conftest import PRINCIPALS, LabelWorld, unique

Factory = Callable[..., dict[str, Any]]


def _create(client: httpx.Client, **body: Any) -> httpx.Response:
    return client.post("/labels", json={"name": unique(), "color": "#61717D", "description": "d", **body})


def _time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _id(r: httpx.Response) -> int:
    assert r.status_code == 201, r.text
    return int(r.headers["location"].rsplit("/", 1)[1])


def test_create_global_label_returns_location_and_harbor_shape(api: httpx.Client) -> None:
    name = unique("rel")
    r = api.post("/labels", json={"name": name, "description": "release", "color": "#0065AB", "scope": "g"})
    assert r.status_code == 201 and r.headers["location"].startswith("/api/v2.0/labels/")
    got = api.get(r.headers["location"].removeprefix("/api/v2.0"))
    assert got.status_code == 200
    body = got.json()
    assert {k: body[k] for k in ("name", "description", "color", "scope", "project_id")} == {
        "name": name, "description": "release", "color": "#0065AB", "scope": "g", "project_id": 0}
    assert body["id"] == _id(r) and body["creation_time"] and body["update_time"]


def test_create_project_label_is_stored_with_its_project(api: httpx.Client, world: LabelWorld,
                                                         moorage: Server) -> None:
    label_id = _id(_create(api, scope="p", project_id=world.project_id))
    body = api.get(f"/labels/{label_id}").json()
    assert body["scope"] == "p" and body["project_id"] == world.project_id
    assert server_sql(moorage, "SELECT scope, project_id FROM labels WHERE id = $1", label_id) == [
        ("p", world.project_id)]


def test_global_label_on_a_project_body_ignores_project_id(api: httpx.Client, world: LabelWorld) -> None:
    label_id = _id(_create(api, scope="g", project_id=world.project_id))
    assert api.get(f"/labels/{label_id}").json()["project_id"] == 0


def test_duplicate_names_conflict_within_a_scope_only(api: httpx.Client, world: LabelWorld,
                                                      new_project: Factory) -> None:
    name = unique("dup")
    assert _create(api, name=name, scope="g").status_code == 201
    assert _create(api, name=name, scope="g").status_code == 409
    assert _create(api, name=name, scope="p", project_id=world.project_id).status_code == 201
    assert _create(api, name=name, scope="p", project_id=world.project_id).status_code == 409
    other = new_project()["project_id"]
    assert _create(api, name=name, scope="p", project_id=other).status_code == 201


@pytest.mark.parametrize(("body", "status"), [
    ({"scope": "g", "name": ""}, 400),
    ({"scope": "g", "name": "   "}, 400),
    ({"scope": "g", "name": "x" * 129}, 400),
    ({"scope": "g", "color": "#" + "f" * 40}, 400),
    ({"scope": "x"}, 400),
    ({}, 400),
    ({"scope": "p"}, 400),
    ({"scope": "p", "project_id": 0}, 400),
    ({"scope": "p", "project_id": 2**31 - 2}, 404),
    ({"scope": "p", "project_id": 2**40}, 404),
    ({"scope": "g", "name": 5}, 400),
])
def test_invalid_labels_are_rejected(api: httpx.Client, body: dict[str, Any], status: int) -> None:
    r = api.post("/labels", json={"name": unique(), **body})
    assert r.status_code == status, r.text
    assert r.json()["errors"][0]["code"] in ("BAD_REQUEST", "NOT_FOUND")


def test_list_needs_a_scope_and_a_project_for_project_labels(api: httpx.Client) -> None:
    assert api.get("/labels").status_code == 400
    assert api.get("/labels", params={"scope": "z"}).status_code == 400
    assert api.get("/labels", params={"scope": "p"}).status_code == 400
    assert api.get("/labels", params={"scope": "p", "project_id": 2**31 - 2}).status_code == 404


def test_list_project_labels_pages_newest_first_and_filters_by_name(api: httpx.Client,
                                                                     new_project: Factory) -> None:
    pid = new_project()["project_id"]
    prefix = unique("pg")
    ids = [_id(_create(api, name=f"{prefix}-{i}", scope="p", project_id=pid)) for i in range(3)]
    _id(_create(api, name=unique("other"), scope="p", project_id=pid))
    r = api.get("/labels", params={"scope": "p", "project_id": pid, "name": prefix, "page_size": 2})
    assert r.status_code == 200 and r.headers["x-total-count"] == "3" and 'rel="next"' in r.headers["link"]
    assert [x["id"] for x in r.json()] == [ids[2], ids[1]]
    page2 = api.get("/labels", params={"scope": "p", "project_id": pid, "name": prefix, "page": 2, "page_size": 2})
    assert [x["id"] for x in page2.json()] == [ids[0]]
    exact = api.get("/labels", params={"scope": "p", "project_id": pid, "q": f"name={prefix}-1"})
    assert [x["id"] for x in exact.json()] == [ids[1]]
    by_name = api.get("/labels", params={"scope": "p", "project_id": pid, "sort": "name", "q": f"name=~{prefix}"})
    assert [x["id"] for x in by_name.json()] == ids
    assert api.get("/labels", params={"scope": "p", "project_id": pid, "q": "color=red"}).status_code == 400


def test_global_list_holds_global_labels_only(api: httpx.Client, world: LabelWorld) -> None:
    name = unique("same")
    global_id = _id(_create(api, name=name, scope="g"))
    _id(_create(api, name=name, scope="p", project_id=world.project_id))
    listed = api.get("/labels", params={"scope": "g", "name": name}).json()
    assert [x["id"] for x in listed] == [global_id]


def test_update_changes_name_description_color_but_not_scope(api: httpx.Client, world: LabelWorld) -> None:
    label_id = _id(_create(api, scope="p", project_id=world.project_id))
    before = api.get(f"/labels/{label_id}").json()
    new_name = unique("renamed")
    r = api.put(f"/labels/{label_id}", json={"name": new_name, "description": "new", "color": "#FF0000",
                                             "scope": "g", "project_id": 0})
    assert r.status_code == 200, r.text
    after = api.get(f"/labels/{label_id}").json()
    assert (after["name"], after["description"], after["color"]) == (new_name, "new", "#FF0000")
    assert (after["scope"], after["project_id"]) == ("p", world.project_id)
    assert _time(after["update_time"]) > _time(before["update_time"])
    assert after["creation_time"] == before["creation_time"]


def test_update_to_a_taken_name_conflicts(api: httpx.Client) -> None:
    taken = unique("taken")
    _id(_create(api, name=taken, scope="g"))
    label_id = _id(_create(api, scope="g"))
    assert api.put(f"/labels/{label_id}", json={"name": taken}).status_code == 409
    assert api.put(f"/labels/{label_id}", json={"name": ""}).status_code == 400
    same = api.get(f"/labels/{label_id}").json()["name"]
    assert api.put(f"/labels/{label_id}", json={"name": same, "color": "#000"}).status_code == 200


def test_delete_label_then_it_is_gone(api: httpx.Client, moorage: Server) -> None:
    label_id = _id(_create(api, scope="g"))
    assert api.delete(f"/labels/{label_id}").status_code == 200
    assert api.get(f"/labels/{label_id}").status_code == 404
    assert api.delete(f"/labels/{label_id}").status_code == 404
    assert api.put(f"/labels/{label_id}", json={"name": "x"}).status_code == 404
    assert server_sql(moorage, "SELECT count(*) FROM labels WHERE id = $1", label_id) == [(0,)]


def test_unknown_or_malformed_label_ids(api: httpx.Client) -> None:
    assert api.get(f"/labels/{2**31 - 2}").status_code == 404
    assert api.get(f"/labels/{2**40}").status_code == 404
    assert api.get("/labels/abc").status_code == 400


def test_deleting_a_project_deletes_its_labels(api: httpx.Client, new_project: Factory, moorage: Server) -> None:
    project = new_project()
    label_id = _id(_create(api, scope="p", project_id=project["project_id"]))
    assert api.delete(f"/projects/{project['project_id']}").status_code == 200
    assert api.get(f"/labels/{label_id}").status_code == 404
    assert server_sql(moorage, "SELECT count(*) FROM labels WHERE id = $1", label_id) == [(0,)]


# Who may do what --------------------------------------------------------------------------------

OK, DENIED, ANON = "ok", 403, 401


def _expect(allowed: set[str], principal: str) -> int | str:
    if principal in allowed:
        return OK
    return ANON if principal == "anonymous" else DENIED


def _status_matches(r: httpx.Response, expected: int | str) -> bool:
    return r.status_code in (200, 201) if expected == OK else r.status_code == expected


SIGNED_IN = set(PRINCIPALS) - {"anonymous"}
PROJECT_WRITERS = {"admin", "projectAdmin", "maintainer"}
PROJECT_READERS = PROJECT_WRITERS | {"developer", "guest"}


@pytest.mark.parametrize("principal", PRINCIPALS)
def test_global_labels_are_read_by_signed_in_callers_and_changed_by_admins(
        api: httpx.Client, world: LabelWorld, principal: str) -> None:
    client = world.clients[principal]
    label_id = _id(_create(api, scope="g"))
    for r, allowed in (
        (client.get("/labels", params={"scope": "g"}), SIGNED_IN),
        (client.get(f"/labels/{label_id}"), SIGNED_IN),
        (_create(client, scope="g"), {"admin"}),
        (client.put(f"/labels/{label_id}", json={"name": unique()}), {"admin"}),
        (client.delete(f"/labels/{label_id}"), {"admin"}),
    ):
        expected = _expect(allowed, principal)
        assert _status_matches(r, expected), (r.request.method, r.request.url, r.status_code, r.text)


@pytest.mark.parametrize("principal", PRINCIPALS)
def test_project_labels_follow_the_project_label_permission(
        api: httpx.Client, world: LabelWorld, principal: str) -> None:
    client = world.clients[principal]
    label_id = _id(_create(api, scope="p", project_id=world.project_id))
    for r, allowed in (
        (client.get("/labels", params={"scope": "p", "project_id": world.project_id}), PROJECT_READERS),
        (client.get(f"/labels/{label_id}"), PROJECT_READERS),
        (_create(client, scope="p", project_id=world.project_id), PROJECT_WRITERS),
        (client.put(f"/labels/{label_id}", json={"name": unique()}), PROJECT_WRITERS),
        (client.delete(f"/labels/{label_id}"), PROJECT_WRITERS),
    ):
        expected = _expect(allowed, principal)
        assert _status_matches(r, expected), (r.request.method, r.request.url, r.status_code, r.text)


def test_public_project_labels_are_readable_by_anyone(api: httpx.Client, world: LabelWorld,
                                                      new_project: Factory) -> None:
    pid = new_project(public=True)["project_id"]
    label_id = _id(_create(api, scope="p", project_id=pid))
    for principal in ("nonMember", "anonymous"):
        client = world.clients[principal]
        assert client.get(f"/labels/{label_id}").status_code == 200
        assert client.get("/labels", params={"scope": "p", "project_id": pid}).json()[0]["id"] == label_id
        assert _create(client, scope="p", project_id=pid).status_code == (401 if principal == "anonymous" else 403)

"""Labels on artifacts: attach and detach (``.../artifacts/{reference}/labels``), ``with_label``
on artifact lists and details, the ``q=labels=(id1 id2)`` filter, detaching when a label or an
artifact goes, and who may attach and detach."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.common.databases import server_sql
from tests.common.oci import push_image
from tests.common.servers import ADMIN, Server
from tests.integration.labels.conftest import PRINCIPALS, LabelWorld, unique

Factory = Callable[..., dict[str, Any]]


def _label(api: httpx.Client, scope: str = "g", project_id: int | None = None) -> int:
    body: dict[str, Any] = {"name": unique(), "scope": scope, "color": "#48960C"}
    if project_id is not None:
        body["project_id"] = project_id
    r = api.post("/labels", json=body)
    assert r.status_code == 201, r.text
    return int(r.headers["location"].rsplit("/", 1)[1])


def _push(moorage: Server, repository: str, tag: str) -> str:
    with httpx.Client(base_url=moorage.url, auth=ADMIN, timeout=60) as registry:
        return push_image(registry, repository, tag)


def _labels_of(api: httpx.Client, path: str) -> list[int]:
    r = api.get(path, params={"with_label": "true"})
    assert r.status_code == 200, r.text
    return [x["id"] for x in r.json()["labels"]]


def test_attach_global_and_project_labels_shown_with_label(api: httpx.Client, world: LabelWorld) -> None:
    global_id = _label(api)
    project_id = _label(api, "p", world.project_id)
    for label_id in (global_id, project_id):
        r = api.post(f"{world.artifact('v1')}/labels", json={"id": label_id})
        assert r.status_code == 200, r.text
    got = api.get(world.artifact(), params={"with_label": "true"}).json()
    mine = [x for x in got["labels"] if x["id"] in (global_id, project_id)]
    assert [x["id"] for x in mine] == [global_id, project_id]
    assert mine[0]["scope"] == "g" and mine[0]["project_id"] == 0 and mine[0]["color"] == "#48960C"
    assert mine[1]["scope"] == "p" and mine[1]["project_id"] == world.project_id
    assert api.get(world.artifact()).json()["labels"] == []  # with_label defaults to false
    listed = api.get(f"/projects/{world.project}/repositories/{world.repository}/artifacts",
                     params={"with_label": "true"}).json()
    assert {global_id, project_id} <= {x["id"] for x in listed[0]["labels"]}


def test_attaching_twice_conflicts(api: httpx.Client, world: LabelWorld) -> None:
    label_id = _label(api)
    assert api.post(f"{world.artifact()}/labels", json={"id": label_id}).status_code == 200
    r = api.post(f"{world.artifact()}/labels", json={"id": label_id})
    assert r.status_code == 409 and r.json()["errors"][0]["code"] == "CONFLICT"


def test_another_projects_label_cannot_be_attached(api: httpx.Client, world: LabelWorld,
                                                   new_project: Factory, moorage: Server) -> None:
    foreign = _label(api, "p", int(new_project()["project_id"]))
    r = api.post(f"{world.artifact()}/labels", json={"id": foreign})
    assert r.status_code == 400, r.text
    assert server_sql(moorage, "SELECT count(*) FROM artifact_labels WHERE label_id = $1", foreign) == [(0,)]


@pytest.mark.parametrize(("body", "reference", "status"), [
    ({"id": 2**31 - 2}, None, 404),
    ({"id": 2**40}, None, 404),
    ({}, None, 400),
    ({"id": "1"}, None, 400),
    ({"id": "GLOBAL"}, "no-such-tag", 404),
    ({"id": "GLOBAL"}, "bad:tag:", 400),
])
def test_attach_errors(api: httpx.Client, world: LabelWorld, body: dict[str, Any], reference: str | None,
                       status: int) -> None:
    if body.get("id") == "GLOBAL":
        body = {"id": _label(api)}
    r = api.post(f"{world.artifact(reference)}/labels", json=body)
    assert r.status_code == status, r.text


def test_detach_then_detach_again_is_not_found(api: httpx.Client, world: LabelWorld, moorage: Server) -> None:
    label_id = _label(api)
    assert api.post(f"{world.artifact()}/labels", json={"id": label_id}).status_code == 200
    assert api.delete(f"{world.artifact('v1')}/labels/{label_id}").status_code == 200
    assert label_id not in _labels_of(api, world.artifact())
    assert server_sql(moorage, "SELECT count(*) FROM artifact_labels WHERE label_id = $1", label_id) == [(0,)]
    assert api.delete(f"{world.artifact()}/labels/{label_id}").status_code == 404
    assert api.delete(f"{world.artifact()}/labels/{2**40}").status_code == 404


def test_deleting_a_label_detaches_it_everywhere(api: httpx.Client, world: LabelWorld, moorage: Server) -> None:
    label_id = _label(api)
    other = _push(moorage, f"{world.project}/app", unique("t"))
    for ref in (world.digest, other):
        assert api.post(f"{world.artifact(ref)}/labels", json={"id": label_id}).status_code == 200
    assert api.delete(f"/labels/{label_id}").status_code == 200
    assert label_id not in _labels_of(api, world.artifact(other))
    assert server_sql(moorage, "SELECT count(*) FROM artifact_labels WHERE label_id = $1", label_id) == [(0,)]


def test_deleting_an_artifact_detaches_its_labels(api: httpx.Client, world: LabelWorld, moorage: Server) -> None:
    label_id = _label(api)
    digest = _push(moorage, f"{world.project}/gone", "v1")
    path = f"/projects/{world.project}/repositories/gone/artifacts/{digest}"
    assert api.post(f"{path}/labels", json={"id": label_id}).status_code == 200
    assert api.delete(path).status_code == 200
    assert server_sql(moorage, "SELECT count(*) FROM artifact_labels WHERE label_id = $1", label_id) == [(0,)]
    assert api.get(f"/labels/{label_id}").status_code == 200


def test_filter_artifacts_carrying_all_listed_labels(api: httpx.Client, new_project: Factory,
                                                     moorage: Server) -> None:
    project = new_project()
    name, pid = str(project["name"]), int(project["project_id"])
    red, blue = _label(api), _label(api, "p", pid)
    digests = {tag: _push(moorage, f"{name}/app", tag) for tag in ("both", "red", "none")}
    for tag, labels in (("both", (red, blue)), ("red", (red,))):
        for label_id in labels:
            r = api.post(f"/projects/{name}/repositories/app/artifacts/{tag}/labels", json={"id": label_id})
            assert r.status_code == 200, r.text
    path = f"/projects/{name}/repositories/app/artifacts"

    def listed(q: str) -> set[str]:
        r = api.get(path, params={"q": q})
        assert r.status_code == 200, r.text
        assert r.headers["x-total-count"] == str(len(r.json()))
        return {a["digest"] for a in r.json()}

    assert listed(f"labels=({red})") == {digests["both"], digests["red"]}
    assert listed(f"labels=({red} {blue})") == {digests["both"]}
    assert listed(f"labels=({blue}),tags=red") == set()
    assert listed(f"labels=({2**40})") == set()
    for bad in (f"labels={red}", f"labels={{{red} {blue}}}", "labels=(x)", f"labels=~{red}"):
        assert api.get(path, params={"q": bad}).status_code == 400, bad


# Who may attach and detach ----------------------------------------------------------------------

ATTACHERS = {"admin", "projectAdmin", "maintainer", "developer"}


@pytest.mark.parametrize("principal", PRINCIPALS)
def test_attach_and_detach_need_artifact_label_permission(api: httpx.Client, world: LabelWorld,
                                                          principal: str, moorage: Server) -> None:
    client = world.clients[principal]
    label_id = _label(api)
    denied = 401 if principal == "anonymous" else 403
    r = client.post(f"{world.artifact()}/labels", json={"id": label_id})
    assert r.status_code == (200 if principal in ATTACHERS else denied), r.text
    if principal not in ATTACHERS:
        assert api.post(f"{world.artifact()}/labels", json={"id": label_id}).status_code == 200
    r = client.delete(f"{world.artifact()}/labels/{label_id}")
    assert r.status_code == (200 if principal in ATTACHERS else denied), r.text
    attached = server_sql(moorage, "SELECT count(*) FROM artifact_labels WHERE label_id = $1", label_id)
    assert attached == [(0 if principal in ATTACHERS else 1,)]

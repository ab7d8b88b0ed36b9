"""``/api/v2.0/quotas`` in Harbor's shapes with its permissions, the default quota of new
projects (``storage_per_project``), ``storage_limit`` on project creation and the quota in
the project summary."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

import httpx
import pytest

from tests.integration.api.conftest import unique
from tests.integration.quotas.conftest import Project, set_limit, upload, usage


def _all(api: httpx.Client, **params: Any) -> Iterator[dict[str, Any]]:
    page = 1
    while True:
        r = api.get("/quotas", params={**params, "page": page, "page_size": 100})
        assert r.status_code == 200, r.text
        yield from r.json()
        if "rel=\"next\"" not in r.headers.get("link", ""):
            return
        page += 1


def test_get_quota_has_harbors_shape(api: httpx.Client, client: httpx.Client,
                                     limited: Callable[..., Project]) -> None:
    name, pid = limited(5000)
    assert upload(client, f"{name}/app", os.urandom(123)).status_code == 201
    body = api.get(f"/quotas/{pid}").json()
    assert body["id"] == pid
    assert body["ref"] == {"id": pid, "name": name, "owner_name": "admin"}
    assert body["hard"] == {"storage": 5000} and body["used"] == {"storage": 123}
    assert datetime.fromisoformat(body["creation_time"]) <= datetime.fromisoformat(body["update_time"])


def test_get_unknown_quota_is_404(api: httpx.Client) -> None:
    assert api.get("/quotas/2147483000").status_code == 404
    assert api.get("/quotas/99999999999").status_code == 404
    assert api.get("/quotas/abc").status_code == 400


def test_list_filters_by_reference(api: httpx.Client, limited: Callable[..., Project]) -> None:
    name, pid = limited(777)
    r = api.get("/quotas", params={"reference": "project", "reference_id": str(pid)})
    assert r.status_code == 200 and r.headers["x-total-count"] == "1"
    assert [q["ref"]["name"] for q in r.json()] == [name]
    for params in ({"reference": "user"}, {"reference_id": "nope"}, {"reference_id": "0"}):
        r = api.get("/quotas", params=params)
        assert r.status_code == 200 and r.json() == [] and r.headers["x-total-count"] == "0", params
    everything = api.get("/quotas", params={"page_size": 1})
    assert int(everything.headers["x-total-count"]) >= 1 and 'rel="next"' in everything.headers["link"]


def test_list_sorts_by_hard_and_used(api: httpx.Client, client: httpx.Client,
                                     limited: Callable[..., Project]) -> None:
    projects = [limited(limit) for limit in (3000, 1000, 2000)]
    for (name, _), size in zip(projects, (10, 30, 20), strict=True):
        assert upload(client, f"{name}/app", os.urandom(size)).status_code == 201
    mine = {pid for _, pid in projects}

    def order(sort: str) -> list[int]:
        return [q["id"] for q in _all(api, sort=sort) if q["id"] in mine]

    ids = [pid for _, pid in projects]
    assert order("hard.storage") == [ids[1], ids[2], ids[0]]
    assert order("-hard.storage") == [ids[0], ids[2], ids[1]]
    assert order("used.storage") == [ids[0], ids[2], ids[1]]
    assert order("-used.storage") == [ids[1], ids[2], ids[0]]
    assert api.get("/quotas", params={"sort": "size"}).status_code == 400


def test_update_quota(api: httpx.Client, limited: Callable[..., Project]) -> None:
    _, pid = limited(100)
    set_limit(api, pid, 0)
    assert usage(api, pid) == (0, 0)
    set_limit(api, pid, -1)
    assert usage(api, pid) == (-1, 0)
    for bad in ({"hard": {"storage": -2}}, {"hard": {"storage": "10"}}, {"hard": {"storage": 1.5}},
                {"hard": {}}, {}, {"hard": {"count": 1}}, {"hard": {"storage": True}}):
        r = api.put(f"/quotas/{pid}", json=bad)
        assert r.status_code == 400, (bad, r.text)
    assert usage(api, pid) == (-1, 0)
    assert api.put("/quotas/2147483000", json={"hard": {"storage": 1}}).status_code == 404


@pytest.mark.parametrize("role", [1, 4, 2, 3, 5])
def test_members_read_their_projects_quota_but_cannot_change_it(
        api: httpx.Client, limited: Callable[..., Project], member: Callable[[int, int], httpx.Client],
        role: int) -> None:
    _, pid = limited(4096)
    user = member(pid, role)
    assert user.get(f"/quotas/{pid}").status_code == 200
    assert user.put(f"/quotas/{pid}", json={"hard": {"storage": 1}}).status_code == 403
    assert user.get("/quotas").status_code == 403
    assert usage(api, pid) == (4096, 0)


def test_outsiders_and_anonymous_cannot_read_quotas(
        anonymous: httpx.Client, new_user: Callable[..., dict[str, Any]], as_user: Callable[..., httpx.Client],
        limited: Callable[..., Project]) -> None:
    _, private = limited(10)
    _, public = limited(10, public=True)
    outsider = as_user(str(new_user()["username"]))
    for pid in (private, public):  # quota:read is not granted by a project being public
        assert outsider.get(f"/quotas/{pid}").status_code == 403
        assert anonymous.get(f"/quotas/{pid}").status_code == 401
        assert outsider.put(f"/quotas/{pid}", json={"hard": {"storage": 1}}).status_code == 403
        assert anonymous.put(f"/quotas/{pid}", json={"hard": {"storage": 1}}).status_code == 401
    assert outsider.get("/quotas").status_code == 403
    assert anonymous.get("/quotas").status_code == 401


def test_a_sysadmin_user_manages_quotas(api: httpx.Client, new_user: Callable[..., dict[str, Any]],
                                        as_user: Callable[..., httpx.Client],
                                        limited: Callable[..., Project]) -> None:
    _, pid = limited(10)
    admin = as_user(str(new_user(sysadmin=True)["username"]))
    assert admin.get("/quotas").status_code == 200
    assert admin.put(f"/quotas/{pid}", json={"hard": {"storage": 20}}).status_code == 200
    assert usage(api, pid) == (20, 0)


# Default quota and project creation ----------------------------------------------------------

@pytest.fixture
def default_limit(api: httpx.Client) -> Iterator[Callable[[int], None]]:
    """``default_limit(n)`` sets ``storage_per_project``; the default (-1) is restored afterwards."""

    def put(value: int) -> None:
        assert api.put("/configurations", json={"storage_per_project": value}).status_code == 200

    yield put
    put(-1)


def _create(client: httpx.Client, **fields: Any) -> int:
    name = unique("quota")
    r = client.post("/projects", json={"project_name": name, **fields})
    assert r.status_code == 201, r.text
    return int(r.headers["location"].rsplit("/", 1)[1])


def test_storage_per_project_is_the_default_quota(api: httpx.Client, default_limit: Callable[[int], None]) -> None:
    config = api.get("/configurations").json()
    assert config["storage_per_project"] == {"value": -1, "editable": True}
    assert config["quota_per_project_enable"] == {"value": True, "editable": True}
    default_limit(5000)
    assert api.get("/configurations").json()["storage_per_project"]["value"] == 5000
    assert usage(api, _create(api))[0] == 5000
    assert usage(api, _create(api, storage_limit=0))[0] == 5000  # Harbor: 0 means "not given"
    assert usage(api, _create(api, storage_limit=1234))[0] == 1234
    assert usage(api, _create(api, storage_limit=-1))[0] == -1


def test_storage_per_project_is_validated(api: httpx.Client) -> None:
    for bad in (-2, "10", True):
        assert api.put("/configurations", json={"storage_per_project": bad}).status_code == 400, bad
    assert api.get("/configurations").json()["storage_per_project"]["value"] == -1


def test_only_system_administrators_choose_a_storage_limit(
        api: httpx.Client, new_user: Callable[..., dict[str, Any]], as_user: Callable[..., httpx.Client],
        default_limit: Callable[[int], None]) -> None:
    default_limit(2048)
    user = as_user(str(new_user()["username"]))
    assert usage(api, _create(user, storage_limit=10**12))[0] == 2048
    assert usage(api, _create(user, storage_limit=-1))[0] == 2048
    assert api.post("/projects", json={"project_name": unique("quota"), "storage_limit": -2}).status_code == 400


def test_summary_shows_the_quota_to_those_who_may_read_it(
        api: httpx.Client, client: httpx.Client, limited: Callable[..., Project],
        new_user: Callable[..., dict[str, Any]], as_user: Callable[..., httpx.Client],
        member: Callable[[int, int], httpx.Client]) -> None:
    name, pid = limited(9000, public=True)
    assert upload(client, f"{name}/app", os.urandom(100)).status_code == 201
    expected = {"hard": {"storage": 9000}, "used": {"storage": 100}}
    assert api.get(f"/projects/{pid}/summary").json()["quota"] == expected
    assert member(pid, 5).get(f"/projects/{pid}/summary").json()["quota"] == expected
    outsider = as_user(str(new_user()["username"]))
    summary = outsider.get(f"/projects/{pid}/summary")
    assert summary.status_code == 200 and "quota" not in summary.json()

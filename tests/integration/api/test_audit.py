"""The audit log through the API: registry pushes, pulls and deletes are recorded; lists
filter and page; project logs are for those allowed to read them."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx

from tests.common.oci import push_image
from tests.integration.api.conftest import PASSWORD


def _entries(api: httpx.Client, q: str, path: str = "/auditlog-exts") -> list[dict[str, Any]]:
    r = api.get(path, params={"q": q, "page_size": 100})
    assert r.status_code == 200, r.text
    return list(r.json())


def test_push_pull_and_delete_are_audited(api: httpx.Client, client: httpx.Client) -> None:
    digest = push_image(client, "library/audited", "v1")
    assert client.get("/v2/library/audited/manifests/v1").status_code == 200
    assert client.delete(f"/v2/library/audited/manifests/{digest}").status_code == 202
    ops = {(e["operation"], e["resource"]) for e in _entries(api, "resource=~library/audited")}
    assert ("create", "library/audited:v1") in ops
    assert ("delete", f"library/audited@{digest}") in ops
    deadline = time.monotonic() + 30  # pulls are flushed in batches (every 10 s)
    while ("pull", "library/audited:v1") not in ops and time.monotonic() < deadline:
        time.sleep(0.5)
        ops = {(e["operation"], e["resource"]) for e in _entries(api, "resource=~library/audited")}
    assert ("pull", "library/audited:v1") in ops


def test_entries_have_harbor_fields_and_paging(api: httpx.Client) -> None:
    r = api.get("/auditlog-exts", params={"page_size": 2})
    assert r.status_code == 200 and int(r.headers["x-total-count"]) >= 2
    entry = r.json()[0]
    assert set(entry) == {"id", "username", "resource", "resource_type", "operation", "operation_description",
                          "operation_result", "op_time"}
    legacy = api.get("/audit-logs", params={"page_size": 1}).json()[0]
    assert set(legacy) == {"id", "username", "resource", "resource_type", "operation", "op_time"}


def test_filter_by_time_range_and_operation(api: httpx.Client, client: httpx.Client) -> None:
    push_image(client, "library/audit-range", "v1")
    rows = _entries(api, "operation=create,op_time=[2000-01-01T00:00:00~2100-01-01T00:00:00]")
    assert rows and all(e["operation"] == "create" for e in rows)
    assert _entries(api, "op_time=[2000-01-01T00:00:00~2000-01-02T00:00:00]") == []


def test_bad_query_is_400(api: httpx.Client) -> None:
    for q in ("colour=red", "op_time=yesterday", "op_time=[notadate~]"):
        r = api.get("/auditlog-exts", params={"q": q})
        assert r.status_code == 400 and r.json()["errors"][0]["code"] == "BAD_REQUEST", q


def test_event_types(api: httpx.Client) -> None:
    types = {e["event_type"] for e in api.get("/auditlog-exts/events").json()}
    assert {"create_artifact", "delete_artifact", "pull_artifact", "create_project", "login_user"} <= types


def test_project_log_for_project_admin_only(api: httpx.Client, client: httpx.Client, as_user: Any,
                                            new_user: Callable[..., dict[str, Any]],
                                            new_project: Callable[..., dict[str, Any]]) -> None:
    project = new_project()
    name = str(project["name"])
    push_image(client, f"{name}/app", "v1")
    roles = {}
    for role_id in (1, 2):
        user = new_user()
        r = api.post(f"/projects/{project['project_id']}/members",
                     json={"role_id": role_id, "member_user": {"username": user["username"]}})
        assert r.status_code == 201, r.text
        roles[role_id] = str(user["username"])
    admin_view = as_user(roles[1], PASSWORD).get(f"/projects/{name}/auditlog-exts")
    assert admin_view.status_code == 200
    assert all(e["resource"].startswith(name) for e in admin_view.json())
    assert any(e["resource"] == f"{name}/app:v1" for e in admin_view.json())
    assert as_user(roles[1], PASSWORD).get(f"/projects/{name}/logs").status_code == 200
    assert as_user(roles[2], PASSWORD).get(f"/projects/{name}/auditlog-exts").status_code == 403
    assert as_user(roles[1], PASSWORD).get("/auditlog-exts").status_code == 403


def test_repeated_pulls_are_one_entry_per_flush(api: httpx.Client, client: httpx.Client) -> None:
    push_image(client, "library/audit-many", "v1")
    for _ in range(5):
        assert client.get("/v2/library/audit-many/manifests/v1").status_code == 200
    def counted(entry: dict[str, Any]) -> int:
        return int(entry["operation_description"].split()[1]) if entry["operation_description"] else 1

    deadline = time.monotonic() + 30
    pulls: list[dict[str, Any]] = []
    while sum(map(counted, pulls)) < 5 and time.monotonic() < deadline:
        time.sleep(0.5)
        pulls = _entries(api, "resource=library/audit-many:v1,operation=pull")
    # One entry (two if a flush fell between the pulls), counting every pull.
    assert sum(map(counted, pulls)) == 5 and len(pulls) <= 2
    assert any(e["operation_description"].startswith("pulled ") for e in pulls)

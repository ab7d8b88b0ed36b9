"""Audit-log rotation over /api/v2.0/system/purgeaudit: manual runs that delete only entries
older than the retention (in batches, with progress in the log), event-type selection, dry
runs, the history and one run in Harbor's ExecHistory shape, schedules that fire, one run at a
time, validation, and system-administrator-only access."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.common.databases import server_sql
from tests.common.servers import Server
from tests.integration.purgeaudit.conftest import (
    BASE,
    OLD,
    add_entries,
    add_execution,
    count_entries,
    recent,
    run_purge,
    unique,
    wait_done,
)

Factory = Callable[..., dict[str, Any]]


def _params(body: dict[str, Any]) -> dict[str, Any]:
    params: dict[str, Any] = json.loads(body["job_parameters"])
    return params


def test_manual_run_deletes_entries_older_than_the_retention_only(api: httpx.Client, moorage: Server) -> None:
    user = unique()
    add_entries(moorage, user, 7, OLD)
    add_entries(moorage, user, 3, recent(), operation="delete")
    purge_id = run_purge(api, audit_retention_hour=24, include_event_types="create_artifact,delete_artifact",
                         dry_run=False)
    body = wait_done(api, purge_id)
    assert body["job_status"] == "Success"
    assert count_entries(moorage, user, "create") == 0 and count_entries(moorage, user, "delete") == 3
    assert _params(body) == {"audit_retention_hour": 24, "dry_run": False, "purged": 7,
                             "include_event_types": "create_artifact,delete_artifact"}
    log = api.get(f"{BASE}/{purge_id}/log")
    assert log.status_code == 200 and log.headers["content-type"].startswith("text/plain")
    assert "purged 7 audit log entries" in log.text


def test_event_types_select_what_is_purged(api: httpx.Client, moorage: Server) -> None:
    user = unique()
    for operation, resource_type in (("create", "artifact"), ("pull", "artifact"), ("delete", "tag"),
                                     ("login", "user"), ("update", "configuration")):
        add_entries(moorage, user, 2, OLD, operation, resource_type)

    def kinds() -> set[str]:
        rows = server_sql(moorage, "SELECT DISTINCT operation || '_' || resource_type FROM audit_logs "
                                   "WHERE username = $1", user)
        return {str(r[0]) for r in rows}

    # "other": every event type outside Harbor's list (delete_tag here)
    wait_done(api, run_purge(api, audit_retention_hour=1, include_event_types="pull_artifact, OTHER"))
    assert kinds() == {"create_artifact", "login_user", "update_configuration"}
    # bare operations (Harbor's older include_operations) and Harbor's "configure" spelling
    wait_done(api, run_purge(api, audit_retention_hour=1, include_event_types="login,update_configure"))
    assert kinds() == {"create_artifact"}
    # an empty selection purges nothing, as in Harbor
    body = wait_done(api, run_purge(api, audit_retention_hour=1, include_event_types=""))
    assert kinds() == {"create_artifact"} and _params(body)["purged"] == 0
    assert "nothing to purge" in api.get(f"{BASE}/{body['id']}/log").text
    # no selection at all: every event type
    wait_done(api, run_purge(api, audit_retention_hour=1))
    assert kinds() == set()


def test_dry_run_counts_without_deleting(api: httpx.Client, moorage: Server) -> None:
    user = unique()
    add_entries(moorage, user, 4, OLD)
    try:
        body = wait_done(api, run_purge(api, audit_retention_hour=5, dry_run=True,
                                        include_event_types="create_artifact"))
        assert body["job_status"] == "Success" and _params(body)["purged"] == 4
        assert count_entries(moorage, user) == 4
        assert "[DRY RUN] 4 audit log entries" in api.get(f"{BASE}/{body['id']}/log").text
    finally:
        server_sql(moorage, "DELETE FROM audit_logs WHERE username = $1", user)


def test_large_purge_runs_in_batches_and_logs_progress(api: httpx.Client, moorage: Server) -> None:
    user = unique()
    add_entries(moorage, user, 25_000, OLD)
    body = wait_done(api, run_purge(api, audit_retention_hour=1, include_event_types="create_artifact"),
                     timeout=120)
    assert body["job_status"] == "Success" and _params(body)["purged"] == 25_000
    assert count_entries(moorage, user) == 0
    log = api.get(f"{BASE}/{body['id']}/log").text
    for line in ("deleted 10000 entries (10000 so far)", "deleted 10000 entries (20000 so far)",
                 "deleted 5000 entries (25000 so far)", "purged 25000 audit log entries"):
        assert line in log, log


def test_history_and_run_in_harbor_exec_history_shape(api: httpx.Client) -> None:
    ids = [wait_done(api, run_purge(api, audit_retention_hour=100 + i, dry_run=True))["id"] for i in range(2)]
    r = api.get(BASE, params={"page": 1, "page_size": 2})
    assert r.status_code == 200 and int(r.headers["x-total-count"]) >= 2
    listed = r.json()
    assert [h["id"] for h in listed] == ids[::-1]
    one = api.get(f"{BASE}/{ids[1]}").json()
    assert one == listed[0]
    assert {k: one[k] for k in ("job_name", "job_kind", "job_status", "deleted")} == {
        "job_name": "PURGE_AUDIT_LOG", "job_kind": "MANUAL", "job_status": "Success", "deleted": False}
    assert one["schedule"]["type"] == "Manual" and one["creation_time"] and one["update_time"]
    assert _params(one)["audit_retention_hour"] == 101


def test_schedule_set_read_change_and_remove(api: httpx.Client) -> None:
    params = {"audit_retention_hour": 168, "include_event_types": "create_artifact,pull_artifact", "dry_run": True}
    try:
        r = api.post(f"{BASE}/schedule", json={"schedule": {"type": "Daily"}, "parameters": params})
        assert r.status_code == 201, r.text
        got = api.get(f"{BASE}/schedule").json()
        assert got["schedule"]["type"] == "Daily" and got["schedule"]["cron"] == "0 0 0 * * *"
        assert got["schedule"]["next_scheduled_time"].endswith("Z") and json.loads(got["job_parameters"]) == params
        custom = {"schedule": {"type": "Custom", "cron": "0 30 2 * * *"}, "parameters": params}
        assert api.put(f"{BASE}/schedule", json=custom).status_code == 200
        assert api.get(f"{BASE}/schedule").json()["schedule"]["cron"] == "0 30 2 * * *"
        bad = {"schedule": {"type": "Custom", "cron": "every day"}, "parameters": params}
        assert api.put(f"{BASE}/schedule", json=bad).status_code == 400
        assert api.get(f"{BASE}/schedule").json()["schedule"]["cron"] == "0 30 2 * * *"
    finally:
        assert api.put(f"{BASE}/schedule", json={"schedule": {"type": "None"}}).status_code == 200
    assert api.get(f"{BASE}/schedule").json() == {"schedule": {"type": "None", "cron": ""}}


def test_a_schedule_fires_purges(api: httpx.Client, moorage: Server) -> None:
    user = unique()
    add_entries(moorage, user, 3, OLD)
    body = {"schedule": {"type": "Custom", "cron": "* * * * * *"},
            "parameters": {"audit_retention_hour": 2, "include_event_types": "create_artifact"}}
    assert api.post(f"{BASE}/schedule", json=body).status_code == 201
    try:
        deadline = time.monotonic() + 30
        while count_entries(moorage, user) and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        assert api.put(f"{BASE}/schedule", json={"schedule": {"type": "None"}}).status_code == 200
    assert count_entries(moorage, user) == 0
    scheduled = [h for h in api.get(BASE, params={"page_size": 100}).json() if h["job_kind"] == "SCHEDULE"]
    assert scheduled and scheduled[0]["schedule"]["type"] == "Schedule"
    assert _params(scheduled[0])["audit_retention_hour"] == 2
    for h in scheduled:
        wait_done(api, h["id"])


def test_only_one_purge_runs_at_a_time(api: httpx.Client, moorage: Server) -> None:
    busy = add_execution(moorage, "PURGE_AUDIT_LOG", "Running")
    try:
        r = api.post(f"{BASE}/schedule", json={"schedule": {"type": "Manual"}, "parameters": {
            "audit_retention_hour": 10}})
        assert r.status_code == 409 and r.json()["errors"][0]["code"] == "CONFLICT"
    finally:
        assert api.put(f"{BASE}/{busy}").status_code == 200
    assert api.get(f"{BASE}/{busy}").json()["job_status"] != "Running"
    wait_done(api, run_purge(api, audit_retention_hour=10, dry_run=True))


def test_stop_a_finished_run_keeps_its_status(api: httpx.Client) -> None:
    purge_id = run_purge(api, audit_retention_hour=10, dry_run=True)
    status = wait_done(api, purge_id)["job_status"]
    assert api.put(f"{BASE}/{purge_id}").status_code == 200
    assert api.get(f"{BASE}/{purge_id}").json()["job_status"] == status


@pytest.mark.parametrize("body", [
    {"schedule": {"type": "Manual"}},
    {"schedule": {"type": "Manual"}, "parameters": {"audit_retention_hour": 0}},
    {"schedule": {"type": "Manual"}, "parameters": {"audit_retention_hour": 240001}},
    {"schedule": {"type": "Manual"}, "parameters": {"audit_retention_hour": "many"}},
    {"schedule": {"type": "Manual"}, "parameters": {"audit_retention_hour": True}},
    {"schedule": {"type": "Manual"}, "parameters": {"audit_retention_hour": 1, "dry_run": "maybe"}},
    {"schedule": {"type": "Manual"}, "parameters": {"audit_retention_hour": 1, "include_event_types": 5}},
    {"schedule": {"type": "Manual"}, "parameters": {"audit_retention_hour": 1, "include_event_types": "x;drop"}},
    {"schedule": {"type": "Daily"}},
    {"schedule": {"type": "Sometimes"}, "parameters": {"audit_retention_hour": 1}},
    {"parameters": {"audit_retention_hour": 1}},
    {"schedule": "Daily", "parameters": {"audit_retention_hour": 1}},
])
def test_invalid_requests_are_rejected(api: httpx.Client, body: dict[str, Any]) -> None:
    r = api.post(f"{BASE}/schedule", json=body)
    assert r.status_code == 400, r.text
    assert r.json()["errors"][0]["code"] == "BAD_REQUEST"


def test_retention_in_a_string_and_the_legacy_include_operations_are_accepted(api: httpx.Client) -> None:
    body = wait_done(api, run_purge(api, audit_retention_hour="240000", include_operations="create,delete,pull",
                                    dry_run=True))
    assert _params(body)["audit_retention_hour"] == 240000
    assert _params(body)["include_event_types"] == "create,delete,pull"


def test_unknown_runs_and_other_vendors_runs_are_not_found(api: httpx.Client, moorage: Server) -> None:
    other = add_execution(moorage, "GARBAGE_COLLECTION", "Success")
    for purge_id in (other, 2**31 - 2, 2**40):
        assert api.get(f"{BASE}/{purge_id}").status_code == 404
        assert api.get(f"{BASE}/{purge_id}/log").status_code == 404
        assert api.put(f"{BASE}/{purge_id}").status_code == 404


@pytest.mark.parametrize("principal", ["user", "projectAdmin", "anonymous"])
def test_only_system_administrators_may_purge(api: httpx.Client, moorage: Server, principal: str,
                                              new_user: Factory, new_project: Factory,
                                              as_user: Callable[[str], httpx.Client],
                                              anonymous: httpx.Client) -> None:
    if principal == "anonymous":
        client, denied = anonymous, 401
    else:
        user = new_user()
        if principal == "projectAdmin":
            project = new_project()
            r = api.post(f"/projects/{project['project_id']}/members",
                         json={"role_id": 1, "member_user": {"username": user["username"]}})
            assert r.status_code == 201, r.text
        client, denied = as_user(str(user["username"])), 403
    purge_id = run_purge(api, audit_retention_hour=10, dry_run=True)
    manual = {"schedule": {"type": "Manual"}, "parameters": {"audit_retention_hour": 10}}
    for r in (client.get(BASE), client.get(f"{BASE}/{purge_id}"), client.get(f"{BASE}/{purge_id}/log"),
              client.put(f"{BASE}/{purge_id}"), client.get(f"{BASE}/schedule"),
              client.post(f"{BASE}/schedule", json=manual), client.put(f"{BASE}/schedule", json=manual)):
        assert r.status_code == denied, (r.request.method, r.request.url, r.text)
    wait_done(api, purge_id)
    assert api.get(BASE, params={"page_size": 1}).json()[0]["id"] == purge_id  # nothing started by them

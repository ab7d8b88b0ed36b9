"""``/api/v2.0/system/gc`` over HTTP: run now, history with paging, one run, its log, the
schedule, stopping, one run at a time, validation and who may do what."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.common.backends import backend_server
from tests.common.servers import ADMIN, Server
from tests.integration.gc.conftest import RunGc, start_gc, wait_gc

GC_KEYS = {"id", "job_name", "job_kind", "job_parameters", "schedule", "job_status", "deleted", "creation_time",
           "update_time"}


@pytest.fixture
def storage_independent(backend: str) -> None:
    if backend == "scaled":
        pytest.skip("the API does not depend on the storage driver (sqlite and postgres cover it)")


@pytest.fixture
def idle_server(backend: str, tmp_path: Path, storage_independent: None) -> Iterator[httpx.Client]:
    """A server that queues jobs but runs none (so a run stays Pending)."""
    with backend_server(backend, tmp_path, extra_env={"MOORAGE_JOBS__RUN_IN_SERVER": "false"}) as server, \
            httpx.Client(base_url=f"{server.url}/api/v2.0", auth=ADMIN, timeout=30) as api:
        yield api


def test_manual_run_shows_in_history_with_its_log(api: httpx.Client, run_gc: RunGc, storage_independent: None
                                                   ) -> None:
    done = run_gc(time_window=0, delete_untagged=True, dry_run=True)  # a shared server: change nothing
    assert set(done) - {"extra", "log"} == GC_KEYS
    assert done["job_name"] == "GARBAGE_COLLECTION" and done["job_kind"] == "MANUAL"
    assert done["job_status"] == "Success" and done["schedule"]["type"] == "Manual"
    assert done["extra"]["delete_untagged"] is True and done["extra"]["time_window"] == 0
    assert {"freed_bytes", "deleted_blobs", "deleted_manifests", "purged_uploads"} <= set(done["extra"])
    assert "success to run gc in job." in done["log"]
    log = api.get(f"/system/gc/{done['id']}/log")
    assert log.headers["content-type"].startswith("text/plain")
    run_gc(time_window=0)
    page = api.get("/system/gc", params={"page": 1, "page_size": 1})
    assert page.status_code == 200 and len(page.json()) == 1
    assert int(page.headers["x-total-count"]) >= 2 and 'rel="next"' in page.headers["link"]
    assert page.json()[0]["id"] > done["id"]  # newest first


def test_schedule_is_set_read_and_removed(api: httpx.Client, storage_independent: None) -> None:
    assert api.put("/system/gc/schedule", json={"schedule": {"type": "Custom", "cron": "0 30 2 * * *"},
                                                "parameters": {"delete_untagged": True, "workers": 3}}
                   ).status_code == 200
    got = api.get("/system/gc/schedule").json()
    assert got["schedule"]["type"] == "Custom" and got["schedule"]["cron"] == "0 30 2 * * *"
    assert got["schedule"]["next_scheduled_time"]
    assert json.loads(got["job_parameters"]) == {"delete_untagged": True, "dry_run": False, "workers": 3}
    r = api.post("/system/gc/schedule", json={"schedule": {"type": "Weekly"}, "parameters": {}})
    assert r.status_code == 201
    assert api.get("/system/gc/schedule").json()["schedule"]["cron"] == "0 0 0 * * 0"
    assert api.put("/system/gc/schedule", json={"schedule": {"type": "None"}}).status_code == 200
    assert api.get("/system/gc/schedule").json()["schedule"]["type"] == "None"


def test_a_schedule_fires_runs(api: httpx.Client, storage_independent: None) -> None:
    body = {"schedule": {"type": "Custom", "cron": "* * * * * *"}, "parameters": {"dry_run": True, "time_window": 0}}
    assert api.put("/system/gc/schedule", json=body).status_code == 200
    try:
        deadline = time.monotonic() + 30
        while not [h for h in api.get("/system/gc").json() if h["job_kind"] == "SCHEDULE"]:
            assert time.monotonic() < deadline, "the schedule never fired"
            time.sleep(0.2)
    finally:
        assert api.put("/system/gc/schedule", json={"schedule": {"type": "None"}}).status_code == 200
    fired = [h for h in api.get("/system/gc").json() if h["job_kind"] == "SCHEDULE"][0]
    done = wait_gc(api, fired["id"])
    assert done["job_status"] == "Success" and done["schedule"]["type"] == "Schedule"
    assert json.loads(done["job_parameters"])["dry_run"] is True


@pytest.mark.parametrize("body", [
    {"schedule": {"type": "Custom", "cron": "every day"}},
    {"schedule": {"type": "Sometimes"}},
    {"schedule": {"type": "Manual"}, "parameters": {"workers": 11}},
    {"schedule": {"type": "Manual"}, "parameters": {"dry_run": "yes"}},
    {"schedule": {"type": "Manual"}, "parameters": {"time_window": -1}},
])
def test_invalid_requests_are_400(api: httpx.Client, body: dict[str, object], storage_independent: None) -> None:
    r = api.post("/system/gc/schedule", json=body)
    assert r.status_code == 400, r.text
    assert r.json()["errors"][0]["code"] == "BAD_REQUEST"


def test_unknown_runs_are_404(api: httpx.Client, storage_independent: None) -> None:
    for path in ("/system/gc/999999", "/system/gc/999999/log"):
        assert api.get(path).status_code == 404
    assert api.put("/system/gc/999999").status_code == 404


def test_one_run_at_a_time_and_a_queued_run_stops(idle_server: httpx.Client) -> None:
    api = idle_server
    gc_id = start_gc(api, time_window=0)
    r = api.post("/system/gc/schedule", json={"schedule": {"type": "Manual"}, "parameters": {}})
    assert r.status_code == 409, r.text
    assert api.put(f"/system/gc/{gc_id}").status_code == 200
    assert wait_gc(api, gc_id)["job_status"] == "Stopped"
    start_gc(api)  # the next one may start


def test_a_running_gc_stops_after_its_batch(backend: str, tmp_path: Path, storage_independent: None) -> None:
    env = {"MOORAGE_GC__BATCH_SIZE": "1", "MOORAGE_GC__DELETE_WORKERS": "1"}
    with backend_server(backend, tmp_path, extra_env=env) as server, \
            httpx.Client(base_url=server.url, auth=ADMIN, timeout=30) as c:
        api = httpx.Client(base_url=f"{server.url}/api/v2.0", auth=ADMIN, timeout=30)
        for i in range(300):
            data = f"blob {i} {uuid.uuid4()}".encode()
            c.post("/v2/library/stop/blobs/uploads/", params={"digest": _sha(data)}, content=data).raise_for_status()
        gc_id = start_gc(api, time_window=0)
        deadline = time.monotonic() + 60
        while json.loads(api.get(f"/system/gc/{gc_id}").json()["job_parameters"]).get("deleted_blobs", 0) < 5:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        assert api.put(f"/system/gc/{gc_id}").status_code == 200
        stopped = wait_gc(api, gc_id)
        assert stopped["job_status"] == "Stopped"
        deleted = json.loads(stopped["job_parameters"])["deleted_blobs"]
        assert 5 <= deleted < 300
        rest = wait_gc(api, start_gc(api, time_window=0))
        assert json.loads(rest["job_parameters"])["deleted_blobs"] == 300 - deleted


def test_only_system_administrators(moorage: Server, api: httpx.Client, storage_independent: None) -> None:
    name = f"gcuser{uuid.uuid4().hex[:8]}"
    assert api.post("/users", json={"username": name, "email": f"{name}@example.com", "realname": name,
                                    "password": "Passw0rdOK"}).status_code == 201
    calls = [("GET", "/system/gc"), ("GET", "/system/gc/1"), ("PUT", "/system/gc/1"), ("GET", "/system/gc/1/log"),
             ("GET", "/system/gc/schedule"), ("POST", "/system/gc/schedule"), ("PUT", "/system/gc/schedule")]
    body = {"schedule": {"type": "Manual"}, "parameters": {}}
    with httpx.Client(base_url=f"{moorage.url}/api/v2.0", auth=(name, "Passw0rdOK"), timeout=30) as user, \
            httpx.Client(base_url=f"{moorage.url}/api/v2.0", timeout=30) as anonymous:
        for method, path in calls:
            kwargs = {"json": body} if method != "GET" and path.endswith("schedule") else {}
            assert user.request(method, path, **kwargs).status_code == 403, (method, path)
            assert anonymous.request(method, path, **kwargs).status_code == 401, (method, path)


def _sha(data: bytes) -> str:
    import hashlib

    return "sha256:" + hashlib.sha256(data).hexdigest()

"""The job service through the API and across restarts: queued work shows in
``/jobservice/queues`` and can be stopped; work queued before a crash runs after the restart;
``/schedules`` lists cron schedules; only administrators see any of it."""

from __future__ import annotations

import signal
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.common.backends import backend_server
from tests.common.servers import ADMIN, Server


@pytest.fixture
def idle_server(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Server]:
    """A server that queues jobs but runs none (as when every worker is down)."""
    if backend == "scaled":
        pytest.skip("the job service does not depend on the blob store")
    with backend_server(backend, tmp_path, extra_env={"MOORAGE_JOBS__RUN_IN_SERVER": "false"}) as server:
        yield server


def api(server: Server) -> httpx.Client:
    return httpx.Client(base_url=f"{server.url}/api/v2.0", auth=ADMIN, timeout=30)


def run_gc(c: httpx.Client) -> int:
    r = c.post("/system/gc/schedule", json={"schedule": {"type": "Manual"}, "parameters": {"dry_run": True}})
    assert r.status_code == 201, r.text
    return int(r.headers["location"].rsplit("/", 1)[1])


def wait_run(c: httpx.Client, gc_id: int, timeout: float = 30) -> str:
    """The final status of one GC run (the shared server may hold other tests' runs)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = str(c.get(f"/system/gc/{gc_id}").json()["job_status"])
        if status in ("Success", "Error", "Stopped"):
            return status
        time.sleep(0.2)
    raise AssertionError(f"GC {gc_id} still {status}")


def wait_history(c: httpx.Client, done: int, timeout: float = 30) -> list[dict[str, object]]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        history = c.get("/system/gc").json()
        if sum(1 for h in history if h["job_status"] in ("Success", "Error", "Stopped")) >= done:
            return list(history)
        time.sleep(0.2)
    raise AssertionError(f"GC history: {history}")


def test_queued_work_is_listed_and_can_be_stopped(idle_server: Server) -> None:
    with api(idle_server) as c:
        run_gc(c)
        queues = c.get("/jobservice/queues").json()
        assert [(q["job_type"], q["count"], q["paused"]) for q in queues] == [("GARBAGE_COLLECTION", 1, False)]
        assert c.put("/jobservice/queues/GARBAGE_COLLECTION", json={"action": "pause"}).status_code == 422
        assert c.put("/jobservice/queues/GARBAGE_COLLECTION", json={"action": "stop"}).status_code == 200
        assert c.get("/jobservice/queues").json() == []
        assert [h["job_status"] for h in c.get("/system/gc").json()] == ["Stopped"]


def test_work_queued_before_a_crash_runs_after_the_restart(idle_server: Server) -> None:
    with api(idle_server) as c:
        run_gc(c)
    idle_server.kill(signal.SIGKILL)
    idle_server.env["MOORAGE_JOBS__RUN_IN_SERVER"] = "true"
    idle_server.restart()
    with api(idle_server) as c:
        history = wait_history(c, 1)
        assert [h["job_status"] for h in history] == ["Success"]


def test_schedules_are_listed_for_administrators_only(moorage: Server) -> None:
    with api(moorage) as c:
        r = c.put("/system/gc/schedule", json={"schedule": {"type": "Weekly"}, "parameters": {"dry_run": True}})
        assert r.status_code == 200, r.text
        try:
            listed = c.get("/schedules").json()
            assert any(s["vendor_type"] == "GARBAGE_COLLECTION" and s["cron"] == "0 0 0 * * 0" for s in listed)
            assert c.get("/schedules/GARBAGE_COLLECTION/paused").json() == {"paused": False}
        finally:
            c.put("/system/gc/schedule", json={"schedule": {"type": "None"}})
        name = f"jobs{uuid.uuid4().hex[:8]}"
        assert c.post("/users", json={"username": name, "email": f"{name}@example.com", "realname": name,
                                      "password": "Passw0rdOK", "comment": ""}).status_code == 201
    with httpx.Client(base_url=f"{moorage.url}/api/v2.0", auth=(name, "Passw0rdOK")) as c:
        for path in ("/schedules", "/jobservice/queues"):
            assert c.get(path).status_code == 403
    assert httpx.get(f"{moorage.url}/api/v2.0/jobservice/queues").status_code == 401


def test_a_task_log_and_stop_by_job_id(moorage: Server) -> None:
    with api(moorage) as c:
        gc_id = run_gc(c)
        assert wait_run(c, gc_id) == "Success"
        from tests.common.databases import server_sql

        [(task_id,)] = server_sql(moorage, "SELECT id FROM tasks WHERE execution_id = $1", gc_id)
        log = c.get(f"/jobservice/jobs/{task_id}/log")
        assert log.status_code == 200 and log.text.strip()
        assert c.get("/jobservice/jobs/99999999/log").status_code == 404
        assert c.put(f"/jobservice/jobs/{task_id}").status_code == 200  # already finished: stays as it was
        assert c.get(f"/system/gc/{gc_id}").json()["job_status"] == "Success"

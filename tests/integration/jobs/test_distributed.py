"""Scaled out for real: two `moorage serve` and two `moorage worker` processes on one
PostgreSQL database and the real Redis.  One schedule fires exactly once per tick, and the
workers, not the servers, run the work."""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest

from tests.common.databases import postgres_database, server_sql
from tests.common.servers import ADMIN, Server, start_moorage


def start_worker(data_dir: Path, env: dict[str, str], name: str) -> subprocess.Popen[bytes]:
    """A `moorage worker` sharing the server's data directory (its filesystem blob storage)."""
    log = open(data_dir / f"{name}.log", "ab")  # noqa: SIM115 - the child owns it
    return subprocess.Popen([sys.executable, "-m", "moorage", "worker", "--data-dir", str(data_dir)],
                            env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[tuple[list[Server], list[subprocess.Popen[bytes]]]]:
    queue = f"moorage-test-{uuid.uuid4().hex[:8]}"
    jobs_env = {"MOORAGE_JOBS__BACKEND": "redis", "MOORAGE_JOBS__QUEUE_NAME": queue,
                "MOORAGE_JOBS__TICK_SECONDS": "0.3"}
    for name in ("s1", "s2"):
        (tmp_path / name).mkdir()
    with ExitStack() as stack:
        url = stack.enter_context(postgres_database("moorage_cluster"))
        first = stack.enter_context(start_moorage(tmp_path / "s1", db_url=url, extra_env=jobs_env))
        second = stack.enter_context(start_moorage(tmp_path / "s2", db_url=url, extra_env=jobs_env))
        workers = [start_worker(first.data_dir, first.env | jobs_env, f"worker{i}") for i in (1, 2)]
        try:
            yield [first, second], workers
        finally:
            for w in workers:
                w.terminate()
            for w in workers:
                w.wait(timeout=30)


def test_one_schedule_runs_once_per_tick_on_the_workers(cluster: tuple[list[Server], list[subprocess.Popen[bytes]]]
                                                       ) -> None:
    servers, workers = cluster
    api = httpx.Client(base_url=f"{servers[1].url}/api/v2.0", auth=ADMIN, timeout=30)
    r = api.put("/system/gc/schedule", json={"schedule": {"type": "Custom", "cron": "*/2 * * * * *"},
                                             "parameters": {"dry_run": True}})
    assert r.status_code == 200, r.text
    time.sleep(9)
    assert api.put("/system/gc/schedule", json={"schedule": {"type": "None"}}).status_code == 200
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        history = httpx.get(f"{servers[0].url}/api/v2.0/system/gc", auth=ADMIN, params={"page_size": 100}).json()
        if history and all(h["job_status"] in ("Success", "Error", "Stopped") for h in history):
            break
        time.sleep(0.3)
    assert 3 <= len(history) <= 6, history
    assert all(h["job_status"] == "Success" and h["job_kind"] == "SCHEDULE" for h in history), history
    ticks = server_sql(servers[0], "SELECT extra_attrs FROM executions WHERE vendor_type = 'GARBAGE_COLLECTION'")
    scheduled = [str(t[0]) for t in ticks]
    assert len(scheduled) == len(set(scheduled))  # exactly one run per tick across 2 servers + 2 workers
    owners = {str(o[0]).split(":")[1] for o in server_sql(servers[0], "SELECT owner FROM tasks")}
    assert owners <= {str(w.pid) for w in workers}, owners  # the workers ran everything, not the servers
    assert all(w.poll() is None for w in workers)

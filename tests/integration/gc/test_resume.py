"""A collection killed half-way (kill -9 of the server during a large run) is finished after the
restart: the job service retries the lost task, which first completes the rows the dead run
had marked, then continues from its last checkpoint; no referenced blob is lost."""

from __future__ import annotations

import json
import os
import signal
import time

import httpx

from tests.common.databases import server_sql
from tests.common.oci import push_image, sha256
from tests.common.servers import ADMIN
from tests.integration.gc.conftest import OwnServer, plant_garbage, start_gc, wait_gc
from tests.integration.gc.test_collect import pulls_completely

GARBAGES = {"sqlite": 1500, "postgres": 1500, "scaled": 400}  # moto's S3 is slow
ENV = {"MOORAGE_GC__BATCH_SIZE": "25", "MOORAGE_GC__DELETE_WORKERS": "1", "MOORAGE_JOBS__DEAD_AFTER_SECONDS": "3"}


def test_a_gc_killed_half_way_completes_after_restart(own_server: OwnServer, backend: str) -> None:
    garbage_count = GARBAGES[backend]
    with own_server(**ENV) as server:
        with httpx.Client(base_url=server.url, auth=ADMIN, timeout=60) as client:
            images = [push_image(client, "library/keep", f"v{i}") for i in range(5)]
            garbage = [os.urandom(64) + i.to_bytes(4, "big") for i in range(garbage_count)]
            plant_garbage(server, garbage)
        api = httpx.Client(base_url=f"{server.url}/api/v2.0", auth=ADMIN, timeout=60)
        gc_id = start_gc(api, time_window=0)
        deadline = time.monotonic() + 120
        while (deleted := _extra(api, gc_id).get("deleted_blobs", 0)) < garbage_count // 4:
            assert time.monotonic() < deadline
            time.sleep(0.01)
        server.kill(signal.SIGKILL)
        assert deleted < garbage_count, "the run finished before it could be killed"
        marked = server_sql(server, "SELECT count(*) FROM blobs WHERE deleting")[0][0]

        server.restart()  # the lost task is retried and resumes from its checkpoint
        api = httpx.Client(base_url=f"{server.url}/api/v2.0", auth=ADMIN, timeout=60)
        done = wait_gc(api, gc_id, timeout=180)
        log = api.get(f"/system/gc/{gc_id}/log").text
        assert done["job_status"] == "Success", log
        assert "resuming at blobs" in log and "success to run gc in job." in log
        if marked:
            assert "an interrupted run had marked" in log
        extra = _extra(api, gc_id)
        # a batch swept but not yet checkpointed when the server died is not counted
        assert garbage_count - 25 <= extra["deleted_blobs"] <= garbage_count
        assert server_sql(server, "SELECT count(*) FROM blobs WHERE deleting")[0][0] == 0
        assert all(server.stored_blob_paths(sha256(d)) == [] for d in garbage[::50])
        with httpx.Client(base_url=server.url, auth=ADMIN, timeout=60) as client:
            assert all(pulls_completely(client, "library/keep", digest) for digest in images)
        again = wait_gc(api, start_gc(api, time_window=0))
        assert json.loads(again["job_parameters"])["deleted_blobs"] == 0  # nothing was left behind


def _extra(api: httpx.Client, gc_id: int) -> dict[str, int]:
    return dict(json.loads(api.get(f"/system/gc/{gc_id}").json()["job_parameters"]))

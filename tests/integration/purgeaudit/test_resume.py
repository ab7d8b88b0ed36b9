"""A purge killed half-way resumes on restart: the lost task is retried from its checkpoint with
the same cut-off, deletes what was left, and reports the exact number purged."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests.common.databases import postgres_database
from tests.common.servers import ADMIN, Server, start_moorage
from tests.integration.purgeaudit.conftest import BASE, OLD, add_entries, count_entries, run_purge, unique, wait_done

ROWS = 200_000
# A killed worker is noticed after 2 s of silence instead of 2 minutes.
ENV = {"MOORAGE_JOBS__DEAD_AFTER_SECONDS": "2", "MOORAGE_JOBS__HEARTBEAT_SECONDS": "0.5"}


@contextmanager
def _database(backend: str) -> Iterator[str | None]:
    if backend == "sqlite":
        yield None
    else:
        with postgres_database("moorage_purge") as url:
            yield url


def _api(server: Server) -> httpx.Client:
    return httpx.Client(base_url=f"{server.url}/api/v2.0", auth=ADMIN, timeout=60)


def test_killed_purge_resumes_from_its_checkpoint(backend: str, tmp_path: Path) -> None:
    user = unique()
    with _database(backend) as url:
        with start_moorage(tmp_path, db_url=url, extra_env=ENV) as first:
            add_entries(first, user, ROWS, OLD)
            with _api(first) as api:
                purge_id = run_purge(api, audit_retention_hour=1, include_event_types="create_artifact")
            deadline = time.monotonic() + 60
            while count_entries(first, user) == ROWS:  # kill it once the first batch is gone
                assert time.monotonic() < deadline
            first.kill(signal.SIGKILL)
            left = count_entries(first, user)
        assert 0 < left < ROWS, "the purge finished before it could be killed"
        # the same database and data directory
        with start_moorage(tmp_path, db_url=url, extra_env=ENV) as second, _api(second) as api:
            body = wait_done(api, purge_id, timeout=90)
            log = api.get(f"{BASE}/{purge_id}/log").text
            assert body["job_status"] == "Success", log
            assert "worker lost; retrying" in log and "resuming after" in log
            assert f"purged {ROWS} audit log entries" in log
            assert count_entries(second, user) == 0

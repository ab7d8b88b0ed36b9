"""Stopping a retention run on a server with one job worker and many repositories: the run
ends Stopped, pending repository tasks never run, and what they held is still there."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.common.backends import backend_server
from tests.common.oci import push_image
from tests.common.servers import ADMIN, Server
from tests.integration.retention.conftest import policy, rule, wait_execution

REPOSITORIES = 40


@pytest.fixture(scope="module")
def one_worker(backend: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
               ) -> Iterator[Server]:
    endpoint = request.getfixturevalue("moto_endpoint") if backend == "scaled" else None
    with backend_server(backend, Path(tmp_path_factory.mktemp(f"retention-stop-{backend}")), endpoint,
                        extra_env={"MOORAGE_JOBS__WORKERS": "1"}) as server:
        yield server


def test_stop_leaves_pending_repositories_untouched(one_worker: Server) -> None:
    with httpx.Client(base_url=one_worker.url, auth=ADMIN, timeout=60) as client, \
            httpx.Client(base_url=f"{one_worker.url}/api/v2.0", auth=ADMIN, timeout=60) as api:
        assert api.post("/projects", json={"project_name": "stopme"}).status_code == 201
        pid = int(api.get("/projects/stopme", headers={"X-Is-Resource-Name": "true"}).json()["project_id"])
        for i in range(REPOSITORIES):
            push_image(client, f"stopme/r{i:02d}", "old")
            push_image(client, f"stopme/r{i:02d}", "new")
        r = api.post("/retentions", json=policy(pid, [rule("latestPushedK", 1)]))
        policy_id = int(r.headers["location"].rsplit("/", 1)[1])
        r = api.post(f"/retentions/{policy_id}/executions", json={"dry_run": False})
        execution_id = int(r.headers["location"].rsplit("/", 1)[1])
        assert api.patch(f"/retentions/{policy_id}/executions/{execution_id}", json={"action": "stop"}
                         ).status_code == 200
        assert wait_execution(api, policy_id, execution_id)["status"] == "Stopped"
        tasks = api.get(f"/retentions/{policy_id}/executions/{execution_id}/tasks",
                        params={"page_size": 100}).json()
        stopped = {t["repository"] for t in tasks if t["status"] == "Stopped"}
        done = {t["repository"] for t in tasks if t["status"] == "Success"}
        assert stopped | done == {t["repository"] for t in tasks} and len(done) < REPOSITORIES
        for repository in stopped:
            name = repository.split("/", 1)[1]
            listed = api.get(f"/projects/stopme/repositories/{name}/artifacts").json()
            assert len(listed) == 2, repository  # nothing deleted in a repository that never ran
        # A new run after the stop finishes the job.
        r = api.post(f"/retentions/{policy_id}/executions", json={"dry_run": False})
        assert wait_execution(api, policy_id, int(r.headers["location"].rsplit("/", 1)[1]))["status"] == "Success"
        for i in range(REPOSITORIES):
            assert len(api.get(f"/projects/stopme/repositories/r{i:02d}/artifacts").json()) == 1

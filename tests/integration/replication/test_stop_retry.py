"""Stopping a replication run, and Moorage's re-run of only the failed tasks
(``POST /replication/executions/{id}/retry``), which Harbor cannot do."""

from __future__ import annotations

import os
from pathlib import Path

import httpx

from tests.common.oci import OCI_MANIFEST, push_image
from tests.common.servers import ADMIN, Server, start_moorage, start_reference_registry
from tests.integration.replication.conftest import (
    BIG,
    SLOW,
    Factory,
    create_policy,
    create_registry,
    name_filter,
    policy_body,
    remote_digest,
    remote_tags,
    sqlite_only,
    start_run,
    tasks_of,
    unique,
    wait_execution,
    wait_for,
)


def retry(api: httpx.Client, execution_id: int) -> httpx.Response:
    return api.post(f"/replication/executions/{execution_id}/retry")


def test_stop_a_running_execution(api: httpx.Client, registry: httpx.Client, peer_client: httpx.Client,
                                  peer_registry: int, new_project: Factory) -> None:
    project = str(new_project()["name"])
    push_image(registry, f"{project}/big", "v1", layer=BIG())
    policy_id = create_policy(api, policy_body(dest=peer_registry, filters=name_filter(project), speed=SLOW))
    execution_id = start_run(api, policy_id)
    wait_for(lambda: [t for t in tasks_of(api, execution_id) if t["status"] == "InProgress"],
             what="a running copy task")
    assert api.put(f"/replication/executions/{execution_id}", json={}).status_code == 200
    run = wait_execution(api, execution_id)
    assert (run["status"], run["stopped"], run["succeed"]) == ("Stopped", 1, 0)
    assert [t["status"] for t in tasks_of(api, execution_id)] == ["Stopped"]
    assert remote_tags(peer_client, f"{project}/big") == []  # nothing half-copied is visible


def test_stop_unknown_execution_is_404(api: httpx.Client) -> None:
    assert api.put("/replication/executions/987654", json={}).status_code == 404


def test_retry_reruns_only_the_failed_tasks(api: httpx.Client, registry: httpx.Client, peer_client: httpx.Client,
                                            peer_registry: int, new_project: Factory) -> None:
    upstream = unique("upstream")
    push_image(peer_client, f"{upstream}/small", "v1")
    push_image(peer_client, f"{upstream}/large", "v1", layer=os.urandom(2 * 1024 * 1024))
    project = new_project(storage_limit=1024 * 1024)  # the large image does not fit
    name, project_id = str(project["name"]), int(str(project["project_id"]))
    policy_id = create_policy(api, policy_body(src=peer_registry, dest_namespace=name,
                                               filters=[{"type": "name", "value": f"{upstream}/**"}]))
    first = wait_execution(api, start_run(api, policy_id))
    assert (first["status"], first["total"], first["succeed"], first["failed"]) == ("Failed", 2, 1, 1), first
    assert "1 of 2 task(s) failed" in first["status_text"]
    [failed] = tasks_of(api, first["id"], status="Failed")
    assert failed["src_resource"] == f"{upstream}/large:[v1]"
    assert api.put(f"/quotas/{project_id}", json={"hard": {"storage": -1}}).status_code == 200
    push_image(peer_client, f"{upstream}/later", "v1")  # a retry repeats tasks; it does not list again

    r = retry(api, first["id"])
    assert r.status_code == 201, r.text
    again = wait_execution(api, int(r.headers["location"].rsplit("/", 1)[1]))
    assert (again["status"], again["total"], again["succeed"], again["trigger"]) == ("Succeed", 1, 1, "manual")
    assert again["extra_attrs"]["retry_of"] == first["id"]
    assert [t["src_resource"] for t in tasks_of(api, again["id"])] == [f"{upstream}/large:[v1]"]
    for repository, present in (("small", True), ("large", True), ("later", False)):
        found = registry.head(f"/v2/{name}/{repository}/manifests/v1", headers={"Accept": OCI_MANIFEST})
        assert (found.status_code == 200) is present, repository
    assert wait_execution(api, first["id"])["status"] == "Failed"  # the old run is left as it was


def test_retry_after_the_peer_comes_back(api: httpx.Client, registry: httpx.Client, tmp_path: Path,
                                         new_project: Factory, backend: str) -> None:
    sqlite_only(backend)
    project = str(new_project()["name"])
    push_image(registry, f"{project}/app", "v1")
    with start_reference_registry(tmp_path / "flaky") as flaky:
        registry_id = create_registry(api, flaky.url)
        policy_id = create_policy(api, policy_body(dest=registry_id, filters=name_filter(project)))
        flaky.kill()
        first = wait_execution(api, start_run(api, policy_id))
        assert (first["status"], first["failed"]) == ("Failed", 1), first
        [task] = tasks_of(api, first["id"])
        log = api.get(f"/replication/executions/{first['id']}/tasks/{task['id']}/log").text
        assert "attempt 3" in log  # Harbor's three attempts before a task fails
        flaky.restart()
        r = retry(api, first["id"])
        assert r.status_code == 201, r.text
        again = wait_execution(api, int(r.headers["location"].rsplit("/", 1)[1]))
        assert again["status"] == "Succeed", again
        with httpx.Client(base_url=flaky.url, timeout=30) as c:
            assert remote_tags(c, f"{project}/app") == ["v1"]
        assert api.delete(f"/replication/policies/{policy_id}").status_code == 200
        assert api.delete(f"/registries/{registry_id}").status_code == 200


def test_retry_refused_while_running_and_when_nothing_failed(api: httpx.Client, registry: httpx.Client,
                                                             peer_registry: int, new_project: Factory) -> None:
    project = str(new_project()["name"])
    push_image(registry, f"{project}/big", "v1", layer=BIG())
    slow = create_policy(api, policy_body(dest=peer_registry, filters=name_filter(project), speed=SLOW))
    running = start_run(api, slow)
    r = retry(api, running)
    assert r.status_code == 409, r.text
    assert api.put(f"/replication/executions/{running}", json={}).status_code == 200
    wait_execution(api, running)
    ok_project = str(new_project()["name"])
    push_image(registry, f"{ok_project}/app", "v1")
    ok = wait_execution(api, start_run(api, create_policy(api, policy_body(dest=peer_registry,
                                                                            filters=name_filter(ok_project)))))
    assert ok["status"] == "Succeed"
    r = retry(api, ok["id"])
    assert r.status_code == 422, r.text
    assert "no failed task" in r.json()["errors"][0]["message"]


def test_policy_with_a_running_execution_cannot_be_deleted(api: httpx.Client, registry: httpx.Client,
                                                           peer_registry: int, new_project: Factory) -> None:
    project = str(new_project()["name"])
    push_image(registry, f"{project}/big", "v1", layer=BIG())
    policy_id = create_policy(api, policy_body(dest=peer_registry, filters=name_filter(project), speed=SLOW))
    execution_id = start_run(api, policy_id)
    assert api.delete(f"/replication/policies/{policy_id}").status_code == 412
    assert api.put(f"/replication/executions/{execution_id}", json={}).status_code == 200
    wait_execution(api, execution_id)
    assert api.delete(f"/replication/policies/{policy_id}").status_code == 200
    assert api.get(f"/replication/executions/{execution_id}").status_code == 404  # its runs went with it


def test_retry_resumes_a_stopped_blob_copy(tmp_path: Path, peer: Server, peer_client: httpx.Client,
                                           backend: str) -> None:
    sqlite_only(backend)
    env = {"MOORAGE_REPLICATION__CHUNK_SIZE": str(1024 * 1024)}  # progress is recorded per MiB
    with start_moorage(tmp_path, extra_env=env) as server, \
            httpx.Client(base_url=f"{server.url}/api/v2.0", auth=ADMIN, timeout=60) as own, \
            httpx.Client(base_url=server.url, auth=ADMIN, timeout=60) as local:
        project = unique("resume")
        assert own.post("/projects", json={"project_name": project, "metadata": {"public": "false"}}
                        ).status_code == 201
        digest = push_image(local, f"{project}/big", "v1", layer=os.urandom(6 * 1024 * 1024))
        policy_id = create_policy(own, policy_body(dest=create_registry(own, peer.url), speed=1024,
                                                   filters=[{"type": "name", "value": f"{project}/**"}]))
        first = start_run(own, policy_id)

        def log_of(execution_id: int) -> str:
            tasks = tasks_of(own, execution_id)
            return own.get(f"/replication/executions/{execution_id}/tasks/{tasks[0]['id']}/log").text if tasks \
                else ""

        wait_for(lambda: f"2097152 of {6 * 1024 * 1024}" in log_of(first), what="two MiB copied")
        assert own.put(f"/replication/executions/{first}", json={}).status_code == 200
        assert wait_execution(own, first)["status"] == "Stopped"
        assert remote_tags(peer_client, f"{project}/big") == []
        r = retry(own, first)
        assert r.status_code == 201, r.text
        again = wait_execution(own, int(r.headers["location"].rsplit("/", 1)[1]))
        assert again["status"] == "Succeed", again
        log = log_of(again["id"])
        resumed = [line for line in log.splitlines() if "resuming blob" in line]
        assert resumed and int(resumed[0].split(" at byte ")[1].split()[0]) >= 2 * 1024 * 1024, log
        assert remote_tags(peer_client, f"{project}/big") == ["v1"]
        assert remote_digest(peer_client, f"{project}/big", "v1") == digest

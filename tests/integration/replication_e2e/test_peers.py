"""Replication against real peers: Debian's docker-registry (distribution 2.8) as destination
(push-based) and as source (pull-based), and a second Moorage both ways (type ``harbor``) with
the credentials of a non-admin account (a project robot, a project member).

Manual and scheduled triggers, name/tag filters and Harbor's destination-namespace rule are
exercised here as multi-instance flows; the API's own behaviour is covered by
``tests/integration/replication/``.
"""

from __future__ import annotations

from collections.abc import Callable

import httpx

from tests.common.oci import push_image
from tests.common.servers import Server
from tests.integration.replication_e2e.conftest import Moorage, manifest_digest, tags, unique, wait_until


def test_push_to_docker_registry_with_name_and_tag_filters(moorages: Callable[..., Moorage],
                                                          reference_v2: httpx.Client) -> None:
    local = moorages("local")
    prefix = unique("push")
    web, db = f"library/{prefix}/web", f"library/{prefix}/db"
    pushed = {tag: push_image(local.v2, web, tag) for tag in ("v1.0", "v1.1", "dev")}
    push_image(local.v2, db, "v1.0")
    registry = local.add_registry(str(reference_v2.base_url).rstrip("/"), "docker-registry")
    policy = local.add_policy(dest=registry, filters=[{"type": "name", "value": f"library/{prefix}/web"},
                                                      {"type": "tag", "value": "v1.*", "decoration": "matches"}])

    execution = local.run(policy)

    assert execution["status"] == "Succeed", local.logs(execution["id"])
    assert execution["trigger"] == "manual"
    assert tags(reference_v2, web) == ["v1.0", "v1.1"]
    assert {t: manifest_digest(reference_v2, web, t) for t in ("v1.0", "v1.1")} == \
        {t: pushed[t] for t in ("v1.0", "v1.1")}
    assert tags(reference_v2, db) == []
    tasks = local.tasks(execution["id"])
    assert len(tasks) == 2 and {t["status"] for t in tasks} == {"Succeed"}, tasks
    assert all(t["operation"] == "copy" for t in tasks), tasks


def test_pull_from_docker_registry_on_a_schedule(moorages: Callable[..., Moorage],
                                                reference_v2: httpx.Client) -> None:
    """A scheduled pull-based policy with ``dest_namespace`` replacing one path component:
    ``upstream/<x>/app`` at the docker-registry lands as ``<project>/<x>/app`` in Moorage, and a
    tag pushed upstream later arrives with a later scheduled run."""
    local = moorages("local")
    prefix = unique("pull")
    project = local.new_project()
    source_repo, local_repo = f"upstream/{prefix}/app", f"{project}/{prefix}/app"
    first = push_image(reference_v2, source_repo, "1.0")
    registry = local.add_registry(str(reference_v2.base_url).rstrip("/"), "docker-registry")
    policy = local.add_policy(src=registry, trigger="scheduled", cron="*/2 * * * * *",
                              dest_namespace=project, dest_namespace_replace_count=1, single_active_replication=True,
                              filters=[{"type": "name", "value": f"upstream/{prefix}/**"}])

    wait_until(lambda: manifest_digest(local.v2, local_repo, "1.0") == first, 60, "the scheduled pull")
    execution = local.wait_for_execution_of(policy, predicate=lambda e: e["status"] == "Succeed")
    assert execution["trigger"] == "scheduled", execution

    second = push_image(reference_v2, source_repo, "1.1")
    wait_until(lambda: manifest_digest(local.v2, local_repo, "1.1") == second, 60, "the next scheduled pull")
    local.disable_policy(policy)
    assert tags(local.v2, local_repo) == ["1.0", "1.1"]
    assert manifest_digest(local.v2, f"{project}/upstream/{prefix}/app", "1.0") is None


def test_push_to_another_moorage_as_a_project_robot(moorages: Callable[..., Moorage]) -> None:
    local, peer = moorages("local"), moorages("peer")
    project = peer.new_project()
    local.new_project(project)
    robot = peer.project_robot(project, "pull", "push")
    repo = f"{project}/app"
    pushed = {tag: push_image(local.v2, repo, tag) for tag in ("v1", "v2")}
    registry = local.add_registry(peer.url, "harbor", robot)
    ping = local.api.post("/registries/ping", json={"id": registry})
    assert ping.status_code == 200, ping.text
    policy = local.add_policy(dest=registry, filters=[{"type": "name", "value": f"{project}/**"}])

    execution = local.run(policy)

    assert execution["status"] == "Succeed", local.logs(execution["id"])
    assert {t: manifest_digest(peer.v2, repo, t) for t in pushed} == pushed
    audit = peer.api.get("/auditlog-exts", params={"q": f"resource=~{repo}", "page_size": 100})
    assert audit.status_code == 200, audit.text
    assert {(e["operation"], e["resource"], e["username"]) for e in audit.json()} >= \
        {("create", f"{repo}:{t}", robot[0]) for t in pushed}
    # A second run finds everything there already and pushes nothing again.
    pushed_at = peer_push_times(peer, project)
    again = local.run(policy)
    assert again["status"] == "Succeed", local.logs(again["id"])
    assert tags(peer.v2, repo) == ["v1", "v2"]
    assert peer_push_times(peer, project) == pushed_at


def peer_push_times(peer: Moorage, project: str) -> dict[str, str]:
    r = peer.api.get(f"/projects/{project}/repositories/app/artifacts", params={"page_size": 100})
    assert r.status_code == 200, r.text
    return {a["digest"]: a["push_time"] for a in r.json()}


def test_pull_from_another_moorage_as_a_project_member(moorages: Callable[..., Moorage]) -> None:
    local, peer = moorages("local"), moorages("peer")
    project = peer.new_project()
    local.new_project(project)
    user = peer.project_user(project, 2)  # developer: pull and push, not project admin
    repo = f"{project}/app"
    pushed = {tag: push_image(peer.v2, repo, tag) for tag in ("v1", "v2", "latest")}
    registry = local.add_registry(peer.url, "harbor", user)
    policy = local.add_policy(src=registry, filters=[{"type": "name", "value": f"{project}/app"},
                                                     {"type": "tag", "value": "latest", "decoration": "excludes"}])

    execution = local.run(policy)

    assert execution["status"] == "Succeed", local.logs(execution["id"])
    assert tags(local.v2, repo) == ["v1", "v2"]
    assert {t: manifest_digest(local.v2, repo, t) for t in ("v1", "v2")} == {t: pushed[t] for t in ("v1", "v2")}


def test_failed_tasks_rerun_after_the_peer_comes_back(moorages: Callable[..., Moorage], reference: Server,
                                                      reference_v2: httpx.Client) -> None:
    """The peer is down during a run: its tasks fail. Once it is back, ``POST
    /replication/executions/{id}/retry`` (Moorage's extension) re-runs exactly those tasks."""
    local = moorages("local")
    repo = f"library/{unique('retry')}"
    pushed = {tag: push_image(local.v2, repo, tag) for tag in ("a", "b")}
    registry = local.add_registry(reference.url, "docker-registry")
    policy = local.add_policy(dest=registry, filters=[{"type": "name", "value": repo}])
    reference.kill()

    failed = local.run(policy)
    assert failed["status"] == "Failed", failed
    failed_tasks = [t for t in local.tasks(failed["id"]) if t["status"] in ("Failed", "Stopped")]
    assert len(failed_tasks) == 2, local.tasks(failed["id"])

    reference.restart()
    r = local.api.post(f"/replication/executions/{failed['id']}/retry")
    assert r.status_code == 201, r.text
    retry_id = int(r.headers["location"].rstrip("/").rsplit("/", 1)[1])
    assert retry_id != failed["id"]
    retried = local.wait_execution(retry_id)

    assert retried["status"] == "Succeed", local.logs(retry_id)
    assert retried["total"] == 2 and retried["succeed"] == 2, retried
    assert sorted(t["src_resource"] for t in local.tasks(retry_id)) == sorted(t["src_resource"] for t in failed_tasks)
    assert {t: manifest_digest(reference_v2, repo, t) for t in pushed} == pushed


def test_event_based_push_and_deletion_to_docker_registry(moorages: Callable[..., Moorage],
                                                         reference_v2: httpx.Client) -> None:
    """A push at Moorage reaches the docker-registry by itself; deleting the manifest through /v2
    (as ``skopeo delete`` / ``crane delete`` do) deletes it there too."""
    local = moorages("local")
    repo = f"library/{unique('event')}"
    registry = local.add_registry(str(reference_v2.base_url).rstrip("/"), "docker-registry")
    local.add_policy(dest=registry, trigger="event_based", replicate_deletion=True,
                     filters=[{"type": "name", "value": repo}])

    pushed = push_image(local.v2, repo, "v1")
    wait_until(lambda: manifest_digest(reference_v2, repo, "v1") == pushed, 60, "the push at the docker-registry")

    assert local.v2.delete(f"/v2/{repo}/manifests/{pushed}").status_code == 202
    wait_until(lambda: manifest_digest(reference_v2, repo, pushed) is None, 60, "the deletion at the docker-registry")
    assert tags(reference_v2, repo) == []

"""Manual replication runs against a real peer (Debian's docker-registry): push-based and
pull-based, the filters (name, tag, label, resource), the destination-namespace rule, and
the executions, tasks and logs the API shows for them."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path
from typing import Any

import httpx

from tests.common.oci import OCI_MANIFEST, descriptor, push_blob, push_image, put_manifest, sha256
from tests.common.servers import ADMIN, Server, start_moorage
from tests.integration.replication.conftest import (
    Factory,
    create_policy,
    create_registry,
    policy_body,
    remote_digest,
    remote_tags,
    sqlite_only,
    start_run,
    tasks_of,
    unique,
    wait_execution,
)
from tests.integration.webhooks.conftest import Receiver, receiver  # noqa: F401


def push_run(api: httpx.Client, peer_registry: int, project: str, **fields: Any) -> dict[str, Any]:
    """Create a push-based policy for the project's repositories, run it, and return the finished run."""
    filters = [{"type": "name", "value": f"{project}/**", "decoration": "matches"}, *fields.pop("filters", [])]
    policy_id = create_policy(api, policy_body(dest=peer_registry, filters=filters, **fields))
    return wait_execution(api, start_run(api, policy_id))


def test_push_based_run_copies_tagged_images(api: httpx.Client, registry: httpx.Client,
                                             peer_client: httpx.Client, peer_registry: int,
                                             new_project: Factory) -> None:
    project = str(new_project()["name"])
    digest = push_image(registry, f"{project}/app", "v1")
    assert put_manifest(registry, f"{project}/app", "latest",
                        registry.get(f"/v2/{project}/app/manifests/v1",
                                     headers={"Accept": OCI_MANIFEST}).content).status_code == 201
    run = push_run(api, peer_registry, project)
    assert run["status"] == "Succeed", run
    assert (run["trigger"], run["total"], run["succeed"], run["failed"]) == ("manual", 1, 1, 0)
    assert run["start_time"] and run["end_time"]
    assert remote_tags(peer_client, f"{project}/app") == ["latest", "v1"]
    assert remote_digest(peer_client, f"{project}/app", "v1") == digest
    [task] = tasks_of(api, run["id"])
    assert task["status"] == "Succeed" and task["operation"] == "copy" and task["resource_type"] == "image"
    assert task["src_resource"] == task["dst_resource"] == f"{project}/app:[latest,v1]"
    log = api.get(f"/replication/executions/{run['id']}/tasks/{task['id']}/log")
    assert log.status_code == 200 and log.headers["content-type"].startswith("text/plain")
    assert f"tagged {project}/app:v1" in log.text


def test_second_run_copies_nothing_new(api: httpx.Client, registry: httpx.Client, peer_registry: int,
                                       new_project: Factory) -> None:
    project = str(new_project()["name"])
    push_image(registry, f"{project}/app", "v1")
    filters = [{"type": "name", "value": f"{project}/**"}]
    policy_id = create_policy(api, policy_body(dest=peer_registry, filters=filters))
    assert wait_execution(api, start_run(api, policy_id))["status"] == "Succeed"
    again = wait_execution(api, start_run(api, policy_id))
    assert again["status"] == "Succeed"
    [task] = tasks_of(api, again["id"])
    log = api.get(f"/replication/executions/{again['id']}/tasks/{task['id']}/log").text
    assert "nothing to copy" in log


def test_pull_based_run_copies_into_the_namespace(api: httpx.Client, registry: httpx.Client,
                                                  peer_client: httpx.Client, peer_registry: int,
                                                  new_project: Factory) -> None:
    upstream = unique("upstream")
    digest = push_image(peer_client, f"{upstream}/tools/app", "1.0")
    project = str(new_project()["name"])
    policy_id = create_policy(api, policy_body(
        src=peer_registry, dest_namespace=project, dest_namespace_replace_count=1,
        filters=[{"type": "name", "value": f"{upstream}/**"}]))
    run = wait_execution(api, start_run(api, policy_id))
    assert run["status"] == "Succeed", run
    r = registry.head(f"/v2/{project}/tools/app/manifests/1.0", headers={"Accept": OCI_MANIFEST})
    assert r.status_code == 200 and r.headers["docker-content-digest"] == digest
    [task] = tasks_of(api, run["id"])
    assert task["src_resource"] == f"{upstream}/tools/app:[1.0]"
    assert task["dst_resource"] == f"{project}/tools/app:[1.0]"


def test_namespace_rule_flattens_the_destination(api: httpx.Client, registry: httpx.Client,
                                                 peer_client: httpx.Client, peer_registry: int,
                                                 new_project: Factory) -> None:
    project = str(new_project()["name"])
    push_image(registry, f"{project}/a/b/img", "v1")
    namespace = unique("flat")
    run = push_run(api, peer_registry, project, dest_namespace=namespace, dest_namespace_replace_count=-1)
    assert run["status"] == "Succeed", run
    assert remote_tags(peer_client, f"{namespace}/img") == ["v1"]
    assert remote_tags(peer_client, f"{namespace}/a/b/img") == []


def test_name_and_tag_filters(api: httpx.Client, registry: httpx.Client, peer_client: httpx.Client,
                              peer_registry: int, new_project: Factory) -> None:
    project = str(new_project()["name"])
    push_image(registry, f"{project}/keep", "v1")
    push_image(registry, f"{project}/keep", "dev-1")
    push_image(registry, f"{project}/other", "v1")
    # Exclusions alone select everything else on the shared server: a label (one filter per type)
    # keeps the run to this test's artifacts, so the exclusions are what is judged.
    label = unique("scope")
    r = api.post("/labels", json={"name": label, "scope": "g", "color": "#48960C"})
    assert r.status_code == 201, r.text
    label_id = int(r.headers["location"].rsplit("/", 1)[1])
    for repo, tag in (("keep", "v1"), ("keep", "dev-1"), ("other", "v1")):
        r = api.post(f"/projects/{project}/repositories/{repo}/artifacts/{tag}/labels", json={"id": label_id})
        assert r.status_code == 200, r.text
    policy_id = create_policy(api, policy_body(dest=peer_registry, filters=[
        {"type": "name", "value": f"{project}/other", "decoration": "excludes"},
        {"type": "tag", "value": "dev-*", "decoration": "excludes"},
        {"type": "label", "value": [label]}]))
    run = wait_execution(api, start_run(api, policy_id))
    assert run["status"] == "Succeed", run
    assert remote_tags(peer_client, f"{project}/keep") == ["v1"]
    assert remote_tags(peer_client, f"{project}/other") == []
    assert [t["src_resource"] for t in tasks_of(api, run["id"])] == [f"{project}/keep:[v1]"]


def test_label_filter(api: httpx.Client, registry: httpx.Client, peer_client: httpx.Client,
                      peer_registry: int, new_project: Factory) -> None:
    project = str(new_project()["name"])
    push_image(registry, f"{project}/labelled", "v1")
    push_image(registry, f"{project}/plain", "v1")
    label = unique("label")
    r = api.post("/labels", json={"name": label, "scope": "g", "color": "#48960C"})
    assert r.status_code == 201, r.text
    label_id = int(r.headers["location"].rsplit("/", 1)[1])
    r = api.post(f"/projects/{project}/repositories/labelled/artifacts/v1/labels", json={"id": label_id})
    assert r.status_code == 200, r.text
    run = push_run(api, peer_registry, project, filters=[{"type": "label", "value": [label]}])
    assert run["status"] == "Succeed", run
    assert remote_tags(peer_client, f"{project}/labelled") == ["v1"]
    assert remote_tags(peer_client, f"{project}/plain") == []


def test_resource_filter_keeps_images_only(api: httpx.Client, registry: httpx.Client, peer_client: httpx.Client,
                                           peer_registry: int, new_project: Factory) -> None:
    project = str(new_project()["name"])
    push_image(registry, f"{project}/image", "v1")
    config = json.dumps({"chart": unique()}).encode()
    layer = os.urandom(128)
    push_blob(registry, f"{project}/chart", config)
    push_blob(registry, f"{project}/chart", layer)
    body = json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                       "config": descriptor("application/vnd.cncf.helm.config.v1+json", config),
                       "layers": [descriptor("application/vnd.cncf.helm.chart.content.v1.tar+gzip", layer)]}
                      ).encode()
    assert put_manifest(registry, f"{project}/chart", "1.0", body).status_code == 201
    images = push_run(api, peer_registry, project, filters=[{"type": "resource", "value": "image"}])
    assert images["status"] == "Succeed" and images["total"] == 1
    assert remote_tags(peer_client, f"{project}/image") == ["v1"]
    assert remote_tags(peer_client, f"{project}/chart") == []
    everything = push_run(api, peer_registry, project, filters=[{"type": "resource", "value": "artifact"}])
    assert everything["status"] == "Succeed" and everything["total"] == 2
    assert remote_digest(peer_client, f"{project}/chart", "1.0") == sha256(body)
    kinds = sorted(t["resource_type"] for t in tasks_of(api, everything["id"]))
    assert kinds == ["artifact", "image"]
    assert [t["resource_type"] for t in tasks_of(api, everything["id"], resource_type="artifact")] == ["artifact"]


def test_executions_list_filters_by_policy_status_and_trigger(api: httpx.Client, registry: httpx.Client,
                                                               peer_registry: int,
                                                               new_project: Factory) -> None:
    project = str(new_project()["name"])
    push_image(registry, f"{project}/app", "v1")
    policy_id = create_policy(api, policy_body(dest=peer_registry, filters=[{"type": "name",
                                                                             "value": f"{project}/**"}]))
    first = wait_execution(api, start_run(api, policy_id))
    second = wait_execution(api, start_run(api, policy_id))
    r = api.get("/replication/executions", params={"policy_id": policy_id})
    assert r.status_code == 200 and r.headers["x-total-count"] == "2"
    assert [e["id"] for e in r.json()] == [second["id"], first["id"]]
    assert all(e["policy_id"] == policy_id for e in r.json())
    assert len(api.get("/replication/executions", params={"policy_id": policy_id, "status": "Succeed",
                                                          "trigger": "manual"}).json()) == 2
    assert api.get("/replication/executions", params={"policy_id": policy_id, "status": "Failed"}).json() == []
    assert api.get("/replication/executions", params={"policy_id": policy_id,
                                                      "trigger": "scheduled"}).json() == []
    assert api.get("/replication/executions", params={"status": "Nope"}).status_code == 400


def test_disabled_policy_cannot_run(api: httpx.Client, peer_registry: int) -> None:
    policy_id = create_policy(api, policy_body(dest=peer_registry, enabled=False))
    r = api.post("/replication/executions", json={"policy_id": policy_id})
    assert r.status_code == 400 and "disabled" in r.text


def test_unknown_execution_and_task_are_404(api: httpx.Client) -> None:
    assert api.get("/replication/executions/987654").status_code == 404
    assert api.get("/replication/executions/987654/tasks").status_code == 404
    assert api.get("/replication/executions/987654/tasks/1/log").status_code == 404
    assert api.post("/replication/executions", json={"policy_id": 987654}).status_code == 404


def test_finished_run_notifies_replication_webhooks(api: httpx.Client, registry: httpx.Client,
                                                    peer: Server, peer_registry: int, new_project: Factory,
                                                    receiver: Receiver) -> None:  # noqa: F811
    project = new_project()
    name = str(project["name"])
    push_image(registry, f"{name}/app", "v1")
    r = api.post(f"/projects/{name}/webhook/policies", json={
        "name": unique("hook"), "enabled": True, "event_types": ["REPLICATION"],
        "targets": [{"type": "http", "address": receiver.url, "skip_cert_verify": False}]})
    assert r.status_code == 201, r.text
    run = push_run(api, peer_registry, name)
    assert run["status"] == "Succeed"
    [delivery] = receiver.wait(1)
    payload = delivery.json()
    assert payload["type"] == "REPLICATION" and payload["operator"] == "admin"
    replication = payload["event_data"]["replication"]
    assert replication["job_status"] == "Success" and replication["trigger_type"] == "MANUAL"
    assert replication["src_resource"]["namespace"] == name
    assert replication["dest_resource"]["endpoint"] == peer.url
    assert replication["successful_artifact"] == [{"type": "image", "status": "Success",
                                                   "name_tag": f"{name}/app:[v1]"}]
    assert replication["failed_artifact"] == []


def test_pull_based_resource_filter_reads_remote_config_types(api: httpx.Client, registry: httpx.Client,
                                                              peer_client: httpx.Client, peer_registry: int,
                                                              new_project: Factory) -> None:
    upstream = unique("upstream")
    push_image(peer_client, f"{upstream}/image", "v1")
    config, layer = json.dumps({"chart": unique()}).encode(), os.urandom(64)
    push_blob(peer_client, f"{upstream}/chart", config)
    push_blob(peer_client, f"{upstream}/chart", layer)
    chart = json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                        "config": descriptor("application/vnd.cncf.helm.config.v1+json", config),
                        "layers": [descriptor("application/vnd.cncf.helm.chart.content.v1.tar+gzip", layer)]}
                       ).encode()
    assert put_manifest(peer_client, f"{upstream}/chart", "1.0", chart).status_code == 201
    project = str(new_project()["name"])
    policy_id = create_policy(api, policy_body(src=peer_registry, dest_namespace=project, filters=[
        {"type": "name", "value": f"{upstream}/**"}, {"type": "resource", "value": "image"}]))
    run = wait_execution(api, start_run(api, policy_id))
    assert (run["status"], run["total"]) == ("Succeed", 1), run
    assert registry.head(f"/v2/{project}/image/manifests/v1", headers={"Accept": OCI_MANIFEST}).status_code == 200
    assert registry.head(f"/v2/{project}/chart/manifests/1.0", headers={"Accept": OCI_MANIFEST}).status_code == 404


def test_unreachable_source_fails_the_run_with_the_reason(api: httpx.Client) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}"  # bound, not listening: connections are refused
        registry_id = create_registry(api, dead)
        policy_id = create_policy(api, policy_body(src=registry_id, dest_namespace=unique("proj")))
        run = wait_execution(api, start_run(api, policy_id))
    assert (run["status"], run["total"]) == ("Failed", 0), run
    assert run["status_text"].startswith("listing the source failed:")


def test_only_the_newest_executions_are_kept(tmp_path: Path, peer: Server, backend: str) -> None:
    sqlite_only(backend)
    with start_moorage(tmp_path, extra_env={"MOORAGE_REPLICATION__EXECUTION_RETENTION": "2"}) as server, \
            httpx.Client(base_url=f"{server.url}/api/v2.0", auth=ADMIN, timeout=60) as own:
        policy_id = create_policy(own, policy_body(dest=create_registry(own, peer.url),
                                                   filters=[{"type": "name", "value": "nothing/**"}]))
        runs = [wait_execution(own, start_run(own, policy_id))["id"] for _ in range(3)]
        r = own.get("/replication/executions", params={"policy_id": policy_id})
        assert [e["id"] for e in r.json()] == runs[:0:-1]
        assert own.get(f"/replication/executions/{runs[0]}").status_code == 404

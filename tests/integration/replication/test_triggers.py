"""What starts a replication run besides the API: a cron schedule (six fields, seconds
first), a push to Moorage (event-based), a deletion (deletion sync), and what
``single_active_replication`` does to a second run."""

from __future__ import annotations

import json

import httpx

from tests.common.oci import (
    OCI_EMPTY,
    OCI_MANIFEST,
    descriptor,
    image_manifest,
    push_blob,
    push_image,
    put_manifest,
    sha256,
)
from tests.integration.replication.conftest import (
    BIG,
    SLOW,
    Factory,
    create_policy,
    executions_of,
    name_filter,
    policy_body,
    remote_digest,
    remote_tags,
    start_run,
    tasks_of,
    wait_execution,
    wait_for,
)

EMPTY = b"{}"


def test_scheduled_policy_runs_on_its_cron(api: httpx.Client, registry: httpx.Client,
                                           peer_client: httpx.Client, peer_registry: int,
                                           new_project: Factory) -> None:
    project = str(new_project()["name"])
    push_image(registry, f"{project}/app", "v1")
    body = policy_body(dest=peer_registry, filters=name_filter(project),
                       trigger={"type": "scheduled", "trigger_settings": {"cron": "*/2 * * * * *"}})
    policy_id = create_policy(api, body)
    try:
        run = wait_for(lambda: [e for e in executions_of(api, policy_id) if e["status"] == "Succeed"],
                       timeout=30, what="a scheduled run")[0]
    finally:
        assert api.put(f"/replication/policies/{policy_id}", json={**body, "enabled": False}).status_code == 200
    assert run["trigger"] == "scheduled"
    assert remote_tags(peer_client, f"{project}/app") == ["v1"]


def test_push_replicates_through_event_based_policy(api: httpx.Client, registry: httpx.Client,
                                                    peer_client: httpx.Client, peer_registry: int,
                                                    new_project: Factory) -> None:
    project = str(new_project()["name"])
    policy_id = create_policy(api, policy_body(
        dest=peer_registry, trigger={"type": "event_based"},
        filters=[*name_filter(project), {"type": "tag", "value": "release-*"}]))
    digest = push_image(registry, f"{project}/app", "release-1")
    push_image(registry, f"{project}/app", "dev")
    wait_for(lambda: remote_digest(peer_client, f"{project}/app", "release-1") == digest, what="the replica")
    runs = wait_for(lambda: [e for e in executions_of(api, policy_id) if e["status"] == "Succeed"],
                    what="the event-based run")
    assert len(executions_of(api, policy_id)) == 1  # the push of "dev" is not selected by the tag filter
    assert runs[0]["trigger"] == "event_based" and runs[0]["total"] == 1
    [task] = tasks_of(api, runs[0]["id"])
    assert task["src_resource"] == f"{project}/app:[release-1]"
    assert remote_tags(peer_client, f"{project}/app") == ["release-1"]


def test_deletion_is_replicated_when_enabled(api: httpx.Client, registry: httpx.Client,
                                             peer_client: httpx.Client, peer_registry: int,
                                             new_project: Factory) -> None:
    project = str(new_project()["name"])
    policy_id = create_policy(api, policy_body(dest=peer_registry, trigger={"type": "event_based"},
                                               replicate_deletion=True, filters=name_filter(project)))
    digest = push_image(registry, f"{project}/app", "v1")
    wait_for(lambda: remote_digest(peer_client, f"{project}/app", digest) == digest, what="the replica")
    r = api.delete(f"/projects/{project}/repositories/app/artifacts/{digest}")
    assert r.status_code == 200, r.text
    wait_for(lambda: remote_digest(peer_client, f"{project}/app", digest) is None, what="the deletion")
    deletions = [t for e in executions_of(api, policy_id) for t in tasks_of(api, e["id"])
                 if t["operation"] == "deletion"]
    assert len(deletions) == 1 and deletions[0]["status"] == "Succeed"
    assert deletions[0]["dst_resource"] == f"{project}/app:[v1]"  # the deleted artifact had tag v1


def test_deletion_is_not_replicated_when_disabled(api: httpx.Client, registry: httpx.Client,
                                                  peer_client: httpx.Client, peer_registry: int,
                                                  new_project: Factory) -> None:
    project = str(new_project()["name"])
    policy_id = create_policy(api, policy_body(dest=peer_registry, trigger={"type": "event_based"},
                                               filters=name_filter(project)))
    digest = push_image(registry, f"{project}/app", "v1")
    wait_for(lambda: remote_digest(peer_client, f"{project}/app", digest) == digest, what="the replica")
    assert api.delete(f"/projects/{project}/repositories/app/artifacts/{digest}").status_code == 200
    marker = push_image(registry, f"{project}/marker", "v1")  # events are handled in order
    wait_for(lambda: remote_digest(peer_client, f"{project}/marker", "v1") == marker, what="the marker")
    assert remote_digest(peer_client, f"{project}/app", digest) == digest
    assert all(t["operation"] == "copy" for e in executions_of(api, policy_id) for t in tasks_of(api, e["id"]))


def test_single_active_replication_refuses_a_second_run(api: httpx.Client, registry: httpx.Client,
                                                        peer_registry: int,
                                                        new_project: Factory) -> None:
    project = str(new_project()["name"])
    push_image(registry, f"{project}/big", "v1", layer=BIG())
    body = policy_body(dest=peer_registry, filters=name_filter(project), speed=SLOW, single_active_replication=True)
    policy_id = create_policy(api, body)
    first = start_run(api, policy_id)
    r = api.post("/replication/executions", json={"policy_id": policy_id})
    assert r.status_code == 409, r.text
    assert api.put(f"/replication/executions/{first}", json={}).status_code == 200
    assert wait_execution(api, first)["status"] == "Stopped"
    wait_execution(api, start_run(api, policy_id), until=("InProgress", "Succeed", "Failed", "Stopped"))


def test_without_single_active_replication_runs_overlap(api: httpx.Client, registry: httpx.Client,
                                                        peer_registry: int,
                                                        new_project: Factory) -> None:
    project = str(new_project()["name"])
    push_image(registry, f"{project}/big", "v1", layer=BIG())
    policy_id = create_policy(api, policy_body(dest=peer_registry, filters=name_filter(project), speed=SLOW))
    first = start_run(api, policy_id)
    second = start_run(api, policy_id)
    for execution_id in (first, second):
        assert api.put(f"/replication/executions/{execution_id}", json={}).status_code == 200
        assert wait_execution(api, execution_id)["status"] == "Stopped"


def test_push_by_digest_is_left_to_manual_runs(api: httpx.Client, registry: httpx.Client,
                                               peer_registry: int, new_project: Factory) -> None:
    project = str(new_project()["name"])
    policy_id = create_policy(api, policy_body(dest=peer_registry, trigger={"type": "event_based"},
                                               filters=name_filter(project)))
    body = image_manifest(registry, f"{project}/app")
    assert put_manifest(registry, f"{project}/app", sha256(body), body).status_code == 201
    push_image(registry, f"{project}/marker", "v1")  # events are handled in order
    runs = wait_for(lambda: executions_of(api, policy_id), what="the marker's run")
    assert [t["src_resource"] for e in runs for t in tasks_of(api, e["id"])] == [f"{project}/marker:[v1]"]


def test_referrer_pushed_later_follows_its_subject(api: httpx.Client, registry: httpx.Client,
                                                   peer_client: httpx.Client, peer_registry: int,
                                                   new_project: Factory) -> None:
    project = str(new_project()["name"])
    create_policy(api, policy_body(dest=peer_registry, trigger={"type": "event_based"},
                                   filters=[*name_filter(project), {"type": "tag", "value": "v*"}]))
    subject = push_image(registry, f"{project}/app", "v1")
    wait_for(lambda: remote_digest(peer_client, f"{project}/app", "v1") == subject, what="the subject")
    payload = b'{"signed": true}'
    push_blob(registry, f"{project}/app", payload)
    push_blob(registry, f"{project}/app", EMPTY)
    signature = json.dumps({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST, "artifactType": "application/vnd.example.signature",
        "config": descriptor(OCI_EMPTY, EMPTY), "layers": [descriptor("application/octet-stream", payload)],
        "subject": {"mediaType": OCI_MANIFEST, "digest": subject,
                    "size": len(registry.get(f"/v2/{project}/app/manifests/v1",
                                             headers={"Accept": OCI_MANIFEST}).content)}}).encode()
    assert put_manifest(registry, f"{project}/app", sha256(signature), signature).status_code == 201
    wait_for(lambda: remote_digest(peer_client, f"{project}/app", sha256(signature)) == sha256(signature),
             what="the signature at the peer")


def test_single_active_replication_skips_events_while_a_run_is_active(api: httpx.Client, registry: httpx.Client,
                                                                      peer_registry: int,
                                                                      new_project: Factory) -> None:
    project = str(new_project()["name"])
    policy_id = create_policy(api, policy_body(dest=peer_registry, trigger={"type": "event_based"}, speed=SLOW,
                                               single_active_replication=True, filters=name_filter(project)))
    push_image(registry, f"{project}/big", "v1", layer=BIG())
    [first] = wait_for(lambda: executions_of(api, policy_id), what="the first event-based run")
    push_image(registry, f"{project}/small", "v1")
    marker_policy = create_policy(api, policy_body(dest=peer_registry, trigger={"type": "event_based"},
                                                   filters=[{"type": "name", "value": f"{project}/marker"}]))
    push_image(registry, f"{project}/marker", "v1")  # events are handled in order
    wait_for(lambda: executions_of(api, marker_policy), what="the marker's run")
    assert [e["id"] for e in executions_of(api, policy_id)] == [first["id"]]
    assert api.put(f"/replication/executions/{first['id']}", json={}).status_code == 200
    assert wait_execution(api, first["id"])["status"] == "Stopped"

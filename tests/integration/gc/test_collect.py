"""What a collection frees, over HTTP on every backend (filesystem and S3): blobs of deleted
artifacts and repositories (quota given back at delete time, bytes at GC), untagged artifacts,
abandoned uploads; what it keeps: everything a remaining image needs and fresh uploads; and a
dry run that changes nothing."""

from __future__ import annotations

import json
import os
import uuid
from typing import Any

import httpx

from tests.common.databases import server_sql
from tests.common.oci import OCI_INDEX, push_blob, push_image, put_manifest, sha256
from tests.common.servers import ADMIN, Server
from tests.integration.gc.conftest import OwnServer, RunGc, start_gc, wait_gc


def new_project(api: httpx.Client) -> tuple[str, int]:
    name = f"gc{uuid.uuid4().hex[:10]}"
    assert api.post("/projects", json={"project_name": name, "metadata": {"public": "false"}}).status_code == 201
    return name, int(api.get(f"/projects/{name}", headers={"X-Is-Resource-Name": "true"}).json()["project_id"])


def used(api: httpx.Client, project_id: int) -> int:
    return int(api.get(f"/quotas/{project_id}").json()["used"]["storage"])


def age_blobs(server: Server) -> None:
    """Let time pass for every blob (their time window is over), as hours would."""
    if "MOORAGE_DATABASE__URL" in server.env:
        server_sql(server, "UPDATE blobs SET touched_at = touched_at - interval '1 day'")
    else:
        server_sql(server, "UPDATE blobs SET touched_at = '2000-01-01 00:00:00.000000'")


def image_blobs(client: httpx.Client, repo: str, reference: str) -> list[str]:
    manifest = client.get(f"/v2/{repo}/manifests/{reference}").json()
    return [manifest["config"]["digest"]] + [layer["digest"] for layer in manifest["layers"]]


def pulls_completely(client: httpx.Client, repo: str, reference: str) -> bool:
    """The manifest and every blob it names download with the right digest."""
    r = client.get(f"/v2/{repo}/manifests/{reference}")
    if r.status_code != 200:
        return False
    manifest = r.json()
    for desc in [manifest["config"], *manifest["layers"]]:
        blob = client.get(f"/v2/{repo}/blobs/{desc['digest']}", follow_redirects=True)
        if blob.status_code != 200 or sha256(blob.content) != desc["digest"]:
            return False
    return True


def test_blobs_of_a_deleted_artifact_are_freed_in_storage(moorage: Server, client: httpx.Client, api: httpx.Client,
                                                           run_gc: RunGc) -> None:
    project, project_id = new_project(api)
    shared = os.urandom(2048)
    gone = push_image(client, f"{project}/app", "old", layer=shared + b"!")
    push_image(client, f"{project}/app", "new", layer=shared)
    doomed = image_blobs(client, f"{project}/app", gone)
    sizes = [len(client.get(f"/v2/{project}/app/blobs/{d}").content) for d in doomed]
    before = used(api, project_id)
    age_blobs(moorage)
    assert api.delete(f"/projects/{project}/repositories/app/artifacts/{gone}").status_code == 200
    assert used(api, project_id) == before - sum(sizes)  # at once, as Harbor recounts after a delete
    assert all(moorage.stored_blob_paths(d) for d in doomed)  # bytes stay until GC
    done = run_gc(time_window=0)
    assert done["job_status"] == "Success" and done["extra"]["deleted_blobs"] >= 2
    assert all(moorage.stored_blob_paths(d) == [] for d in doomed)
    assert all(client.get(f"/v2/{project}/app/blobs/{d}").status_code == 404 for d in doomed)
    assert pulls_completely(client, f"{project}/app", "new")
    assert used(api, project_id) == before - sum(sizes)


def test_v2_manifest_delete_and_repository_delete_free_quota_after_the_window(
        moorage: Server, client: httpx.Client, api: httpx.Client, run_gc: RunGc) -> None:
    project, project_id = new_project(api)
    first = push_image(client, f"{project}/one", "v1")
    blobs = image_blobs(client, f"{project}/one", first)
    kept = used(api, project_id)
    assert client.delete(f"/v2/{project}/one/manifests/{first}").status_code == 202
    assert used(api, project_id) == kept  # pushed within the time window: a push in flight may still need them
    second = push_image(client, f"{project}/one", "v1")
    push_image(client, f"{project}/two", "v1")
    blobs += image_blobs(client, f"{project}/one", second) + image_blobs(client, f"{project}/two", "v1")
    age_blobs(moorage)
    assert client.delete(f"/v2/{project}/one/manifests/{second}").status_code == 202
    assert api.delete(f"/projects/{project}/repositories/two").status_code == 200
    assert used(api, project_id) == kept  # only the first image's blobs, which GC unlinks
    done = run_gc(time_window=0)
    assert used(api, project_id) == 0 and done["extra"]["deleted_blobs"] >= 6
    assert all(moorage.stored_blob_paths(d) == [] for d in blobs)


def test_a_dry_run_reports_and_changes_nothing(moorage: Server, client: httpx.Client, run_gc: RunGc) -> None:
    repo = f"library/dry{uuid.uuid4().hex[:8]}"
    lone = push_blob(client, repo, os.urandom(1000))
    done = run_gc(time_window=0, dry_run=True)
    assert done["extra"]["deleted_blobs"] >= 1 and done["extra"]["freed_bytes"] >= 1000
    assert "eligible for deletion" in done["log"] and "nothing was changed" in done["log"]
    assert moorage.stored_blob_paths(lone) and client.head(f"/v2/{repo}/blobs/{lone}").status_code == 200


def test_the_time_window_protects_fresh_uploads(moorage: Server, client: httpx.Client, run_gc: RunGc) -> None:
    repo = f"library/fresh{uuid.uuid4().hex[:8]}"
    lone = push_blob(client, repo, os.urandom(500))
    run_gc(time_window=1)
    assert moorage.stored_blob_paths(lone) and client.head(f"/v2/{repo}/blobs/{lone}").status_code == 200
    run_gc(time_window=0)
    assert moorage.stored_blob_paths(lone) == [] and client.head(f"/v2/{repo}/blobs/{lone}").status_code == 404


def test_abandoned_uploads_are_purged(moorage: Server, client: httpx.Client, run_gc: RunGc) -> None:
    repo = f"library/up{uuid.uuid4().hex[:8]}"
    started = client.post(f"/v2/{repo}/blobs/uploads/")
    assert started.status_code == 202
    location = started.headers["location"]
    assert client.patch(location, content=b"x" * 100, headers={"Content-Type": "application/octet-stream"}
                        ).status_code == 202
    upload_id = location.rstrip("/").rsplit("/", 1)[1].split("?")[0]
    server_sql(moorage, "UPDATE uploads SET updated_at = created_at - interval '3 days' WHERE id = $1"
               if "MOORAGE_DATABASE__URL" in moorage.env else
               "UPDATE uploads SET updated_at = '2000-01-01 00:00:00' WHERE id = $1", upload_id)
    done = run_gc(time_window=1)
    assert done["extra"]["purged_uploads"] >= 1
    assert client.get(location).status_code == 404


def test_untagged_artifacts_are_deleted_with_their_blobs(own_server: OwnServer) -> None:
    # a server of its own: deleting every untagged artifact must not touch other tests' data
    with own_server() as server, httpx.Client(base_url=server.url, auth=ADMIN, timeout=60) as client, \
            httpx.Client(base_url=f"{server.url}/api/v2.0", auth=ADMIN, timeout=60) as api:
        repo = "library/untagged"
        kept = push_image(client, repo, "stable")
        loose = [push_image(client, repo, "tmp") for _ in range(3)]  # each push moves the tag: two go untagged
        child = push_image(client, repo, "child")
        index = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [
            {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": child, "size": 1}]}).encode()
        assert put_manifest(client, repo, "multi", index, OCI_INDEX).status_code == 201
        assert client.delete(f"/v2/{repo}/manifests/child").status_code == 202  # untagged, but an index lists it
        orphaned = image_blobs(client, repo, loose[0]) + image_blobs(client, repo, loose[1])
        done = wait_gc(api, start_gc(api, time_window=0, delete_untagged=True))
        extra: dict[str, Any] = json.loads(done["job_parameters"])
        assert done["job_status"] == "Success" and extra["deleted_manifests"] == 2
        assert [client.get(f"/v2/{repo}/manifests/{d}").status_code for d in loose] == [404, 404, 200]
        assert all(pulls_completely(client, repo, ref) for ref in (kept, child, loose[2]))
        assert all(server.stored_blob_paths(d) == [] for d in orphaned)

"""Replication with a second Moorage as the peer (endpoint type ``harbor``, the admin's
credentials through the token flow), both ways: push-based creates the destination project
on the peer, pull-based lists the peer's catalog."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.common.oci import OCI_MANIFEST, push_image
from tests.common.servers import ADMIN, Server, start_moorage
from tests.integration.replication.conftest import (
    create_policy,
    policy_body,
    sqlite_only,
    start_run,
    unique,
    wait_execution,
)


@pytest.fixture(scope="module")
def other(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A second Moorage (SQLite); the tests run once, on the sqlite backend."""
    sqlite_only(backend)
    with start_moorage(tmp_path_factory.mktemp("other-moorage")) as server:
        yield server


@pytest.fixture
def other_registry(api: httpx.Client, other: Server) -> int:
    body = {"name": unique("moorage"), "type": "harbor", "url": other.url, "insecure": False,
            "credential": {"type": "basic", "access_key": ADMIN[0], "access_secret": ADMIN[1]}}
    r = api.post("/registries", json=body)
    assert r.status_code == 201, r.text
    return int(r.headers["location"].rsplit("/", 1)[1])


def test_push_to_another_moorage_creates_the_project(api: httpx.Client, moorage: Server, other: Server,
                                                     other_registry: int) -> None:
    project = unique("pushed")
    assert api.post("/projects", json={"project_name": project, "metadata": {"public": "false"}}
                    ).status_code == 201
    with httpx.Client(base_url=moorage.url, auth=ADMIN, timeout=60) as local:
        digest = push_image(local, f"{project}/app", "v1")
    policy_id = create_policy(api, policy_body(dest=other_registry,
                                               filters=[{"type": "name", "value": f"{project}/**"}]))
    run = wait_execution(api, start_run(api, policy_id))
    assert run["status"] == "Succeed", run
    with httpx.Client(base_url=other.url, auth=ADMIN, timeout=60) as remote:
        r = remote.head(f"/v2/{project}/app/manifests/v1", headers={"Accept": OCI_MANIFEST})
        assert r.status_code == 200 and r.headers["docker-content-digest"] == digest
        created = remote.get(f"/api/v2.0/projects/{project}", headers={"X-Is-Resource-Name": "true"})
        assert created.status_code == 200 and created.json()["metadata"]["public"] == "false"


def test_pull_from_another_moorage(api: httpx.Client, moorage: Server, other: Server, other_registry: int) -> None:
    project = unique("upstream")
    with httpx.Client(base_url=other.url, auth=ADMIN, timeout=60) as remote:
        assert remote.post("/api/v2.0/projects", json={"project_name": project, "metadata": {"public": "false"}}
                           ).status_code == 201
        digest = push_image(remote, f"{project}/tools/app", "2.0")
    local_project = unique("pulled")
    policy_id = create_policy(api, policy_body(src=other_registry, dest_namespace=local_project,
                                               dest_namespace_replace_count=1,
                                               filters=[{"type": "name", "value": f"{project}/**"}]))
    run = wait_execution(api, start_run(api, policy_id))
    assert run["status"] == "Succeed", run
    with httpx.Client(base_url=moorage.url, auth=ADMIN, timeout=60) as local:
        r = local.head(f"/v2/{local_project}/tools/app/manifests/2.0", headers={"Accept": OCI_MANIFEST})
        assert r.status_code == 200 and r.headers["docker-content-digest"] == digest

"""What the replication tests share: a real peer (Debian's docker-registry, distribution 2.8)
registered as a ``docker-registry`` endpoint, policies in Harbor's shape created through the
API, starting runs and waiting for them, and reading the peer over its /v2 API."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from tests.common.servers import ADMIN, Server, start_reference_registry
from tests.integration.api.conftest import PASSWORD, api, as_user, new_project, new_user  # noqa: F401

FINAL = ("Succeed", "Failed", "Stopped")
SLOW = 256  # KiB/s: a policy speed that keeps a BIG() blob copying for about 40 s


def BIG() -> bytes:  # noqa: N802 - reads as a constant
    """A layer larger than the copy chunk size (10 MiB), so the policy's speed applies to it."""
    return os.urandom(11 * 1024 * 1024)


def unique(prefix: str = "rep") -> str:
    return f"{prefix}{uuid.uuid4().hex[:10]}"


def sqlite_only(backend: str) -> None:
    """Multi-server runs: the metadata backend does not change what they test."""
    if backend != "sqlite":
        pytest.skip("multi-server replication runs are exercised on sqlite only")


@pytest.fixture(scope="session")
def peer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """Debian's docker-registry, no auth: the remote side of most policies."""
    with start_reference_registry(tmp_path_factory.mktemp("replication-peer")) as server:
        yield server


@pytest.fixture
def peer_client(peer: Server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=peer.url, timeout=30) as c:
        yield c


def create_registry(api: httpx.Client, url: str, kind: str = "docker-registry") -> int:  # noqa: F811
    body = {"name": unique("reg"), "type": kind, "url": url, "insecure": False,
            "credential": {"type": "basic", "access_key": "", "access_secret": ""}}
    r = api.post("/registries", json=body)
    assert r.status_code == 201, r.text
    return int(r.headers["location"].rsplit("/", 1)[1])


@pytest.fixture(scope="session")
def peer_registry_ids() -> dict[str, int]:
    return {}


@pytest.fixture
def peer_registry(api: httpx.Client, peer: Server, moorage: Server,  # noqa: F811
                  peer_registry_ids: dict[str, int]) -> int:
    """The peer's endpoint id on this Moorage (created once per server)."""
    if moorage.host not in peer_registry_ids:
        peer_registry_ids[moorage.host] = create_registry(api, peer.url)
    return peer_registry_ids[moorage.host]


def policy_body(*, dest: int | None = None, src: int | None = None, **fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"name": unique("policy"), "description": "test", "override": True, "enabled": True,
                            "trigger": {"type": "manual", "trigger_settings": {"cron": ""}}, "filters": [],
                            "dest_namespace": "", "dest_namespace_replace_count": -1, **fields}
    if dest is not None:
        body["dest_registry"] = {"id": dest}
    if src is not None:
        body["src_registry"] = {"id": src}
    return body


def create_policy(api: httpx.Client, body: dict[str, Any]) -> int:  # noqa: F811
    r = api.post("/replication/policies", json=body)
    assert r.status_code == 201, r.text
    return int(r.headers["location"].rsplit("/", 1)[1])


def start_run(api: httpx.Client, policy_id: int) -> int:  # noqa: F811
    r = api.post("/replication/executions", json={"policy_id": policy_id})
    assert r.status_code == 201, r.text
    return int(r.headers["location"].rsplit("/", 1)[1])


def wait_execution(api: httpx.Client, execution_id: int, timeout: float = 60,  # noqa: F811
                   until: tuple[str, ...] = FINAL) -> dict[str, Any]:
    """The execution once its status is one of ``until`` (a finished one by default)."""
    deadline = time.monotonic() + timeout
    while True:
        r = api.get(f"/replication/executions/{execution_id}")
        assert r.status_code == 200, r.text
        if r.json()["status"] in until:
            return dict(r.json())
        assert time.monotonic() < deadline, f"execution {execution_id} still {r.json()}"
        time.sleep(0.2)


def executions_of(api: httpx.Client, policy_id: int) -> list[dict[str, Any]]:  # noqa: F811
    r = api.get("/replication/executions", params={"policy_id": policy_id, "page_size": 100})
    assert r.status_code == 200, r.text
    return list(r.json())


def wait_for(predicate: Callable[[], Any], timeout: float = 60, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.25)


def tasks_of(api: httpx.Client, execution_id: int, **params: Any) -> list[dict[str, Any]]:  # noqa: F811
    r = api.get(f"/replication/executions/{execution_id}/tasks", params={"page_size": 100, **params})
    assert r.status_code == 200, r.text
    return list(r.json())


def remote_tags(client: httpx.Client, repository: str) -> list[str]:
    r = client.get(f"/v2/{repository}/tags/list")
    if r.status_code == 404:
        return []
    assert r.status_code == 200, r.text
    return sorted(r.json().get("tags") or [])


def remote_digest(client: httpx.Client, repository: str, reference: str) -> str | None:
    r = client.head(f"/v2/{repository}/manifests/{reference}", headers={
        "Accept": "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, "
                  "application/vnd.docker.distribution.manifest.v2+json"})
    return r.headers["docker-content-digest"] if r.status_code == 200 else None


Factory = Callable[..., dict[str, Any]]


@pytest.fixture
def registry(moorage: Server) -> Iterator[httpx.Client]:
    """Moorage's /v2 as the administrator."""
    with httpx.Client(base_url=moorage.url, auth=ADMIN, timeout=60) as c:
        yield c


def name_filter(project: str) -> list[dict[str, Any]]:
    """A name filter selecting every repository of ``project``."""
    return [{"type": "name", "value": f"{project}/**", "decoration": "matches"}]


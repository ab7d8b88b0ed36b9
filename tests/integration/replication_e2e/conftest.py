"""Multi-instance replication tests: helpers that drive Moorage's Harbor-compatible replication
API (``/registries``, ``/replication/policies``, ``/replication/executions``) on real
``moorage serve`` processes, and check what arrived at the peer over plain /v2.

These tests start their own servers (SQLite + filesystem: several servers per test, and the
peer's backend does not change what crosses the wire), so they are skipped when ``--backend``
names only other backends.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from tests.common.oci import OCI_INDEX, OCI_MANIFEST
from tests.common.servers import ADMIN, Server, start_moorage, start_reference_registry

T = TypeVar("T")
MANIFEST_ACCEPT = ", ".join([OCI_MANIFEST, OCI_INDEX, "application/vnd.docker.distribution.manifest.v2+json",
                             "application/vnd.docker.distribution.manifest.list.v2+json"])
FINAL = {"Succeed", "Failed", "Stopped"}
PASSWORD = "Peer12345"


@pytest.fixture(autouse=True)
def _sqlite_only(request: pytest.FixtureRequest) -> None:
    chosen = request.config.getoption("--backend") or [
        b for b in os.environ.get("MOORAGE_TEST_BACKENDS", "").split(",") if b]
    if chosen and "sqlite" not in chosen:
        pytest.skip("multi-instance replication runs on SQLite only: the backend does not change the wire flow")


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def wait_until(check: Callable[[], T | None], timeout: float, what: str, interval: float = 0.25) -> T:
    """Poll ``check`` until it returns something other than None/False; fail after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    last: object = None
    while True:
        try:
            result = check()
        except httpx.TransportError as exc:  # a peer restarting
            last = exc
        else:
            if result is not None and result is not False:
                return result
            last = result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")
        time.sleep(interval)


@dataclass
class Moorage:
    """One Moorage instance: the Harbor API (``api``, as admin) and /v2 (``v2``, Basic as admin)."""

    server: Server
    api: httpx.Client = field(init=False)
    v2: httpx.Client = field(init=False)

    def __post_init__(self) -> None:
        self.api = httpx.Client(base_url=f"{self.server.url}/api/v2.0", auth=ADMIN, timeout=60)
        self.v2 = httpx.Client(base_url=self.server.url, auth=ADMIN, timeout=120)

    def close(self) -> None:
        self.api.close()
        self.v2.close()

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def host(self) -> str:
        return self.server.host

    # ------------------------------------------------------------------ registries and policies

    def add_registry(self, peer_url: str, kind: str, credential: tuple[str, str] | None = None) -> int:
        body: dict[str, Any] = {"name": unique(kind), "type": kind, "url": peer_url, "insecure": True,
                                "description": "e2e peer"}
        if credential is not None:
            body["credential"] = {"type": "basic", "access_key": credential[0], "access_secret": credential[1]}
        r = self.api.post("/registries", json=body)
        assert r.status_code == 201, r.text
        return int(r.headers["location"].rstrip("/").rsplit("/", 1)[1])

    def add_policy(self, *, dest: int | None = None, src: int | None = None, trigger: str = "manual",
                   cron: str | None = None, filters: list[dict[str, Any]] | None = None, **fields: Any) -> int:
        """A replication policy; exactly one of ``dest`` (push-based) and ``src`` (pull-based)."""
        body: dict[str, Any] = {
            "name": unique("policy"), "description": "e2e",
            "trigger": {"type": trigger, "trigger_settings": {"cron": cron or ""}},
            "filters": filters or [], "replicate_deletion": False, "override": True, "enabled": True,
            "dest_namespace": "", **fields,
        }
        if dest is not None:
            body["dest_registry"] = {"id": dest}
        if src is not None:
            body["src_registry"] = {"id": src}
        r = self.api.post("/replication/policies", json=body)
        assert r.status_code == 201, r.text
        return int(r.headers["location"].rstrip("/").rsplit("/", 1)[1])

    def disable_policy(self, policy_id: int) -> None:
        current = self.api.get(f"/replication/policies/{policy_id}")
        assert current.status_code == 200, current.text
        r = self.api.put(f"/replication/policies/{policy_id}", json={**current.json(), "enabled": False})
        assert r.status_code == 200, r.text

    # ------------------------------------------------------------------ executions

    def start(self, policy_id: int) -> int:
        r = self.api.post("/replication/executions", json={"policy_id": policy_id})
        assert r.status_code == 201, r.text
        return int(r.headers["location"].rstrip("/").rsplit("/", 1)[1])

    def execution(self, execution_id: int) -> dict[str, Any]:
        r = self.api.get(f"/replication/executions/{execution_id}")
        assert r.status_code == 200, r.text
        return dict(r.json())

    def executions(self, policy_id: int) -> list[dict[str, Any]]:
        r = self.api.get("/replication/executions", params={"policy_id": policy_id, "page_size": 100})
        assert r.status_code == 200, r.text
        return list(r.json())

    def wait_execution(self, execution_id: int, timeout: float = 90) -> dict[str, Any]:
        def done() -> dict[str, Any] | None:
            execution = self.execution(execution_id)
            return execution if execution["status"] in FINAL else None
        return wait_until(done, timeout, f"execution {execution_id} to finish on {self.host}")

    def run(self, policy_id: int, timeout: float = 90) -> dict[str, Any]:
        """Start a manual execution of the policy and wait for it to end."""
        return self.wait_execution(self.start(policy_id), timeout)

    def tasks(self, execution_id: int) -> list[dict[str, Any]]:
        r = self.api.get(f"/replication/executions/{execution_id}/tasks", params={"page_size": 100})
        assert r.status_code == 200, r.text
        return list(r.json())

    def task_log(self, execution_id: int, task_id: int) -> str:
        r = self.api.get(f"/replication/executions/{execution_id}/tasks/{task_id}/log")
        assert r.status_code == 200, r.text
        return r.text

    def logs(self, execution_id: int) -> str:
        """Every task's log of an execution (for assertion messages and log checks)."""
        return "\n".join(f"--- task {t['id']} {t['src_resource']} {t['status']}\n"
                         + self.task_log(execution_id, t["id"]) for t in self.tasks(execution_id))

    def wait_for_execution_of(self, policy_id: int, timeout: float = 60,
                              predicate: Callable[[dict[str, Any]], bool] = lambda e: True) -> dict[str, Any]:
        """Wait for a finished execution of the policy that satisfies ``predicate``."""
        def found() -> dict[str, Any] | None:
            return next((e for e in self.executions(policy_id) if e["status"] in FINAL and predicate(e)), None)
        return wait_until(found, timeout, f"a finished execution of policy {policy_id} on {self.host}")

    # ------------------------------------------------------------------ projects and accounts

    def new_project(self, name: str | None = None) -> str:
        name = name or unique("proj")
        r = self.api.post("/projects", json={"project_name": name, "metadata": {"public": "false"}})
        assert r.status_code == 201, r.text
        return name

    def project_robot(self, project: str, *actions: str) -> tuple[str, str]:
        """A project robot with ``repository:<action>`` permissions; (name, secret)."""
        access = [{"resource": "repository", "action": a} for a in actions]
        r = self.api.post("/robots", json={"name": unique("repl"), "level": "project", "duration": -1,
                                           "permissions": [{"kind": "project", "namespace": project,
                                                            "access": access}]})
        assert r.status_code == 201, r.text
        return str(r.json()["name"]), str(r.json()["secret"])

    def project_user(self, project: str, role_id: int) -> tuple[str, str]:
        """A new non-admin user holding ``role_id`` (1 admin, 2 developer, 3 guest, 4 maintainer)."""
        name = unique("user")
        r = self.api.post("/users", json={"username": name, "email": f"{name}@example.com", "realname": name,
                                          "password": PASSWORD, "comment": ""})
        assert r.status_code == 201, r.text
        r = self.api.post(f"/projects/{project}/members",
                          json={"role_id": role_id, "member_user": {"username": name}},
                          headers={"X-Is-Resource-Name": "true"})
        assert r.status_code == 201, r.text
        return name, PASSWORD

    def delete_artifact(self, repository: str, reference: str) -> None:
        project, rest = repository.split("/", 1)
        r = self.api.delete(f"/projects/{project}/repositories/{rest.replace('/', '%252F')}/artifacts/{reference}")
        assert r.status_code == 200, r.text


# ---------------------------------------------------------------------- /v2 reads on any registry


def manifest_digest(client: httpx.Client, repository: str, reference: str) -> str | None:
    """The digest a registry serves for ``repository:reference`` (None when it has none)."""
    r = client.head(f"/v2/{repository}/manifests/{reference}", headers={"Accept": MANIFEST_ACCEPT})
    if r.status_code == 404:
        return None
    assert r.status_code == 200, (r.status_code, r.text)
    return str(r.headers["docker-content-digest"])


def tags(client: httpx.Client, repository: str) -> list[str]:
    r = client.get(f"/v2/{repository}/tags/list")
    if r.status_code == 404:
        return []
    assert r.status_code == 200, r.text
    return sorted(r.json().get("tags") or [])


def blob_present(client: httpx.Client, repository: str, digest: str) -> bool:
    r = client.head(f"/v2/{repository}/blobs/{digest}")
    assert r.status_code in (200, 404), (r.status_code, r.text)
    return r.status_code == 200


# ---------------------------------------------------------------------- servers


@pytest.fixture
def moorages(tmp_path: Path) -> Iterator[Callable[..., Moorage]]:
    """``moorages(name, **env)`` → a new Moorage instance (stopped at the end of the test)."""
    with ExitStack() as stack:
        def make(name: str, **env: str) -> Moorage:
            directory = tmp_path / name
            directory.mkdir()
            instance = Moorage(stack.enter_context(start_moorage(directory, extra_env=env)))
            stack.callback(instance.close)
            return instance
        yield make


@pytest.fixture
def reference(tmp_path: Path) -> Iterator[Server]:
    """Debian's docker-registry (distribution 2.8), no auth."""
    directory = tmp_path / "reference"
    directory.mkdir()
    with start_reference_registry(directory) as server:
        yield server


@pytest.fixture
def reference_v2(reference: Server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=reference.url, timeout=120) as client:
        yield client

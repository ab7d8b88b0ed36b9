"""What the proxy-cache tests share: an upstream (Debian's docker-registry) behind a counting,
switchable gate; a Moorage whose tag re-validation window is short and whose mirror project
is ``hub``; helpers to make proxy-cache projects through the API and to wait for the cache."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from tests.common.backends import backend_server
from tests.common.servers import ADMIN, Server, start_reference_registry
from tests.integration.proxy.gate import Gate, start_gate

CHECK_SECONDS = 2.0  # MOORAGE_PROXY__MANIFEST_CHECK_SECONDS of the server under test
MIRROR = "hub"  # MOORAGE_PROXY__MIRROR_PROJECT


def unique(prefix: str = "px") -> str:
    return f"{prefix}{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def upstream(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with start_reference_registry(tmp_path_factory.mktemp("upstream")) as server:
        yield server


@pytest.fixture(scope="module")
def gate(upstream: Server) -> Iterator[Gate]:
    with start_gate(upstream.host) as g:
        yield g


@pytest.fixture
def open_gate(gate: Gate) -> Iterator[Gate]:
    """The gate, passing requests through again after the test whatever it did."""
    gate.mode = "pass"
    yield gate
    gate.mode = "pass"


@pytest.fixture(scope="module")
def server(backend: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[Server]:
    endpoint = request.getfixturevalue("moto_endpoint") if backend == "scaled" else None
    env = {"MOORAGE_PROXY__MANIFEST_CHECK_SECONDS": str(CHECK_SECONDS), "MOORAGE_PROXY__MIRROR_PROJECT": MIRROR,
           "MOORAGE_PROXY__UPSTREAM_TIMEOUT_SECONDS": "5"}
    with backend_server(backend, tmp_path_factory.mktemp(f"proxy-{backend}"), endpoint, env) as s:
        yield s


@pytest.fixture
def admin(server: Server) -> Iterator[httpx.Client]:
    """The system administrator on the API of the server under test."""
    with httpx.Client(base_url=f"{server.url}/api/v2.0", auth=ADMIN, timeout=60) as c:
        yield c


@pytest.fixture
def v2(server: Server) -> Iterator[httpx.Client]:
    """Anonymous /v2 client of the server under test (proxy projects are public)."""
    with httpx.Client(base_url=server.url, timeout=60, follow_redirects=True) as c:
        yield c


@pytest.fixture
def up(upstream: Server) -> Iterator[httpx.Client]:
    """Straight to the upstream registry (to push what the cache will fetch)."""
    with httpx.Client(base_url=upstream.url, timeout=60) as c:
        yield c


def create_endpoint(admin: httpx.Client, url: str, kind: str = "docker-registry", username: str = "",
                    password: str = "") -> int:
    r = admin.post("/registries", json={"name": unique("ep"), "type": kind, "url": url, "insecure": False,
                                        "credential": {"type": "basic", "access_key": username,
                                                       "access_secret": password}})
    assert r.status_code == 201, r.text
    return int(r.headers["location"].rsplit("/", 1)[1])


def create_proxy_project(admin: httpx.Client, url: str, name: str | None = None, *, kind: str = "docker-registry",
                         username: str = "", password: str = "", storage_limit: int | None = None,
                         **metadata: str) -> str:
    """A public proxy-cache project of an endpoint at ``url``; returns its name."""
    name = name or unique()
    body: dict[str, Any] = {"project_name": name, "registry_id": create_endpoint(admin, url, kind, username, password),
                            "metadata": {"public": "true", **metadata}}
    if storage_limit is not None:
        body["storage_limit"] = storage_limit
    r = admin.post("/projects", json=body)
    assert r.status_code == 201, r.text
    return name


def artifact_path(project: str, repository: str, reference: str) -> str:
    return f"/projects/{project}/repositories/{quote(quote(repository, safe=''), safe='')}/artifacts/{reference}"


def wait_cached(admin: httpx.Client, project: str, repository: str, reference: str, timeout: float = 30
                ) -> dict[str, Any]:
    """Wait until the proxy cache stored ``reference`` (a tag or digest) locally; its artifact."""
    deadline = time.monotonic() + timeout
    while True:
        r = admin.get(artifact_path(project, repository, reference))
        if r.status_code == 200:
            body: dict[str, Any] = r.json()
            return body
        if time.monotonic() > deadline:
            raise AssertionError(f"{project}/{repository}:{reference} was not cached: {r.status_code} {r.text}")
        time.sleep(0.2)


@pytest.fixture
def mirror(admin: httpx.Client, gate: Gate) -> str:
    """The mirror project (``hub``), a proxy cache of the gated upstream."""
    if admin.get(f"/projects/{MIRROR}", headers={"X-Is-Resource-Name": "true"}).status_code == 404:
        create_proxy_project(admin, gate.url, MIRROR)
    return MIRROR

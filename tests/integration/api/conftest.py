"""Fixtures for the REST API tests: an admin client on ``/api/v2.0`` and factories for
users and projects (created through the API, names unique per test)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

import httpx
import pytest

from tests.common.servers import ADMIN, Server

PASSWORD = "Passw0rdOK"


@pytest.fixture
def api(moorage: Server) -> Iterator[httpx.Client]:
    """``/api/v2.0`` as the system administrator."""
    with httpx.Client(base_url=f"{moorage.url}/api/v2.0", auth=ADMIN, timeout=60) as c:
        yield c


@pytest.fixture
def as_user(moorage: Server) -> Iterator[Callable[[str, str], httpx.Client]]:
    """``as_user(name, password)`` → a client on ``/api/v2.0`` with those Basic credentials."""
    clients: list[httpx.Client] = []

    def make(name: str, password: str = PASSWORD) -> httpx.Client:
        c = httpx.Client(base_url=f"{moorage.url}/api/v2.0", auth=(name, password), timeout=60)
        clients.append(c)
        return c

    yield make
    for c in clients:
        c.close()


@pytest.fixture
def anonymous(moorage: Server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=f"{moorage.url}/api/v2.0", timeout=60) as c:
        yield c


def unique(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:10]}"


@pytest.fixture
def new_user(api: httpx.Client) -> Callable[..., dict[str, object]]:
    """Create a user through the API; returns its UserResp (password: PASSWORD)."""

    def make(sysadmin: bool = False, **fields: object) -> dict[str, object]:
        name = str(fields.pop("username", unique("user")))
        body = {"username": name, "email": f"{name}@example.com", "realname": name, "password": PASSWORD,
                "comment": "", **fields}
        r = api.post("/users", json=body)
        assert r.status_code == 201, r.text
        user_id = int(r.headers["location"].rsplit("/", 1)[1])
        if sysadmin:
            assert api.put(f"/users/{user_id}/sysadmin", json={"sysadmin_flag": True}).status_code == 200
        got = api.get(f"/users/{user_id}")
        assert got.status_code == 200, got.text
        return dict(got.json())

    return make


@pytest.fixture
def new_project(api: httpx.Client) -> Callable[..., dict[str, object]]:
    """Create a project through the API; returns its Project."""

    def make(public: bool = False, **fields: object) -> dict[str, object]:
        name = str(fields.pop("project_name", unique("proj")))
        body = {"project_name": name, "metadata": {"public": "true" if public else "false"}, **fields}
        r = api.post("/projects", json=body)
        assert r.status_code == 201, r.text
        got = api.get(f"/projects/{name}", headers={"X-Is-Resource-Name": "true"})
        assert got.status_code == 200, got.text
        return dict(got.json())

    return make

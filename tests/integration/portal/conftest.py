"""Portal tests: one Moorage server (SQLite, the embedded default) for the portal's test
modules, and browser-like HTTP clients that sign in through the sign-in form and send each
form's CSRF token, as a browser does.

- ``portal``: the server; ``api``: an httpx client on ``/api/v2.0`` with admin Basic credentials
  (to arrange data and check stored state).
- ``admin``: a PortalClient signed in as ``admin`` in English; ``zh``: one signed in as the
  system administrator ``admin-zh`` whose remembered language is 简体中文.
- ``new_user(sysadmin=False)``: makes a user and returns (name, password).
"""

from __future__ import annotations

import html
import re
import secrets
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from tests.common.servers import ADMIN, ADMIN_PASSWORD, Server, start_moorage

CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')
PASSWORD = "Portal12345"


class PortalClient:
    """A browser stand-in: cookies, the CSRF token of the pages it saw, HTML answers."""

    def __init__(self, server: Server, locale: str = "en") -> None:
        self.server = server
        self.http = httpx.Client(base_url=server.url, timeout=60, follow_redirects=False,
                                 headers={"Accept-Language": "zh-CN,zh;q=0.9" if locale == "zh_CN" else "en"})
        self.token = ""

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        response = self.http.get(path, **kwargs)
        if match := CSRF_RE.search(response.text):
            self.token = html.unescape(match.group(1))
        return response

    def page(self, path: str) -> str:
        """The HTML of a page that must answer 200."""
        response = self.get(path)
        assert response.status_code == 200, f"GET {path}: {response.status_code}\n{response.text[:2000]}"
        return response.text

    def post(self, path: str, data: dict[str, Any] | list[tuple[str, str]] | None = None,
             follow: bool = False, csrf: bool = True) -> httpx.Response:
        """Submit a form (with this session's CSRF token unless ``csrf`` is False)."""
        if not self.token:
            self.get("/sign-in")
        items = list(data.items()) if isinstance(data, dict) else list(data or [])
        if csrf:
            items.append(("csrf_token", self.token))
        fields: dict[str, list[str]] = {}
        for name, value in items:
            fields.setdefault(name, []).append(str(value))
        response = self.http.post(path, data=fields)
        if follow and response.status_code in (302, 303):
            return self.get(response.headers["location"])
        return response

    def sign_in(self, username: str, password: str) -> PortalClient:
        self.get("/sign-in")
        response = self.post("/sign-in", {"principal": username, "password": password})
        assert response.status_code == 303, response.text[:2000]
        self.get("/projects")  # the session's CSRF token
        return self

    def close(self) -> None:
        self.http.close()


@pytest.fixture(scope="session")
def portal(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with start_moorage(tmp_path_factory.mktemp("portal")) as server:
        yield server


@pytest.fixture(scope="session")
def api(portal: Server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=f"{portal.url}/api/v2.0", timeout=60, auth=ADMIN) as client:
        yield client


def make_user(api: httpx.Client, sysadmin: bool = False, prefix: str = "u") -> tuple[str, str]:
    name = f"{prefix}{secrets.token_hex(4)}"
    response = api.post("/users", json={"username": name, "password": PASSWORD, "email": f"{name}@example.com",
                                         "realname": name})
    assert response.status_code == 201, response.text
    if sysadmin:
        user_id = int(response.headers["location"].rsplit("/", 1)[1])
        assert api.put(f"/users/{user_id}/sysadmin", json={"sysadmin_flag": True}).status_code == 200
    return name, PASSWORD


@pytest.fixture(scope="session")
def new_user(api: httpx.Client) -> Callable[..., tuple[str, str]]:
    def make(sysadmin: bool = False) -> tuple[str, str]:
        return make_user(api, sysadmin)
    return make


@pytest.fixture(scope="session")
def admin(portal: Server) -> Iterator[PortalClient]:
    client = PortalClient(portal).sign_in(*ADMIN)
    yield client
    client.close()


@pytest.fixture(scope="session")
def zh(portal: Server, api: httpx.Client) -> Iterator[PortalClient]:
    name, password = make_user(api, sysadmin=True, prefix="admin-zh-")
    client = PortalClient(portal, "zh_CN").sign_in(name, password)
    assert client.post("/account/language", {"locale": "zh_CN", "next": "/projects"}).status_code == 303
    yield client
    client.close()


@pytest.fixture
def anonymous(portal: Server) -> Iterator[PortalClient]:
    client = PortalClient(portal)
    yield client
    client.close()


__all__ = ["ADMIN_PASSWORD", "PASSWORD", "PortalClient", "make_user"]

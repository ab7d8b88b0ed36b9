"""Browser sign-in: session cookies, CSRF protection, sign-out, restarts and lockout."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.common.servers import ADMIN, ADMIN_PASSWORD, Server, start_moorage


def login(server: Server, principal: str, password: str) -> httpx.Response:
    return httpx.post(f"{server.url}/c/login", data={"principal": principal, "password": password}, timeout=30)


def session_client(server: Server, principal: str = "admin", password: str = ADMIN_PASSWORD
                   ) -> tuple[httpx.Client, str]:
    r = login(server, principal, password)
    assert r.status_code == 200, r.text
    c = httpx.Client(base_url=server.url, timeout=30)
    c.cookies.set("sid", r.cookies["sid"])
    return c, r.headers["x-harbor-csrf-token"]


def test_login_sets_a_protected_session_cookie(moorage: Server) -> None:
    r = login(moorage, *ADMIN)
    assert r.status_code == 200
    cookie = r.headers["set-cookie"]
    assert cookie.startswith("sid=") and "HttpOnly" in cookie and "SameSite=lax" in cookie
    assert "Secure" not in cookie  # plain HTTP here; the TLS test checks Secure


def test_session_cookie_authenticates_api_reads(moorage: Server) -> None:
    c, csrf = session_client(moorage)
    with c:
        r = c.get("/api/v2.0/systeminfo")
        assert r.status_code == 200 and "harbor_version" in r.json()
        assert r.headers["x-harbor-csrf-token"] == csrf


def test_cookie_writes_need_the_csrf_token(moorage: Server) -> None:
    c, csrf = session_client(moorage)
    with c:
        r = c.put("/api/v2.0/configurations", json={"banner_message": "hello"})
        assert r.status_code == 403 and "CSRF" in r.json()["errors"][0]["message"]
        r = c.put("/api/v2.0/configurations", json={"banner_message": "hello"},
                  headers={"X-Harbor-CSRF-Token": "not-the-token"})
        assert r.status_code == 403
        r = c.put("/api/v2.0/configurations", json={"banner_message": ""}, headers={"X-Harbor-CSRF-Token": csrf})
        assert r.status_code == 200


def test_basic_auth_writes_need_no_csrf_token(client: httpx.Client) -> None:
    assert client.put("/api/v2.0/configurations", json={"banner_message": ""}).status_code == 200


def test_wrong_password_and_unknown_user_look_the_same(moorage: Server) -> None:
    wrong = login(moorage, "admin", "Wrong12345")
    unknown = login(moorage, "no-such-user-x", "Wrong12345")
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json()
    assert "set-cookie" not in wrong.headers


def test_log_out_ends_the_session(moorage: Server) -> None:
    c, _ = session_client(moorage)
    with c:
        assert c.get("/api/v2.0/statistics").status_code == 200
        sid = c.cookies["sid"]
        assert c.get("/c/log_out").status_code == 200
        c.cookies.set("sid", sid)  # a copied cookie is dead too: the session is gone on the server
        assert c.get("/api/v2.0/statistics").status_code == 401


def test_sign_in_and_out_are_audited(moorage: Server, client: httpx.Client) -> None:
    login(moorage, "admin", "Wrong12345")
    c, _ = session_client(moorage)
    with c:
        c.get("/c/log_out")
    logs = client.get("/api/v2.0/auditlog-exts", params={"q": "username=admin,resource_type=user",
                                                         "page_size": 20}).json()
    ops = [(e["operation"], e["operation_result"]) for e in logs]
    assert ("logout", True) in ops and ("login", True) in ops and ("login", False) in ops


@pytest.fixture
def own_server(tmp_path: Path) -> Iterator[Server]:
    env = {"MOORAGE_AUTH__LOCKOUT_THRESHOLD": "3", "MOORAGE_AUTH__LOCKOUT_ADDRESS_THRESHOLD": "8",
           "MOORAGE_AUTH__LOCKOUT_SECONDS": "300"}
    with start_moorage(tmp_path, extra_env=env) as server:
        yield server


def test_session_survives_a_restart(own_server: Server) -> None:
    c, _ = session_client(own_server)
    with c:
        own_server.kill()
        own_server.restart()
        r = c.get("/api/v2.0/users/current")
        assert r.status_code == 200 and r.json()["username"] == "admin"


def test_repeated_failures_lock_the_user(own_server: Server) -> None:
    api = httpx.Client(base_url=f"{own_server.url}/api/v2.0", auth=ADMIN, timeout=30)
    with api:
        for name in ("victim", "bystander"):
            r = api.post("/users", json={"username": name, "email": f"{name}@example.com", "realname": name,
                                         "password": "Passw0rdOK"})
            assert r.status_code == 201, r.text
    for _ in range(3):
        assert login(own_server, "victim", "Wrong12345").status_code == 401
    locked = login(own_server, "victim", "Passw0rdOK")
    assert locked.status_code == 401  # even the right password, while locked
    assert locked.json() == login(own_server, "nobody", "Wrong12345").json()
    assert httpx.get(f"{own_server.url}/v2/", auth=("victim", "Passw0rdOK")).status_code == 401
    assert login(own_server, "bystander", "Passw0rdOK").status_code == 200


def test_repeated_failures_lock_the_client_address(own_server: Server) -> None:
    for i in range(8):
        assert login(own_server, f"guess{i}", "Wrong12345").status_code == 401
    # Every name from this address is refused now, the administrator's too.
    assert login(own_server, *ADMIN).status_code == 401

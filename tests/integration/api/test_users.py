"""``/api/v2.0/users``: local accounts over real HTTP (Harbor's shapes, status codes and headers)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.common.servers import ADMIN, Server, start_moorage
from tests.integration.api.conftest import PASSWORD, unique

NewUser = Callable[..., dict[str, Any]]
AsUser = Callable[..., httpx.Client]
USER_FIELDS = {"user_id", "username", "email", "realname", "comment", "sysadmin_flag", "admin_role_in_auth",
               "creation_time", "update_time"}


def error_code(r: httpx.Response) -> str:
    return str(r.json()["errors"][0]["code"])


def body(username: str, **fields: Any) -> dict[str, Any]:
    return {"username": username, "email": f"{username}@example.com", "realname": username,
            "password": PASSWORD, "comment": "", **fields}


# Create -------------------------------------------------------------------------------------

def test_create_returns_201_location_and_user_resp(api: httpx.Client) -> None:
    name = unique("alice")
    r = api.post("/users", json=body(name, realname="Alice A", comment="team a"))
    assert r.status_code == 201 and r.content == b""
    location = r.headers["location"]
    assert location.startswith("/api/v2.0/users/")
    user_id = int(location.rsplit("/", 1)[1])
    got = api.get(f"/users/{user_id}")
    assert got.status_code == 200
    user = got.json()
    assert set(user) == USER_FIELDS
    assert user["user_id"] == user_id and user["username"] == name and user["email"] == f"{name}@example.com"
    assert user["realname"] == "Alice A" and user["comment"] == "team a"
    assert user["sysadmin_flag"] is False and user["admin_role_in_auth"] is False
    assert user["creation_time"] and user["update_time"]


def test_created_user_signs_in(api: httpx.Client, as_user: AsUser, new_user: NewUser) -> None:
    user = new_user()
    r = as_user(user["username"]).get("/users/current")
    assert r.status_code == 200 and r.json()["user_id"] == user["user_id"]


def test_email_is_optional(api: httpx.Client) -> None:
    name = unique("noemail")
    r = api.post("/users", json={"username": name, "password": PASSWORD})
    assert r.status_code == 201, r.text
    assert api.get(r.headers["location"].removeprefix("/api/v2.0")).json()["email"] == ""


def test_admin_create_ignores_sysadmin_flag(api: httpx.Client) -> None:
    """CVE-2019-16097: a body cannot make an administrator, not even the admin's own."""
    r = api.post("/users", json=body(unique("sneaky"), sysadmin_flag=True, admin_role_in_auth=True, user_id=1))
    assert r.status_code == 201
    user = api.get(r.headers["location"].removeprefix("/api/v2.0")).json()
    assert user["sysadmin_flag"] is False and user["user_id"] != 1


def test_anonymous_cannot_create_while_self_registration_is_off(anonymous: httpx.Client) -> None:
    r = anonymous.post("/users", json=body(unique("anon")))
    assert r.status_code == 401 and error_code(r) == "UNAUTHORIZED"


def test_non_admin_cannot_create(as_user: AsUser, new_user: NewUser) -> None:
    r = as_user(new_user()["username"]).post("/users", json=body(unique("other")))
    assert r.status_code == 403 and error_code(r) == "FORBIDDEN"


def test_self_registration_never_creates_an_admin(tmp_path: Path) -> None:
    """CVE-2019-16097: anonymous self-registration with ``sysadmin_flag: true`` makes a plain user."""
    with start_moorage(tmp_path, extra_env={"MOORAGE_AUTH__SELF_REGISTRATION": "true"}) as server:
        base = f"{server.url}/api/v2.0"
        name = unique("selfreg")
        evil = body(name, sysadmin_flag=True, admin_role_in_auth=True, user_id=1)
        r = httpx.post(f"{base}/users", json=evil, timeout=60)
        assert r.status_code == 201, r.text
        with httpx.Client(base_url=base, auth=(name, PASSWORD), timeout=60) as me:
            current = me.get("/users/current")
            assert current.status_code == 200 and current.json()["sysadmin_flag"] is False
            assert me.get("/users").status_code == 403
            # A signed-in non-admin does not create accounts, even with self-registration on.
            assert me.post("/users", json=body(unique("friend"))).status_code == 403
        admin_view = httpx.get(f"{base}/users", params={"q": f"username={name}"}, auth=ADMIN, timeout=60)
        assert [u["sysadmin_flag"] for u in admin_view.json()] == [False]


@pytest.mark.parametrize("password", [
    "Sh0rtPw", "alllowercase1", "ALLUPPERCASE1", "NoDigitsHere", "Aa1" + "x" * 126, "",
])
def test_create_rejects_passwords_breaking_the_rule(api: httpx.Client, password: str) -> None:
    r = api.post("/users", json=body(unique("pw"), password=password))
    assert r.status_code == 400 and error_code(r) == "BAD_REQUEST"


def test_create_requires_a_password(api: httpx.Client) -> None:
    r = api.post("/users", json={"username": unique("nopw")})
    assert r.status_code == 400 and error_code(r) == "BAD_REQUEST"


@pytest.mark.parametrize("username", [
    "", "a" * 256, "with space", "tab\there", "robot$evil", "a,b", 'a"b', "a~b", "a#b", "a%b", "a:b", "a/b",
])
def test_create_rejects_bad_usernames(api: httpx.Client, username: str) -> None:
    r = api.post("/users", json={"username": username, "password": PASSWORD})
    assert r.status_code == 400 and error_code(r) == "BAD_REQUEST"


@pytest.mark.parametrize("fields", [
    {"email": "not-an-email"}, {"email": "a@b"}, {"realname": "bad,name"}, {"comment": "x" * 31},
    {"username": 42}, {"password": 12345678},
])
def test_create_rejects_bad_profiles(api: httpx.Client, fields: dict[str, Any]) -> None:
    r = api.post("/users", json={**body(unique("prof")), **fields})
    assert r.status_code == 400 and error_code(r) == "BAD_REQUEST"


def test_duplicate_username_conflicts(api: httpx.Client, new_user: NewUser) -> None:
    user = new_user()
    r = api.post("/users", json=body(str(user["username"]), email=f"{unique('x')}@example.com"))
    assert r.status_code == 409 and error_code(r) == "CONFLICT"


def test_duplicate_email_conflicts(api: httpx.Client, new_user: NewUser) -> None:
    user = new_user()
    r = api.post("/users", json=body(unique("dup"), email=user["email"]))
    assert r.status_code == 409 and error_code(r) == "CONFLICT"


# Read ---------------------------------------------------------------------------------------

def test_get_unknown_user_is_404(api: httpx.Client) -> None:
    r = api.get("/users/987654321")
    assert r.status_code == 404 and error_code(r) == "NOT_FOUND"


def test_user_reads_self_but_not_others(as_user: AsUser, new_user: NewUser) -> None:
    me, other = new_user(), new_user()
    client = as_user(me["username"])
    assert client.get(f"/users/{me['user_id']}").json() == me
    r = client.get(f"/users/{other['user_id']}")
    assert r.status_code == 403 and error_code(r) == "FORBIDDEN"


def test_anonymous_cannot_read_users(anonymous: httpx.Client, new_user: NewUser) -> None:
    assert anonymous.get(f"/users/{new_user()['user_id']}").status_code == 401
    assert anonymous.get("/users/current").status_code == 401
    assert anonymous.get("/users/search", params={"username": "a"}).status_code == 401
    assert anonymous.get("/users").status_code == 401


def test_current_user(api: httpx.Client) -> None:
    r = api.get("/users/current")
    assert r.status_code == 200
    me = r.json()
    assert me["username"] == "admin" and me["sysadmin_flag"] is True and set(me) == USER_FIELDS


# List and search ----------------------------------------------------------------------------

def test_list_pages_with_total_and_link(api: httpx.Client, new_user: NewUser) -> None:
    tag = unique("pg")
    for i in range(3):
        new_user(username=f"{tag}-{i}")
    r = api.get("/users", params={"q": f"username=~{tag}", "page": 1, "page_size": 2, "sort": "username"})
    assert r.status_code == 200
    assert r.headers["x-total-count"] == "3"
    assert [u["username"] for u in r.json()] == [f"{tag}-0", f"{tag}-1"]
    assert 'rel="next"' in r.headers["link"] and "page=2" in r.headers["link"]
    last = api.get("/users", params={"q": f"username=~{tag}", "page": 2, "page_size": 2, "sort": "username"})
    assert [u["username"] for u in last.json()] == [f"{tag}-2"]
    assert 'rel="prev"' in last.headers["link"] and 'rel="next"' not in last.headers["link"]
    assert all(set(u) == USER_FIELDS for u in r.json())


def test_list_filters_exactly_and_sorts_descending(api: httpx.Client, new_user: NewUser) -> None:
    tag = unique("ex")
    new_user(username=f"{tag}-a")
    new_user(username=f"{tag}-b")
    exact = api.get("/users", params={"q": f"username={tag}-a"})
    assert [u["username"] for u in exact.json()] == [f"{tag}-a"] and exact.headers["x-total-count"] == "1"
    by_email = api.get("/users", params={"q": f"email={tag}-b@example.com"})
    assert [u["username"] for u in by_email.json()] == [f"{tag}-b"]
    desc = api.get("/users", params={"q": f"username=~{tag.upper()}", "sort": "-username"})
    assert [u["username"] for u in desc.json()] == [f"{tag}-b", f"{tag}-a"]


def test_list_rejects_bad_sort_and_page(api: httpx.Client) -> None:
    assert api.get("/users", params={"sort": "password"}).status_code == 400
    assert api.get("/users", params={"page_size": 0}).status_code == 400


def test_non_admin_cannot_list_users(as_user: AsUser, new_user: NewUser) -> None:
    r = as_user(new_user()["username"]).get("/users")
    assert r.status_code == 403 and error_code(r) == "FORBIDDEN"


def test_search_is_open_to_signed_in_users(as_user: AsUser, new_user: NewUser) -> None:
    tag = unique("srch")
    users = [new_user(username=f"{tag}-{i}") for i in range(3)]
    client = as_user(users[0]["username"])
    r = client.get("/users/search", params={"username": tag, "page_size": 2})
    assert r.status_code == 200 and r.headers["x-total-count"] == "3" and 'rel="next"' in r.headers["link"]
    assert r.json() == [{"user_id": u["user_id"], "username": u["username"]} for u in users[:2]]
    assert client.get("/users/search").status_code == 400  # username is required


# Permissions of the caller ------------------------------------------------------------------

def test_permissions_in_system_scope(api: httpx.Client, as_user: AsUser, new_user: NewUser) -> None:
    admin = api.get("/users/current/permissions", params={"scope": "/system", "relative": "false"})
    assert admin.status_code == 200
    assert {"resource": "/system/user", "action": "create"} in admin.json()
    relative = api.get("/users/current/permissions", params={"scope": "/system", "relative": "true"}).json()
    assert {"resource": "user", "action": "create"} in relative
    plain = as_user(new_user()["username"]).get("/users/current/permissions", params={"scope": "/system"})
    assert plain.status_code == 200 and plain.json() == []


def test_permissions_in_a_public_project_for_a_non_member(as_user: AsUser, new_user: NewUser) -> None:
    client = as_user(new_user()["username"])
    r = client.get("/users/current/permissions", params={"scope": "/project/1", "relative": "true"})  # library
    assert r.status_code == 200
    held = {(p["resource"], p["action"]) for p in r.json()}
    assert ("repository", "pull") in held and ("repository", "push") not in held
    assert ("member", "create") not in held
    absolute = client.get("/users/current/permissions", params={"scope": "/project/1"}).json()
    assert {"resource": "/project/1/repository", "action": "pull"} in absolute
    missing = client.get("/users/current/permissions", params={"scope": "/project/987654321"})
    assert missing.status_code == 200 and missing.json() == []


def test_admin_holds_every_project_permission(api: httpx.Client) -> None:
    r = api.get("/users/current/permissions", params={"scope": "/project/1", "relative": "true"})
    held = {(p["resource"], p["action"]) for p in r.json()}
    assert {("repository", "push"), ("member", "create"), ("project", "delete")} <= held


def test_anonymous_has_no_permissions_listing(anonymous: httpx.Client) -> None:
    assert anonymous.get("/users/current/permissions", params={"scope": "/project/1"}).status_code == 401


# Update profile -----------------------------------------------------------------------------

def test_user_updates_own_profile(as_user: AsUser, new_user: NewUser, api: httpx.Client) -> None:
    me = new_user()
    email = f"{unique('new')}@example.org"
    r = as_user(me["username"]).put(f"/users/{me['user_id']}",
                                     json={"email": email, "realname": "New Name", "comment": "hello"})
    assert r.status_code == 200
    got = api.get(f"/users/{me['user_id']}").json()
    assert (got["email"], got["realname"], got["comment"]) == (email, "New Name", "hello")
    assert got["username"] == me["username"] and got["sysadmin_flag"] is False


def test_profile_update_cannot_grant_sysadmin(as_user: AsUser, new_user: NewUser, api: httpx.Client) -> None:
    me = new_user()
    r = as_user(me["username"]).put(f"/users/{me['user_id']}", json={"realname": "x", "sysadmin_flag": True})
    assert r.status_code == 200
    assert api.get(f"/users/{me['user_id']}").json()["sysadmin_flag"] is False


def test_profile_update_with_taken_email_conflicts(as_user: AsUser, new_user: NewUser) -> None:
    me, other = new_user(), new_user()
    r = as_user(me["username"]).put(f"/users/{me['user_id']}", json={"email": other["email"]})
    assert r.status_code == 409 and error_code(r) == "CONFLICT"


def test_profile_update_validates(as_user: AsUser, new_user: NewUser) -> None:
    me = new_user()
    client = as_user(me["username"])
    assert client.put(f"/users/{me['user_id']}", json={"email": "nope"}).status_code == 400
    assert client.put(f"/users/{me['user_id']}", json={"comment": "y" * 31}).status_code == 400


def test_user_cannot_update_another_profile(as_user: AsUser, new_user: NewUser) -> None:
    me, other = new_user(), new_user()
    r = as_user(me["username"]).put(f"/users/{other['user_id']}", json={"realname": "hijack"})
    assert r.status_code == 403 and error_code(r) == "FORBIDDEN"


def test_admin_updates_any_profile(api: httpx.Client, new_user: NewUser) -> None:
    user = new_user()
    assert api.put(f"/users/{user['user_id']}", json={"realname": "By Admin"}).status_code == 200
    assert api.get(f"/users/{user['user_id']}").json()["realname"] == "By Admin"
    assert api.put("/users/987654321", json={"realname": "ghost"}).status_code == 404


# Sysadmin flag ------------------------------------------------------------------------------

def test_admin_grants_and_revokes_sysadmin(api: httpx.Client, as_user: AsUser, new_user: NewUser) -> None:
    user = new_user()
    client = as_user(user["username"])
    assert client.get("/users").status_code == 403
    r = api.put(f"/users/{user['user_id']}/sysadmin", json={"sysadmin_flag": True})
    assert r.status_code == 200
    assert api.get(f"/users/{user['user_id']}").json()["sysadmin_flag"] is True
    assert client.get("/users").status_code == 200
    assert api.put(f"/users/{user['user_id']}/sysadmin", json={"sysadmin_flag": False}).status_code == 200
    assert client.get("/users").status_code == 403


def test_user_cannot_toggle_own_sysadmin(as_user: AsUser, new_user: NewUser) -> None:
    user = new_user()
    r = as_user(user["username"]).put(f"/users/{user['user_id']}/sysadmin", json={"sysadmin_flag": True})
    assert r.status_code == 403 and error_code(r) == "FORBIDDEN"


def test_sysadmin_cannot_toggle_own_flag(as_user: AsUser, new_user: NewUser) -> None:
    boss = new_user(sysadmin=True)
    r = as_user(boss["username"]).put(f"/users/{boss['user_id']}/sysadmin", json={"sysadmin_flag": False})
    assert r.status_code == 403 and error_code(r) == "FORBIDDEN"


def test_sysadmin_toggle_validates(api: httpx.Client, new_user: NewUser) -> None:
    user = new_user()
    assert api.put("/users/987654321/sysadmin", json={"sysadmin_flag": True}).status_code == 404
    assert api.put(f"/users/{user['user_id']}/sysadmin", json={}).status_code == 400
    assert api.put(f"/users/{user['user_id']}/sysadmin", json={"sysadmin_flag": "true"}).status_code == 400


# Passwords ----------------------------------------------------------------------------------

NEW_PASSWORD = "N3wPassword"


def test_change_own_password_needs_the_old_one(as_user: AsUser, new_user: NewUser) -> None:
    user = new_user()
    r = as_user(user["username"]).put(f"/users/{user['user_id']}/password",
                                      json={"old_password": "Wr0ngPassword", "new_password": NEW_PASSWORD})
    assert r.status_code == 403 and error_code(r) == "FORBIDDEN"
    missing = as_user(user["username"]).put(f"/users/{user['user_id']}/password",
                                            json={"new_password": NEW_PASSWORD})
    assert missing.status_code == 403
    assert as_user(user["username"]).get("/users/current").status_code == 200  # unchanged


def test_change_own_password(as_user: AsUser, new_user: NewUser) -> None:
    user = new_user()
    r = as_user(user["username"]).put(f"/users/{user['user_id']}/password",
                                      json={"old_password": PASSWORD, "new_password": NEW_PASSWORD})
    assert r.status_code == 200
    assert as_user(user["username"], PASSWORD).get("/users/current").status_code == 401
    assert as_user(user["username"], NEW_PASSWORD).get("/users/current").status_code == 200


@pytest.mark.parametrize("new_password", [PASSWORD, "weakpass", "Sh0rt"])
def test_new_password_must_differ_and_follow_the_rule(as_user: AsUser, new_user: NewUser,
                                                     new_password: str) -> None:
    user = new_user()
    r = as_user(user["username"]).put(f"/users/{user['user_id']}/password",
                                      json={"old_password": PASSWORD, "new_password": new_password})
    assert r.status_code == 400 and error_code(r) == "BAD_REQUEST"


def test_password_change_ends_browser_sessions(moorage: Server, as_user: AsUser, new_user: NewUser) -> None:
    user = new_user()
    with httpx.Client(base_url=moorage.url, timeout=60) as browser:
        login = browser.post("/c/login", data={"principal": user["username"], "password": PASSWORD})
        assert login.status_code == 200
        assert browser.get("/api/v2.0/users/current").status_code == 200
        r = as_user(user["username"]).put(f"/users/{user['user_id']}/password",
                                          json={"old_password": PASSWORD, "new_password": NEW_PASSWORD})
        assert r.status_code == 200
        assert browser.get("/api/v2.0/users/current").status_code == 401


def test_admin_resets_a_password_without_the_old_one(api: httpx.Client, as_user: AsUser,
                                                     new_user: NewUser) -> None:
    user = new_user()
    r = api.put(f"/users/{user['user_id']}/password", json={"new_password": NEW_PASSWORD})
    assert r.status_code == 200
    assert as_user(user["username"], PASSWORD).get("/users/current").status_code == 401
    assert as_user(user["username"], NEW_PASSWORD).get("/users/current").status_code == 200
    assert api.put("/users/987654321/password", json={"new_password": NEW_PASSWORD}).status_code == 404


def test_user_cannot_change_another_password(as_user: AsUser, new_user: NewUser) -> None:
    me, other = new_user(), new_user()
    r = as_user(me["username"]).put(f"/users/{other['user_id']}/password",
                                     json={"old_password": PASSWORD, "new_password": NEW_PASSWORD})
    assert r.status_code == 403 and error_code(r) == "FORBIDDEN"


# Delete -------------------------------------------------------------------------------------

def test_admin_deletes_a_user(api: httpx.Client, as_user: AsUser, new_user: NewUser) -> None:
    user = new_user()
    r = api.delete(f"/users/{user['user_id']}")
    assert r.status_code == 200
    assert api.get(f"/users/{user['user_id']}").status_code == 404
    assert as_user(user["username"]).get("/users/current").status_code == 401
    assert api.delete(f"/users/{user['user_id']}").status_code == 404
    # The name is free again.
    assert api.post("/users", json=body(str(user["username"]))).status_code == 201


def test_non_admin_cannot_delete(as_user: AsUser, new_user: NewUser) -> None:
    me, other = new_user(), new_user()
    r = as_user(me["username"]).delete(f"/users/{other['user_id']}")
    assert r.status_code == 403 and error_code(r) == "FORBIDDEN"


def test_cannot_delete_yourself_or_admin(api: httpx.Client, as_user: AsUser, new_user: NewUser) -> None:
    boss = new_user(sysadmin=True)
    client = as_user(boss["username"])
    own = client.delete(f"/users/{boss['user_id']}")
    assert own.status_code == 403 and error_code(own) == "FORBIDDEN"
    admin_id = api.get("/users/current").json()["user_id"]
    r = client.delete(f"/users/{admin_id}")
    assert r.status_code == 403 and error_code(r) == "FORBIDDEN"
    assert api.delete(f"/users/{admin_id}").status_code == 403

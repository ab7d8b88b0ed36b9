"""The token service (Docker token authentication spec) and bearer tokens on /v2."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.common.databases import server_sql
from tests.common.oci import push_image
from tests.common.servers import ADMIN, Server
from tests.integration.api.conftest import PASSWORD

SERVICE = "moorage-registry"


def token_for(server: Server, scopes: list[str], auth: tuple[str, str] | None = None,
              service: str = SERVICE) -> httpx.Response:
    return httpx.get(f"{server.url}/service/token", params=[("service", service)] + [("scope", s) for s in scopes],
                     auth=auth, timeout=30)


def claims_of(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    return dict(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))))


def granted(response: httpx.Response) -> dict[str, list[str]]:
    assert response.status_code == 200, response.text
    return {a["name"]: a["actions"] for a in claims_of(response.json()["token"])["access"]}


@pytest.fixture
def world(api: httpx.Client, client: httpx.Client, new_user: Callable[..., dict[str, Any]],
          new_project: Callable[..., dict[str, Any]]) -> dict[str, Any]:
    """A private project with an image, a developer and a guest in it, and an outsider."""
    project = new_project()
    name = str(project["name"])
    users = {}
    for role, role_id in (("developer", 2), ("guest", 3)):
        user = new_user()
        r = api.post(f"/projects/{project['project_id']}/members",
                     json={"role_id": role_id, "member_user": {"username": user["username"]}})
        assert r.status_code == 201, r.text
        users[role] = str(user["username"])
    users["outsider"] = str(new_user()["username"])
    push_image(client, f"{name}/app", "v1")
    return {"project": name, "repo": f"{name}/app", **users}


def test_token_response_and_claims(moorage: Server, world: dict[str, Any]) -> None:
    r = token_for(moorage, [f"repository:{world['repo']}:pull"], auth=(world["guest"], PASSWORD))
    body = r.json()
    assert body["token"] == body["access_token"] and body["expires_in"] == 1800 and body["issued_at"]
    claims = claims_of(body["token"])
    assert claims["iss"] == "moorage-token-issuer" and claims["sub"] == world["guest"] and claims["aud"] == SERVICE
    assert claims["exp"] - claims["iat"] == 1800 and claims["nbf"] <= claims["iat"] and claims["jti"]
    header = jwt.get_unverified_header(body["token"])
    assert header["alg"] == "RS256"
    assert [header["kid"]] == [row[0] for row in server_sql(moorage, "SELECT kid FROM signing_keys")]


def test_granted_actions_are_the_intersection(moorage: Server, world: dict[str, Any]) -> None:
    scope = f"repository:{world['repo']}:pull,push,delete"
    assert granted(token_for(moorage, [scope], auth=(world["developer"], PASSWORD))) == {
        world["repo"]: ["pull", "push"]}
    assert granted(token_for(moorage, [scope], auth=(world["guest"], PASSWORD))) == {world["repo"]: ["pull"]}
    assert granted(token_for(moorage, [scope], auth=(world["outsider"], PASSWORD))) == {}
    assert granted(token_for(moorage, [scope])) == {}  # anonymous, private project
    assert granted(token_for(moorage, [scope], auth=ADMIN)) == {world["repo"]: ["pull", "push", "delete"]}


def test_several_scopes_each_intersected(moorage: Server, world: dict[str, Any]) -> None:
    scopes = [f"repository:{world['repo']}:pull,push", "repository:library/anything:pull,push"]
    assert granted(token_for(moorage, scopes, auth=(world["guest"], PASSWORD))) == {
        world["repo"]: ["pull"], "library/anything": ["pull"]}  # library is public


def test_anonymous_token_pulls_public_only(moorage: Server, client: httpx.Client) -> None:
    push_image(client, "library/tok-public", "v1")
    token = token_for(moorage, ["repository:library/tok-public:pull,push"]).json()["token"]
    assert claims_of(token)["access"] == [{"type": "repository", "name": "library/tok-public", "actions": ["pull"]}]
    bearer = {"Authorization": f"Bearer {token}"}
    assert httpx.get(f"{moorage.url}/v2/library/tok-public/manifests/v1", headers=bearer).status_code == 200
    r = httpx.post(f"{moorage.url}/v2/library/tok-public/blobs/uploads/", headers=bearer)
    assert r.status_code == 401
    assert r.json()["errors"][0]["code"] == "UNAUTHORIZED"
    assert 'scope="repository:library/tok-public:pull,push"' in r.headers["www-authenticate"]


def test_wrong_credentials_get_401(moorage: Server, world: dict[str, Any]) -> None:
    r = token_for(moorage, [f"repository:{world['repo']}:pull"], auth=(world["guest"], "Wrong1234"))
    assert r.status_code == 401 and r.json()["errors"][0]["code"] == "UNAUTHORIZED"
    unknown = token_for(moorage, [f"repository:{world['repo']}:pull"], auth=("nobody-here", "Wrong1234"))
    assert unknown.status_code == 401 and unknown.json() == r.json()  # no hint that the user is unknown


def test_unknown_service_is_refused(moorage: Server) -> None:
    r = token_for(moorage, ["repository:library/x:pull"], service="another-registry")
    assert r.status_code == 400 and "another-registry" in r.json()["errors"][0]["message"]


def _server_key(moorage: Server) -> tuple[str, Any]:
    kid, pem = server_sql(moorage, "SELECT kid, private_pem FROM signing_keys")[0]
    from cryptography.hazmat.primitives import serialization

    return str(kid), serialization.load_pem_private_key(str(pem).encode(), None)


def _forge(key: Any, kid: str, **overrides: Any) -> str:
    now = int(time.time())
    claims = {"iss": "moorage-token-issuer", "sub": "admin", "aud": SERVICE, "iat": now, "nbf": now - 5,
              "exp": now + 300, "jti": "x",
              "access": [{"type": "repository", "name": "library/forged", "actions": ["pull"]}]}
    claims.update(overrides)
    return jwt.encode(claims, key, algorithm="RS256", headers={"kid": kid})


def _pull(moorage: Server, token: str) -> httpx.Response:
    return httpx.get(f"{moorage.url}/v2/library/forged/tags/list", headers={"Authorization": f"Bearer {token}"})


def test_a_correctly_signed_token_is_accepted(moorage: Server, client: httpx.Client) -> None:
    push_image(client, "library/forged", "v1")
    kid, key = _server_key(moorage)
    assert _pull(moorage, _forge(key, kid)).status_code == 200  # the harness below is sound


def test_expired_token_is_refused(moorage: Server) -> None:
    kid, key = _server_key(moorage)
    now = int(time.time())
    r = _pull(moorage, _forge(key, kid, iat=now - 4000, nbf=now - 4000, exp=now - 60))
    assert r.status_code == 401 and "expired" in r.json()["errors"][0]["message"].lower()
    assert r.headers["www-authenticate"].startswith("Bearer realm=")


def test_token_for_another_audience_is_refused(moorage: Server) -> None:
    kid, key = _server_key(moorage)
    assert _pull(moorage, _forge(key, kid, aud="another-registry")).status_code == 401


def test_tampered_token_is_refused(moorage: Server) -> None:
    kid, key = _server_key(moorage)
    header, _, signature = _forge(key, kid).split(".")
    claims = _forge(key, kid, access=[{"type": "repository", "name": "library/forged",
                                       "actions": ["pull", "push", "delete"]}]).split(".")[1]
    assert _pull(moorage, f"{header}.{claims}.{signature}").status_code == 401
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    assert _pull(moorage, _forge(stranger, kid)).status_code == 401  # right kid, wrong key
    assert _pull(moorage, "not-a-jwt").status_code == 401


def _robot(api: httpx.Client, project: str, **extra: Any) -> dict[str, Any]:
    r = api.post("/robots", json={"name": f"tok{int(time.time() * 1000) % 10**8}", "level": "project",
                                  "duration": -1, "permissions": [{
                                      "kind": "project", "namespace": project,
                                      "access": [{"resource": "repository", "action": "pull"}]}], **extra})
    assert r.status_code == 201, r.text
    return dict(r.json())


def test_disabled_robot_gets_no_token(moorage: Server, api: httpx.Client, world: dict[str, Any]) -> None:
    robot = _robot(api, world["project"])
    creds = (robot["name"], robot["secret"])
    assert granted(token_for(moorage, [f"repository:{world['repo']}:pull"], auth=creds)) == {
        world["repo"]: ["pull"]}
    current = api.get(f"/robots/{robot['id']}").json()
    assert api.put(f"/robots/{robot['id']}", json={**current, "disable": True}).status_code == 200
    assert token_for(moorage, [f"repository:{world['repo']}:pull"], auth=creds).status_code == 401


def test_expired_robot_gets_no_token(moorage: Server, api: httpx.Client, world: dict[str, Any]) -> None:
    robot = _robot(api, world["project"])
    creds = (robot["name"], robot["secret"])
    assert token_for(moorage, [f"repository:{world['repo']}:pull"], auth=creds).status_code == 200
    # Time passes: the robot's lifetime ends (no API can shorten it into the past).
    server_sql(moorage, "UPDATE robots SET expires_at = $1 WHERE id = $2",
               "2001-01-01 00:00:00" if "MOORAGE_DATABASE__URL" not in moorage.env else _past(), robot["id"])
    assert token_for(moorage, [f"repository:{world['repo']}:pull"], auth=creds).status_code == 401


def _past() -> Any:
    import datetime

    return datetime.datetime(2001, 1, 1, tzinfo=datetime.UTC)


def test_token_lifetime_follows_configuration(moorage: Server, api: httpx.Client) -> None:
    assert api.put("/configurations", json={"token_expiration": 5}).status_code == 200
    try:
        assert token_for(moorage, ["repository:library/x:pull"]).json()["expires_in"] == 300
    finally:
        api.put("/configurations", json={"token_expiration": 30})


def test_basic_credentials_work_directly_on_v2(moorage: Server, world: dict[str, Any]) -> None:
    url = f"{moorage.url}/v2/{world['repo']}/manifests/v1"
    assert httpx.get(url, auth=(world["guest"], PASSWORD)).status_code == 200
    denied = httpx.delete(url, auth=(world["guest"], PASSWORD))
    assert denied.status_code == 403 and denied.json()["errors"][0]["code"] == "DENIED"
    assert httpx.get(url, auth=(world["outsider"], PASSWORD)).status_code == 403
    anonymous = httpx.get(url)
    assert anonymous.status_code == 401
    assert anonymous.headers["www-authenticate"] == (
        f'Bearer realm="{moorage.url}/service/token",service="{SERVICE}",'
        f'scope="repository:{world["repo"]}:pull"')


def test_catalog_lists_only_visible_repositories(moorage: Server, world: dict[str, Any]) -> None:
    def catalog(auth: tuple[str, str]) -> list[str]:
        r = httpx.get(f"{moorage.url}/v2/_catalog", auth=auth)
        assert r.status_code == 200
        return list(r.json()["repositories"])

    assert world["repo"] in catalog((world["guest"], PASSWORD))
    assert world["repo"] not in catalog((world["outsider"], PASSWORD))
    assert world["repo"] in catalog(ADMIN)
    assert httpx.get(f"{moorage.url}/v2/_catalog").status_code == 401


def test_catalog_through_a_token_is_filtered_for_its_subject(moorage: Server, world: dict[str, Any]) -> None:
    token = token_for(moorage, ["registry:catalog:*"], auth=(world["outsider"], PASSWORD)).json()["token"]
    r = httpx.get(f"{moorage.url}/v2/_catalog", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200 and world["repo"] not in r.json()["repositories"]


def test_signed_in_token_without_the_action_is_denied_with_a_challenge(moorage: Server,
                                                                        world: dict[str, Any]) -> None:
    token = token_for(moorage, [f"repository:{world['repo']}:pull,push"],
                      auth=(world["guest"], PASSWORD)).json()["token"]
    r = httpx.post(f"{moorage.url}/v2/{world['repo']}/blobs/uploads/", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 403 and r.json()["errors"][0]["code"] == "DENIED"
    assert f'scope="repository:{world["repo"]}:pull,push"' in r.headers["www-authenticate"]


def test_system_robot_loses_a_deleted_project_for_good(moorage: Server, api: httpx.Client,
                                                       new_project: Callable[..., dict[str, Any]]) -> None:
    project = new_project()
    name = str(project["name"])
    r = api.post("/robots", json={"name": f"sys{int(time.time() * 1000) % 10**8}", "level": "system",
                                  "duration": -1, "permissions": [{
                                      "kind": "project", "namespace": name,
                                      "access": [{"resource": "repository", "action": "pull"}]}]})
    assert r.status_code == 201, r.text
    creds = (r.json()["name"], r.json()["secret"])
    assert granted(token_for(moorage, [f"repository:{name}/x:pull"], auth=creds)) == {f"{name}/x": ["pull"]}
    assert api.delete(f"/projects/{project['project_id']}").status_code == 200
    assert api.post("/projects", json={"project_name": name}).status_code == 201  # same name, new project
    assert granted(token_for(moorage, [f"repository:{name}/x:pull"], auth=creds)) == {}


def test_invalid_token_challenge_names_the_scope(moorage: Server) -> None:
    r = httpx.get(f"{moorage.url}/v2/library/x/manifests/v1", headers={"Authorization": "Bearer garbage"})
    assert r.status_code == 401
    assert r.headers["www-authenticate"].endswith(',scope="repository:library/x:pull"')

"""Registry endpoints (``/registries``): create, read, list, update, delete, validation, the SSRF
guard on URLs, credentials (never returned, encrypted at rest, kept when masked), the adapter
lists and an endpoint's info."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest

from tests.common.databases import server_sql
from tests.common.servers import Server
from tests.integration.registries.conftest import (
    BASE,
    ca_pem,
    create_registry,
    dead_url,
    decrypt,
    registry_body,
    stored,
    unique,
)

SECRET = "s3cret-Passw0rd-not-in-responses"


def codes(r: httpx.Response) -> list[str]:
    return [e["code"] for e in r.json()["errors"]]


def test_create_read_list(api: httpx.Client) -> None:
    url = dead_url()
    body = registry_body(url + "/", "harbor", "robot$x", SECRET, insecure=True)
    r = api.post(BASE, json=body)
    assert r.status_code == 201, r.text
    registry_id = int(r.headers["location"].rsplit("/", 1)[1])
    assert r.headers["location"] == f"/api/v2.0/registries/{registry_id}"
    got = api.get(f"{BASE}/{registry_id}")
    assert got.status_code == 200, got.text
    registry = got.json()
    assert {k: registry[k] for k in ("id", "name", "type", "url", "insecure", "description", "credential")} == {
        "id": registry_id, "name": body["name"], "type": "harbor", "url": url, "insecure": True,
        "description": "test endpoint",
        "credential": {"type": "basic", "access_key": "robot$x", "access_secret": "*****"}}
    assert registry["creation_time"] and registry["update_time"] and "ca_certificate" not in registry

    second = create_registry(api, registry_body(url, name=body["name"] + "-b"))
    listed = api.get(BASE, params={"q": f"name=~{body['name']}"})
    assert listed.status_code == 200 and listed.headers["x-total-count"] == "2"
    assert [x["id"] for x in listed.json()] == [registry_id, second]  # oldest first
    assert [x["id"] for x in api.get(BASE, params={"q": f"name={body['name']}"}).json()] == [registry_id]
    assert [x["id"] for x in api.get(BASE, params={"name": body["name"], "q": "type=docker-registry"}).json()] \
        == [second]
    page = api.get(BASE, params={"q": f"name=~{body['name']}", "page": 2, "page_size": 1, "sort": "-name"})
    assert [x["id"] for x in page.json()] == [registry_id] and 'rel="prev"' in page.headers["link"]
    assert codes(api.get(BASE, params={"q": "url=x"})) == ["BAD_REQUEST"]


def test_url_without_scheme_gets_http(api: httpx.Client) -> None:
    host = dead_url().removeprefix("http://")
    registry_id = create_registry(api, registry_body(f"  {host}/  "))
    assert api.get(f"{BASE}/{registry_id}").json()["url"] == f"http://{host}"


@pytest.mark.parametrize(("change", "reason"), [
    ({"name": " "}, "needs a name"),
    ({"type": None}, "needs a type"),
    ({"type": "quay"}, "unknown registry type"),
    ({"url": ""}, "needs a url"),
    ({"url": "ftp://127.0.0.1/"}, "scheme must be http or https"),
    ({"url": "http://user:pw@127.0.0.1:5000"}, "must not contain credentials"),
    ({"url": "http://127.0.0.1:5000/?x=1"}, "no query"),
    ({"credential": {"type": "kerberos"}}, "unknown credential type"),
    ({"ca_certificate": "not a certificate"}, "not a PEM certificate bundle"),
    ({"insecure": "yes"}, "insecure"),
])
def test_invalid_fields_are_refused(api: httpx.Client, change: dict[str, object], reason: str) -> None:
    body = {**registry_body(dead_url()), **change}
    r = api.post(BASE, json=body)
    assert r.status_code == 400, r.text
    assert codes(r) == ["BAD_REQUEST"] and reason in r.json()["errors"][0]["message"]


def test_private_address_refused_by_guard(api: httpx.Client) -> None:
    """Test servers allow only 127.0.0.0/8: 10.0.0.1 is private and not allowed."""
    r = api.post(BASE, json=registry_body("http://10.0.0.1:5000"))
    assert r.status_code == 400
    message = r.json()["errors"][0]["message"]
    assert "private" in message and "outbound.allowed_networks" in message
    registry_id = create_registry(api, registry_body(dead_url()))
    r = api.put(f"{BASE}/{registry_id}", json={"url": "http://10.0.0.1:5000"})
    assert r.status_code == 400 and "private" in r.json()["errors"][0]["message"]
    r = api.post(f"{BASE}/ping", json={"type": "docker-registry", "url": "http://10.0.0.1:5000"})
    assert r.status_code == 400 and "private" in r.json()["errors"][0]["message"]
    r = api.post(f"{BASE}/ping", json={"id": registry_id, "url": "http://169.254.169.254"})
    assert r.status_code == 400 and "link-local" in r.json()["errors"][0]["message"]


def test_duplicate_name_conflicts(api: httpx.Client) -> None:
    body = registry_body(dead_url())
    create_registry(api, body)
    r = api.post(BASE, json=body)
    assert r.status_code == 409 and codes(r) == ["CONFLICT"]
    other = create_registry(api, registry_body(dead_url()))
    r = api.put(f"{BASE}/{other}", json={"name": body["name"]})
    assert r.status_code == 409 and codes(r) == ["CONFLICT"]


def test_secret_never_returned(api: httpx.Client) -> None:
    registry_id = create_registry(api, registry_body(dead_url(), access_key="me", access_secret=SECRET))
    responses = [api.get(f"{BASE}/{registry_id}"), api.get(BASE, params={"page_size": 100}),
                 api.post(f"{BASE}/ping", json={"id": registry_id}),
                 api.get("/audit-logs", params={"q": "resource_type=registry", "page_size": 100})]
    for r in responses:
        assert SECRET not in r.text, r.request.url


def test_secret_stored_encrypted(api: httpx.Client, moorage: Server) -> None:
    registry_id = create_registry(api, registry_body(dead_url(), access_key="me", access_secret=SECRET))
    column = str(stored(moorage, registry_id, "access_secret"))
    assert SECRET not in column
    assert decrypt(column) == SECRET  # the server's key (outside the database) opens it


def test_update_keeps_secret_unless_a_new_one_is_given(api: httpx.Client, moorage: Server) -> None:
    registry_id = create_registry(api, registry_body(dead_url(), access_key="me", access_secret=SECRET))
    before = stored(moorage, registry_id, "access_secret")
    assert api.put(f"{BASE}/{registry_id}", json={"description": "new", "access_secret": "*****"}).status_code == 200
    assert api.put(f"{BASE}/{registry_id}", json={"access_key": "you"}).status_code == 200
    assert stored(moorage, registry_id, "access_secret") == before
    got = api.get(f"{BASE}/{registry_id}").json()
    assert (got["description"], got["credential"]["access_key"]) == ("new", "you")
    assert api.put(f"{BASE}/{registry_id}", json={"access_secret": "other"}).status_code == 200
    assert decrypt(str(stored(moorage, registry_id, "access_secret"))) == "other"
    assert api.put(f"{BASE}/{registry_id}", json={"access_secret": ""}).status_code == 200
    assert stored(moorage, registry_id, "access_secret") == ""
    assert api.get(f"{BASE}/{registry_id}").json()["credential"]["access_secret"] == ""


def test_update_changes_fields(api: httpx.Client) -> None:
    registry_id = create_registry(api, registry_body(dead_url()))
    url, name = dead_url(), unique()
    r = api.put(f"{BASE}/{registry_id}", json={"name": name, "url": url, "insecure": True,
                                               "credential_type": "oauth", "access_key": "", "access_secret": "tok"})
    assert r.status_code == 200, r.text
    got = api.get(f"{BASE}/{registry_id}").json()
    assert (got["name"], got["url"], got["insecure"], got["type"]) == (name, url, True, "docker-registry")
    assert got["credential"] == {"type": "oauth", "access_key": "", "access_secret": "*****"}


def test_ca_certificate_stored_and_cleared(api: httpx.Client) -> None:
    pem = ca_pem()
    registry_id = create_registry(api, registry_body("https://127.0.0.1:9", ca_certificate=pem))
    assert api.get(f"{BASE}/{registry_id}").json()["ca_certificate"] == pem
    assert api.put(f"{BASE}/{registry_id}", json={"ca_certificate": ""}).status_code == 200
    assert "ca_certificate" not in api.get(f"{BASE}/{registry_id}").json()


def test_unknown_registry_is_404(api: httpx.Client) -> None:
    for r in (api.get(f"{BASE}/987654"), api.put(f"{BASE}/987654", json={"name": "x"}),
              api.delete(f"{BASE}/987654"), api.get(f"{BASE}/987654/info"),
              api.post(f"{BASE}/ping", json={"id": 987654})):
        assert r.status_code == 404 and codes(r) == ["NOT_FOUND"], r.request.url


def test_delete_and_audit(api: httpx.Client) -> None:
    body = registry_body(dead_url())
    registry_id = create_registry(api, body)
    assert api.put(f"{BASE}/{registry_id}", json={"description": "x"}).status_code == 200
    assert api.delete(f"{BASE}/{registry_id}").status_code == 200
    assert api.get(f"{BASE}/{registry_id}").status_code == 404
    logs = api.get("/audit-logs", params={"q": f"resource={body['name']}", "page_size": 10}).json()
    assert sorted((e["operation"], e["resource_type"], e["username"]) for e in logs) == [
        ("create", "registry", "admin"), ("delete", "registry", "admin"), ("update", "registry", "admin")]


def test_info(api: httpx.Client) -> None:
    registry_id = create_registry(api, registry_body(dead_url(), "harbor", description="peer"))
    r = api.get(f"{BASE}/{registry_id}/info")
    assert r.status_code == 200
    assert r.json() == {
        "type": "harbor", "description": "peer",
        "supported_resource_filters": [{"type": "name", "style": "input"}, {"type": "tag", "style": "input"},
                                       {"type": "resource", "style": "radio", "values": ["image", "artifact"]}],
        "supported_triggers": ["manual", "scheduled"], "supported_copy_by_chunk": True}


def test_adapters(api: httpx.Client) -> None:
    assert api.get("/replication/adapters").json() == ["docker-registry", "harbor", "oci"]
    infos = api.get("/replication/adapterinfos").json()
    assert sorted(infos) == ["docker-registry", "harbor", "oci"]
    assert infos["harbor"] == {
        "endpoint_pattern": {"endpoint_type": "EndpointPatternTypeStandard", "endpoints": []},
        "credential_pattern": {"access_key_type": "AccessKeyTypeStandard",
                               "access_secret_type": "AccessSecretTypeStandard"}}


def test_read_refreshes_stale_status(api: httpx.Client, moorage: Server, reference: Server) -> None:
    """A first read checks health; later reads use the stored status until it is 30 s old."""
    body = registry_body(reference.url)
    registry_id = create_registry(api, body)
    assert api.get(f"{BASE}/{registry_id}").json()["status"] == "healthy"
    server_sql(moorage, "UPDATE registries SET status = 'unhealthy' WHERE id = $1", registry_id)
    assert api.get(f"{BASE}/{registry_id}").json()["status"] == "unhealthy"  # cached
    old = datetime(2001, 1, 1, tzinfo=UTC)
    server_sql(moorage, "UPDATE registries SET checked_at = $1 WHERE id = $2",
               old if "MOORAGE_DATABASE__URL" in moorage.env else old.strftime("%Y-%m-%d %H:%M:%S.%f"), registry_id)
    listed = api.get(BASE, params={"q": f"name={body['name']}"}).json()
    assert listed[0]["status"] == "healthy"

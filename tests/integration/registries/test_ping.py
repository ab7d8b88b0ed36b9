"""Pinging endpoints (``POST /registries/ping``) against real registries: Debian's docker-registry
and a second Moorage as a ``harbor`` endpoint with good and bad credentials; the recorded health."""

from __future__ import annotations

import httpx

from tests.common.databases import server_sql
from tests.common.servers import ADMIN, Server
from tests.integration.registries.conftest import BASE, create_registry, dead_url, harbor_body, registry_body


def ping(api: httpx.Client, **body: object) -> httpx.Response:
    return api.post(f"{BASE}/ping", json=body)


def test_ping_docker_registry(api: httpx.Client, reference: Server) -> None:
    registry_id = create_registry(api, registry_body(reference.url))
    r = ping(api, id=registry_id)
    assert r.status_code == 200, r.text
    assert api.get(f"{BASE}/{registry_id}").json()["status"] == "healthy"
    assert ping(api, type="docker-registry", url=reference.url).status_code == 200


def test_ping_moorage_with_good_credentials(api: httpx.Client, peer: Server) -> None:
    registry_id = create_registry(api, harbor_body(peer))
    r = ping(api, id=registry_id)
    assert r.status_code == 200, r.text
    assert api.get(f"{BASE}/{registry_id}").json()["status"] == "healthy"
    r = ping(api, type="harbor", url=peer.url, credential_type="basic", access_key=ADMIN[0], access_secret=ADMIN[1])
    assert r.status_code == 200, r.text


def test_ping_moorage_with_bad_credentials(api: httpx.Client, peer: Server) -> None:
    registry_id = create_registry(api, harbor_body(peer, password="wrong-password"))
    r = ping(api, id=registry_id)
    assert r.status_code == 400, r.text
    assert "unhealthy" in r.json()["errors"][0]["message"]
    assert api.get(f"{BASE}/{registry_id}").json()["status"] == "unhealthy"
    r = ping(api, type="harbor", url=peer.url, access_key=ADMIN[0], access_secret="wrong-password")
    assert r.status_code == 400, r.text


def test_ping_by_id_with_overrides_does_not_record(api: httpx.Client, peer: Server) -> None:
    """Fields sent with an id are tried instead of the stored ones; ``*****`` means the stored secret."""
    registry_id = create_registry(api, harbor_body(peer, password="wrong-password"))
    assert ping(api, id=registry_id, access_secret=ADMIN[1]).status_code == 200
    assert ping(api, id=registry_id, access_secret="*****").status_code == 400
    good = create_registry(api, harbor_body(peer))
    assert ping(api, id=good, access_secret="*****").status_code == 200
    assert ping(api, id=good, access_secret="wrong-password").status_code == 400
    assert api.get(f"{BASE}/{good}").json()["status"] == "healthy"  # the stored endpoint was never tried wrongly


def test_ping_unreachable(api: httpx.Client) -> None:
    registry_id = create_registry(api, registry_body(dead_url()))
    r = ping(api, id=registry_id)
    assert r.status_code == 400 and r.json()["errors"][0]["code"] == "BAD_REQUEST"
    assert api.get(f"{BASE}/{registry_id}").json()["status"] == "unhealthy"


def test_ping_needs_an_id_or_url(api: httpx.Client) -> None:
    r = ping(api, type="harbor")
    assert r.status_code == 400 and "url" in r.json()["errors"][0]["message"]


def test_unreadable_secret_makes_the_endpoint_unhealthy(api: httpx.Client, moorage: Server, peer: Server) -> None:
    """A stored secret that does not decrypt (the key changed, the row was tampered with) is
    reported, never a 500; sending the secret again repairs the endpoint."""
    registry_id = create_registry(api, harbor_body(peer))
    server_sql(moorage, "UPDATE registries SET access_secret = 'fernet:tampered', checked_at = NULL WHERE id = $1",
               registry_id)
    got = api.get(f"{BASE}/{registry_id}").json()
    assert got["status"] == "unhealthy"
    r = ping(api, id=registry_id)
    assert r.status_code == 400 and "cannot be read" in r.json()["errors"][0]["message"]
    assert ping(api, id=registry_id, access_secret=ADMIN[1]).status_code == 200
    assert api.put(f"{BASE}/{registry_id}", json={"access_secret": ADMIN[1]}).status_code == 200
    assert ping(api, id=registry_id).status_code == 200

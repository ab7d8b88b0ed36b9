"""Replication policies over Harbor's API: create, read, list, update, delete, validation,
the schedule a scheduled policy gets, and who may manage them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.common.servers import Server
from tests.integration.replication.conftest import (
    PASSWORD,
    create_policy,
    create_registry,
    policy_body,
    unique,
)


def test_create_and_read_push_policy(api: httpx.Client, peer_registry: int, peer: Server) -> None:
    body = policy_body(dest=peer_registry, dest_namespace="mirror", dest_namespace_replace_count=1,
                       filters=[{"type": "name", "value": "library/**", "decoration": "matches"},
                                {"type": "tag", "value": "v*", "decoration": "excludes"},
                                {"type": "resource", "value": "image"}],
                       replicate_deletion=True, speed=1024, copy_by_chunk=True, single_active_replication=True)
    r = api.post("/replication/policies", json=body)
    assert r.status_code == 201, r.text
    location = r.headers["location"]
    assert location.startswith("/api/v2.0/replication/policies/")
    got = api.get(location.removeprefix("/api/v2.0"))
    assert got.status_code == 200, got.text
    p = got.json()
    assert p["name"] == body["name"]
    assert p["src_registry"]["id"] == 0 and p["src_registry"]["name"] == "Local"
    assert p["dest_registry"]["id"] == peer_registry and p["dest_registry"]["url"] == peer.url
    assert p["dest_registry"]["type"] == "docker-registry"
    assert (p["dest_namespace"], p["dest_namespace_replace_count"]) == ("mirror", 1)
    assert p["filters"] == body["filters"][:2] + [{"type": "resource", "value": "image"}]
    assert p["trigger"] == {"type": "manual", "trigger_settings": {"cron": ""}}
    assert (p["replicate_deletion"], p["deletion"], p["override"], p["enabled"]) == (True, True, True, True)
    assert (p["speed"], p["copy_by_chunk"], p["single_active_replication"]) == (1024, True, True)
    assert p["creation_time"] and p["update_time"]


def test_list_filters_by_name_and_pages(api: httpx.Client, peer_registry: int) -> None:
    stem = unique("listed")
    ids = [create_policy(api, policy_body(dest=peer_registry, name=f"{stem}-{i}")) for i in range(3)]
    r = api.get("/replication/policies", params={"q": f"name=~{stem}", "page_size": 2})
    assert r.status_code == 200, r.text
    assert r.headers["x-total-count"] == "3"
    assert [p["id"] for p in r.json()] == ids[:2]
    assert 'rel="next"' in r.headers["link"]
    exact = api.get("/replication/policies", params={"q": f"name={stem}-2"})
    assert [p["id"] for p in exact.json()] == [ids[2]]


def test_duplicate_name_conflicts(api: httpx.Client, peer_registry: int) -> None:
    body = policy_body(dest=peer_registry)
    create_policy(api, body)
    r = api.post("/replication/policies", json=body)
    assert r.status_code == 409, r.text


@pytest.mark.parametrize(("change", "reason"), [
    ({"dest_registry": None}, "exactly one"),
    ({"src_registry": {"id": 1}}, "exactly one"),
    ({"trigger": {"type": "scheduled", "trigger_settings": {"cron": "0 0 * * *"}}}, "cron"),
    ({"filters": [{"type": "tag", "value": ""}]}, "doublestar pattern"),
    ({"filters": [{"type": "resource", "value": "chart"}]}, "resource"),
    ({"dest_namespace": "Not/Valid"}, "dest_namespace"),
    ({"dest_namespace_replace_count": -5}, "replace_count"),
])
def test_invalid_policies_are_refused(api: httpx.Client, peer_registry: int,
                                      change: dict[str, Any], reason: str) -> None:
    r = api.post("/replication/policies", json={**policy_body(dest=peer_registry), **change})
    assert r.status_code == 400, r.text
    assert reason in r.json()["errors"][0]["message"]


def test_unknown_registry_is_refused(api: httpx.Client) -> None:
    r = api.post("/replication/policies", json=policy_body(dest=987654))
    assert r.status_code == 400, r.text
    assert "registry 987654 not found" in r.json()["errors"][0]["message"]


def test_pull_policy_refuses_event_trigger(api: httpx.Client, peer_registry: int) -> None:
    r = api.post("/replication/policies", json=policy_body(src=peer_registry, trigger={"type": "event_based"}))
    assert r.status_code == 400, r.text


def test_update_replaces_fields(api: httpx.Client, peer_registry: int) -> None:
    body = policy_body(dest=peer_registry)
    policy_id = create_policy(api, body)
    changed = {**body, "description": "changed", "enabled": False, "override": False,
               "filters": [{"type": "name", "value": "x/**", "decoration": "matches"}]}
    r = api.put(f"/replication/policies/{policy_id}", json=changed)
    assert r.status_code == 200, r.text
    p = api.get(f"/replication/policies/{policy_id}").json()
    assert (p["description"], p["enabled"], p["override"]) == ("changed", False, False)
    assert p["filters"] == changed["filters"]


def test_update_to_a_taken_name_conflicts(api: httpx.Client, peer_registry: int) -> None:
    first = policy_body(dest=peer_registry)
    create_policy(api, first)
    second = policy_body(dest=peer_registry)
    policy_id = create_policy(api, second)
    r = api.put(f"/replication/policies/{policy_id}", json={**second, "name": first["name"]})
    assert r.status_code == 409, r.text


def test_delete_policy(api: httpx.Client, peer_registry: int) -> None:
    policy_id = create_policy(api, policy_body(dest=peer_registry))
    assert api.delete(f"/replication/policies/{policy_id}").status_code == 200
    assert api.get(f"/replication/policies/{policy_id}").status_code == 404
    assert api.delete(f"/replication/policies/{policy_id}").status_code == 404


def test_registry_in_use_by_a_policy_cannot_be_deleted(api: httpx.Client, peer: Server) -> None:
    registry_id = create_registry(api, peer.url)
    policy_id = create_policy(api, policy_body(dest=registry_id))
    assert api.delete(f"/registries/{registry_id}").status_code == 412
    assert api.delete(f"/replication/policies/{policy_id}").status_code == 200
    assert api.delete(f"/registries/{registry_id}").status_code == 200


def test_scheduled_policy_gets_a_schedule_until_disabled(api: httpx.Client, peer_registry: int
                                                         ) -> None:
    body = policy_body(dest=peer_registry, trigger={"type": "scheduled",
                                                    "trigger_settings": {"cron": "0 0 3 * * *"}})
    policy_id = create_policy(api, body)

    def scheduled() -> list[dict[str, Any]]:
        found, page = [], 1
        while True:
            listed = api.get("/schedules", params={"page": page, "page_size": 100})
            assert listed.status_code == 200, listed.text
            found += [s for s in listed.json() if s["vendor_type"] == "REPLICATION" and s["vendor_id"] == policy_id]
            if len(listed.json()) < 100:
                return found
            page += 1

    found = scheduled()
    assert len(found) == 1 and found[0]["cron"] == "0 0 3 * * *"
    assert api.put(f"/replication/policies/{policy_id}", json={**body, "enabled": False}).status_code == 200
    assert scheduled() == []


def test_non_admin_may_not_manage_policies(api: httpx.Client, new_user: Callable[..., dict[str, object]],
                                           as_user: Callable[[str, str], httpx.Client],
                                           peer_registry: int) -> None:
    user = new_user()
    client = as_user(str(user["username"]), PASSWORD)
    policy_id = create_policy(api, policy_body(dest=peer_registry))
    for method, path, payload in [("GET", "/replication/policies", None),
                                  ("POST", "/replication/policies", policy_body(dest=peer_registry)),
                                  ("GET", f"/replication/policies/{policy_id}", None),
                                  ("DELETE", f"/replication/policies/{policy_id}", None),
                                  ("POST", "/replication/executions", {"policy_id": policy_id}),
                                  ("GET", "/replication/executions", None)]:
        r = client.request(method, path, json=payload)
        assert r.status_code == 403, (method, path, r.text)

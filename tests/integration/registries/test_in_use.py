"""An endpoint in use cannot be deleted: 412 naming the replication policies and proxy-cache
projects that use it, until they are gone."""

from __future__ import annotations

import httpx

from tests.integration.registries.conftest import BASE, create_registry, dead_url, registry_body, unique


def test_delete_refused_while_a_policy_uses_it(api: httpx.Client) -> None:
    registry_id = create_registry(api, registry_body(dead_url()))
    policy = unique("policy")
    r = api.post("/replication/policies", json={
        "name": policy, "dest_registry": {"id": registry_id}, "dest_namespace": "", "filters": [],
        "trigger": {"type": "manual"}, "enabled": True, "override": True})
    assert r.status_code == 201, r.text
    policy_id = int(r.headers["location"].rsplit("/", 1)[1])
    r = api.delete(f"{BASE}/{registry_id}")
    assert r.status_code == 412, r.text
    assert r.json()["errors"][0]["code"] == "PRECONDITION" and policy in r.json()["errors"][0]["message"]
    assert api.get(f"{BASE}/{registry_id}").status_code == 200
    assert api.delete(f"/replication/policies/{policy_id}").status_code == 200
    assert api.delete(f"{BASE}/{registry_id}").status_code == 200


def test_delete_refused_while_a_proxy_project_uses_it(api: httpx.Client) -> None:
    registry_id = create_registry(api, registry_body(dead_url()))
    project = unique("proxy")
    r = api.post("/projects", json={"project_name": project, "registry_id": registry_id,
                                    "metadata": {"public": "true"}})
    assert r.status_code == 201, r.text
    r = api.delete(f"{BASE}/{registry_id}")
    assert r.status_code == 412, r.text
    assert project in r.json()["errors"][0]["message"]
    assert api.delete(f"/projects/{project}", headers={"X-Is-Resource-Name": "true"}).status_code == 200
    assert api.delete(f"{BASE}/{registry_id}").status_code == 200


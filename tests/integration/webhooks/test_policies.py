"""Webhook policies (``/projects/{p}/webhook/policies``): create, read, list, update, delete,
validation, the SSRF guard on target addresses, supported event types, and who may do what."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.common.backends import backend_server
from tests.common.servers import ADMIN, Server
from tests.integration.webhooks.conftest import Project, create_policy, create_project, policy_body, unique

EVENT_TYPES = ["PUSH_ARTIFACT", "PULL_ARTIFACT", "DELETE_ARTIFACT", "QUOTA_EXCEED", "QUOTA_WARNING",
               "TAG_RETENTION", "REPLICATION"]
HOOK = "http://127.0.0.1:9/hook"


def codes(r: httpx.Response) -> list[str]:
    return [e["code"] for e in r.json()["errors"]]


def test_create_read_list_update_delete(api: httpx.Client, project: Project) -> None:
    body = policy_body(HOOK, ["PUSH_ARTIFACT", "DELETE_ARTIFACT"], auth_header="Bearer s3cret",
                       payload_format="CloudEvents")
    r = api.post(project.policies, json=body)
    assert r.status_code == 201, r.text
    policy_id = int(r.headers["location"].rsplit("/", 1)[1])
    assert r.headers["location"] == f"/api/v2.0/projects/{project.id}/webhook/policies/{policy_id}"
    got = api.get(f"{project.policies}/{policy_id}")
    assert got.status_code == 200
    policy = got.json()
    assert {k: policy[k] for k in ("id", "name", "description", "project_id", "event_types", "creator", "enabled")} == {
        "id": policy_id, "name": body["name"], "description": "test", "project_id": project.id,
        "event_types": ["PUSH_ARTIFACT", "DELETE_ARTIFACT"], "creator": "admin", "enabled": True}
    assert policy["targets"] == [{"type": "http", "address": HOOK, "auth_header": "Bearer s3cret",
                                  "skip_cert_verify": False, "payload_format": "CloudEvents"}]
    assert policy["creation_time"] and policy["update_time"]

    second = create_policy(api, project, policy_body(HOOK, payload_format=""))
    listed = api.get(project.policies)
    assert listed.status_code == 200 and listed.headers["x-total-count"] == "2"
    assert [p["id"] for p in listed.json()] == [second, policy_id]  # newest first
    assert listed.json()[0]["targets"][0]["payload_format"] == "Default"  # the default for http
    page = api.get(project.policies, params={"page": 2, "page_size": 1})
    assert [p["id"] for p in page.json()] == [policy_id] and 'rel="prev"' in page.headers["link"]
    assert [p["id"] for p in api.get(project.policies, params={"q": f"name={body['name']}"}).json()] == [policy_id]
    assert [p["id"] for p in api.get(project.policies, params={"q": "name=~policy", "sort": "creation_time"}
                                     ).json()] == [policy_id, second]

    update = {**body, "enabled": False, "event_types": ["QUOTA_EXCEED"], "description": "changed",
              "targets": [{"type": "slack", "address": "http://127.0.0.1:9/slack"}]}
    assert api.put(f"{project.policies}/{policy_id}", json=update).status_code == 200
    policy = api.get(f"{project.policies}/{policy_id}").json()
    assert (policy["enabled"], policy["event_types"], policy["description"]) == (False, ["QUOTA_EXCEED"], "changed")
    assert policy["targets"] == [{"type": "slack", "address": "http://127.0.0.1:9/slack", "auth_header": "",
                                  "skip_cert_verify": False, "payload_format": "Default"}]

    assert api.delete(f"{project.policies}/{policy_id}").status_code == 200
    assert api.get(f"{project.policies}/{policy_id}").status_code == 404
    assert api.delete(f"{project.policies}/{policy_id}").status_code == 404
    assert api.get(project.policies).headers["x-total-count"] == "1"
    logs = api.get(f"/projects/{project.name}/auditlog-exts", params={"q": "resource_type=webhook_policy"}).json()
    assert sorted(e["operation"] for e in logs) == ["create", "create", "delete", "update"]
    assert all(e["username"] == "admin" and "s3cret" not in e["operation_description"] for e in logs)


def test_project_by_name_and_unknown_ids(api: httpx.Client, project: Project) -> None:
    headers = {"X-Is-Resource-Name": "true"}
    r = api.post(f"/projects/{project.name}/webhook/policies", json=policy_body(HOOK), headers=headers)
    assert r.status_code == 201
    assert r.headers["location"].startswith(f"/api/v2.0/projects/{project.name}/webhook/policies/")
    policy_id = int(r.headers["location"].rsplit("/", 1)[1])
    assert api.get(f"/projects/{project.name}/webhook/policies/{policy_id}", headers=headers).status_code == 200
    other = create_project(api)
    assert api.get(f"{other.policies}/{policy_id}").status_code == 404  # another project's policy
    for bad in (0, 987654321, 99999999999):
        r = api.get(f"{project.policies}/{bad}")
        assert r.status_code == 404 and codes(r) == ["NOT_FOUND"]
    assert api.get("/projects/987654321/webhook/policies").status_code == 404


def test_duplicate_names_conflict(api: httpx.Client, project: Project) -> None:
    first = policy_body(HOOK)
    create_policy(api, project, first)
    r = api.post(project.policies, json={**policy_body(HOOK), "name": first["name"]})
    assert r.status_code == 409 and codes(r) == ["CONFLICT"]
    other_id = create_policy(api, project, policy_body(HOOK))
    r = api.put(f"{project.policies}/{other_id}", json={**policy_body(HOOK), "name": first["name"]})
    assert r.status_code == 409
    create_policy(api, create_project(api), {**policy_body(HOOK), "name": first["name"]})  # other project: fine


@pytest.mark.parametrize("change", [
    {"event_types": ["NO_SUCH_EVENT"]}, {"event_types": []}, {"targets": []}, {"name": ""}, {"name": "x" * 256},
    {"targets": [{"type": "email", "address": HOOK}]},
    {"targets": [{"type": "slack", "address": HOOK, "payload_format": "CloudEvents"}]},
    {"targets": [{"type": "http", "address": HOOK, "payload_format": "Custom"}]},
    {"targets": [{"type": "http", "address": "ftp://127.0.0.1/"}]}, {"targets": [{"type": "http", "address": ""}]},
    {"targets": [{"type": "http", "address": "http://no-such-host.invalid/"}]},
    {"targets": [{"type": "http", "address": HOOK, "auth_header": "a\nb"}]},
    {"targets": [{"type": "http", "address": HOOK, "skip_cert_verify": "yes"}]}, {"enabled": "true"},
], ids=lambda c: ",".join(f"{k}={v}"[:40] for k, v in c.items()))
def test_invalid_policies_are_bad_requests(api: httpx.Client, project: Project, change: dict[str, object]) -> None:
    r = api.post(project.policies, json={**policy_body(HOOK), **change})
    assert r.status_code == 400 and codes(r) == ["BAD_REQUEST"], r.text
    assert api.get(project.policies).headers["x-total-count"] == "0"


def test_supported_event_types(api: httpx.Client, project: Project) -> None:
    r = api.get(f"/projects/{project.id}/webhook/events")
    assert r.status_code == 200
    assert r.json() == {"event_type": EVENT_TYPES, "notify_type": ["http", "slack"], "payload_formats": [
        {"notify_type": "http", "formats": ["Default", "CloudEvents"]},
        {"notify_type": "slack", "formats": ["Default"]}]}


@pytest.fixture(scope="module")
def strict_server(backend: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
                  ) -> Iterator[Server]:
    """A server with no allowed networks: the default, where only public addresses are reachable."""
    endpoint = request.getfixturevalue("moto_endpoint") if backend == "scaled" else None
    data_dir: Path = tmp_path_factory.mktemp(f"strict-{backend}")
    with backend_server(backend, data_dir, endpoint, {"MOORAGE_OUTBOUND__ALLOWED_NETWORKS": "[]"}) as server:
        yield server


@pytest.mark.parametrize("address", [
    "http://127.0.0.1/", "http://169.254.169.254/latest/meta-data/", "http://10.0.0.1/", "http://localhost:8080/",
    "http://[::1]/", "http://[::ffff:127.0.0.1]/", "http://192.168.0.10/", "http://0.0.0.0/", "http://2130706433/",
])
def test_ssrf_guard_refuses_private_targets(strict_server: Server, address: str) -> None:
    with httpx.Client(base_url=f"{strict_server.url}/api/v2.0", auth=ADMIN, timeout=60) as api:
        project = create_project(api)
        r = api.post(project.policies, json=policy_body(address))
        assert r.status_code == 400 and codes(r) == ["BAD_REQUEST"]
        assert "refused" in r.json()["errors"][0]["message"]
        assert "allowed_networks" in r.json()["errors"][0]["message"]
        slack = policy_body("http://93.184.215.14/")
        slack["targets"] = [{"type": "http", "address": "http://93.184.215.14/"}, {"type": "slack", "address": address}]
        assert api.post(project.policies, json=slack).status_code == 400  # every target is checked
        policy_id = create_policy(api, project, policy_body("http://93.184.215.14/hook"))  # public: fine
        r = api.put(f"{project.policies}/{policy_id}", json=policy_body(address))
        assert r.status_code == 400
        assert api.get(f"{project.policies}/{policy_id}").json()["targets"][0]["address"] == \
            "http://93.184.215.14/hook"


ALL = ("list", "read", "create", "update", "delete")
ROLE_ACTIONS = {"projectAdmin": ALL, "maintainer": ("list", "read"), "developer": (), "guest": (),
                "limitedGuest": (), "nonMember": ()}


@pytest.mark.parametrize("role", [*ROLE_ACTIONS, "anonymous"])
def test_roles(api: httpx.Client, project: Project, member_client: Callable[[Project, str], httpx.Client],
               role: str) -> None:
    client = member_client(project, role)
    policy_id = create_policy(api, project, policy_body(HOOK))
    allowed = ROLE_ACTIONS.get(role, ())
    one = f"{project.policies}/{policy_id}"
    attempts = {
        "list": lambda: client.get(project.policies),
        "read": lambda: client.get(one),
        "events": lambda: client.get(f"/projects/{project.id}/webhook/events"),
        "lasttrigger": lambda: client.get(f"/projects/{project.id}/webhook/lasttrigger"),
        "executions": lambda: client.get(f"{one}/executions"),
        "update": lambda: client.put(one, json=policy_body(HOOK)),
        "create": lambda: client.post(project.policies, json=policy_body(HOOK)),
        "delete": lambda: client.delete(one),
    }
    needs = {"events": "read", "lasttrigger": "read", "executions": "list"}
    for name, attempt in attempts.items():
        r = attempt()
        if needs.get(name, name) in allowed:
            assert r.status_code in (200, 201), (role, name, r.text)
        else:
            expected = 401 if role == "anonymous" else 403
            assert r.status_code == expected, (role, name, r.status_code, r.text)
    if role not in ("projectAdmin",):
        assert api.get(one).status_code == 200  # nothing was deleted


def test_policies_of_public_projects_are_not_public(api: httpx.Client,
                                                    member_client: Callable[[Project, str], httpx.Client]) -> None:
    """Public projects let anyone read artifacts, not webhook policies (they hold auth headers)."""
    project = create_project(api, public=True)
    create_policy(api, project, {**policy_body(HOOK), "name": unique("pub")})
    assert member_client(project, "nonMember").get(project.policies).status_code == 403
    assert member_client(project, "anonymous").get(project.policies).status_code == 401

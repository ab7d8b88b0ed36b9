"""System endpoints: ping, health, systeminfo, statistics, configurations, OpenAPI."""

from __future__ import annotations

import httpx

from tests.common.oci import push_image


def test_ping(anonymous: httpx.Client) -> None:
    r = anonymous.get("/ping")
    assert r.status_code == 200 and r.text == "Pong"


def test_health_lists_components(anonymous: httpx.Client) -> None:
    body = anonymous.get("/health").json()
    assert body["status"] == "healthy"
    assert {c["name"]: c["status"] for c in body["components"]} == {
        "core": "healthy", "database": "healthy", "storage": "healthy"}


def test_systeminfo_anonymous_gets_only_sign_in_facts(anonymous: httpx.Client) -> None:
    body = anonymous.get("/systeminfo").json()
    assert body["auth_mode"] == "db_auth" and body["self_registration"] is False
    assert "harbor_version" not in body and "registry_url" not in body
    assert "project_creation_restriction" not in body


def test_systeminfo_signed_in_gets_registry_facts(api: httpx.Client) -> None:
    body = api.get("/systeminfo").json()
    assert body["project_creation_restriction"] == "everyone"
    assert body["harbor_version"].startswith("moorage-")
    assert body["registry_url"] and body["external_url"].startswith("http")
    assert body["registry_storage_provider_name"] in ("filesystem", "s3")


def test_statistics_for_admin_include_storage(api: httpx.Client, client: httpx.Client) -> None:
    push_image(client, "library/stats", "v1")
    body = api.get("/statistics").json()
    assert body["total_project_count"] == body["public_project_count"] + body["private_project_count"]
    assert body["public_repo_count"] >= 1 and body["total_storage_consumption"] > 0


def test_statistics_need_a_signed_in_caller(anonymous: httpx.Client) -> None:
    r = anonymous.get("/statistics")
    assert r.status_code == 401 and r.json()["errors"][0]["code"] == "UNAUTHORIZED"


def test_configurations_shape(api: httpx.Client) -> None:
    body = api.get("/configurations").json()
    assert body["auth_mode"] == {"value": "db_auth", "editable": False}
    assert body["self_registration"] == {"value": False, "editable": True}
    assert body["project_creation_restriction"]["value"] == "everyone"
    assert body["token_expiration"]["value"] == 30 and body["robot_name_prefix"]["value"] == "robot$"


def test_configuration_update_is_stored_and_audited(api: httpx.Client) -> None:
    assert api.put("/configurations", json={"banner_message": "maintenance at noon"}).status_code == 200
    try:
        assert api.get("/configurations").json()["banner_message"]["value"] == "maintenance at noon"
        logs = api.get("/auditlog-exts", params={"q": "resource_type=configuration", "page_size": 1}).json()
        assert logs[0]["resource"] == "banner_message" and logs[0]["operation"] == "update"
    finally:
        api.put("/configurations", json={"banner_message": ""})


def test_configuration_rejects_bad_input_without_partial_change(api: httpx.Client) -> None:
    before = api.get("/configurations").json()
    for body in ({"token_expiration": "ten"}, {"project_creation_restriction": "nobody"},
                 {"no_such_key": 1}, {"auth_mode": "ldap_auth"}, {"banner_message": "x", "token_expiration": 0}):
        r = api.put("/configurations", json=body)
        assert r.status_code == 400 and r.json()["errors"][0]["code"] == "BAD_REQUEST", body
    assert api.get("/configurations").json() == before


def test_configurations_are_admin_only(anonymous: httpx.Client) -> None:
    assert anonymous.get("/configurations").status_code == 401


def test_openapi_document_lists_implemented_paths(anonymous: httpx.Client) -> None:
    doc = anonymous.get("/openapi.json").json()
    assert doc["openapi"].startswith("3.")
    for path in ("/api/v2.0/ping", "/api/v2.0/systeminfo", "/api/v2.0/configurations", "/api/v2.0/auditlog-exts"):
        assert path in doc["paths"]


def test_unknown_api_path_gets_harbor_envelope(anonymous: httpx.Client) -> None:
    r = anonymous.get("/no-such-thing")
    assert r.status_code == 404 and r.json()["errors"][0]["code"] == "NOT_FOUND"

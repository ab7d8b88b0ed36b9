"""/v2/ base endpoint, routing errors, and malformed input (never a 500)."""

from __future__ import annotations

import httpx
import pytest

from tests.common.oci import error_codes, unique_repo


def test_base_answers_200_with_api_version(client: httpx.Client) -> None:
    r = client.get("/v2/")
    assert r.status_code == 200
    assert r.headers["docker-distribution-api-version"] == "registry/2.0"


def test_error_responses_carry_the_api_version_header(client: httpx.Client) -> None:
    r = client.get(f"/v2/{unique_repo()}/manifests/latest")
    assert r.headers["docker-distribution-api-version"] == "registry/2.0"


@pytest.mark.parametrize("name", ["Library/UPPER", "library/a..b", "library/-x", "library//x", "noproject"])
def test_invalid_repository_name_is_name_invalid(client: httpx.Client, name: str) -> None:
    r = client.get(f"/v2/{name}/tags/list")
    assert r.status_code == 400
    assert error_codes(r) == ["NAME_INVALID"]


def test_invalid_tag_is_tag_invalid(client: httpx.Client) -> None:
    r = client.get(f"/v2/{unique_repo()}/manifests/-bad")
    assert r.status_code == 400
    assert error_codes(r) == ["TAG_INVALID"]


@pytest.mark.parametrize("digest", ["sha256:xyz", "sha256:" + "a" * 63, "md5:" + "a" * 32, "sha256:" + "A" * 64])
def test_invalid_digest_is_digest_invalid(client: httpx.Client, digest: str) -> None:
    r = client.get(f"/v2/{unique_repo()}/blobs/{digest}")
    assert r.status_code == 400
    assert error_codes(r) == ["DIGEST_INVALID"]


def test_unknown_method_on_known_path_is_unsupported(client: httpx.Client) -> None:
    r = client.request("PATCH", f"/v2/{unique_repo()}/manifests/latest")
    assert r.status_code == 405
    assert error_codes(r) == ["UNSUPPORTED"]


def test_unknown_repository_is_name_unknown(client: httpx.Client) -> None:
    r = client.get(f"/v2/{unique_repo()}/tags/list")
    assert r.status_code == 404
    assert error_codes(r) == ["NAME_UNKNOWN"]


def test_push_to_missing_project_is_refused_clearly(client: httpx.Client) -> None:
    r = client.post("/v2/no-such-project/app/blobs/uploads/")
    assert r.status_code == 404
    assert error_codes(r) == ["NAME_UNKNOWN"]
    assert "project no-such-project not found" in r.json()["errors"][0]["message"]


def test_head_error_has_no_body(client: httpx.Client) -> None:
    r = client.head(f"/v2/{unique_repo()}/manifests/latest")
    assert r.status_code == 404
    assert r.content == b""

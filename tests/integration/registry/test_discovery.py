"""Tags list and catalog pagination; the referrers API."""

from __future__ import annotations

import json

import httpx

from tests.common.oci import (
    EMPTY_DIGEST,
    OCI_EMPTY,
    OCI_INDEX,
    OCI_MANIFEST,
    descriptor,
    error_codes,
    push_blob,
    push_image,
    put_manifest,
    sha256,
    unique_repo,
)


def test_tags_are_listed_in_lexical_order(client: httpx.Client) -> None:
    repo = unique_repo()
    digest = push_image(client, repo, "b")
    body = client.get(f"/v2/{repo}/manifests/{digest}").content
    for tag in ["a", "Z", "a1", "B", "_x", "10", "9"]:
        put_manifest(client, repo, tag, body)
    r = client.get(f"/v2/{repo}/tags/list")
    assert r.json() == {"name": repo, "tags": sorted(["a", "Z", "a1", "B", "_x", "10", "9", "b"])}


def test_tags_pagination_with_n_last_and_link(client: httpx.Client) -> None:
    repo = unique_repo()
    digest = push_image(client, repo, "t00")
    body = client.get(f"/v2/{repo}/manifests/{digest}").content
    for i in range(1, 7):
        put_manifest(client, repo, f"t{i:02d}", body)
    r = client.get(f"/v2/{repo}/tags/list", params={"n": 3})
    assert r.json()["tags"] == ["t00", "t01", "t02"]
    assert r.headers["link"] == f'</v2/{repo}/tags/list?n=3&last=t02>; rel="next"'
    r = client.get(f"/v2/{repo}/tags/list", params={"n": 3, "last": "t02"})
    assert r.json()["tags"] == ["t03", "t04", "t05"]
    r = client.get(f"/v2/{repo}/tags/list", params={"n": 3, "last": "t05"})
    assert r.json()["tags"] == ["t06"] and "link" not in r.headers


def test_tags_n_zero_is_empty(client: httpx.Client) -> None:
    repo = unique_repo()
    push_image(client, repo, "v1")
    assert client.get(f"/v2/{repo}/tags/list", params={"n": 0}).json()["tags"] == []


def test_tags_invalid_n_is_400(client: httpx.Client) -> None:
    repo = unique_repo()
    push_image(client, repo, "v1")
    r = client.get(f"/v2/{repo}/tags/list", params={"n": "-1"})
    assert r.status_code == 400


def test_catalog_lists_repositories_with_pagination(client: httpx.Client) -> None:
    prefix = unique_repo("cat")
    repos = [f"{prefix}/r{i}" for i in range(3)]
    for repo in repos:
        push_image(client, repo, "v1")
    everything = client.get("/v2/_catalog").json()["repositories"]
    assert everything == sorted(everything)
    assert all(repo in everything for repo in repos)
    r = client.get("/v2/_catalog", params={"n": 1, "last": repos[0]})
    assert r.json()["repositories"] == [repos[1]]
    assert r.headers["link"].endswith('; rel="next"')


def _artifact(client: httpx.Client, repo: str, subject: str, artifact_type: str, size: int) -> bytes:
    payload = json.dumps({"kind": artifact_type}).encode()
    push_blob(client, repo, payload)
    body = json.dumps({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST, "artifactType": artifact_type,
        "config": {"mediaType": OCI_EMPTY, "digest": EMPTY_DIGEST, "size": 2},
        "layers": [descriptor("application/json", payload)],
        "subject": {"mediaType": OCI_MANIFEST, "digest": subject, "size": size},
        "annotations": {"org.example.kind": artifact_type},
    }).encode()
    r = put_manifest(client, repo, sha256(body), body)
    assert r.status_code == 201, r.text
    assert r.headers["oci-subject"] == subject
    return body


def test_referrers_lists_manifests_with_subject(client: httpx.Client) -> None:
    repo = unique_repo()
    subject = push_image(client, repo, "v1")
    size = len(client.get(f"/v2/{repo}/manifests/v1").content)
    sig = _artifact(client, repo, subject, "application/vnd.example.signature", size)
    sbom = _artifact(client, repo, subject, "application/vnd.example.sbom", size)
    r = client.get(f"/v2/{repo}/referrers/{subject}")
    assert r.status_code == 200
    assert r.headers["content-type"] == OCI_INDEX
    index = r.json()
    assert index["schemaVersion"] == 2 and index["mediaType"] == OCI_INDEX
    got = {m["digest"]: m for m in index["manifests"]}
    assert set(got) == {sha256(sig), sha256(sbom)}
    assert got[sha256(sig)]["artifactType"] == "application/vnd.example.signature"
    assert got[sha256(sig)]["size"] == len(sig)
    assert got[sha256(sig)]["annotations"] == {"org.example.kind": "application/vnd.example.signature"}


def test_referrers_artifact_type_filter(client: httpx.Client) -> None:
    repo = unique_repo()
    subject = push_image(client, repo, "v1")
    _artifact(client, repo, subject, "application/vnd.example.signature", 10)
    sbom = _artifact(client, repo, subject, "application/vnd.example.sbom", 10)
    r = client.get(f"/v2/{repo}/referrers/{subject}", params={"artifactType": "application/vnd.example.sbom"})
    assert r.headers["oci-filters-applied"] == "artifactType"
    assert [m["digest"] for m in r.json()["manifests"]] == [sha256(sbom)]


def test_referrers_empty_index_when_none(client: httpx.Client) -> None:
    repo = unique_repo()
    subject = push_image(client, repo, "v1")
    r = client.get(f"/v2/{repo}/referrers/{subject}")
    assert r.status_code == 200 and r.json()["manifests"] == []
    r = client.get(f"/v2/{unique_repo()}/referrers/{subject}")
    assert r.status_code == 200 and r.json()["manifests"] == []


def test_referrer_may_be_pushed_before_its_subject(client: httpx.Client) -> None:
    repo = unique_repo()
    missing = sha256(b"subject arrives later")
    body = _artifact(client, repo, missing, "application/vnd.example.early", 5)
    assert [m["digest"] for m in client.get(f"/v2/{repo}/referrers/{missing}").json()["manifests"]] == [
        sha256(body)]


def test_deleting_a_referrer_removes_it_from_the_list(client: httpx.Client) -> None:
    repo = unique_repo()
    subject = push_image(client, repo, "v1")
    sig = _artifact(client, repo, subject, "application/vnd.example.signature", 10)
    assert client.delete(f"/v2/{repo}/manifests/{sha256(sig)}").status_code == 202
    assert client.get(f"/v2/{repo}/referrers/{subject}").json()["manifests"] == []


def test_referrers_with_invalid_digest_is_400(client: httpx.Client) -> None:
    r = client.get(f"/v2/{unique_repo()}/referrers/sha256:nothex")
    assert r.status_code == 400 and error_codes(r) == ["DIGEST_INVALID"]


def test_index_subject_header_on_index_referrer(client: httpx.Client) -> None:
    repo = unique_repo()
    subject = push_image(client, repo, "v1")
    child = push_image(client, repo, "child")
    child_body = client.get(f"/v2/{repo}/manifests/{child}").content
    index = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "artifactType": "application/vnd.example.bundle",
                        "manifests": [descriptor(OCI_MANIFEST, child_body)],
                        "subject": {"mediaType": OCI_MANIFEST, "digest": subject, "size": 1}}).encode()
    r = put_manifest(client, repo, sha256(index), index, OCI_INDEX)
    assert r.status_code == 201 and r.headers["oci-subject"] == subject
    listed = client.get(f"/v2/{repo}/referrers/{subject}").json()["manifests"]
    assert listed[0]["artifactType"] == "application/vnd.example.bundle"
    assert listed[0]["mediaType"] == OCI_INDEX

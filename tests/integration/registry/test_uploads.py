"""Blob uploads: sessions, chunks, monolithic, mount, status, cancel, digest verification."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator

import httpx

from tests.common.oci import error_codes, push_blob, sha256, unique_repo


def start(client: httpx.Client, repo: str) -> str:
    r = client.post(f"/v2/{repo}/blobs/uploads/")
    assert r.status_code == 202, r.text
    assert r.headers["docker-upload-uuid"]
    assert r.headers["range"] == "0-0"
    return r.headers["location"]


def test_post_starts_a_session_with_location(client: httpx.Client) -> None:
    repo = unique_repo()
    location = start(client, repo)
    assert location.startswith(f"/v2/{repo}/blobs/uploads/")


def test_chunked_upload_with_content_range(client: httpx.Client) -> None:
    repo, data = unique_repo(), os.urandom(10_000)
    loc = start(client, repo)
    r = client.patch(loc, content=data[:4000], headers={"Content-Range": "0-3999",
                                                        "Content-Type": "application/octet-stream"})
    assert r.status_code == 202
    assert r.headers["range"] == "0-3999"
    loc = r.headers["location"]
    r = client.patch(loc, content=data[4000:], headers={"Content-Range": "4000-9999"})
    assert r.status_code == 202 and r.headers["range"] == "0-9999"
    r = client.put(r.headers["location"], params={"digest": sha256(data)})
    assert r.status_code == 201
    assert r.headers["docker-content-digest"] == sha256(data)
    assert r.headers["location"] == f"/v2/{repo}/blobs/{sha256(data)}"
    assert client.get(f"/v2/{repo}/blobs/{sha256(data)}").content == data


def test_put_with_final_chunk(client: httpx.Client) -> None:
    repo, data = unique_repo(), os.urandom(5000)
    loc = start(client, repo)
    loc = client.patch(loc, content=data[:1000]).headers["location"]
    r = client.put(loc, params={"digest": sha256(data)}, content=data[1000:])
    assert r.status_code == 201
    assert client.get(f"/v2/{repo}/blobs/{sha256(data)}").content == data


def test_out_of_order_chunk_is_416_and_upload_continues(client: httpx.Client) -> None:
    repo, data = unique_repo(), os.urandom(300)
    loc = start(client, repo)
    loc = client.patch(loc, content=data[:100], headers={"Content-Range": "0-99"}).headers["location"]
    r = client.patch(loc, content=data[150:], headers={"Content-Range": "150-299"})
    assert r.status_code == 416
    assert error_codes(r) == ["BLOB_UPLOAD_INVALID"]
    assert r.headers["range"] == "0-99"
    r = client.patch(loc, content=data[100:], headers={"Content-Range": "100-299"})
    assert r.status_code == 202
    assert client.put(loc, params={"digest": sha256(data)}).status_code == 201


def test_content_range_disagreeing_with_length_is_416(client: httpx.Client) -> None:
    loc = start(client, unique_repo())
    r = client.patch(loc, content=b"12345", headers={"Content-Range": "0-9"})
    assert r.status_code == 416


def test_chunked_transfer_encoding_body(client: httpx.Client) -> None:
    repo, data = unique_repo(), os.urandom(200_000)

    def gen() -> Iterator[bytes]:
        for i in range(0, len(data), 7000):
            yield data[i : i + 7000]

    loc = start(client, repo)
    r = client.patch(loc, content=gen())
    assert r.status_code == 202 and r.headers["range"] == f"0-{len(data) - 1}"
    assert client.put(r.headers["location"], params={"digest": sha256(data)}).status_code == 201
    assert client.get(f"/v2/{repo}/blobs/{sha256(data)}").content == data


def test_monolithic_post_with_digest(client: httpx.Client) -> None:
    repo, data = unique_repo(), os.urandom(1234)
    r = client.post(f"/v2/{repo}/blobs/uploads/", params={"digest": sha256(data)}, content=data)
    assert r.status_code == 201
    assert r.headers["docker-content-digest"] == sha256(data)
    assert client.get(f"/v2/{repo}/blobs/{sha256(data)}").content == data


def test_empty_blob(client: httpx.Client) -> None:
    repo = unique_repo()
    digest = push_blob(client, repo, b"")
    r = client.get(f"/v2/{repo}/blobs/{digest}")
    assert r.status_code == 200 and r.content == b""


def test_sha512_digest(client: httpx.Client) -> None:
    repo, data = unique_repo(), os.urandom(4096)
    digest = "sha512:" + hashlib.sha512(data).hexdigest()
    loc = start(client, repo)
    r = client.put(loc, params={"digest": digest}, content=data)
    assert r.status_code == 201
    got = client.get(f"/v2/{repo}/blobs/{digest}")
    assert got.status_code == 200 and got.content == data


def test_wrong_digest_is_digest_invalid_and_nothing_visible(client: httpx.Client) -> None:
    repo, data = unique_repo(), b"actual content"
    claimed = sha256(b"other content")
    loc = start(client, repo)
    r = client.put(loc, params={"digest": claimed}, content=data)
    assert r.status_code == 400 and error_codes(r) == ["DIGEST_INVALID"]
    assert client.head(f"/v2/{repo}/blobs/{claimed}").status_code == 404
    assert client.head(f"/v2/{repo}/blobs/{sha256(data)}").status_code == 404
    assert client.get(loc).status_code == 404


def test_put_without_digest_is_digest_invalid(client: httpx.Client) -> None:
    loc = start(client, unique_repo())
    r = client.put(loc, content=b"abc")
    assert r.status_code == 400 and error_codes(r) == ["DIGEST_INVALID"]


def test_get_upload_status(client: httpx.Client) -> None:
    repo = unique_repo()
    loc = start(client, repo)
    loc = client.patch(loc, content=b"x" * 50).headers["location"]
    r = client.get(loc)
    assert r.status_code == 204
    assert r.headers["range"] == "0-49"
    assert r.headers["location"] == loc


def test_delete_cancels_upload(client: httpx.Client) -> None:
    loc = start(client, unique_repo())
    client.patch(loc, content=b"abc")
    assert client.delete(loc).status_code == 204
    r = client.get(loc)
    assert r.status_code == 404 and error_codes(r) == ["BLOB_UPLOAD_UNKNOWN"]


def test_unknown_upload_is_blob_upload_unknown(client: httpx.Client) -> None:
    r = client.patch(f"/v2/{unique_repo()}/blobs/uploads/00000000-0000-0000-0000-000000000000", content=b"x")
    assert r.status_code == 404 and error_codes(r) == ["BLOB_UPLOAD_UNKNOWN"]


def test_upload_from_other_repository_is_unknown(client: httpx.Client) -> None:
    loc = start(client, unique_repo())
    other = unique_repo()
    r = client.get(f"/v2/{other}/blobs/uploads/{loc.rsplit('/', 1)[1]}")
    assert r.status_code == 404


def test_cross_repository_mount(client: httpx.Client) -> None:
    src, dst = unique_repo(), unique_repo()
    digest = push_blob(client, src, b"mount me")
    r = client.post(f"/v2/{dst}/blobs/uploads/", params={"mount": digest, "from": src})
    assert r.status_code == 201
    assert r.headers["location"] == f"/v2/{dst}/blobs/{digest}"
    assert client.get(f"/v2/{dst}/blobs/{digest}").content == b"mount me"


def test_mount_of_unknown_blob_starts_upload(client: httpx.Client) -> None:
    src, dst = unique_repo(), unique_repo()
    push_blob(client, src, b"exists")
    r = client.post(f"/v2/{dst}/blobs/uploads/", params={"mount": sha256(b"absent"), "from": src})
    assert r.status_code == 202
    assert "/blobs/uploads/" in r.headers["location"]


def test_mount_without_from_finds_blob_in_same_project(client: httpx.Client) -> None:
    src, dst = unique_repo(), unique_repo()
    digest = push_blob(client, src, b"automatic discovery")
    r = client.post(f"/v2/{dst}/blobs/uploads/", params={"mount": digest})
    assert r.status_code == 201
    assert client.get(f"/v2/{dst}/blobs/{digest}").content == b"automatic discovery"


def test_mount_with_invalid_digest_is_digest_invalid(client: httpx.Client) -> None:
    r = client.post(f"/v2/{unique_repo()}/blobs/uploads/", params={"mount": "nope", "from": unique_repo()})
    assert r.status_code == 400 and error_codes(r) == ["DIGEST_INVALID"]

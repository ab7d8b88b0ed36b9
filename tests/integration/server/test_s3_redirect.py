"""Blob GETs redirect to presigned S3 URLs when storage.s3.redirect is on (off by default)."""

from __future__ import annotations

import os
from pathlib import Path

import httpx

from tests.common.oci import push_blob, unique_repo
from tests.common.s3 import new_bucket, s3_env
from tests.common.servers import ADMIN, start_moorage


def test_blob_get_redirects_to_a_working_presigned_url(moto_endpoint: str, tmp_path: Path) -> None:
    env = s3_env(moto_endpoint, new_bucket(moto_endpoint), redirect=True)
    with start_moorage(tmp_path, extra_env=env) as server, httpx.Client(auth=ADMIN, base_url=server.url) as c:
        repo, data = unique_repo(), os.urandom(10_000)
        digest = push_blob(c, repo, data)
        r = c.get(f"/v2/{repo}/blobs/{digest}")
        assert r.status_code == 307
        assert r.headers["location"].startswith(moto_endpoint)
        assert "Signature" in r.headers["location"] or "X-Amz-Signature" in r.headers["location"]
        assert httpx.get(r.headers["location"]).content == data
        head = c.head(f"/v2/{repo}/blobs/{digest}")  # HEAD is answered directly
        assert head.status_code == 200 and head.headers["content-length"] == "10000"
        ranged = c.get(f"/v2/{repo}/blobs/{digest}", headers={"Range": "bytes=0-9"})
        assert ranged.status_code == 206 and ranged.content == data[:10]


def test_s3_without_redirect_streams_through_the_registry(moto_endpoint: str, tmp_path: Path) -> None:
    env = s3_env(moto_endpoint, new_bucket(moto_endpoint))
    with start_moorage(tmp_path, extra_env=env) as server, httpx.Client(auth=ADMIN, base_url=server.url) as c:
        repo, data = unique_repo(), os.urandom(3000)
        digest = push_blob(c, repo, data)
        r = c.get(f"/v2/{repo}/blobs/{digest}")
        assert r.status_code == 200 and r.content == data

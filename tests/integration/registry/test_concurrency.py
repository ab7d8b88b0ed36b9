"""Concurrent pushes end in a consistent state."""

from __future__ import annotations

import asyncio
import json
import os

import httpx

from tests.common.oci import OCI_MANIFEST, image_manifest, sha256, unique_repo
from tests.common.servers import ADMIN, Server


async def _push(c: httpx.AsyncClient, repo: str, data: bytes, chunked: bool) -> int:
    digest = sha256(data)
    if not chunked:
        r = await c.post(f"/v2/{repo}/blobs/uploads/", params={"digest": digest}, content=data)
        return r.status_code
    loc = (await c.post(f"/v2/{repo}/blobs/uploads/")).headers["location"]
    half = len(data) // 2
    loc = (await c.patch(loc, content=data[:half])).headers["location"]
    return (await c.put(loc, params={"digest": digest}, content=data[half:])).status_code


def test_50_concurrent_distinct_blob_pushes(moorage: Server) -> None:
    repo = unique_repo()
    blobs = [os.urandom(64 * 1024 + i) for i in range(50)]

    async def run() -> list[int]:
        async with httpx.AsyncClient(auth=ADMIN, base_url=moorage.url, timeout=120) as c:
            return await asyncio.gather(*[_push(c, repo, b, chunked=i % 2 == 0) for i, b in enumerate(blobs)])

    assert asyncio.run(run()) == [201] * 50
    with httpx.Client(auth=ADMIN, base_url=moorage.url) as c:
        for b in blobs:
            assert c.get(f"/v2/{repo}/blobs/{sha256(b)}").content == b


def test_20_concurrent_pushes_of_one_blob(moorage: Server) -> None:
    repos = [unique_repo() for _ in range(4)]
    data = os.urandom(512 * 1024)

    async def run() -> list[int]:
        async with httpx.AsyncClient(auth=ADMIN, base_url=moorage.url, timeout=120) as c:
            return await asyncio.gather(*[_push(c, repos[i % 4], data, chunked=i % 3 == 0) for i in range(20)])

    assert asyncio.run(run()) == [201] * 20
    assert len(moorage.stored_blob_paths(sha256(data))) == 1
    with httpx.Client(auth=ADMIN, base_url=moorage.url) as c:
        for repo in repos:
            assert c.get(f"/v2/{repo}/blobs/{sha256(data)}").content == data


def test_16_concurrent_manifest_pushes_to_one_tag(moorage: Server) -> None:
    repo = unique_repo()
    with httpx.Client(auth=ADMIN, base_url=moorage.url) as c:
        bodies = [image_manifest(c, repo) for _ in range(16)]

    async def run() -> list[int]:
        async with httpx.AsyncClient(auth=ADMIN, base_url=moorage.url, timeout=120) as c:
            rs = await asyncio.gather(*[
                c.put(f"/v2/{repo}/manifests/latest", content=b, headers={"Content-Type": OCI_MANIFEST})
                for b in bodies])
            return [r.status_code for r in rs]

    assert asyncio.run(run()) == [201] * 16
    with httpx.Client(auth=ADMIN, base_url=moorage.url) as c:
        tags = c.get(f"/v2/{repo}/tags/list").json()["tags"]
        assert tags == ["latest"]
        current = c.get(f"/v2/{repo}/manifests/latest")
        assert current.status_code == 200
        assert current.content in bodies
        assert current.headers["docker-content-digest"] == sha256(current.content)
        for b in bodies:  # every pushed manifest stays pullable by digest
            assert c.get(f"/v2/{repo}/manifests/{sha256(b)}").content == b
            assert json.loads(b)["config"]["digest"]

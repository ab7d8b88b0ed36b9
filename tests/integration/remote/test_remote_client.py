"""The remote registry client and the copy engine against real registries: Debian's
docker-registry (no auth) and Moorage (Docker token flow), over real HTTP."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from moorage.config.settings import ReplicationSettings
from moorage.domain.copier import ArtifactCopier, CopyStopped
from moorage.domain.outbound import OutboundGuard
from moorage.domain.remote import (
    Endpoint,
    RemoteDenied,
    RemoteNotFound,
    RemoteRefused,
    RemoteRegistry,
    RemoteUnavailable,
)
from tests.common.oci import OCI_INDEX, OCI_MANIFEST, descriptor, image_manifest, push_blob, put_manifest, sha256
from tests.common.servers import ADMIN, Server, start_moorage, start_reference_registry

LOOPBACK = OutboundGuard(["127.0.0.0/8"])


@pytest.fixture(scope="module")
def peer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with start_reference_registry(tmp_path_factory.mktemp("peer")) as server:
        yield server


@pytest.fixture(scope="module")
def moorage_peer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with start_moorage(tmp_path_factory.mktemp("mpeer")) as server:
        yield server


class Ctx:
    """A CopyContext that records its log and checkpoints, like a task would."""

    def __init__(self, state: dict[str, Any] | None = None, stop_after_checkpoints: int | None = None) -> None:
        self.state: dict[str, Any] = state or {}
        self.lines: list[str] = []
        self.checkpoints = 0
        self.stop_after = stop_after_checkpoints

    async def log(self, line: str) -> None:
        self.lines.append(line)

    async def checkpoint(self, state: dict[str, Any]) -> None:
        self.state = state
        self.checkpoints += 1

    async def stopping(self) -> bool:
        return self.stop_after is not None and self.checkpoints >= self.stop_after


def client_for(server: Server, **kw: Any) -> RemoteRegistry:
    return RemoteRegistry(Endpoint(server.url, **kw), LOOPBACK, timeout=30)


def push_index_with_signature(http: httpx.Client, repo: str, tag: str) -> tuple[str, list[str], str]:
    children = []
    for arch in ("amd64", "arm64"):
        body = image_manifest(http, repo, arch=arch)
        assert put_manifest(http, repo, sha256(body), body).status_code == 201
        children.append(descriptor(OCI_MANIFEST, body, platform={"os": "linux", "architecture": arch}))
    index = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": children}).encode()
    assert put_manifest(http, repo, tag, index, OCI_INDEX).status_code == 201
    sig_layer = b'{"critical":{}}'
    push_blob(http, repo, sig_layer)
    push_blob(http, repo, b"{}")
    sig = json.dumps({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "artifactType": "application/vnd.dev.cosign.artifact.sig.v1+json",
        "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": sha256(b"{}"), "size": 2},
        "layers": [descriptor("application/vnd.dev.cosign.simplesigning.v1+json", sig_layer)],
        "subject": descriptor(OCI_INDEX, index),
    }).encode()
    r = put_manifest(http, repo, sha256(sig), sig)
    assert r.status_code == 201, r.text
    if "oci-subject" not in r.headers:  # no referrers API (distribution 2.8): the client keeps the tag schema
        referrers = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [
            descriptor(OCI_MANIFEST, sig, artifactType="application/vnd.dev.cosign.artifact.sig.v1+json")]}).encode()
        r = put_manifest(http, repo, sha256(index).replace(":", "-"), referrers, OCI_INDEX)
        assert r.status_code == 201, r.text
    return sha256(index), [c["digest"] for c in children], sha256(sig)


def test_reads_a_distribution_registry(peer: Server) -> None:
    with httpx.Client(base_url=peer.url) as http:
        body = image_manifest(http, "team/app", layer=os.urandom(5000))
        assert put_manifest(http, "team/app", "v1", body).status_code == 201
        assert put_manifest(http, "team/app", "v2", body).status_code == 201

    async def run() -> None:
        async with client_for(peer, type="docker-registry") as remote:
            await remote.ping()
            assert "team/app" in await remote.catalog()
            assert sorted(await remote.tags("team/app")) == ["v1", "v2"]
            info = await remote.get_manifest("team/app", "v1")
            assert info.digest == sha256(body) and info.content == body and info.media_type == OCI_MANIFEST
            head = await remote.head_manifest("team/app", "v2")
            assert head is not None and head.digest == sha256(body)
            assert await remote.head_manifest("team/app", "nope") is None
            layer = json.loads(body)["layers"][0]
            async with remote.read_blob("team/app", layer["digest"], offset=1000) as stream:
                rest = b"".join([c async for c in stream.chunks])
            assert stream.size == 5000 and len(rest) == 4000
            with pytest.raises(RemoteNotFound):
                await remote.get_manifest("team/app", "missing")

    asyncio.run(run())


def test_pages_tag_lists(peer: Server) -> None:
    with httpx.Client(base_url=peer.url) as http:
        body = image_manifest(http, "paged/app")
        for i in range(7):
            assert put_manifest(http, "paged/app", f"t{i}", body).status_code == 201

    async def run() -> list[str]:
        remote = RemoteRegistry(Endpoint(peer.url), LOOPBACK, page_size=2)
        async with remote:
            return await remote.tags("paged/app")

    assert sorted(asyncio.run(run())) == [f"t{i}" for i in range(7)]


def test_token_flow_against_moorage(moorage_peer: Server) -> None:
    async def run() -> None:
        async with client_for(moorage_peer, type="harbor", username=ADMIN[0], password=ADMIN[1]) as remote:
            await remote.ping()
            await remote.ensure_namespace("tokproj/app")
            location = await remote.start_upload("tokproj/app")
            data = b"hello token flow"
            await remote.finish_upload("tokproj/app", location, sha256(data), data)
            assert await remote.blob_size("tokproj/app", sha256(data)) == len(data)
        async with client_for(moorage_peer, type="harbor", username="admin", password="wrong") as bad:
            with pytest.raises(RemoteDenied):
                await bad.ping()

    asyncio.run(run())


def test_guard_refuses_unlisted_networks(peer: Server) -> None:
    async def run() -> None:
        async with RemoteRegistry(Endpoint(peer.url), OutboundGuard([])) as remote:
            with pytest.raises(RemoteRefused, match="loopback"):
                await remote.ping()

    asyncio.run(run())


def test_copies_an_index_with_children_and_signature(peer: Server, moorage_peer: Server) -> None:
    with httpx.Client(base_url=peer.url) as http:
        index, children, sig = push_index_with_signature(http, "multi/app", "1.0")

    async def run() -> Ctx:
        copier = ArtifactCopier(ReplicationSettings(), None, None, None, None, None, None)
        ctx = Ctx()
        async with client_for(peer, type="docker-registry") as src, \
                client_for(moorage_peer, type="harbor", username=ADMIN[0], password=ADMIN[1]) as dst:
            result = await copier.copy(src, "multi/app", "1.0", dst, "mirror/multi", tags=["1.0"], override=True,
                                       chunked=False, ctx=ctx)
            assert result.digest == index and result.manifests_copied == 4 and result.tags_pushed == ["1.0"]
            again = await copier.copy(src, "multi/app", index, dst, "mirror/multi", tags=["1.0"], override=True,
                                      chunked=False, ctx=ctx)
            assert again.skipped
        return ctx

    asyncio.run(run())
    with httpx.Client(base_url=moorage_peer.url, auth=ADMIN) as http:
        r = http.get("/v2/mirror/multi/manifests/1.0", headers={"Accept": OCI_INDEX})
        assert r.status_code == 200 and sha256(r.content) == index
        for child in children:
            assert http.head(f"/v2/mirror/multi/manifests/{child}").status_code == 200
        refs = http.get(f"/v2/mirror/multi/referrers/{index}").json()["manifests"]
        assert [d["digest"] for d in refs] == [sig]


def test_resumes_a_partly_copied_blob(peer: Server, moorage_peer: Server) -> None:
    big = os.urandom(3 * 256 * 1024 + 1000)
    with httpx.Client(base_url=peer.url) as http:
        body = image_manifest(http, "big/app", layer=big)
        assert put_manifest(http, "big/app", "v1", body).status_code == 201
    settings = ReplicationSettings(chunk_size=256 * 1024)
    copier = ArtifactCopier(settings, None, None, None, None, None, None)

    async def run() -> tuple[Ctx, Ctx, int]:
        async with client_for(peer, type="docker-registry") as src, \
                client_for(moorage_peer, type="harbor", username=ADMIN[0], password=ADMIN[1]) as dst:
            first = Ctx(stop_after_checkpoints=3)
            with pytest.raises(CopyStopped):
                await copier.copy(src, "big/app", "v1", dst, "resume/app", tags=["v1"], override=True,
                                  chunked=True, ctx=first)
            assert await dst.head_manifest("resume/app", "v1") is None  # nothing visible yet
            second = Ctx(state=first.state)
            result = await copier.copy(src, "big/app", "v1", dst, "resume/app", tags=["v1"], override=True,
                                       chunked=True, ctx=second)
            return first, second, result.resumed_from

    first, second, resumed = asyncio.run(run())
    assert resumed >= 256 * 1024
    assert any(line.startswith(f"resuming blob {sha256(big)} at byte") for line in second.lines), second.lines
    with httpx.Client(base_url=moorage_peer.url, auth=ADMIN) as http:
        layer = http.get(f"/v2/resume/app/blobs/{sha256(big)}")
        assert layer.status_code == 200 and hashlib.sha256(layer.content).hexdigest() == sha256(big)[7:]
        assert http.get("/v2/resume/app/manifests/v1").status_code == 200


def test_deletes_at_the_destination(peer: Server) -> None:
    with httpx.Client(base_url=peer.url) as http:
        digest = sha256(image_manifest(http, "del/app"))
        body = image_manifest(http, "del/app")
        digest = sha256(body)
        assert put_manifest(http, "del/app", "gone", body).status_code == 201
    copier = ArtifactCopier(ReplicationSettings(), None, None, None, None, None, None)

    async def run() -> tuple[bool, bool]:
        async with client_for(peer, type="docker-registry") as dst:
            ctx = Ctx()
            return (await copier.delete(dst, "del/app", digest, ctx), await copier.delete(dst, "del/app", digest, ctx))

    assert asyncio.run(run()) == (True, False)
    with httpx.Client(base_url=peer.url) as http:
        assert http.get("/v2/del/app/manifests/gone").status_code == 404




class _RateLimited(BaseHTTPRequestHandler):
    """Answers 429 (Retry-After 0.2 s) to the first two requests of a run, then 200."""

    answered: list[int] = []

    def do_GET(self) -> None:  # noqa: N802 - the http.server API
        status = 429 if len(self.answered) < 2 else 200
        self.answered.append(status)
        self.send_response(status)
        if status == 429:
            self.send_header("Retry-After", "0.2")
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def rate_limited() -> Iterator[str]:
    _RateLimited.answered = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _RateLimited)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_waits_out_rate_limits_when_asked(rate_limited: str) -> None:
    async def run(wait: float) -> None:
        async with RemoteRegistry(Endpoint(rate_limited), LOOPBACK, rate_limit_wait=wait) as remote:
            await remote.ping()

    with pytest.raises(RemoteUnavailable) as refused:
        asyncio.run(run(0))
    assert refused.value.status == 429 and refused.value.retry_after == 0.2
    _RateLimited.answered = []
    asyncio.run(run(5))
    assert _RateLimited.answered == [429, 429, 200]

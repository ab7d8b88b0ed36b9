"""Killing the destination in the middle of a large blob copy.

A 300 MB layer is replicated with a bandwidth limit (``speed``) and ``copy_by_chunk``, so
the copy takes several seconds.  Once the destination Moorage has received part of the blob
it is killed with SIGKILL and restarted on the same port and data directory.  The copy task
retries and completes; its log shows the resumed copy started where the destination's upload
session had got to, not at byte 0 (Harbor starts over); a real client pulls the result with
the right digests; and while the copy was running, the tag (and the manifest by digest) was
never visible at the destination without every blob under it.

The same holds pull-based, when the *source* (a docker-registry) is killed and restarted: the
local upload session keeps what arrived, and the copy continues from there with a ranged read.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
import threading
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path

import httpx
import pytest

from tests.common.oci import image_manifest, put_manifest, sha256
from tests.common.servers import ADMIN, Server
from tests.conformance.clients import ClientEnv, require_binaries, skopeo_copy
from tests.integration.replication_e2e.conftest import MANIFEST_ACCEPT, Moorage, manifest_digest, wait_until

BLOB_SIZE = 300 * 1024 * 1024
PULL_BLOB_SIZE = 200 * 1024 * 1024
SPEED_KIB = 24 * 1024  # ~13 s for the whole blob
RESUMED = re.compile(r"resuming blob (sha256:[0-9a-f]{64}) at byte (\d+)")


def upload_bytes(data_dir: Path) -> int:
    """Bytes the destination holds in upload sessions in progress: the largest file of its
    filesystem storage outside the content-addressed ``blobs/`` tree (staging, ``_uploads``).
    ``os.walk`` ignores directories that vanish while it runs (a session finishing)."""
    sizes = [0]
    for directory, subdirectories, files in os.walk(data_dir / "storage"):
        if directory == str(data_dir / "storage"):
            subdirectories[:] = [d for d in subdirectories if d != "blobs"]
        for name in files:
            with suppress(FileNotFoundError):
                sizes.append(os.stat(os.path.join(directory, name)).st_size)
    return max(sizes)


class Watcher(threading.Thread):
    """Polls the destination during the copy: whenever the tag or the manifest is visible,
    every blob it references must be there too."""

    def __init__(self, url: str, repo: str, tag: str, digest: str) -> None:
        super().__init__(daemon=True)
        self.url, self.repo, self.tag, self.digest = url, repo, tag, digest
        self.stop = threading.Event()
        self.absent_seen = 0
        self.violations: list[str] = []

    def run(self) -> None:
        with httpx.Client(base_url=self.url, auth=ADMIN, timeout=10) as client:
            while not self.stop.is_set():
                with suppress(httpx.TransportError):  # the destination is down or restarting
                    self.look(client)
                self.stop.wait(0.2)

    def look(self, client: httpx.Client) -> None:
        listed = client.get(f"/v2/{self.repo}/tags/list")
        if listed.status_code not in (200, 404):  # starting up
            return
        tagged = listed.status_code == 200 and self.tag in (listed.json().get("tags") or [])
        r = client.get(f"/v2/{self.repo}/manifests/{self.digest}", headers={"Accept": MANIFEST_ACCEPT})
        if not tagged and r.status_code == 404:
            self.absent_seen += 1
            return
        if r.status_code != 200:
            self.violations.append(f"tag visible but manifest {self.digest} answers {r.status_code}")
            return
        doc = json.loads(r.content)
        for d in [doc["config"], *doc["layers"]]:
            head = client.head(f"/v2/{self.repo}/blobs/{d['digest']}")
            if head.status_code != 200 or int(head.headers.get("content-length", -1)) != d["size"]:
                self.violations.append(f"manifest visible (tagged: {tagged}) before blob {d['digest']} "
                                       f"({head.status_code})")


@pytest.mark.slow
@pytest.mark.clients
def test_killed_destination_resumes_the_blob_copy(moorages: Callable[..., Moorage], tmp_path: Path) -> None:
    require_binaries("skopeo")
    local = moorages("local", MOORAGE_REPLICATION__MAX_RETRIES="40")
    peer = moorages("peer")
    repo = "library/big"
    layer = os.urandom(BLOB_SIZE)
    big = sha256(layer)
    body = image_manifest(local.v2, repo, layer=layer)
    del layer
    assert put_manifest(local.v2, repo, "v1", body).status_code == 201
    digest = sha256(body)
    registry = local.add_registry(peer.url, "harbor", ADMIN)
    policy = local.add_policy(dest=registry, speed=SPEED_KIB, copy_by_chunk=True,
                              filters=[{"type": "name", "value": repo}])

    watcher = Watcher(peer.url, repo, "v1", digest)
    watcher.start()
    try:
        execution_id = local.start(policy)
        received = wait_until(lambda: upload_bytes(peer.server.data_dir) >= 40 * 1024 * 1024 or None, 90,
                              "the destination to receive 40 MiB of the blob", interval=0.1)
        assert received
        running = local.execution(execution_id)
        assert running["status"] == "InProgress", running
        peer.server.kill()
        killed_at = upload_bytes(peer.server.data_dir)
        peer.server.restart()
        execution = local.wait_execution(execution_id, timeout=150)
    finally:
        watching = watcher.is_alive()
        watcher.stop.set()
        watcher.join(timeout=15)

    logs = local.logs(execution_id)
    assert execution["status"] == "Succeed", logs
    assert watching, "the watcher stopped early"
    assert watcher.violations == [], watcher.violations
    assert watcher.absent_seen > 0  # the watcher did see the copy in progress
    resumed = [(d, int(n)) for d, n in RESUMED.findall(logs) if d == big]
    assert resumed, logs
    assert all(0 < n <= killed_at for _, n in resumed), (resumed, killed_at)

    cenv = ClientEnv.create(tmp_path / "client", Path(tempfile.mkdtemp(prefix="resume", dir="/tmp")))
    cenv.set_credentials(peer.host, *ADMIN)
    layout = tmp_path / "pulled"
    skopeo_copy(cenv, f"docker://{peer.host}/{repo}:v1", f"oci:{layout}:v1")  # verifies every blob's digest
    assert [m["digest"] for m in json.loads((layout / "index.json").read_text())["manifests"]] == [digest]
    assert (layout / "blobs" / "sha256" / big.split(":")[1]).stat().st_size == BLOB_SIZE


@pytest.mark.slow
def test_killed_source_resumes_a_pull_based_copy(moorages: Callable[..., Moorage], reference: Server,
                                                 reference_v2: httpx.Client) -> None:
    local = moorages("local", MOORAGE_REPLICATION__MAX_RETRIES="40")
    repo = "library/pulled-big"
    layer = os.urandom(PULL_BLOB_SIZE)
    big = sha256(layer)
    body = image_manifest(reference_v2, repo, layer=layer)
    del layer
    assert put_manifest(reference_v2, repo, "v1", body).status_code == 201
    digest = sha256(body)
    registry = local.add_registry(reference.url, "docker-registry")
    policy = local.add_policy(src=registry, speed=SPEED_KIB, copy_by_chunk=True,
                              filters=[{"type": "name", "value": repo}])

    watcher = Watcher(local.url, repo, "v1", digest)
    watcher.start()
    try:
        execution_id = local.start(policy)
        wait_until(lambda: upload_bytes(local.server.data_dir) >= 40 * 1024 * 1024 or None, 90,
                   "Moorage to receive 40 MiB of the blob", interval=0.1)
        reference.kill()
        received = upload_bytes(local.server.data_dir)
        reference.restart()
        execution = local.wait_execution(execution_id, timeout=150)
    finally:
        watching = watcher.is_alive()
        watcher.stop.set()
        watcher.join(timeout=15)

    logs = local.logs(execution_id)
    assert execution["status"] == "Succeed", logs
    assert watching, "the watcher stopped early"
    assert watcher.violations == [], watcher.violations
    assert watcher.absent_seen > 0
    resumed = [int(n) for d, n in RESUMED.findall(logs) if d == big]
    assert resumed and all(0 < n <= received for n in resumed), (resumed, received, logs)
    hasher = hashlib.sha256()
    with local.v2.stream("GET", f"/v2/{repo}/blobs/{big}") as r:
        assert r.status_code == 200
        for chunk in r.iter_bytes():
            hasher.update(chunk)
    assert f"sha256:{hasher.hexdigest()}" == big
    assert manifest_digest(local.v2, repo, "v1") == digest

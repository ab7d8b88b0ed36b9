"""Uploads survive restarts and kill -9; abandoned uploads expire; pulls are batched."""

from __future__ import annotations

import base64
import hashlib
import os
import socket
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.common.backends import backend_server
from tests.common.oci import push_image, sha256, unique_repo
from tests.common.servers import ADMIN, Server, start_moorage


@pytest.fixture
def own_server(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Server]:
    """A server of this test's own, which the test may kill and restart."""
    env = {"MOORAGE_REGISTRY__PULL_STATS_FLUSH_SECONDS": "0.3"}
    endpoint = request.getfixturevalue("moto_endpoint") if backend == "scaled" else None
    with backend_server(backend, tmp_path, endpoint, env) as server:
        yield server


def test_upload_session_continues_after_restart(own_server: Server) -> None:
    repo, data = unique_repo(), os.urandom(3 * 1024 * 1024 + 17)
    with httpx.Client(auth=ADMIN, base_url=own_server.url) as c:
        loc = c.post(f"/v2/{repo}/blobs/uploads/").headers["location"]
        loc = c.patch(loc, content=data[:2_000_000]).headers["location"]
    own_server.kill()  # SIGKILL: no shutdown hooks
    own_server.restart()
    with httpx.Client(auth=ADMIN, base_url=own_server.url) as c:
        assert c.get(loc).headers["range"] == "0-1999999"
        loc = c.patch(loc, content=data[2_000_000:], headers={
            "Content-Range": f"2000000-{len(data) - 1}"}).headers["location"]
        assert c.put(loc, params={"digest": sha256(data)}).status_code == 201
        assert hashlib.sha256(c.get(f"/v2/{repo}/blobs/{sha256(data)}").content).hexdigest() == sha256(data)[7:]


def _send_partial_upload(server: Server, path: str, total: int, sent: int) -> None:
    """Send a PATCH announcing ``total`` bytes, but only ``sent`` of them, and leave it hanging."""
    host, port = server.host.split(":")
    sock = socket.create_connection((host, int(port)))
    basic = base64.b64encode(":".join(ADMIN).encode()).decode()
    sock.sendall(f"PATCH {path} HTTP/1.1\r\nHost: {server.host}\r\nContent-Length: {total}\r\n"
                 f"Authorization: Basic {basic}\r\n"
                 f"Content-Type: application/octet-stream\r\n\r\n".encode())
    chunk = os.urandom(1024 * 1024)
    for _ in range(sent // len(chunk)):
        sock.sendall(chunk)
    time.sleep(0.5)  # let the server write what arrived
    server.kill()  # kill -9 in the middle of the upload
    sock.close()


@pytest.mark.slow
def test_kill_9_mid_upload_leaves_nothing_visible_and_upload_resumes(own_server: Server) -> None:
    repo, size, acked = unique_repo(), 256 * 1024 * 1024, 64 * 1024 * 1024
    data = os.urandom(1024 * 1024) * 256
    digest = sha256(data)
    with httpx.Client(auth=ADMIN, base_url=own_server.url, timeout=120) as c:
        push_image(c, repo, "exists")
        loc = c.post(f"/v2/{repo}/blobs/uploads/").headers["location"]
        loc = c.patch(loc, content=data[:acked]).headers["location"]  # acknowledged
    _send_partial_upload(own_server, loc, size - acked, 100 * 1024 * 1024)  # killed mid-way
    own_server.restart()
    with httpx.Client(auth=ADMIN, base_url=own_server.url, timeout=120) as c:
        assert c.head(f"/v2/{repo}/blobs/{digest}").status_code == 404
        status = c.get(loc)
        assert status.status_code == 204
        assert status.headers["range"] == f"0-{acked - 1}"  # exactly what was acknowledged
        r = c.put(loc, params={"digest": digest}, content=data[acked:],
                  headers={"Content-Range": f"{acked}-{size - 1}"})
        assert r.status_code == 201, r.text
        got = c.get(f"/v2/{repo}/blobs/{digest}")
        assert got.status_code == 200 and len(got.content) == size
        assert hashlib.sha256(got.content).hexdigest() == digest[7:]


def test_abandoned_uploads_expire(tmp_path: Path) -> None:
    env = {"MOORAGE_REGISTRY__UPLOAD_EXPIRY_HOURS": str(1 / 3600),  # one second
           "MOORAGE_REGISTRY__UPLOAD_PURGE_INTERVAL_SECONDS": "0.5"}
    with start_moorage(tmp_path, extra_env=env) as server, httpx.Client(auth=ADMIN, base_url=server.url) as c:
        loc = c.post(f"/v2/{unique_repo()}/blobs/uploads/").headers["location"]
        c.patch(loc, content=b"abandoned")
        upload_id = loc.rsplit("/", 1)[1]
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and c.get(loc).status_code == 204:
            time.sleep(0.3)
        assert c.get(loc).status_code == 404
        assert not list((tmp_path / "storage").rglob(f"*{upload_id}*"))


def _pull_counts(db_path: Path, repo: str, digest: str) -> tuple[int, object, int]:
    db = sqlite3.connect(db_path)
    try:
        count, when = db.execute("SELECT pull_count, pull_time FROM artifacts WHERE digest = ?", (digest,)).fetchone()
        repo_count = db.execute("SELECT pull_count FROM repositories WHERE name = ?", (repo,)).fetchone()[0]
        return count, when, repo_count
    finally:
        db.close()


def test_pulls_are_recorded_in_batches_not_on_the_hot_path(tmp_path: Path) -> None:
    repo = unique_repo()
    env = {"MOORAGE_REGISTRY__PULL_STATS_FLUSH_SECONDS": "2"}
    with start_moorage(tmp_path, extra_env=env) as server, httpx.Client(auth=ADMIN, base_url=server.url) as c:
        digest = push_image(c, repo, "v1")
        for _ in range(3):
            assert c.get(f"/v2/{repo}/manifests/v1").status_code == 200
        c.head(f"/v2/{repo}/manifests/v1")  # HEAD is not a pull
        assert _pull_counts(tmp_path / "moorage.db", repo, digest) == (0, None, 0)  # nothing written yet
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and _pull_counts(tmp_path / "moorage.db", repo, digest)[0] == 0:
            time.sleep(0.2)
        count, when, repo_count = _pull_counts(tmp_path / "moorage.db", repo, digest)
        assert (count, repo_count) == (3, 3) and when is not None
        c.get(f"/v2/{repo}/manifests/{digest}")
    # the batch still pending at shutdown is flushed, not lost
    assert _pull_counts(tmp_path / "moorage.db", repo, digest)[0] == 4

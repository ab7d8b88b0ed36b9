"""Fixtures for the garbage-collection tests: an admin client on ``/api/v2.0`` and ``run_gc``,
which starts a collection through the API and waits for it to finish."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.common.backends import backend_server
from tests.common.databases import server_sql
from tests.common.oci import sha256
from tests.common.servers import ADMIN, Server

FINISHED = ("Success", "Error", "Stopped")
RunGc = Callable[..., dict[str, Any]]


@pytest.fixture
def api(moorage: Server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=f"{moorage.url}/api/v2.0", auth=ADMIN, timeout=60) as c:
        yield c


def start_gc(api: httpx.Client, **parameters: Any) -> int:
    """POST a Manual run (retrying while another one is unfinished); its id."""
    deadline = time.monotonic() + 60
    while True:
        r = api.post("/system/gc/schedule", json={"schedule": {"type": "Manual"}, "parameters": parameters})
        if r.status_code != 409 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert r.status_code == 201, r.text
    return int(r.headers["location"].rsplit("/", 1)[1])


def wait_gc(api: httpx.Client, gc_id: int, timeout: float = 120) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        got = api.get(f"/system/gc/{gc_id}")
        assert got.status_code == 200, got.text
        body: dict[str, Any] = got.json()
        if body["job_status"] in FINISHED:
            return body
        assert time.monotonic() < deadline, f"gc {gc_id} still {body['job_status']}"
        time.sleep(0.1)


@pytest.fixture
def run_gc(api: httpx.Client) -> RunGc:
    """``run_gc(time_window=0, ...)`` → the finished run (GCHistory) with ``extra`` (its parsed
    ``job_parameters``) and ``log`` added."""

    def run(**parameters: Any) -> dict[str, Any]:
        import json

        body = wait_gc(api, start_gc(api, **parameters))
        body["extra"] = json.loads(body["job_parameters"])
        body["log"] = api.get(f"/system/gc/{body['id']}/log").text
        return body

    return run


OwnServer = Callable[..., AbstractContextManager[Server]]


@pytest.fixture
def own_server(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[OwnServer]:
    """``with own_server(**env) as server``: a server of the test's own (settings of its own, or data
    no other test may lose), killed at the end (its data is thrown away)."""
    endpoint = request.getfixturevalue("moto_endpoint") if backend == "scaled" else None
    count = 0

    @contextmanager
    def make(**env: str) -> Iterator[Server]:
        nonlocal count
        count += 1
        directory = tmp_path / f"server{count}"
        directory.mkdir()
        with backend_server(backend, directory, endpoint, extra_env=env) as server:
            try:
                yield server
            finally:
                server.kill(signal.SIGKILL)

    yield make


def plant_garbage(server: Server, contents: list[bytes]) -> list[str]:
    """Store blobs no artifact names (bytes in the server's storage, rows untouched for a day)
    straight away: thousands of HTTP uploads would take minutes.  Their digests."""
    digests = [sha256(c) for c in contents]
    if server.env.get("MOORAGE_STORAGE__DRIVER") == "s3":
        from tests.common.s3 import s3_client

        s3 = s3_client(server.env["MOORAGE_STORAGE__S3__ENDPOINT_URL"])
        for digest, data in zip(digests, contents, strict=True):
            hexpart = digest.split(":")[1]
            s3.put_object(Bucket=server.env["MOORAGE_STORAGE__S3__BUCKET"],
                          Key=f"blobs/sha256/{hexpart[:2]}/{hexpart}/data", Body=data)
    else:
        for digest, data in zip(digests, contents, strict=True):
            hexpart = digest.split(":")[1]
            path = server.data_dir / "storage" / "blobs" / "sha256" / hexpart[:2] / hexpart / "data"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
    when = "'2000-01-01 00:00:00.000000'"
    for start in range(0, len(digests), 500):
        values = ", ".join(f"('{d}', {len(c)}, {when}, {when}, false)"
                           for d, c in zip(digests[start:start + 500], contents[start:start + 500], strict=True))
        server_sql(server, f"INSERT INTO blobs (digest, size, created_at, touched_at, deleting) VALUES {values}")
    return digests

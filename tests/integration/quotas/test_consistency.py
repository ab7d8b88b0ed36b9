"""Quota accounting is transactional: after many concurrent pushes (shared and unique layers,
several projects, one of them at its limit), mounts, copies, artifact deletes and repository
deletes, every project's stored usage equals a recount done in SQL, and no limit was passed."""

from __future__ import annotations

import os
import random
import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import httpx

from tests.common.databases import server_sql
from tests.common.oci import put_manifest, sha256
from tests.common.servers import ADMIN, Server
from tests.integration.quotas.conftest import Project, manifest_of, new_config, upload

RECOUNT = """
SELECT q.project_id, q.used_storage, q.hard_storage,
       COALESCE((SELECT SUM(b.size) FROM project_blobs pb JOIN blobs b ON b.id = pb.blob_id
                 WHERE pb.project_id = q.project_id), 0)
FROM project_quotas q ORDER BY q.project_id
"""
THREADS = 16
OPERATIONS = 25  # per thread


def _recount(server: Server) -> dict[int, tuple[int, int, int]]:
    """project id -> (stored usage, limit, usage recounted from project_blobs)."""
    return {_int(pid): (_int(used), _int(hard), _int(total)) for pid, used, hard, total in server_sql(server, RECOUNT)}


def _int(value: object) -> int:
    assert isinstance(value, int | Decimal), value  # PostgreSQL's SUM of BIGINT is NUMERIC
    return int(value)


def _assert_consistent(server: Server) -> None:
    rows = _recount(server)
    assert rows, "no quota rows"
    drifted = {pid: row for pid, row in rows.items() if row[0] != row[2]}
    assert not drifted, f"stored usage differs from the recount (stored, hard, recount): {drifted}"
    over = {pid: row for pid, row in rows.items() if 0 <= row[1] < row[0]}
    assert not over, f"usage above the limit: {over}"
    projects = server_sql(server, "SELECT COUNT(*) FROM projects")[0][0]
    assert projects == len(rows), "every project has a quota"


class _World:
    """What the threads pushed, shared between them (under a lock)."""

    def __init__(self, projects: list[Project], seed: int) -> None:
        rng = random.Random(seed)
        self.repos = [f"{name}/r{i}" for name, _ in projects for i in range(3)]
        self.shared = [os.urandom(rng.randint(1000, 6000)) for _ in range(6)]
        self.pushed: list[tuple[str, str]] = []  # (repository, manifest digest)
        self.lock = threading.Lock()
        self.unexpected: list[str] = []
        self.outcomes: Counter[tuple[str, int]] = Counter()

    def record(self, what: str, response: httpx.Response, allowed: set[int]) -> None:
        with self.lock:
            self.outcomes[what, response.status_code] += 1
            if response.status_code not in allowed:
                self.unexpected.append(f"{what}: {response.status_code} {response.text[:300]}")


def _api_path(repo: str) -> str:
    project, name = repo.split("/", 1)
    return f"/api/v2.0/projects/{project}/repositories/{name}"


def _push(c: httpx.Client, w: _World, rng: random.Random) -> None:
    repo = rng.choice(w.repos)
    config, layers = new_config(), [rng.choice(w.shared), os.urandom(rng.randint(200, 3000))]
    for blob in [config, *layers]:
        r = upload(c, repo, blob)
        w.record("blob upload", r, {201, 403})  # 403: the limited project is full
        if r.status_code != 201:
            return
    manifest = manifest_of(config, layers)
    r = put_manifest(c, repo, rng.choice(["v1", "v2", "latest"]), manifest)
    w.record("manifest put", r, {201, 400})  # 400: the repository was deleted meanwhile, with its blob links
    if r.status_code == 201:
        with w.lock:
            w.pushed.append((repo, sha256(manifest)))


def _delete_artifact(c: httpx.Client, w: _World, rng: random.Random) -> None:
    with w.lock:
        if not w.pushed:
            return
        repo, digest = w.pushed.pop(rng.randrange(len(w.pushed)))
    r = c.delete(f"{_api_path(repo)}/artifacts/{digest}")
    w.record("artifact delete", r, {200, 404, 412})


def _delete_repository(c: httpx.Client, w: _World, rng: random.Random) -> None:
    r = c.delete(_api_path(rng.choice(w.repos)))
    w.record("repository delete", r, {200, 404})


def _mount(c: httpx.Client, w: _World, rng: random.Random) -> None:
    with w.lock:
        if not w.pushed:
            return
        source = rng.choice(w.pushed)[0]
    layer = sha256(rng.choice(w.shared))
    r = c.post(f"/v2/{rng.choice(w.repos)}/blobs/uploads/", params={"mount": layer, "from": source})
    w.record("mount", r, {201, 202, 403})
    if r.status_code == 202:
        c.delete(r.headers["location"])


def _copy(c: httpx.Client, w: _World, rng: random.Random) -> None:
    with w.lock:
        if not w.pushed:
            return
        repo, digest = rng.choice(w.pushed)
    target = rng.choice(w.repos)
    r = c.post(f"{_api_path(target)}/artifacts", params={"from": f"{repo}@{digest}"})
    w.record("copy", r, {201, 403, 404})


_ACTIONS: list[tuple[Callable[[httpx.Client, _World, random.Random], None], int]] = [
    (_push, 45), (_delete_artifact, 15), (_delete_repository, 5), (_mount, 20), (_copy, 15)]


def _worker(server: Server, w: _World, seed: int) -> None:
    rng = random.Random(seed)
    actions, weights = zip(*_ACTIONS, strict=True)
    with httpx.Client(base_url=server.url, auth=ADMIN, timeout=120) as c:
        for _ in range(OPERATIONS):
            rng.choices(actions, weights)[0](c, w, rng)


def test_usage_equals_a_recount_after_concurrent_pushes_and_deletes(
        moorage: Server, limited: Callable[..., Project]) -> None:
    projects = [limited(-1), limited(-1), limited(60_000)]
    world = _World(projects, seed=7)
    with ThreadPoolExecutor(THREADS) as pool:
        for future in [pool.submit(_worker, moorage, world, seed) for seed in range(THREADS)]:
            future.result()
    assert not world.unexpected, "\n".join(world.unexpected)
    assert world.outcomes["manifest put", 201] > 20 and world.outcomes["artifact delete", 200] > 5
    assert world.outcomes["blob upload", 403] + world.outcomes["mount", 403] + world.outcomes["copy", 403] > 0
    _assert_consistent(moorage)


def test_concurrent_pushes_cannot_pass_the_limit_together(
        moorage: Server, api: httpx.Client, limited: Callable[..., Project]) -> None:
    name, pid = limited(5000)
    blobs = [os.urandom(1000) for _ in range(20)]

    def push(data: bytes) -> int:
        with httpx.Client(base_url=moorage.url, auth=ADMIN, timeout=120) as c:
            return upload(c, f"{name}/app", data).status_code

    with ThreadPoolExecutor(len(blobs)) as pool:
        statuses = list(pool.map(push, blobs))
    assert sorted(statuses) == [201] * 5 + [403] * 15
    assert api.get(f"/quotas/{pid}").json()["used"] == {"storage": 5000}
    _assert_consistent(moorage)

#!/usr/bin/env python3
"""Replication throughput benchmark: how fast a Moorage replication execution copies an image
between two registries, compared with ``skopeo copy docker://SRC docker://DST`` between the
same two registries on the same machine.

Three servers run on 127.0.0.1 with their own temporary data directories: a source Moorage,
a destination Moorage and Debian's ``docker-registry`` (distribution 2.8).  Two paths are
measured, each both ways:

* **push-based**: a policy on the source Moorage pushes to the destination Moorage
  (endpoint type ``harbor``), versus ``skopeo copy`` from the source to the destination Moorage;
* **pull-based**: a policy on the destination Moorage pulls from the docker-registry
  (endpoint type ``docker-registry``), versus ``skopeo copy`` from the docker-registry to the
  destination Moorage.

Every run copies a fresh image (``--layers`` random layers of ``--layer-mb`` MB plus a config;
new random bytes each time, so no run finds a blob the destination already has) pushed to the
source untimed.  A replication run is timed from ``POST /replication/executions`` until the
execution reads ``Succeed`` (polled every 50 ms), with a policy whose name filter selects just
that image: the figure includes planning, job pick-up and the task bookkeeping a user waits
for; the copy task's own duration (its start to end times from the API) is shown next to it.
A skopeo run is timed around the ``skopeo copy --preserve-digests`` process.  The
destination is checked after every run (the manifest digest by tag).  MB = 10^6 bytes.

Usage::

    .venv/bin/python bench/replication_bench.py [--layers 5] [--layer-mb 50] [--runs 3]
        [--chunked] [--json results.json] [--keep]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "src"))

from tests.common.servers import ADMIN, Server, start_moorage, start_reference_registry  # noqa: E402

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"


@dataclass
class Run:
    path: str  # "push-based" | "pull-based"
    method: str  # "replication" | "replication (copy_by_chunk)" | "skopeo copy"
    seconds: float
    bytes: int
    task_seconds: float | None = None  # replication: the copy task alone (start to end, server clock)

    @property
    def mb_per_s(self) -> float:
        return self.bytes / 1e6 / self.seconds


# ---------------------------------------------------------------------- images


def sha256_of(data: bytes) -> str:
    import hashlib

    return "sha256:" + hashlib.sha256(data).hexdigest()


def push_blob(client: httpx.Client, repo: str, data: bytes) -> dict[str, Any]:
    """A monolithic upload (POST, then one PUT with the body); the blob's descriptor."""
    digest = sha256_of(data)
    r = client.post(f"/v2/{repo}/blobs/uploads/")
    assert r.status_code == 202, r.text
    location = r.headers["location"]  # distribution's carries a signed _state: append, do not re-encode
    r = client.put(f"{location}{'&' if '?' in location else '?'}digest={digest}", content=data,
                   headers={"Content-Type": "application/octet-stream"})
    assert r.status_code == 201, r.text
    return {"digest": digest, "size": len(data)}


def push_image(client: httpx.Client, repo: str, tag: str, layers: int, layer_bytes: int) -> tuple[str, int]:
    """Push a fresh random image; (manifest digest, bytes of blobs + manifest)."""
    config = json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": []},
                         "nonce": uuid.uuid4().hex}).encode()
    descriptors = []
    for _ in range(layers):
        descriptors.append({"mediaType": OCI_LAYER, **push_blob(client, repo, os.urandom(layer_bytes))})
    manifest = json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                           "config": {"mediaType": OCI_CONFIG, **push_blob(client, repo, config)},
                           "layers": descriptors}).encode()
    r = client.put(f"/v2/{repo}/manifests/{tag}", content=manifest, headers={"Content-Type": OCI_MANIFEST})
    assert r.status_code == 201, r.text
    return sha256_of(manifest), len(manifest) + len(config) + layers * layer_bytes


def digest_of(client: httpx.Client, repo: str, tag: str) -> str | None:
    r = client.head(f"/v2/{repo}/manifests/{tag}", headers={"Accept": OCI_MANIFEST})
    return r.headers.get("docker-content-digest") if r.status_code == 200 else None


# ---------------------------------------------------------------------- Moorage API


def created_id(r: httpx.Response) -> int:
    assert r.status_code == 201, r.text
    return int(r.headers["location"].rstrip("/").rsplit("/", 1)[1])


def add_registry(api: httpx.Client, url: str, kind: str, credential: tuple[str, str] | None) -> int:
    body: dict[str, Any] = {"name": f"bench-{uuid.uuid4().hex[:8]}", "type": kind, "url": url, "insecure": True}
    if credential:
        body["credential"] = {"type": "basic", "access_key": credential[0], "access_secret": credential[1]}
    return created_id(api.post("/registries", json=body))


def add_policy(api: httpx.Client, repo: str, *, dest: int | None = None, src: int | None = None,
               chunked: bool = False) -> int:
    body: dict[str, Any] = {"name": f"bench-{uuid.uuid4().hex[:8]}", "trigger": {"type": "manual"},
                            "filters": [{"type": "name", "value": repo}], "override": True, "enabled": True,
                            "dest_namespace": "", "copy_by_chunk": chunked}
    if dest is not None:
        body["dest_registry"] = {"id": dest}
    if src is not None:
        body["src_registry"] = {"id": src}
    return created_id(api.post("/replication/policies", json=body))


def copy_task_seconds(api: httpx.Client, execution_id: int) -> float | None:
    """From the first copy task's start to the last one's end, by the execution's own clock."""
    tasks = api.get(f"/replication/executions/{execution_id}/tasks").json()
    spans = [(datetime.fromisoformat(t["start_time"]), datetime.fromisoformat(t["end_time"]))
             for t in tasks if t.get("operation") == "copy" and t.get("start_time") and t.get("end_time")]
    if not spans:
        return None
    return (max(end for _, end in spans) - min(start for start, _ in spans)).total_seconds()


def replicate(api: httpx.Client, policy_id: int, timeout: float = 900) -> tuple[float, float | None]:
    """Run the policy; (seconds from the POST until the execution has succeeded, the copy task's own)."""
    start = time.perf_counter()
    execution_id = created_id(api.post("/replication/executions", json={"policy_id": policy_id}))
    deadline = time.monotonic() + timeout
    while True:
        execution = api.get(f"/replication/executions/{execution_id}").json()
        if execution["status"] != "InProgress":
            break
        if time.monotonic() > deadline:
            raise RuntimeError(f"execution {execution_id} still running after {timeout}s")
        time.sleep(0.05)
    elapsed = time.perf_counter() - start
    if execution["status"] != "Succeed":
        raise RuntimeError(f"execution {execution_id} ended {execution['status']}: {execution}")
    return elapsed, copy_task_seconds(api, execution_id)


# ---------------------------------------------------------------------- skopeo


@dataclass
class Skopeo:
    base: Path

    @classmethod
    def create(cls, base: Path, hosts: list[str]) -> Skopeo:
        (base / "tmp").mkdir(parents=True)
        (base / "policy.json").write_text(json.dumps({"default": [{"type": "insecureAcceptAnything"}]}))
        import base64

        token = base64.b64encode(f"{ADMIN[0]}:{ADMIN[1]}".encode()).decode()
        (base / "auth.json").write_text(json.dumps({"auths": {h: {"auth": token} for h in hosts}}))
        return cls(base)

    def copy(self, src: str, dst: str) -> float:
        env = {**os.environ, "REGISTRY_AUTH_FILE": str(self.base / "auth.json"), "TMPDIR": str(self.base / "tmp")}
        args = ["skopeo", "--policy", str(self.base / "policy.json"), "--tmpdir", str(self.base / "tmp"), "copy",
                "--quiet", "--preserve-digests", "--src-tls-verify=false", "--dest-tls-verify=false", src, dst]
        start = time.perf_counter()
        proc = subprocess.run(args, env=env, capture_output=True, text=True, timeout=900)
        elapsed = time.perf_counter() - start
        if proc.returncode != 0:
            raise RuntimeError(f"skopeo copy failed: {proc.stderr}")
        return elapsed


# ---------------------------------------------------------------------- the benchmark


@contextmanager
def servers(work: Path) -> Iterator[tuple[Server, Server, Server]]:
    with ExitStack() as stack:
        found: list[Server] = []
        for name in ("source", "destination"):
            (work / name).mkdir()
            found.append(stack.enter_context(start_moorage(work / name)))
        (work / "reference").mkdir()
        found.append(stack.enter_context(start_reference_registry(work / "reference")))
        yield found[0], found[1], found[2]


def bench(args: argparse.Namespace, work: Path) -> list[Run]:
    layer_bytes = args.layer_mb * 1_000_000
    runs: list[Run] = []
    with servers(work) as (source, destination, reference), ExitStack() as stack:
        src_v2 = stack.enter_context(httpx.Client(base_url=source.url, auth=ADMIN, timeout=600))
        dst_v2 = stack.enter_context(httpx.Client(base_url=destination.url, auth=ADMIN, timeout=600))
        ref_v2 = stack.enter_context(httpx.Client(base_url=reference.url, timeout=600))
        src_api = stack.enter_context(httpx.Client(base_url=f"{source.url}/api/v2.0", auth=ADMIN, timeout=60))
        dst_api = stack.enter_context(httpx.Client(base_url=f"{destination.url}/api/v2.0", auth=ADMIN, timeout=60))
        skopeo = Skopeo.create(work / "skopeo", [source.host, destination.host])
        to_destination = add_registry(src_api, destination.url, "harbor", ADMIN)
        from_reference = add_registry(dst_api, reference.url, "docker-registry", None)

        def measure(path: str, method: str, source_v2: httpx.Client, source_host: str,
                    copy: Callable[[str, str], tuple[float, float | None]]) -> None:
            repo = f"library/bench-{uuid.uuid4().hex[:8]}"
            digest, size = push_image(source_v2, repo, "v1", args.layers, layer_bytes)
            subprocess.run(["sync"], check=False)
            seconds, task_seconds = copy(repo, f"docker://{source_host}/{repo}:v1")
            got = digest_of(dst_v2, repo, "v1")
            if got != digest:
                raise RuntimeError(f"{method} ({path}): destination has {got}, expected {digest}")
            run = Run(path, method, seconds, size, task_seconds)
            runs.append(run)
            task = f"  (copy task {task_seconds:.2f} s)" if task_seconds is not None else ""
            print(f"  {path:10} {method:28} {seconds:7.2f} s  {run.mb_per_s:7.1f} MB/s{task}", flush=True)

        def skopeo_copy(repo: str, src: str) -> tuple[float, float | None]:
            return skopeo.copy(src, f"docker://{destination.host}/{repo}:v1"), None

        def push_replication(chunked: bool) -> Callable[[str, str], tuple[float, float | None]]:
            return lambda repo, _: replicate(src_api, add_policy(src_api, repo, dest=to_destination, chunked=chunked))

        def pull_replication(chunked: bool) -> Callable[[str, str], tuple[float, float | None]]:
            return lambda repo, _: replicate(dst_api, add_policy(dst_api, repo, src=from_reference, chunked=chunked))

        variants = [False, True] if args.chunked else [False]
        for i in range(args.runs):
            print(f"run {i + 1}/{args.runs}", flush=True)
            if "push" in args.paths:
                for chunked in variants:
                    measure("push-based", method_name(chunked), src_v2, source.host, push_replication(chunked))
                measure("push-based", "skopeo copy", src_v2, source.host, skopeo_copy)
            if "pull" in args.paths:
                for chunked in variants:
                    measure("pull-based", method_name(chunked), ref_v2, reference.host, pull_replication(chunked))
                measure("pull-based", "skopeo copy", ref_v2, reference.host, skopeo_copy)
    return runs


def method_name(chunked: bool) -> str:
    return "replication (copy_by_chunk)" if chunked else "replication"


def summarize(runs: list[Run]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for path in dict.fromkeys(r.path for r in runs):
        mine = [r for r in runs if r.path == path]
        skopeo = statistics.median(r.mb_per_s for r in mine if r.method == "skopeo copy")
        for method in dict.fromkeys(r.method for r in mine):
            these = [r for r in mine if r.method == method]
            rate = statistics.median(r.mb_per_s for r in these)
            rows.append({"path": path, "method": method, "runs": len(these), "mb": these[0].bytes / 1e6,
                         "median_seconds": statistics.median(r.seconds for r in these),
                         "median_mb_per_s": rate, "min_mb_per_s": min(r.mb_per_s for r in these),
                         "max_mb_per_s": max(r.mb_per_s for r in these), "vs_skopeo": rate / skopeo,
                         "median_task_seconds": statistics.median(task) if (task := [
                             r.task_seconds for r in these if r.task_seconds is not None]) else None})
    return rows


def print_table(rows: list[dict[str, Any]]) -> None:
    print()
    print("| path | method | runs | image MB | median s | median MB/s (min–max) | vs skopeo | copy task s |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        task = f"{r['median_task_seconds']:.2f}" if r["median_task_seconds"] is not None else "–"
        print(f"| {r['path']} | {r['method']} | {r['runs']} | {r['mb']:.0f} | {r['median_seconds']:.2f} | "
              f"{r['median_mb_per_s']:.1f} ({r['min_mb_per_s']:.1f}–{r['max_mb_per_s']:.1f}) | "
              f"{r['vs_skopeo']:.2f}× | {task} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--layers", type=int, default=5, help="random layers per image")
    parser.add_argument("--layer-mb", type=int, default=50, help="size of each layer, MB (10^6 bytes)")
    parser.add_argument("--runs", type=int, default=3, help="repetitions of each measurement")
    parser.add_argument("--paths", nargs="+", choices=["push", "pull"], default=["push", "pull"])
    parser.add_argument("--chunked", action="store_true", help="also measure policies with copy_by_chunk")
    parser.add_argument("--json", type=Path, help="write the runs and the summary here")
    parser.add_argument("--workdir", type=Path, help="parent of the temporary workspace (default $TMPDIR)")
    parser.add_argument("--keep", action="store_true", help="keep the workspace (logs, storage)")
    args = parser.parse_args()
    if shutil.which("skopeo") is None or shutil.which("docker-registry") is None:
        sys.exit("skopeo and docker-registry must be on PATH")
    work = Path(tempfile.mkdtemp(prefix="moorage-repl-bench-", dir=args.workdir))
    try:
        print(f"image: {args.layers} × {args.layer_mb} MB random layers; {args.runs} run(s); workspace {work}")
        load_before = os.getloadavg()
        runs = bench(args, work)
        rows = summarize(runs)
        print_table(rows)
        load = {"before": load_before[0], "after": os.getloadavg()[0], "cpus": os.cpu_count()}
        print(f"\nload average (1 min): {load['before']:.2f} before, {load['after']:.2f} after, "
              f"{load['cpus']} CPU(s)")
        if args.json:
            args.json.write_text(json.dumps({"layers": args.layers, "layer_mb": args.layer_mb, "load": load,
                                             "runs": [{**asdict(r), "mb_per_s": r.mb_per_s} for r in runs],
                                             "summary": rows}, indent=2))
            print(f"\nwrote {args.json}")
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

"""How fast the portal lists a large repository, against the reference registry listing the
same repository's tags, in the same run.

Both servers get the same N tagged images (default 10,000) in ``library/big``.  Then, for the
first, a middle and the last page of 50:

- **portal**: Moorage's artifacts page (HTML: digest, tags, size, platform, labels, push and
  pull times), signed in through the sign-in form;
- **api**: Moorage's ``/api/v2.0/.../artifacts?page=K&page_size=50&with_tag=true``;
- **reference**: distribution's ``/v2/library/big/tags/list?n=50&last=…`` (tags only: the least
  a registry can answer about a page of a repository).

Each figure is the median of ``--repeat`` requests; the ratios are Moorage / reference.

    python bench/portal_bench.py [--artifacts 10000] [--repeat 15] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from tests.common.oci import OCI_CONFIG, OCI_LAYER, OCI_MANIFEST, descriptor, push_blob  # noqa: E402
from tests.common.servers import ADMIN, start_moorage, start_reference_registry  # noqa: E402

REPO = "library/big"
PAGE = 50


def populate(url: str, count: int, auth: tuple[str, str] | None) -> None:
    """``count`` images (one shared config and layer, distinct annotations) tagged t00000…"""
    config = json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": []}}).encode()
    layer = b"\0" * 1024
    with httpx.Client(base_url=url, auth=auth, timeout=60) as client:
        push_blob(client, REPO, config)
        push_blob(client, REPO, layer)

    def push(batch: range) -> None:
        with httpx.Client(base_url=url, auth=auth, timeout=60) as client:
            for i in batch:
                body = json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                                   "config": descriptor(OCI_CONFIG, config), "layers": [descriptor(OCI_LAYER, layer)],
                                   "annotations": {"n": str(i)}}).encode()
                r = client.put(f"/v2/{REPO}/manifests/t{i:05d}", content=body,
                               headers={"Content-Type": OCI_MANIFEST})
                assert r.status_code == 201, r.text

    step = max(1, count // 8)
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(push, [range(s, min(s + step, count)) for s in range(0, count, step)]))


def timed(client: httpx.Client, path: str, repeat: int, check: str) -> float:
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        r = client.get(path)
        samples.append(time.perf_counter() - start)
        assert r.status_code == 200 and check in r.text, (path, r.status_code, r.text[:300])
    return statistics.median(samples) * 1000


def signed_in_portal(url: str) -> httpx.Client:
    client = httpx.Client(base_url=url, timeout=60)
    page = client.get("/sign-in").text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert token
    r = client.post("/sign-in", data={"principal": ADMIN[0], "password": ADMIN[1], "csrf_token": token.group(1)})
    assert r.status_code == 303, r.text[:500]
    return client


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--artifacts", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    pages = sorted({1, (args.artifacts // PAGE) // 2 or 1, max(1, -(-args.artifacts // PAGE))})
    rows = []
    with tempfile.TemporaryDirectory() as tmp, ExitStack() as stack:
        (Path(tmp) / "moorage").mkdir()
        moorage = stack.enter_context(start_moorage(Path(tmp) / "moorage"))
        (Path(tmp) / "reference").mkdir()
        reference = stack.enter_context(start_reference_registry(Path(tmp) / "reference"))
        for name, server, auth in (("reference", reference, None), ("moorage", moorage, ADMIN)):
            start = time.perf_counter()
            populate(server.url, args.artifacts, auth)
            print(f"pushed {args.artifacts} images to {name} in {time.perf_counter() - start:.1f} s", flush=True)
        portal = signed_in_portal(moorage.url)
        api = httpx.Client(base_url=moorage.url, auth=ADMIN, timeout=60)
        ref = httpx.Client(base_url=reference.url, timeout=60)
        for page in pages:
            offset = (page - 1) * PAGE
            last = f"&last=t{offset - 1:05d}" if offset else ""
            r_ms = timed(ref, f"/v2/{REPO}/tags/list?n={PAGE}{last}", args.repeat, f"t{offset:05d}")
            p_ms = timed(portal, f"/projects/library/repositories/big?page={page}&page_size={PAGE}", args.repeat,
                         "/-/artifacts/sha256")
            a_ms = timed(api, f"/api/v2.0/projects/library/repositories/big/artifacts?page={page}"
                              f"&page_size={PAGE}&with_tag=true", args.repeat, '"tags":[{')
            rows.append({"page": page, "reference_ms": round(r_ms, 1), "portal_ms": round(p_ms, 1),
                         "api_ms": round(a_ms, 1), "portal_ratio": round(p_ms / r_ms, 2),
                         "api_ratio": round(a_ms / r_ms, 2)})
            print(f"page {page:>4}: reference tags/list {r_ms:7.1f} ms | portal {p_ms:7.1f} ms "
                  f"({p_ms / r_ms:.2f}x) | api {a_ms:7.1f} ms ({a_ms / r_ms:.2f}x)", flush=True)
    if args.json:
        args.json.write_text(json.dumps({"artifacts": args.artifacts, "page_size": PAGE, "rows": rows}, indent=2))


if __name__ == "__main__":
    main()

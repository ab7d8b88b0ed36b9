"""``moorage replicate POLICY`` runs a replication policy in its own process against the
configured database and storage while the server keeps serving: a progress bar on stderr, a
summary on stdout, and the run in the policy's executions."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx

from tests.common.oci import push_image, sha256
from tests.common.servers import ADMIN, Server, start_moorage, start_reference_registry


def moorage_replicate(server: Server, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**server.env, "TTY_COMPATIBLE": "1", "TTY_INTERACTIVE": "1", "COLUMNS": "120", "NO_COLOR": "1"}
    return subprocess.run([sys.executable, "-m", "moorage", "replicate", "--data-dir", str(server.data_dir), *args],
                          env=env, capture_output=True, text=True, timeout=300)


def test_cli_replicates_with_a_progress_bar(tmp_path: Path) -> None:
    (tmp_path / "m").mkdir()
    with start_reference_registry(tmp_path / "peer") as peer, start_moorage(tmp_path / "m") as server, \
            httpx.Client(base_url=server.url, auth=ADMIN, timeout=60) as api, \
            httpx.Client(base_url=peer.url, timeout=60) as upstream:
        digests = {tag: push_image(upstream, "team/tool", tag) for tag in ("v1", "v2", "v3")}
        r = api.post("/api/v2.0/registries", json={"name": "peer", "type": "docker-registry", "url": peer.url})
        assert r.status_code == 201, r.text
        registry_id = int(r.headers["location"].rsplit("/", 1)[1])
        r = api.post("/api/v2.0/replication/policies", json={
            "name": "from-peer", "src_registry": {"id": registry_id}, "dest_namespace": "mirror",
            "dest_namespace_replace_count": 1, "trigger": {"type": "manual"}, "enabled": True, "override": True,
            "filters": [{"type": "name", "value": "team/**"}]})
        assert r.status_code == 201, r.text

        out = moorage_replicate(server, "from-peer")
        assert out.returncode == 0, out.stderr + out.stdout
        bar = [line for line in out.stderr.splitlines() if "from-peer" in line][-1]  # the bar, as last drawn
        assert "━" in bar and "3/3" in bar, out.stderr
        assert "Success: 3 succeeded, 0 failed" in out.stdout
        for tag, digest in digests.items():
            got = api.get(f"/v2/mirror/tool/manifests/{tag}")
            assert got.status_code == 200 and sha256(got.content) == digest
        executions = api.get("/api/v2.0/replication/executions").json()
        assert executions[0]["status"] == "Succeed" and executions[0]["total"] == 3


def test_cli_names_an_unknown_policy(tmp_path: Path) -> None:
    with start_moorage(tmp_path) as server:
        out = moorage_replicate(server, "nope")
    assert out.returncode == 1
    assert "replication policy nope not found" in out.stderr

"""``moorage gc`` runs a collection in its own process against the configured database and
storage while a server keeps serving: a progress bar on stderr, the log and a summary on
stdout, and the run in the server's GC history."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import httpx

from tests.common.oci import push_image
from tests.common.servers import ADMIN, Server
from tests.integration.gc.conftest import OwnServer, plant_garbage
from tests.integration.gc.test_collect import pulls_completely


def moorage_gc(server: Server, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**server.env, "TTY_COMPATIBLE": "1", "TTY_INTERACTIVE": "1", "COLUMNS": "120", "NO_COLOR": "1"}
    return subprocess.run([sys.executable, "-m", "moorage", "gc", "--data-dir", str(server.data_dir), *args],
                          env=env, capture_output=True, text=True, timeout=300)


def test_cli_collects_with_a_progress_bar_while_the_server_serves(own_server: OwnServer) -> None:
    with own_server(MOORAGE_GC__BATCH_SIZE="50") as server, \
            httpx.Client(base_url=server.url, auth=ADMIN, timeout=60) as client:
        kept = push_image(client, "library/app", "v1")
        garbage = plant_garbage(server, [os.urandom(100) + i.to_bytes(4, "big") for i in range(400)])

        dry = moorage_gc(server, "--dry-run", "--time-window", "0")
        assert dry.returncode == 0, dry.stderr
        assert "400 blobs and 0 manifests eligible for deletion" in dry.stdout
        assert "Success: 400 blob(s) and 0 manifest(s) eligible" in dry.stdout
        assert all(server.stored_blob_paths(d) for d in garbage[::40])

        run = moorage_gc(server, "--time-window", "0", "--delete-untagged")
        assert run.returncode == 0, run.stderr
        bar = [line for line in run.stderr.splitlines() if " gc " in line][-1]  # the progress bar, as last drawn
        assert "━" in bar and ": done" in bar and "400/400" in bar, run.stderr
        assert "400 blobs and 0 manifests are actually deleted" in run.stdout
        assert all(server.stored_blob_paths(d) == [] for d in garbage[::40])
        assert pulls_completely(client, "library/app", kept)

        history = client.get("/api/v2.0/system/gc").json()
        assert [h["job_kind"] for h in history] == ["MANUAL", "MANUAL"]
        assert [h["job_status"] for h in history] == ["Success", "Success"]
        assert json.loads(history[0]["job_parameters"])["deleted_blobs"] == 400
        assert json.loads(history[0]["job_parameters"])["delete_untagged"] is True

"""Head office → region → branch: three Moorage instances chained by event-based push
policies.  An image pushed at the head office reaches the branch with no manual step, a real
client (skopeo) pulls it there with the digests it was pushed with, and its deletion at the
head office follows down the chain (``replicate_deletion``).

This is the multi-level layout organisations run; it works because a replicated push is a
normal local push at the next level (it raises PUSH_ARTIFACT there), and a replicated
deletion raises DELETE_ARTIFACT there.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.common.oci import push_image, unique_repo
from tests.common.servers import ADMIN
from tests.conformance.clients import ClientEnv, require_binaries, skopeo_copy
from tests.integration.replication_e2e.conftest import Moorage, manifest_digest, wait_until

pytestmark = pytest.mark.clients


def chain_to(upper: Moorage, lower: Moorage) -> int:
    """An event-based push policy from ``upper`` to ``lower`` for ``library/**``, with deletions."""
    registry = upper.add_registry(lower.url, "harbor", ADMIN)
    return upper.add_policy(dest=registry, trigger="event_based", replicate_deletion=True,
                            filters=[{"type": "name", "value": "library/**"}])


def test_push_and_delete_flow_from_head_office_to_branch(moorages: Callable[..., Moorage], tmp_path: Path) -> None:
    require_binaries("skopeo")
    head, region, branch = moorages("head"), moorages("region"), moorages("branch")
    head_policy = chain_to(head, region)
    region_policy = chain_to(region, branch)
    repo = unique_repo("chain")

    pushed = push_image(head.v2, repo, "v1", layer=os.urandom(2 * 1024 * 1024))

    # It reaches the region, then the branch, by events alone.
    wait_until(lambda: manifest_digest(region.v2, repo, "v1") == pushed, 60, "the image at the region")
    wait_until(lambda: manifest_digest(branch.v2, repo, "v1") == pushed, 60, "the image at the branch")
    for moorage, policy in ((head, head_policy), (region, region_policy)):
        execution = moorage.wait_for_execution_of(policy, predicate=lambda e: e["trigger"] == "event_based")
        assert execution["status"] == "Succeed", moorage.logs(execution["id"])

    # A real client pulls it at the branch: every blob is verified against its digest.
    cenv = ClientEnv.create(tmp_path / "client", Path(tempfile.mkdtemp(prefix="chain", dir="/tmp")))
    cenv.set_credentials(branch.host, *ADMIN)
    layout = tmp_path / "pulled"
    skopeo_copy(cenv, f"docker://{branch.host}/{repo}:v1", f"oci:{layout}:v1")
    index = json.loads((layout / "index.json").read_text())
    assert [m["digest"] for m in index["manifests"]] == [pushed]

    # Deleting it at the head office deletes it at the region and at the branch.
    head.delete_artifact(repo, pushed)
    assert manifest_digest(head.v2, repo, pushed) is None
    wait_until(lambda: manifest_digest(region.v2, repo, pushed) is None, 60, "the deletion at the region")
    wait_until(lambda: manifest_digest(branch.v2, repo, pushed) is None, 60, "the deletion at the branch")
    assert manifest_digest(branch.v2, repo, "v1") is None

    def deletion_done() -> list[dict[str, object]] | None:
        tasks = [t for e in region.executions(region_policy) for t in region.tasks(e["id"])
                 if t["operation"] == "deletion"]
        return tasks if tasks and all(t["status"] in ("Succeed", "Failed", "Stopped") for t in tasks) else None
    deletions = wait_until(deletion_done, 30, "the region's deletion task to finish")
    assert all(t["status"] == "Succeed" for t in deletions), deletions

"""A multi-arch index (two platform images) with a cosign-style signature referrer (an OCI
manifest whose ``subject`` is the index) is replicated as one unit to a second Moorage: the
index, both children and the signature exist there, the signature is listed by the referrers
API, and a real client copies the whole index back out with the original digests.  The same
unit also survives a docker-registry (no referrers API) in between two Moorage instances."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.common.oci import (
    EMPTY_DIGEST,
    OCI_EMPTY,
    OCI_INDEX,
    OCI_MANIFEST,
    descriptor,
    image_manifest,
    push_blob,
    put_manifest,
    sha256,
)
from tests.common.servers import ADMIN
from tests.conformance.clients import ClientEnv, require_binaries, skopeo_copy
from tests.integration.replication_e2e.conftest import Moorage, blob_present, manifest_digest

SIG_TYPE = "application/vnd.dev.cosign.artifact.sig.v1+json"
SIG_LAYER = "application/vnd.dev.cosign.simplesigning.v1+json"


@dataclass
class Signed:
    index: str
    children: list[str]
    blobs: list[str]
    signature: str


def push_signed_index(client: httpx.Client, repo: str) -> Signed:
    """Push two platform images, an index ``v1`` over them, and a cosign-style signature whose
    subject is the index (pushed by digest, untagged)."""
    children: list[dict[str, object]] = []
    blobs: list[str] = []
    for arch in ("amd64", "arm64"):
        body = image_manifest(client, repo, arch=arch)
        assert put_manifest(client, repo, sha256(body), body).status_code == 201
        doc = json.loads(body)
        blobs += [doc["config"]["digest"], *(layer["digest"] for layer in doc["layers"])]
        children.append(descriptor(OCI_MANIFEST, body, platform={"architecture": arch, "os": "linux"}))
    index = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": children}).encode()
    assert put_manifest(client, repo, "v1", index, OCI_INDEX).status_code == 201
    index_digest = sha256(index)

    push_blob(client, repo, b"{}")
    payload = json.dumps({"critical": {"image": {"docker-manifest-digest": index_digest}}}).encode()
    push_blob(client, repo, payload)
    signature = json.dumps({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST, "artifactType": SIG_TYPE,
        "config": {"mediaType": OCI_EMPTY, "digest": EMPTY_DIGEST, "size": 2},
        "layers": [descriptor(SIG_LAYER, payload, annotations={"dev.cosignproject.cosign/signature": "MEUCIQ=="})],
        "subject": {"mediaType": OCI_INDEX, "digest": index_digest, "size": len(index)},
    }).encode()
    r = put_manifest(client, repo, sha256(signature), signature)
    assert r.status_code == 201, r.text
    return Signed(index_digest, [str(c["digest"]) for c in children], blobs, sha256(signature))


def assert_replicated(moorage: Moorage, repo: str, signed: Signed) -> None:
    """The index (by tag), both children, their blobs and the signature are at ``moorage``, and
    its referrers API lists the signature for the index."""
    assert manifest_digest(moorage.v2, repo, "v1") == signed.index
    assert [manifest_digest(moorage.v2, repo, child) for child in signed.children] == signed.children
    assert all(blob_present(moorage.v2, repo, digest) for digest in signed.blobs)
    assert manifest_digest(moorage.v2, repo, signed.signature) == signed.signature
    referrers = moorage.v2.get(f"/v2/{repo}/referrers/{signed.index}")
    assert referrers.status_code == 200, referrers.text
    assert [(m["digest"], m.get("artifactType")) for m in referrers.json()["manifests"]] == \
        [(signed.signature, SIG_TYPE)]


@pytest.mark.clients
def test_index_children_and_signature_replicate_together(moorages: Callable[..., Moorage], tmp_path: Path) -> None:
    require_binaries("skopeo")
    local, peer = moorages("local"), moorages("peer")
    repo = "library/multiarch"
    signed = push_signed_index(local.v2, repo)

    registry = local.add_registry(peer.url, "harbor", ADMIN)
    policy = local.add_policy(dest=registry, filters=[{"type": "name", "value": repo}])
    execution = local.run(policy)
    assert execution["status"] == "Succeed", local.logs(execution["id"])

    assert_replicated(peer, repo, signed)

    cenv = ClientEnv.create(tmp_path / "client", Path(tempfile.mkdtemp(prefix="marepl", dir="/tmp")))
    cenv.set_credentials(peer.host, *ADMIN)
    layout = tmp_path / "pulled"
    skopeo_copy(cenv, f"docker://{peer.host}/{repo}:v1", f"oci:{layout}:v1", all_images=True)
    assert [m["digest"] for m in json.loads((layout / "index.json").read_text())["manifests"]] == [signed.index]


def test_signature_survives_a_docker_registry_in_between(moorages: Callable[..., Moorage],
                                                         reference_v2: httpx.Client) -> None:
    """Moorage → docker-registry (push-based) → another Moorage (pull-based).  Distribution 2.8
    has no referrers API, so the signature must travel through the OCI referrers tag schema
    (an index tagged ``sha256-<hex of the subject>``) and come out as a referrer again."""
    local, peer = moorages("local"), moorages("peer")
    repo = "library/signed"
    signed = push_signed_index(local.v2, repo)
    reference_url = str(reference_v2.base_url).rstrip("/")
    pushed = local.run(local.add_policy(dest=local.add_registry(reference_url, "docker-registry"),
                                        filters=[{"type": "name", "value": repo}]))
    assert pushed["status"] == "Succeed", local.logs(pushed["id"])
    assert manifest_digest(reference_v2, repo, "v1") == signed.index
    assert manifest_digest(reference_v2, repo, signed.signature) == signed.signature
    fallback = reference_v2.get(f"/v2/{repo}/manifests/{signed.index.replace(':', '-')}",
                                headers={"Accept": OCI_INDEX})
    assert fallback.status_code == 200, fallback.text
    assert [m["digest"] for m in fallback.json()["manifests"]] == [signed.signature]

    pulled = peer.run(peer.add_policy(src=peer.add_registry(reference_url, "docker-registry"),
                                      filters=[{"type": "name", "value": repo}]))
    assert pulled["status"] == "Succeed", peer.logs(pulled["id"])
    assert_replicated(peer, repo, signed)

"""Real clients against the registry under test: umoci+skopeo, podman, buildah, oras-py.

Run against the reference first: ``MOORAGE_TEST_TARGET=reference pytest tests/conformance``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.common.servers import Server
from tests.conformance.clients import (
    OCI_INDEX,
    OCI_MANIFEST,
    Buildah,
    ClientEnv,
    CommandError,
    Podman,
    build_multiarch_layout,
    error_codes,
    get_blob,
    get_manifest,
    get_referrers,
    layout_descriptor,
    oras_pull,
    oras_push,
    read_blob,
    read_json_blob,
    require_binaries,
    sha256_digest,
    skopeo_copy,
    skopeo_delete,
    skopeo_inspect,
    skopeo_inspect_raw,
    tar_files,
    umoci_build_image,
)

pytestmark = pytest.mark.clients

ARTIFACT_TYPE = "application/vnd.moorage.test+json"
ARTIFACT_LAYER_TYPE = "application/vnd.moorage.test.layer.v1+json"
REFERRER_TYPE = "application/vnd.moorage.test.signature+json"


def _skip_on_reference(registry: Server, what: str) -> None:
    if registry.kind == "reference":
        pytest.skip(f"reference registry (distribution 2.8) does not support {what}")


def _push_umoci_image(registry: Server, cenv: ClientEnv, tmp_path: Path, repo: str, tag: str,
                      files: dict[str, bytes]) -> tuple[Path, dict[str, object]]:
    layout = tmp_path / "layout"
    desc = umoci_build_image(layout, tag, files, workdir=tmp_path)
    skopeo_copy(cenv, f"oci:{layout}:{tag}", f"docker://{registry.host}/{repo}:{tag}")
    return layout, desc


def test_skopeo_layout_to_registry_to_layout_keeps_digests(
    registry: Server, client_env: ClientEnv, tmp_path: Path
) -> None:
    require_binaries("umoci", "skopeo")
    repo, tag = "library/skopeo-rt", "v1"
    content = b"hello from skopeo\n"
    src, desc = _push_umoci_image(registry, client_env, tmp_path, repo, tag,
                                  {"hello.txt": content})
    digest = str(desc["digest"])
    ref = f"docker://{registry.host}/{repo}:{tag}"

    raw = skopeo_inspect_raw(client_env, ref)
    assert raw == read_blob(src, digest)
    assert sha256_digest(raw) == digest
    r = get_manifest(registry.url, repo, tag)
    assert r.status_code == 200
    assert r.headers["docker-content-digest"] == digest
    assert r.headers["content-type"] == OCI_MANIFEST

    out = tmp_path / "out"
    skopeo_copy(client_env, ref, f"oci:{out}:{tag}")
    assert layout_descriptor(out, tag)["digest"] == digest

    manifest = read_json_blob(src, digest)
    assert len(manifest["layers"]) == 1
    for blob in [manifest["config"], *manifest["layers"]]:
        original = read_blob(src, blob["digest"])
        assert read_blob(out, blob["digest"]) == original
        assert get_blob(registry.url, repo, blob["digest"]) == original
    layer = read_blob(out, manifest["layers"][0]["digest"])
    assert tar_files(layer)["hello.txt"] == content


def test_skopeo_copy_all_multiarch_index_roundtrip(
    registry: Server, client_env: ClientEnv, tmp_path: Path
) -> None:
    require_binaries("umoci", "skopeo")
    repo, tag = "library/multiarch-rt", "v1"
    arches = {"amd64": {"arch.txt": b"amd64\n"}, "arm64": {"arch.txt": b"arm64\n"}}
    src = tmp_path / "layout"
    index_desc = build_multiarch_layout(src, tag, arches, workdir=tmp_path)
    index_digest = index_desc["digest"]
    index = read_json_blob(src, index_digest)
    children = {m["platform"]["architecture"]: m for m in index["manifests"]}
    assert set(children) == {"amd64", "arm64"}

    ref = f"docker://{registry.host}/{repo}:{tag}"
    skopeo_copy(client_env, f"oci:{src}:{tag}", ref, all_images=True)

    assert skopeo_inspect_raw(client_env, ref) == read_blob(src, index_digest)
    r = get_manifest(registry.url, repo, tag)
    assert r.status_code == 200
    assert r.headers["content-type"] == OCI_INDEX
    assert r.headers["docker-content-digest"] == index_digest
    for arch, child in children.items():
        r = get_manifest(registry.url, repo, child["digest"])
        assert r.status_code == 200, f"{arch} child manifest missing: {r.text}"
        assert r.content == read_blob(src, child["digest"])
        assert r.headers["content-type"] == OCI_MANIFEST
        # A client on that platform resolves the index to the right child.
        summary = skopeo_inspect(client_env, ref, arch=arch)
        assert summary["Architecture"] == arch
        assert summary["Layers"] == [layer["digest"] for layer in r.json()["layers"]]

    out = tmp_path / "out"
    skopeo_copy(client_env, ref, f"oci:{out}:{tag}", all_images=True)
    assert layout_descriptor(out, tag)["digest"] == index_digest
    for arch, child in children.items():
        manifest = read_json_blob(out, child["digest"])
        layer = read_blob(out, manifest["layers"][0]["digest"])
        assert tar_files(layer)["arch.txt"] == arches[arch]["arch.txt"]


def test_podman_push_and_pull(registry: Server, client_env: ClientEnv, tmp_path: Path) -> None:
    require_binaries("umoci", "skopeo", "podman")
    podman = Podman(client_env)
    content = b"hello from podman\n"
    _, desc = _push_umoci_image(registry, client_env, tmp_path, "library/podman-src", "v1",
                                {"podman.txt": content})
    source = f"{registry.host}/library/podman-src:v1"
    target = f"{registry.host}/library/podman-rt:v1"

    image_id = podman.pull(source)
    podman.tag(source, target)
    pushed = podman.push(target)

    r = get_manifest(registry.url, "library/podman-rt", "v1")
    assert r.status_code == 200
    assert r.headers["docker-content-digest"] == pushed
    assert sha256_digest(r.content) == pushed
    config_digest = r.json()["config"]["digest"]
    assert config_digest == f"sha256:{image_id}"
    manifest = r.json()
    layer = get_blob(registry.url, "library/podman-rt", manifest["layers"][0]["digest"])
    assert tar_files(layer)["podman.txt"] == content

    podman.rmi(target, source)
    assert not podman.image_exists(target)
    assert not podman.image_exists(image_id)

    assert podman.pull(target) == image_id
    assert podman.inspect(target)["Digest"] == pushed
    podman.rmi(target)
    assert podman.pull(f"{registry.host}/library/podman-rt@{pushed}") == image_id
    # The image pulled by podman is the one skopeo pushed (same config).
    source_manifest = get_manifest(registry.url, "library/podman-src", str(desc["digest"]))
    assert source_manifest.json()["config"]["digest"] == config_digest


def test_buildah_from_scratch_commit_push(
    registry: Server, client_env: ClientEnv, tmp_path: Path
) -> None:
    require_binaries("buildah", "skopeo")
    buildah = Buildah(client_env)
    content = b"hello from buildah\n"
    payload = tmp_path / "payload.txt"
    payload.write_bytes(content)
    repo, tag = "library/buildah-rt", "v1"
    ref = f"docker://{registry.host}/{repo}:{tag}"

    container = buildah.from_scratch(f"moorage-test-{tmp_path.name}")
    buildah.copy(container, payload, "/payload.txt")
    buildah.config(container, "--os", "linux", "--arch", "amd64", "--cmd", "/payload.txt")
    buildah.commit(container, "localhost/moorage-buildah-test:v1")
    buildah.rm(container)
    pushed = buildah.push("localhost/moorage-buildah-test:v1", ref)

    summary = skopeo_inspect(client_env, ref)
    assert summary["Digest"] == pushed
    assert summary["Architecture"] == "amd64"
    assert len(summary["Layers"]) == 1
    raw = skopeo_inspect_raw(client_env, ref)
    assert sha256_digest(raw) == pushed
    manifest = json.loads(raw)
    assert manifest["mediaType"] == OCI_MANIFEST
    assert [layer["digest"] for layer in manifest["layers"]] == summary["Layers"]

    out = tmp_path / "out"
    skopeo_copy(client_env, ref, f"oci:{out}:{tag}")
    assert layout_descriptor(out, tag)["digest"] == pushed
    layer = read_blob(out, summary["Layers"][0])
    assert tar_files(layer)["payload.txt"] == content


def test_oras_push_pull_artifact_with_artifact_type(registry: Server, tmp_path: Path) -> None:
    pytest.importorskip("oras.provider", reason="oras-py not installed")
    repo = "library/oras-artifact"
    payload = tmp_path / "payload.json"
    payload.write_bytes(b'{"hello": "moorage"}\n')

    pushed = oras_push(registry.host, repo, "v1", [(payload, ARTIFACT_LAYER_TYPE)],
                       workdir=tmp_path, artifact_type=ARTIFACT_TYPE)

    r = get_manifest(registry.url, repo, "v1")
    assert r.status_code == 200
    assert r.headers["docker-content-digest"] == pushed.digest
    manifest = r.json()
    assert manifest["artifactType"] == ARTIFACT_TYPE
    assert manifest["config"]["mediaType"] == "application/vnd.oci.empty.v1+json"
    assert [layer["mediaType"] for layer in manifest["layers"]] == [ARTIFACT_LAYER_TYPE]

    files = oras_pull(registry.host, repo, "v1", tmp_path / "pulled")
    assert [f.name for f in files] == ["payload.json"]
    assert files[0].read_bytes() == payload.read_bytes()
    by_digest = oras_pull(registry.host, repo, pushed.digest, tmp_path / "by-digest")
    assert [f.read_bytes() for f in by_digest] == [payload.read_bytes()]


def test_oras_referrer_is_listed_by_referrers_api(registry: Server, tmp_path: Path) -> None:
    pytest.importorskip("oras.provider", reason="oras-py not installed")
    repo = "library/oras-referrers"
    payload = tmp_path / "payload.json"
    payload.write_bytes(b'{"subject": true}\n')
    signature = tmp_path / "signature.json"
    signature.write_bytes(b'{"signed": "yes"}\n')

    subject = oras_push(registry.host, repo, "v1", [(payload, ARTIFACT_LAYER_TYPE)],
                        workdir=tmp_path, artifact_type=ARTIFACT_TYPE)
    referrer = oras_push(registry.host, repo, "sig", [(signature, ARTIFACT_LAYER_TYPE)],
                         workdir=tmp_path, artifact_type=REFERRER_TYPE, subject=subject,
                         annotations={"org.example.kind": "signature"})
    stored = get_manifest(registry.url, repo, referrer.digest).json()
    assert stored["subject"] == {"mediaType": OCI_MANIFEST, "digest": subject.digest,
                                 "size": subject.size}

    _skip_on_reference(registry, "the OCI 1.1 referrers API")
    headers = {k.lower(): v for k, v in referrer.headers.items()}
    assert headers.get("oci-subject") == subject.digest

    r = get_referrers(registry.url, repo, subject.digest)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].split(";")[0] == OCI_INDEX
    index = r.json()
    assert index["schemaVersion"] == 2
    assert index["mediaType"] == OCI_INDEX
    listed = {d["digest"]: d for d in index["manifests"]}
    assert set(listed) == {referrer.digest}
    entry = listed[referrer.digest]
    assert entry["mediaType"] == OCI_MANIFEST
    assert entry["size"] == referrer.size
    assert entry["artifactType"] == REFERRER_TYPE
    assert entry.get("annotations", {}).get("org.example.kind") == "signature"

    # Filtering is optional; when applied it must be announced and correct.
    r = get_referrers(registry.url, repo, subject.digest, artifact_type="application/x-none")
    assert r.status_code == 200
    if "artifactType" in r.headers.get("oci-filters-applied", ""):
        assert r.json()["manifests"] == []

    # A manifest with no referrers gets an empty index, not a 404.
    r = get_referrers(registry.url, repo, referrer.digest)
    assert r.status_code == 200
    assert r.json()["manifests"] == []


def test_skopeo_delete_manifest_by_digest_then_404(
    registry: Server, client_env: ClientEnv, tmp_path: Path
) -> None:
    require_binaries("umoci", "skopeo")
    repo, tag = "library/skopeo-del", "v1"
    _, desc = _push_umoci_image(registry, client_env, tmp_path, repo, tag,
                                {"doomed.txt": b"delete me\n"})
    digest = str(desc["digest"])
    assert get_manifest(registry.url, repo, digest).status_code == 200

    skopeo_delete(client_env, f"docker://{registry.host}/{repo}@{digest}")

    r = get_manifest(registry.url, repo, digest)
    assert r.status_code == 404
    assert "MANIFEST_UNKNOWN" in error_codes(r)
    with pytest.raises(CommandError):
        skopeo_inspect_raw(client_env, f"docker://{registry.host}/{repo}@{digest}")

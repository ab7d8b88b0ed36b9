"""Real clients through the proxy cache: skopeo pulls (an image and a multi-arch index) from a
docker-registry upstream and from a second Moorage reached as a ``harbor`` endpoint with
credentials, and podman in transparent mirror mode (a ``registries.conf`` mirror entry
pointing at Moorage, unprefixed names)."""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.common.servers import ADMIN, Server, start_moorage
from tests.conformance.clients import (
    ClientEnv,
    Podman,
    build_multiarch_layout,
    layout_descriptor,
    read_layout_index,
    require_binaries,
    skopeo_copy,
    umoci_build_image,
)
from tests.integration.proxy.conftest import create_proxy_project, unique, wait_cached
from tests.integration.proxy.gate import Gate


@pytest.fixture
def cenv(tmp_path: Path) -> Iterator[ClientEnv]:
    run_root = Path(tempfile.mkdtemp(prefix="mrg-px-", dir="/tmp"))
    try:
        yield ClientEnv.create(tmp_path / "client-env", run_root)
    finally:
        shutil.rmtree(run_root, ignore_errors=True)


@pytest.fixture(scope="module")
def peer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A second Moorage (SQLite) as a ``harbor`` upstream: its projects are private."""
    with start_moorage(tmp_path_factory.mktemp("peer")) as server:
        yield server


def build(tmp_path: Path, tag: str = "v1") -> Path:
    layout = tmp_path / "src"
    umoci_build_image(layout, tag, {"etc/hello": b"hello from upstream\n"}, workdir=tmp_path)
    return layout


def test_skopeo_pulls_through_the_cache(admin: httpx.Client, gate: Gate, upstream: Server, cenv: ClientEnv,
                                        server: Server, tmp_path: Path) -> None:
    require_binaries("skopeo", "umoci")
    repo = f"team/{unique('sk')}"
    layout = build(tmp_path)
    skopeo_copy(cenv, f"oci:{layout}:v1", f"docker://{upstream.host}/{repo}:v1")
    project = create_proxy_project(admin, gate.url)
    out = tmp_path / "out"
    skopeo_copy(cenv, f"docker://{server.host}/{project}/{repo}:v1", f"oci:{out}:v1")
    digest = layout_descriptor(layout, "v1")["digest"]
    assert layout_descriptor(out, "v1")["digest"] == digest
    assert wait_cached(admin, project, repo, "v1")["digest"] == digest


def test_multiarch_index_is_cached_with_its_children(admin: httpx.Client, gate: Gate, upstream: Server,
                                                     cenv: ClientEnv, server: Server, tmp_path: Path) -> None:
    require_binaries("skopeo", "umoci")
    repo = f"team/{unique('ma')}"
    layout = tmp_path / "multi"
    index = build_multiarch_layout(layout, "v1", {"amd64": {"a": b"amd"}, "arm64": {"a": b"arm"}},
                                   workdir=tmp_path)
    skopeo_copy(cenv, f"oci:{layout}:v1", f"docker://{upstream.host}/{repo}:v1", all_images=True)
    project = create_proxy_project(admin, gate.url)
    out = tmp_path / "out"
    skopeo_copy(cenv, f"docker://{server.host}/{project}/{repo}:v1", f"oci:{out}:v1", all_images=True)
    assert layout_descriptor(out, "v1")["digest"] == index["digest"]
    cached = wait_cached(admin, project, repo, "v1")
    assert cached["digest"] == index["digest"]
    assert len(read_layout_index(out)["manifests"]) == 1
    children = json.loads((out / "blobs" / "sha256" / index["digest"].split(":")[1]).read_bytes())["manifests"]
    for child in children:
        assert wait_cached(admin, project, repo, child["digest"])["digest"] == child["digest"]


def test_harbor_upstream_with_credentials(admin: httpx.Client, peer: Server, cenv: ClientEnv, server: Server,
                                          tmp_path: Path) -> None:
    require_binaries("skopeo", "umoci")
    source = unique("priv")
    with httpx.Client(base_url=f"{peer.url}/api/v2.0", auth=ADMIN) as peer_api:
        assert peer_api.post("/projects", json={"project_name": source}).status_code == 201
    layout = build(tmp_path)
    cenv.set_credentials(peer.host, *ADMIN)
    skopeo_copy(cenv, f"oci:{layout}:v1", f"docker://{peer.host}/{source}/app:v1")
    project = create_proxy_project(admin, peer.url, kind="harbor", username=ADMIN[0], password=ADMIN[1])
    out = tmp_path / "out"
    skopeo_copy(cenv, f"docker://{server.host}/{project}/{source}/app:v1", f"oci:{out}:v1")
    digest = layout_descriptor(layout, "v1")["digest"]
    assert layout_descriptor(out, "v1")["digest"] == digest
    assert wait_cached(admin, project, f"{source}/app", "v1")["digest"] == digest


def test_podman_pulls_through_mirror_mode(admin: httpx.Client, mirror: str, upstream: Server, cenv: ClientEnv,
                                          server: Server, tmp_path: Path) -> None:
    require_binaries("podman", "skopeo", "umoci")
    repo = f"team/{unique('pm')}"
    layout = build(tmp_path)
    skopeo_copy(cenv, f"oci:{layout}:v1", f"docker://{upstream.host}/{repo}:v1")
    cenv.registries_conf.write_text(
        "unqualified-search-registries = []\n"
        "[[registry]]\n"
        'prefix = "mirror.test"\n'
        'location = "mirror.test"\n'
        "[[registry.mirror]]\n"
        f'location = "{server.host}"\n'
        "insecure = true\n"
    )
    podman = Podman(cenv)
    podman.pull(f"mirror.test/{repo}:v1")
    assert podman.image_exists(f"mirror.test/{repo}:v1")
    digest = layout_descriptor(layout, "v1")["digest"]
    assert wait_cached(admin, mirror, repo, "v1")["digest"] == digest  # served as hub/<repo>
    solo = unique("solo")  # a one-component name, as Docker Hub's official images
    skopeo_copy(cenv, f"oci:{layout}:v1", f"docker://{upstream.host}/{solo}:v1")
    podman.pull(f"mirror.test/{solo}:v1")
    assert wait_cached(admin, mirror, solo, "v1")["digest"] == digest

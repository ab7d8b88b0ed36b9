"""Building blocks for protocol tests: push blobs and manifests over plain HTTP."""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from typing import Any

import httpx

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_EMPTY = "application/vnd.oci.empty.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"
EMPTY_DIGEST = "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def unique_repo(prefix: str = "t") -> str:
    return f"library/{prefix}-{uuid.uuid4().hex[:10]}"


def push_blob(client: httpx.Client, repo: str, data: bytes) -> str:
    digest = sha256(data)
    r = client.post(f"/v2/{repo}/blobs/uploads/", params={"digest": digest}, content=data)
    if r.status_code == 202 and "docker-distribution-api-version" in r.headers:
        # distribution (docker-registry) ignores a monolithic POST's body and opens a session
        location = r.headers["location"]
        r = client.put(f"{location}{'&' if '?' in location else '?'}digest={digest}", content=data,
                       headers={"Content-Type": "application/octet-stream"})
    assert r.status_code == 201, r.text
    return digest


def descriptor(media_type: str, data: bytes, **extra: Any) -> dict[str, Any]:
    return {"mediaType": media_type, "digest": sha256(data), "size": len(data), **extra}


def image_manifest(client: httpx.Client, repo: str, *, arch: str = "amd64", layer: bytes | None = None,
                   media_type: str = OCI_MANIFEST, **extra: Any) -> bytes:
    """Push a config and one layer, and return the bytes of a manifest that references them."""
    docker = media_type == DOCKER_MANIFEST
    config = json.dumps({"architecture": arch, "os": "linux", "rootfs": {"type": "layers", "diff_ids": []},
                         "nonce": uuid.uuid4().hex}).encode()
    layer = layer if layer is not None else os.urandom(256)
    push_blob(client, repo, config)
    push_blob(client, repo, layer)
    doc = {
        "schemaVersion": 2,
        "mediaType": media_type,
        "config": descriptor(DOCKER_CONFIG if docker else OCI_CONFIG, config),
        "layers": [descriptor(DOCKER_LAYER if docker else OCI_LAYER, layer)],
        **extra,
    }
    return json.dumps(doc).encode()


def put_manifest(client: httpx.Client, repo: str, reference: str, body: bytes,
                 media_type: str = OCI_MANIFEST) -> httpx.Response:
    return client.put(f"/v2/{repo}/manifests/{reference}", content=body, headers={"Content-Type": media_type})


def push_image(client: httpx.Client, repo: str, tag: str, **kw: Any) -> str:
    media_type = kw.get("media_type", OCI_MANIFEST)
    body = image_manifest(client, repo, **kw)
    r = put_manifest(client, repo, tag, body, media_type)
    assert r.status_code == 201, r.text
    return sha256(body)


def error_codes(response: httpx.Response) -> list[str]:
    return [e["code"] for e in response.json()["errors"]]

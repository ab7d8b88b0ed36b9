"""Fixtures for the quota tests: the REST API fixtures, projects with a storage limit, and
small /v2 push steps whose refusals the tests inspect."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.common.oci import OCI_CONFIG, OCI_LAYER, OCI_MANIFEST, descriptor, sha256
from tests.integration.api.conftest import anonymous, api, as_user, new_project, new_user  # noqa: F401

Project = tuple[str, int]  # (name, id)


@pytest.fixture
def limited(new_project: Callable[..., dict[str, Any]]) -> Callable[..., Project]:  # noqa: F811
    """``limited(limit)`` → (name, id) of a new private project created with ``storage_limit``."""

    def make(limit: int = -1, public: bool = False) -> Project:
        project = new_project(public=public, storage_limit=limit)
        return str(project["name"]), int(project["project_id"])

    return make


@pytest.fixture
def member(api: httpx.Client, new_user: Callable[..., dict[str, Any]],  # noqa: F811
           as_user: Callable[..., httpx.Client]) -> Callable[[int, int], httpx.Client]:  # noqa: F811
    """``member(project_id, role_id)`` → an API client for a new user holding that role there."""

    def make(project_id: int, role_id: int) -> httpx.Client:
        user = new_user()
        r = api.post(f"/projects/{project_id}/members",
                     json={"role_id": role_id, "member_user": {"username": user["username"]}})
        assert r.status_code == 201, r.text
        return as_user(str(user["username"]))

    return make


def usage(rest: httpx.Client, project_id: int) -> tuple[int, int]:
    """(hard, used) of the project's quota, through the API."""
    r = rest.get(f"/quotas/{project_id}")
    assert r.status_code == 200, r.text
    body = r.json()
    return int(body["hard"]["storage"]), int(body["used"]["storage"])


def set_limit(rest: httpx.Client, project_id: int, hard: int) -> None:
    r = rest.put(f"/quotas/{project_id}", json={"hard": {"storage": hard}})
    assert r.status_code == 200, r.text


def upload(client: httpx.Client, repo: str, data: bytes) -> httpx.Response:
    """A monolithic blob upload (POST ?digest=)."""
    return client.post(f"/v2/{repo}/blobs/uploads/", params={"digest": sha256(data)}, content=data)


def denied(response: httpx.Response) -> str:
    """The message of a 403 DENIED answer (asserted)."""
    assert response.status_code == 403, response.text
    error = response.json()["errors"][0]
    assert error["code"] == "DENIED", error
    return str(error["message"])


def blob_visible(client: httpx.Client, repo: str, digest: str) -> bool:
    return client.head(f"/v2/{repo}/blobs/{digest}").status_code == 200


def new_config() -> bytes:
    """A small image config, unique per call."""
    return b'{"architecture":"amd64","os":"linux","nonce":"%s"}' % os.urandom(8).hex().encode()


def manifest_of(config: bytes, layers: list[bytes]) -> bytes:
    doc = {"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": descriptor(OCI_CONFIG, config),
           "layers": [descriptor(OCI_LAYER, layer) for layer in layers]}
    return json.dumps(doc).encode()


def image(client: httpx.Client, repo: str, layers: list[bytes]) -> tuple[bytes, int]:
    """Push a unique config and ``layers``; return a manifest referencing them and the bytes
    the blobs weigh (config + layers)."""
    config = new_config()
    for blob in [config, *layers]:
        r = upload(client, repo, blob)
        assert r.status_code == 201, r.text
    return manifest_of(config, layers), len(config) + sum(len(x) for x in layers)

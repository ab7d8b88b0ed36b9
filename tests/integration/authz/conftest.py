"""The world the authorization matrix runs against, built once per backend through the API:
users holding each project role, a non-member and a second system administrator, a private
and a public project with an image each, a project robot and a system robot; plus the
factories that build a throwaway object per cell for destructive rows."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from tests.common.oci import image_manifest, push_blob, put_manifest, sha256
from tests.common.servers import ADMIN, Server

API = "/api/v2.0"
PASSWORD = "Passw0rdOK"
SERVICE = "moorage-registry"
PRINCIPALS = ("sysadmin", "projectAdmin", "maintainer", "developer", "guest", "limitedGuest", "nonMember",
              "anonymous", "projectRobot", "systemRobot")
ROLE_IDS = {"projectAdmin": 1, "developer": 2, "guest": 3, "maintainer": 4, "limitedGuest": 5}
USERS = ("sysadmin", *ROLE_IDS, "nonMember")

# What the two robot principals hold (the matrix in expected.yaml is written against these).
PROJECT_ROBOT_ACCESS = ("repository:pull", "repository:push", "artifact:read", "artifact:list", "tag:list")
SYSTEM_ROBOT_PROJECT_ACCESS = ("repository:pull", "repository:push", "repository:list", "artifact:read",
                               "artifact:list", "tag:list")
SYSTEM_ROBOT_SYSTEM_ACCESS = ("project:list", "project:create", "audit-log:list")


def unique(prefix: str = "m") -> str:
    return f"{prefix}{uuid.uuid4().hex[:12]}"


def access(*pairs: str) -> list[dict[str, str]]:
    return [{"resource": p.split(":")[0], "action": p.split(":")[1]} for p in pairs]


@dataclass
class World:
    """Everything a cell needs: a client per principal, the shared placeholders, and an admin
    client for setup."""

    url: str
    admin: httpx.Client  # the built-in admin, for setup (base URL: the server root)
    bare: httpx.Client  # no credentials: anonymous calls, and calls carrying a bearer token
    clients: dict[str, httpx.Client] = field(default_factory=dict)
    credentials: dict[str, tuple[str, str] | None] = field(default_factory=dict)
    values: dict[str, str] = field(default_factory=dict)  # placeholders shared by every cell
    selves: dict[str, dict[str, str]] = field(default_factory=dict)  # {self_id}, {self_email} per principal
    data: dict[str, bytes] = field(default_factory=dict)  # named request bodies (manifests)
    usernames: dict[str, str] = field(default_factory=dict)  # user principal -> account name

    def api(self, method: str, path: str, **kw: Any) -> httpx.Response:
        return self.admin.request(method, API + path, **kw)

    def created(self, method: str, path: str, body: dict[str, Any]) -> int:
        """Create through the API as admin; the new object's id (from Location)."""
        r = self.api(method, path, json=body)
        assert r.status_code == 201, f"{method} {path}: {r.status_code} {r.text}"
        return int(r.headers["location"].rstrip("/").rsplit("/", 1)[1])

    def new_user(self) -> tuple[int, str]:
        name = unique("u")
        user_id = self.created("POST", "/users", {"username": name, "email": f"{name}@example.com",
                                                  "realname": name, "password": PASSWORD, "comment": ""})
        return user_id, name

    def add_member(self, project_id: int, username: str, role_id: int) -> int:
        return self.created("POST", f"/projects/{project_id}/members",
                            {"role_id": role_id, "member_user": {"username": username}})

    def new_project(self, name: str, public: bool) -> int:
        return self.created("POST", "/projects", {"project_name": name,
                                                  "metadata": {"public": "true" if public else "false"}})

    def new_robot(self, name: str, project: str, *pairs: str) -> tuple[int, str, str]:
        """A project robot; (id, full name, secret)."""
        r = self.api("POST", "/robots", json={
            "name": name, "level": "project", "duration": -1,
            "permissions": [{"kind": "project", "namespace": project, "access": access(*pairs)}]})
        assert r.status_code == 201, r.text
        body = r.json()
        return int(body["id"]), str(body["name"]), str(body["secret"])

    def push_image(self, repo: str, tag: str) -> tuple[str, bytes, str]:
        """Push a fresh image as admin; (manifest digest, manifest bytes, layer digest)."""
        body = image_manifest(self.admin, repo)
        r = put_manifest(self.admin, repo, tag, body)
        assert r.status_code == 201, r.text
        return sha256(body), body, str(json.loads(body)["layers"][0]["digest"])

    def cell(self, principal: str, setup: str | None) -> tuple[dict[str, str], dict[str, bytes]]:
        """The placeholders and bodies of one (row, principal) cell, running its factory."""
        values = {**self.values, **self.selves[principal], "unique": unique()}
        data = dict(self.data)
        if setup:
            extra_values, extra_data = FACTORIES[setup](self)
            values.update(extra_values)
            data.update(extra_data)
        return values, data


# Factories: each builds one throwaway object as admin and returns its placeholders ------------

Made = tuple[dict[str, str], dict[str, bytes]]


def _fresh_project(w: World) -> Made:
    """A private project with the same members (and roles) as {project}."""
    project_id = w.new_project(unique("authzx"), public=False)
    for principal, role_id in ROLE_IDS.items():
        w.add_member(project_id, w.usernames[principal], role_id)
    return {"fresh_project_id": str(project_id)}, {}


def _fresh_user(w: World) -> Made:
    user_id, name = w.new_user()
    return {"fresh_user_id": str(user_id), "fresh_username": name}, {}


def _fresh_member(w: World) -> Made:
    _, name = w.new_user()
    member_id = w.add_member(int(w.values["project_id"]), name, 3)
    return {"fresh_member_id": str(member_id)}, {}


def _fresh_robot(w: World) -> Made:
    robot_id, _, _ = w.new_robot(unique(), w.values["project"], "repository:pull")
    return {"fresh_robot_id": str(robot_id)}, {}


def _fresh_repo(w: World) -> Made:
    name = unique("del")
    w.push_image(f"{w.values['project']}/{name}", "v1")
    return {"fresh_repo": name}, {}


def _fresh_artifact_in(project_key: str) -> Callable[[World], Made]:
    def make(w: World) -> Made:
        digest, _, _ = w.push_image(f"{w.values[project_key]}/scratch", unique("s"))
        return {"fresh_digest": digest}, {}

    return make


def _fresh_tag(w: World) -> Made:
    name = unique("t")
    r = w.api("POST", f"/projects/{w.values['project']}/repositories/app/artifacts/v1/tags", json={"name": name})
    assert r.status_code == 201, r.text
    return {"fresh_tag": name}, {}


def _fresh_blob(w: World) -> Made:
    return {"fresh_blob": push_blob(w.admin, f"{w.values['project']}/app", os.urandom(64))}, {}


def _upload(w: World) -> Made:
    """An upload session of {project}/app started by the admin, and the bytes to send to it."""
    r = w.admin.post(f"/v2/{w.values['project']}/app/blobs/uploads/")
    assert r.status_code == 202, r.text
    data = os.urandom(128)
    return {"upload_id": r.headers["location"].split("?")[0].rsplit("/", 1)[1],
            "blob_digest": sha256(data)}, {"blob_data": data}


def _meta_key(w: World) -> Made:
    r = w.api("PUT", f"/projects/{w.values['project_id']}", json={"metadata": {"auto_scan": "true"}})
    assert r.status_code == 200, r.text
    return {}, {}


def _meta_key_absent(w: World) -> Made:
    r = w.api("DELETE", f"/projects/{w.values['project_id']}/metadatas/auto_scan")
    assert r.status_code in (200, 404), r.text
    return {}, {}


def _fresh_registry(w: World) -> Made:
    """A registry endpoint nothing listens behind (nothing uses it: it can be deleted)."""
    registry_id = w.created("POST", "/registries", {"name": unique("reg"), "type": "docker-registry",
                                                     "url": "http://127.0.0.1:9"})
    return {"fresh_registry_id": str(registry_id)}, {}


def _fresh_policy(w: World) -> Made:
    """A manual push-based replication policy to a fresh endpoint, selecting nothing."""
    values, _ = _fresh_registry(w)
    policy_id = w.created("POST", "/replication/policies", {
        "name": unique("policy"), "dest_registry": {"id": int(values["fresh_registry_id"])},
        "filters": [{"type": "name", "value": "no-such-repository-*"}], "trigger": {"type": "manual"},
        "enabled": True, "override": True})
    return {**values, "fresh_policy_id": str(policy_id)}, {}


def _fresh_replication(w: World) -> Made:
    """A run of a fresh policy (it selects nothing, so it finishes at once with no copy task)."""
    values, _ = _fresh_policy(w)
    execution_id = w.created("POST", "/replication/executions", {"policy_id": int(values["fresh_policy_id"])})
    return {**values, "fresh_execution_id": str(execution_id)}, {}


FACTORIES: dict[str, Callable[[World], Made]] = {
    "fresh_registry": _fresh_registry,
    "fresh_policy": _fresh_policy,
    "fresh_replication": _fresh_replication,
    "fresh_project": _fresh_project,
    "fresh_user": _fresh_user,
    "fresh_member": _fresh_member,
    "fresh_robot": _fresh_robot,
    "fresh_repo": _fresh_repo,
    "fresh_artifact": _fresh_artifact_in("project"),
    "fresh_public_artifact": _fresh_artifact_in("public"),
    "fresh_tag": _fresh_tag,
    "fresh_blob": _fresh_blob,
    "upload": _upload,
    "meta_key": _meta_key,
    "meta_key_absent": _meta_key_absent,
}


# The world --------------------------------------------------------------------------------------

def build_world(url: str, admin: httpx.Client, bare: httpx.Client) -> World:
    w = World(url=url, admin=admin, bare=bare)
    suffix = uuid.uuid4().hex[:8]

    ids: dict[str, int] = {}
    for principal in USERS:
        ids[principal], name = w.new_user()
        w.credentials[principal] = (name, PASSWORD)
        w.usernames[principal] = name
        w.selves[principal] = {"self_id": str(ids[principal]), "self_email": f"{name}@example.com"}
    r = w.api("PUT", f"/users/{ids['sysadmin']}/sysadmin", json={"sysadmin_flag": True})
    assert r.status_code == 200, r.text
    other_id, other_name = w.new_user()

    project, public = f"authzp{suffix}", f"authzq{suffix}"
    project_id, public_id = w.new_project(project, public=False), w.new_project(public, public=True)
    for principal, role_id in ROLE_IDS.items():
        w.add_member(project_id, w.usernames[principal], role_id)
    _, target_name = w.new_user()
    target_member_id = w.add_member(project_id, target_name, 3)

    digest, manifest, layer = w.push_image(f"{project}/app", "v1")
    public_digest, public_manifest, public_layer = w.push_image(f"{public}/app", "v1")
    w.data.update(manifest=manifest, public_manifest=public_manifest)

    _, robot_name, robot_secret = w.new_robot("matrix", project, *PROJECT_ROBOT_ACCESS)
    w.credentials["projectRobot"] = (robot_name, robot_secret)
    r = w.api("POST", "/robots", json={
        "name": f"matrixsys{suffix}", "level": "system", "duration": -1,
        "permissions": [{"kind": "system", "namespace": "/", "access": access(*SYSTEM_ROBOT_SYSTEM_ACCESS)},
                        {"kind": "project", "namespace": "*", "access": access(*SYSTEM_ROBOT_PROJECT_ACCESS)}]})
    assert r.status_code == 201, r.text
    w.credentials["systemRobot"] = (r.json()["name"], r.json()["secret"])
    w.credentials["anonymous"] = None
    target_robot_id, target_robot_name, _ = w.new_robot("target", project, "repository:pull")

    other = {"self_id": str(other_id), "self_email": f"{other_name}@example.com"}
    for principal in ("anonymous", "projectRobot", "systemRobot"):
        w.selves[principal] = other  # no account of their own: "self" rows aim at another user
    w.values.update(
        project=project, project_id=str(project_id), public=public, public_id=str(public_id),
        digest=digest, layer=layer, public_digest=public_digest, public_layer=public_layer,
        other_user_id=str(other_id), other_email=f"{other_name}@example.com",
        target_member_id=str(target_member_id), robot_id=str(target_robot_id), robot_name=target_robot_name,
    )
    for principal in PRINCIPALS:
        w.clients[principal] = httpx.Client(base_url=url, auth=w.credentials[principal], timeout=60)
    return w


@pytest.fixture(scope="session")
def world(moorage: Server) -> Iterator[World]:
    with httpx.Client(base_url=moorage.url, auth=ADMIN, timeout=60) as admin, \
            httpx.Client(base_url=moorage.url, timeout=60) as bare:
        w = build_world(moorage.url, admin, bare)
        try:
            yield w
        finally:
            for c in w.clients.values():
                c.close()

"""The world the label tests share per backend: a private project holding one image, with a
user in each project role, a non-member, and clients for each of them (plus anonymous)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field

import httpx
import pytest

from tests.common.oci import push_image
from tests.common.servers import ADMIN, Server
from tests.integration.api.conftest import api, as_user, new_project  # noqa: F401  (fixtures)

PASSWORD = "Passw0rdOK"
ROLE_IDS = {"projectAdmin": 1, "developer": 2, "guest": 3, "maintainer": 4, "limitedGuest": 5}
PRINCIPALS = ("admin", *ROLE_IDS, "nonMember", "anonymous")


def unique(prefix: str = "l") -> str:
    return f"{prefix}{uuid.uuid4().hex[:10]}"


@dataclass
class LabelWorld:
    project: str
    project_id: int
    repository: str  # in-project name
    digest: str
    clients: dict[str, httpx.Client] = field(default_factory=dict)

    def artifact(self, reference: str | None = None) -> str:
        return f"/projects/{self.project}/repositories/{self.repository}/artifacts/{reference or self.digest}"


@pytest.fixture(scope="module")
def world(moorage: Server) -> Iterator[LabelWorld]:
    base = f"{moorage.url}/api/v2.0"
    admin = httpx.Client(base_url=base, auth=ADMIN, timeout=60)
    name = unique("labels")
    assert admin.post("/projects", json={"project_name": name, "metadata": {"public": "false"}}).status_code == 201
    project_id = int(admin.get(f"/projects/{name}", headers={"X-Is-Resource-Name": "true"}).json()["project_id"])
    with httpx.Client(base_url=moorage.url, auth=ADMIN, timeout=60) as registry:
        digest = push_image(registry, f"{name}/app", "v1")
    w = LabelWorld(name, project_id, "app", digest, {"admin": admin, "anonymous": httpx.Client(base_url=base,
                                                                                             timeout=60)})
    for principal in (*ROLE_IDS, "nonMember"):
        username = unique(principal.lower()[:8])
        r = admin.post("/users", json={"username": username, "email": f"{username}@example.com",
                                       "realname": username, "password": PASSWORD})
        assert r.status_code == 201, r.text
        if principal in ROLE_IDS:
            r = admin.post(f"/projects/{project_id}/members",
                           json={"role_id": ROLE_IDS[principal], "member_user": {"username": username}})
            assert r.status_code == 201, r.text
        w.clients[principal] = httpx.Client(base_url=base, auth=(username, PASSWORD), timeout=60)
    yield w
    for c in w.clients.values():
        c.close()

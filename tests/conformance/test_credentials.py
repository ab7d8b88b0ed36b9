"""Real clients with real credentials: ``podman login``, ``skopeo --creds``, oras-py with a
user's password, and a project robot doing a CI-style push — through Moorage's token service.
Anonymous clients may pull public projects and nothing else."""

from __future__ import annotations

import uuid
from pathlib import Path

import httpx
import pytest

from tests.common.servers import ADMIN, Server
from tests.conformance.clients import (
    ClientEnv,
    CommandError,
    Podman,
    oras_pull,
    oras_push,
    require_binaries,
    run,
    skopeo_copy,
    skopeo_inspect,
    umoci_build_image,
)

pytestmark = pytest.mark.clients
PASSWORD = "Passw0rdOK"


@pytest.fixture
def moorage_only(registry: Server) -> Server:
    if registry.kind == "reference":
        pytest.skip("the reference registry has no users or projects")
    return registry


def _api(registry: Server) -> httpx.Client:
    return httpx.Client(base_url=f"{registry.url}/api/v2.0", auth=ADMIN, timeout=60)


def _user_in_new_project(registry: Server, role_id: int, public: bool = False) -> tuple[str, str]:
    """(username, project) — a new user holding ``role_id`` in a new project."""
    suffix = uuid.uuid4().hex[:8]
    user, project = f"dev{suffix}", f"team{suffix}"
    with _api(registry) as api:
        r = api.post("/users", json={"username": user, "email": f"{user}@example.com", "realname": user,
                                     "password": PASSWORD})
        assert r.status_code == 201, r.text
        r = api.post("/projects", json={"project_name": project, "metadata": {"public": str(public).lower()}})
        assert r.status_code == 201, r.text
        r = api.post(f"/projects/{project}/members", headers={"X-Is-Resource-Name": "true"},
                     json={"role_id": role_id, "member_user": {"username": user}})
        assert r.status_code == 201, r.text
    return user, project


def _image(tmp_path: Path, tag: str = "v1") -> Path:
    layout = tmp_path / "layout"
    umoci_build_image(layout, tag, {"app.txt": uuid.uuid4().bytes}, workdir=tmp_path)
    return layout


def _skopeo_with_creds(cenv: ClientEnv, src: str, dest: str, dest_creds: str | None = None,
                       src_creds: str | None = None) -> None:
    args = ["skopeo", "--policy", str(cenv.policy), "--tmpdir", str(cenv.tmp), "copy", "--quiet",
            "--preserve-digests"]
    if dest.startswith("docker://"):
        args += ["--dest-tls-verify=false"]
    if src.startswith("docker://"):
        args += ["--src-tls-verify=false"]
    if dest_creds:
        args += ["--dest-creds", dest_creds]
    if src_creds:
        args += ["--src-creds", src_creds]
    run([*args, src, dest], env=cenv.env())


def test_podman_login_push_pull_as_developer(moorage_only: Server, client_env: ClientEnv, tmp_path: Path) -> None:
    require_binaries("podman", "umoci", "skopeo")
    registry = moorage_only
    user, project = _user_in_new_project(registry, role_id=2)  # Developer
    client_env.set_credentials(registry.host, None)  # start signed out
    podman = Podman(client_env)
    with pytest.raises(CommandError):
        podman("login", "--tls-verify=false", "-u", user, "-p", "Wr0ngPassword", registry.host)
    out = podman("login", "--tls-verify=false", "-u", user, "-p", PASSWORD, registry.host)
    assert "Login Succeeded" in out
    layout = _image(tmp_path)
    ref = f"{registry.host}/{project}/app:v1"
    skopeo_copy(client_env, f"oci:{layout}:v1", f"containers-storage:{ref}", preserve_digests=False)
    podman.push(ref)
    podman.rmi(ref)
    podman.pull(ref)
    assert podman.image_exists(ref)
    podman("logout", registry.host)
    with pytest.raises(CommandError, match="(?i)unauthorized|authentication required"):
        podman.pull(ref)  # a private project: anonymous pulls are refused


def test_skopeo_creds_guest_can_pull_but_not_push(moorage_only: Server, client_env: ClientEnv,
                                                   tmp_path: Path) -> None:
    require_binaries("skopeo", "umoci")
    registry = moorage_only
    user, project = _user_in_new_project(registry, role_id=3)  # Guest
    client_env.set_credentials(registry.host, None)
    layout = _image(tmp_path)
    dest = f"docker://{registry.host}/{project}/app:v1"
    with pytest.raises(CommandError, match="(?i)denied|unauthorized"):
        _skopeo_with_creds(client_env, f"oci:{layout}:v1", dest, dest_creds=f"{user}:{PASSWORD}")
    _skopeo_with_creds(client_env, f"oci:{layout}:v1", dest, dest_creds=":".join(ADMIN))
    out = tmp_path / "pulled"
    _skopeo_with_creds(client_env, dest, f"oci:{out}:v1", src_creds=f"{user}:{PASSWORD}")
    assert (out / "index.json").is_file()


def test_project_robot_pushes_like_ci(moorage_only: Server, client_env: ClientEnv, tmp_path: Path) -> None:
    require_binaries("skopeo", "umoci")
    registry = moorage_only
    _, project = _user_in_new_project(registry, role_id=1)
    with _api(registry) as api:
        r = api.post("/robots", json={
            "name": "ci", "level": "project", "duration": -1, "permissions": [{
                "kind": "project", "namespace": project,
                "access": [{"resource": "repository", "action": "push"},
                           {"resource": "repository", "action": "pull"}]}]})
        assert r.status_code == 201, r.text
        robot = r.json()
    assert robot["name"] == f"robot${project}+ci"
    client_env.set_credentials(registry.host, None)
    layout = _image(tmp_path)
    creds = f"{robot['name']}:{robot['secret']}"
    _skopeo_with_creds(client_env, f"oci:{layout}:v1", f"docker://{registry.host}/{project}/svc:v1",
                       dest_creds=creds)
    # The robot's permissions name only its own project.
    with pytest.raises(CommandError, match="(?i)denied|unauthorized"):
        _skopeo_with_creds(client_env, f"oci:{layout}:v1", f"docker://{registry.host}/library/svc:v1",
                           dest_creds=creds)


def test_oras_with_credentials(moorage_only: Server, tmp_path: Path) -> None:
    registry = moorage_only
    user, project = _user_in_new_project(registry, role_id=4)  # Maintainer
    payload = tmp_path / "data.json"
    payload.write_text('{"hello": "oras"}')
    pushed = oras_push(registry.host, f"{project}/artifact", "v1", [(payload, "application/json")],
                       workdir=tmp_path, credentials=(user, PASSWORD))
    assert pushed.digest.startswith("sha256:")
    files = oras_pull(registry.host, f"{project}/artifact", "v1", tmp_path / "out", credentials=(user, PASSWORD))
    assert [p.read_text() for p in files] == ['{"hello": "oras"}']
    with pytest.raises(Exception):  # noqa: B017 - oras-py raises its own or requests' errors
        oras_pull(registry.host, f"{project}/artifact", "v1", tmp_path / "anon", credentials=None)


def test_anonymous_pulls_public_projects_only(moorage_only: Server, client_env: ClientEnv,
                                              tmp_path: Path) -> None:
    require_binaries("skopeo", "umoci")
    registry = moorage_only
    _, project = _user_in_new_project(registry, role_id=2, public=True)
    layout = _image(tmp_path)
    skopeo_copy(client_env, f"oci:{layout}:v1", f"docker://{registry.host}/{project}/pub:v1")  # as admin
    client_env.set_credentials(registry.host, None)
    assert skopeo_inspect(client_env, f"docker://{registry.host}/{project}/pub:v1")["Digest"].startswith("sha256:")
    with pytest.raises(CommandError, match="(?i)unauthorized|authentication required"):
        skopeo_copy(client_env, f"oci:{layout}:v1", f"docker://{registry.host}/{project}/pub:v2")

"""`moorage` command line: project creation, TLS, the uvicorn server, config errors."""

from __future__ import annotations

import datetime
import ipaddress
import os
import ssl
import subprocess
import sys
import time
from pathlib import Path

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.common.oci import error_codes, push_image
from tests.common.servers import ADMIN, ADMIN_PASSWORD, free_port, start_moorage


def moorage_cli(*args: str, data_dir: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MOORAGE_")}
    env["MOORAGE_ADMIN_PASSWORD"] = ADMIN_PASSWORD
    return subprocess.run([sys.executable, "-m", "moorage", *args, "--data-dir", str(data_dir)],
                          capture_output=True, text=True, env=env, timeout=60)


def test_version() -> None:
    out = subprocess.run([sys.executable, "-m", "moorage", "version"], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.startswith("moorage ")


def test_project_create_then_push(tmp_path: Path) -> None:
    created = moorage_cli("project", "create", "team-a", data_dir=tmp_path)
    assert created.returncode == 0, created.stderr
    again = moorage_cli("project", "create", "team-a", data_dir=tmp_path)
    assert again.returncode == 1 and "already exists" in again.stderr
    bad = moorage_cli("project", "create", "Team_A!", data_dir=tmp_path)
    assert bad.returncode == 1 and "invalid project name" in bad.stderr
    listed = moorage_cli("project", "list", data_dir=tmp_path).stdout
    assert '"name": "library", "public": true' in listed and '"name": "team-a", "public": false' in listed
    with start_moorage(tmp_path) as server, httpx.Client(auth=ADMIN, base_url=server.url) as c:
        push_image(c, "team-a/app", "v1")
        r = c.post("/v2/team-b/app/blobs/uploads/")
        assert r.status_code == 404 and error_codes(r) == ["NAME_UNKNOWN"]


def _self_signed(tmp_path: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now)
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = tmp_path / "tls.crt", tmp_path / "tls.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def test_tls_from_config_with_generated_admin_password(tmp_path: Path) -> None:
    """Over TLS, with no admin password configured: the generated one is in a 0600 file and
    signs in; the session cookie is Secure."""
    cert, key = _self_signed(tmp_path)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MOORAGE_")}
    env.update({"MOORAGE_TLS__CERTIFICATE": str(cert), "MOORAGE_TLS__PRIVATE_KEY": str(key)})
    proc = subprocess.Popen([sys.executable, "-m", "moorage", "serve", "--host", "127.0.0.1", "--port",
                             str(port), "--data-dir", str(tmp_path)], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    tls = ssl.create_default_context(cafile=cert)
    try:
        for _ in range(150):
            try:
                r = httpx.get(f"https://127.0.0.1:{port}/v2/", verify=tls, timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.1)
        assert r.status_code == 401
        assert r.headers["docker-distribution-api-version"] == "registry/2.0"
        assert r.headers["www-authenticate"].startswith(f'Bearer realm="https://127.0.0.1:{port}/service/token"')
        password_file = tmp_path / "admin-password"
        assert password_file.stat().st_mode & 0o777 == 0o600
        password = password_file.read_text().strip()
        assert httpx.get(f"https://127.0.0.1:{port}/v2/", verify=tls, auth=("admin", password)).status_code == 200
        login = httpx.post(f"https://127.0.0.1:{port}/c/login", verify=tls,
                           data={"principal": "admin", "password": password})
        assert login.status_code == 200
        cookie = login.headers["set-cookie"].lower()
        assert "secure" in cookie and "httponly" in cookie and "samesite=lax" in cookie
    finally:
        os.killpg(proc.pid, 15)
        proc.wait(30)


def test_uvicorn_server_works(tmp_path: Path) -> None:
    with start_moorage(tmp_path, extra_env={"MOORAGE_HTTP__SERVER": "uvicorn"}) as server, \
            httpx.Client(auth=ADMIN, base_url=server.url) as c:
        digest = push_image(c, "library/uv", "v1")
        assert c.get("/v2/library/uv/manifests/v1").headers["docker-content-digest"] == digest


def test_bad_config_fails_at_start_with_a_message(tmp_path: Path) -> None:
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("storage:\n  driver: floppy\n")
    out = moorage_cli("serve", "--config", str(cfg), data_dir=tmp_path)
    assert out.returncode == 2 and "configuration error" in out.stderr

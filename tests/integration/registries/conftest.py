"""What the registry-endpoint tests share: real peers to ping (Debian's docker-registry and a
second Moorage), and factories for endpoints created through the API."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.fernet import Fernet
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.common.databases import server_sql
from tests.common.servers import (
    ADMIN,
    TEST_SECRET_KEY,
    Server,
    free_port,
    start_moorage,
    start_reference_registry,
)
from tests.integration.api.conftest import api, as_user, new_user  # noqa: F401

BASE = "/registries"


def unique(prefix: str = "reg") -> str:
    return f"{prefix}{uuid.uuid4().hex[:10]}"


@pytest.fixture(scope="session")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """Debian's docker-registry (distribution 2.8), no auth."""
    with start_reference_registry(tmp_path_factory.mktemp("reference")) as server:
        yield server


@pytest.fixture(scope="session")
def peer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A second Moorage (SQLite), reached as a ``harbor`` endpoint with its admin's credentials."""
    with start_moorage(tmp_path_factory.mktemp("peer")) as server:
        yield server


def registry_body(url: str, kind: str = "docker-registry", access_key: str = "", access_secret: str = "",
                  **fields: Any) -> dict[str, Any]:
    return {"name": unique(), "type": kind, "url": url, "insecure": False, "description": "test endpoint",
            "credential": {"type": "basic", "access_key": access_key, "access_secret": access_secret}, **fields}


def create_registry(admin: httpx.Client, body: dict[str, Any]) -> int:
    r = admin.post(BASE, json=body)
    assert r.status_code == 201, r.text
    return int(r.headers["location"].rsplit("/", 1)[1])


def harbor_body(peer: Server, password: str = ADMIN[1]) -> dict[str, Any]:
    return registry_body(peer.url, "harbor", ADMIN[0], password)


def stored(server: Server, registry_id: int, column: str) -> Any:
    """One column of the endpoint's row, read straight from the server's database."""
    rows = server_sql(server, f"SELECT {column} FROM registries WHERE id = $1", registry_id)
    return rows[0][0]


def decrypt(stored_secret: str) -> str:
    """A stored secret decrypted with the test installations' key."""
    assert stored_secret.startswith("fernet:"), stored_secret
    return Fernet(TEST_SECRET_KEY.encode()).decrypt(stored_secret.removeprefix("fernet:").encode()).decode()


def dead_url() -> str:
    """A loopback address nothing listens on (allowed by the test servers' guard)."""
    return f"http://127.0.0.1:{free_port()}"


def ca_pem() -> str:
    """A throwaway self-signed CA certificate (PEM)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "moorage test CA")])
    now = datetime.now(UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(minutes=5))
            .not_valid_after(now + timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.PEM).decode()

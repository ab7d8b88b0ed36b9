"""What the webhook tests share: a Moorage server per backend that flushes pull statistics
(and so PULL_ARTIFACT events) every half second, a real HTTP receiver on 127.0.0.1 recording
what it is sent, and factories for projects, users and policies."""

from __future__ import annotations

import ipaddress
import json
import ssl
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.common.backends import backend_server
from tests.common.servers import ADMIN, Server

PASSWORD = "Passw0rdOK"
ROLE_IDS = {"projectAdmin": 1, "developer": 2, "guest": 3, "maintainer": 4, "limitedGuest": 5}
HOOK_ENV = {"MOORAGE_REGISTRY__PULL_STATS_FLUSH_SECONDS": "0.5", "MOORAGE_WEBHOOK__MAX_RETRIES": "3"}


def unique(prefix: str = "w") -> str:
    return f"{prefix}{uuid.uuid4().hex[:10]}"


@dataclass
class Delivery:
    """One request the receiver got."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    at: float

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Receiver:
    """A threading HTTP server on 127.0.0.1 that records requests and answers with the queued
    statuses (then ``default_status``)."""

    server: ThreadingHTTPServer
    deliveries: list[Delivery] = field(default_factory=list)
    statuses: deque[int] = field(default_factory=deque)
    default_status: int = 200
    scheme: str = "http"
    cond: threading.Condition = field(default_factory=threading.Condition)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"{self.scheme}://{host}:{port}/hook"

    def record(self, delivery: Delivery) -> int:
        with self.cond:
            self.deliveries.append(delivery)
            self.cond.notify_all()
            return self.statuses.popleft() if self.statuses else self.default_status

    def wait(self, count: int = 1, timeout: float = 30.0) -> list[Delivery]:
        """The first ``count`` deliveries, waiting for them; fails after ``timeout``."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while len(self.deliveries) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"expected {count} deliveries, got {len(self.deliveries)}: "
                                         f"{[d.body[:200] for d in self.deliveries]}")
                self.cond.wait(left)
            return list(self.deliveries[:count])


def _handler(receiver: list[Receiver]) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            body = self.rfile.read(int(self.headers.get("content-length") or 0))
            status = receiver[0].record(Delivery(self.command, self.path, {k.lower(): v for k, v in
                                                                         self.headers.items()}, body, time.time()))
            self.send_response(status)
            self.send_header("content-length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet
            pass

    return Handler


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    holder: list[Receiver] = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(holder))
    holder.append(Receiver(server))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield holder[0]
    server.shutdown()
    server.server_close()


def _self_signed(directory: Path) -> tuple[Path, Path]:
    """A throwaway certificate for 127.0.0.1 (and localhost) that no client trusts."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.now(UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(minutes=5))
            .not_valid_after(now + timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                        x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


@pytest.fixture
def tls_receiver(tmp_path: Path) -> Iterator[Receiver]:
    """Like ``receiver``, over HTTPS with a self-signed certificate."""
    holder: list[Receiver] = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(holder))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*_self_signed(tmp_path))
    server.socket = context.wrap_socket(server.socket, server_side=True)
    holder.append(Receiver(server, scheme="https"))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield holder[0]
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="session")
def hooks_server(backend: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
                 ) -> Iterator[Server]:
    """A server whose pulls are flushed (and PULL_ARTIFACT emitted) every 0.5 s."""
    endpoint = request.getfixturevalue("moto_endpoint") if backend == "scaled" else None
    with backend_server(backend, tmp_path_factory.mktemp(f"hooks-{backend}"), endpoint, HOOK_ENV) as server:
        yield server


@pytest.fixture
def api(hooks_server: Server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=f"{hooks_server.url}/api/v2.0", auth=ADMIN, timeout=60) as c:
        yield c


@pytest.fixture
def registry(hooks_server: Server) -> Iterator[httpx.Client]:
    """``/v2`` as admin."""
    with httpx.Client(base_url=hooks_server.url, auth=ADMIN, timeout=60) as c:
        yield c


@dataclass
class Project:
    name: str
    id: int

    @property
    def policies(self) -> str:
        return f"/projects/{self.id}/webhook/policies"


def create_project(api: httpx.Client, public: bool = False) -> Project:
    name = unique("hooks")
    r = api.post("/projects", json={"project_name": name, "metadata": {"public": str(public).lower()}})
    assert r.status_code == 201, r.text
    got = api.get(f"/projects/{name}", headers={"X-Is-Resource-Name": "true"})
    return Project(name, int(got.json()["project_id"]))


@pytest.fixture
def project(api: httpx.Client) -> Project:
    return create_project(api)


def policy_body(url: str, event_types: list[str] | None = None, **target: Any) -> dict[str, Any]:
    return {"name": unique("policy"), "description": "test", "enabled": True,
            "event_types": event_types or ["PUSH_ARTIFACT"],
            "targets": [{"type": "http", "address": url, "skip_cert_verify": False, **target}]}


def create_policy(api: httpx.Client, project: Project, body: dict[str, Any]) -> int:
    r = api.post(project.policies, json=body)
    assert r.status_code == 201, r.text
    return int(r.headers["location"].rsplit("/", 1)[1])


@pytest.fixture
def member_client(api: httpx.Client, hooks_server: Server) -> Iterator[Callable[[Project, str], httpx.Client]]:
    """``member_client(project, role)``: a client of a new user holding ``role`` in the project
    (``nonMember``: no role; ``anonymous``: no credentials)."""
    clients: list[httpx.Client] = []

    def make(project: Project, role: str) -> httpx.Client:
        base = f"{hooks_server.url}/api/v2.0"
        if role == "anonymous":
            c = httpx.Client(base_url=base, timeout=60)
        else:
            username = unique("u")
            r = api.post("/users", json={"username": username, "email": f"{username}@example.com",
                                         "realname": username, "password": PASSWORD})
            assert r.status_code == 201, r.text
            if role in ROLE_IDS:
                r = api.post(f"/projects/{project.id}/members",
                             json={"role_id": ROLE_IDS[role], "member_user": {"username": username}})
                assert r.status_code == 201, r.text
            c = httpx.Client(base_url=base, auth=(username, PASSWORD), timeout=60)
        clients.append(c)
        return c

    yield make
    for c in clients:
        c.close()


def wait_for(check: Callable[[], Any], timeout: float = 30.0, interval: float = 0.2) -> Any:
    """Poll ``check`` until it returns something truthy."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(interval)

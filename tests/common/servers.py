"""Start and stop registries as real processes: Moorage and the reference (distribution)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import httpx

ADMIN_PASSWORD = "Harbor12345"
ADMIN = ("admin", ADMIN_PASSWORD)
TEST_SECRET_KEY = "bW9vcmFnZS10ZXN0LXNlY3JldC1rZXktMzItYnl0ZXM="  # Fernet key (32 bytes, base64)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    kind: str
    host: str  # 127.0.0.1:PORT
    process: subprocess.Popen[bytes]
    data_dir: Path
    log_path: Path
    args: list[str]
    env: dict[str, str]

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stored_blob_paths(self, digest: str) -> list[str]:
        """Where the server's storage holds the blob, whichever driver it runs on."""
        hexpart = digest.split(":", 1)[1]
        if self.env.get("MOORAGE_STORAGE__DRIVER") == "s3":
            from tests.common.s3 import s3_client

            client = s3_client(self.env["MOORAGE_STORAGE__S3__ENDPOINT_URL"])
            listing = client.list_objects_v2(Bucket=self.env["MOORAGE_STORAGE__S3__BUCKET"], Prefix="blobs/")
            return [o["Key"] for o in listing.get("Contents", []) if f"/{hexpart}/" in o["Key"]]
        return [str(p) for p in (self.data_dir / "storage").rglob(f"{hexpart}/data")]

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Kill the whole process group (granian runs workers as children)."""
        with suppress(ProcessLookupError):
            os.killpg(self.process.pid, sig)
        self.process.wait(timeout=30)

    def restart(self) -> None:
        self.process = _spawn(self.args, self.env, self.log_path)
        wait_ready(self)


def _spawn(args: list[str], env: dict[str, str], log_path: Path) -> subprocess.Popen[bytes]:
    log = open(log_path, "ab")  # noqa: SIM115 - the child owns it for its lifetime
    return subprocess.Popen(
        args, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )


def wait_ready(server: Server, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"{server.kind} exited early:\n{server.log()[-4000:]}")
        try:
            if httpx.get(f"{server.url}/v2/", timeout=1).status_code in (200, 401):
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{server.kind} did not answer within {timeout}s:\n{server.log()[-4000:]}")


@contextmanager
def start_moorage(
    data_dir: Path, db_url: str | None = None, extra_env: dict[str, str] | None = None
) -> Iterator[Server]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MOORAGE_")}
    env.update({
        "MOORAGE_LOG__LEVEL": "warning", "PYTHONUNBUFFERED": "1", "MOORAGE_ADMIN_PASSWORD": ADMIN_PASSWORD,
        # Suites sign in wrongly on purpose; the lockout tests start their own servers.
        "MOORAGE_AUTH__LOCKOUT_THRESHOLD": "1000", "MOORAGE_AUTH__LOCKOUT_ADDRESS_THRESHOLD": "100000",
        # Jobs: schedules and the outbox are checked often, so tests wait seconds, not minutes;
        # webhook receivers started by tests listen on loopback.
        "MOORAGE_JOBS__TICK_SECONDS": "0.5", "MOORAGE_JOBS__HEARTBEAT_SECONDS": "1",
        "MOORAGE_OUTBOUND__ALLOWED_NETWORKS": '["127.0.0.0/8"]', "MOORAGE_WEBHOOK__BACKOFF_SECONDS": "0.5",
        # One credential key for all servers and workers of a test installation (shared databases).
        "MOORAGE_SECRETS__KEY": TEST_SECRET_KEY, "MOORAGE_REPLICATION__BACKOFF_SECONDS": "0.5",
    })
    if db_url:
        env["MOORAGE_DATABASE__URL"] = db_url
    env.update(extra_env or {})
    args = [sys.executable, "-m", "moorage", "serve", "--host", "127.0.0.1", "--port", str(port),
            "--data-dir", str(data_dir)]
    log_path = data_dir / "server.log"
    process = _spawn(args, env, log_path)
    server = Server("moorage", f"127.0.0.1:{port}", process, data_dir, log_path, args, env)
    try:
        wait_ready(server)
        yield server
    finally:
        server.kill(signal.SIGTERM)


def _yaml_str(value: str) -> str:
    """A single-quoted YAML scalar (a quote inside is doubled)."""
    return "'" + value.replace("'", "''") + "'"


@contextmanager
def start_reference_registry(data_dir: Path, binary: str = "docker-registry") -> Iterator[Server]:
    """Run the reference registry (Debian's docker-registry, distribution 2.8) on a free port.

    Filesystem storage under ``data_dir/storage``, deletes enabled, no auth, no blob
    descriptor cache (a cache would keep answering for deleted blobs).
    """
    port = free_port()
    storage = data_dir / "storage"
    storage.mkdir(parents=True, exist_ok=True)
    config = data_dir / "registry.yml"
    config.write_text(
        "version: 0.1\n"
        "log:\n"
        "  level: warn\n"
        "  accesslog:\n"
        "    disabled: true\n"
        "storage:\n"
        "  filesystem:\n"
        f"    rootdirectory: {_yaml_str(str(storage))}\n"
        "  delete:\n"
        "    enabled: true\n"
        "  maintenance:\n"
        "    uploadpurging:\n"
        "      enabled: false\n"
        "http:\n"
        f"  addr: 127.0.0.1:{port}\n"
    )
    # REGISTRY_* variables would override the config file.
    env = {k: v for k, v in os.environ.items() if not k.startswith("REGISTRY_")}
    args = [binary, "serve", str(config)]
    log_path = data_dir / "server.log"
    process = _spawn(args, env, log_path)
    server = Server("reference", f"127.0.0.1:{port}", process, data_dir, log_path, args, env)
    try:
        wait_ready(server)
        yield server
    finally:
        server.kill(signal.SIGTERM)

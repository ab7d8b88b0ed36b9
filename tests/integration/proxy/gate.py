"""A tiny threading HTTP forwarder put in front of a real upstream registry: it counts the
requests the proxy cache makes, measures how many run at once, and can be switched to answer
429 (rate limited) or 503 — what Docker Hub and friends do to proxy caches."""

from __future__ import annotations

import http.client
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

_HOP = {"connection", "keep-alive", "transfer-encoding", "proxy-connection", "te", "upgrade", "trailer"}


class Gate:
    def __init__(self, upstream_host: str) -> None:
        self.upstream_host = upstream_host  # 127.0.0.1:PORT
        self.mode = "pass"  # "pass" | "429" | "503"
        self.requests: list[tuple[str, str]] = []
        self.active = 0
        self.max_active = 0
        self.lock = threading.Lock()
        self.server: ThreadingHTTPServer | None = None

    @property
    def host(self) -> str:
        assert self.server is not None
        return f"127.0.0.1:{self.server.server_address[1]}"

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    def count(self, method: str, fragment: str) -> int:
        """Requests with ``method`` whose path contains ``fragment``."""
        with self.lock:
            return sum(1 for m, p in self.requests if m == method and fragment in p)

    def reset_concurrency(self) -> None:
        with self.lock:
            self.max_active = 0


def _handler(gate: Gate) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the stdlib's name
            pass

        def _forward(self) -> None:
            with gate.lock:
                gate.requests.append((self.command, self.path))
                gate.active += 1
                gate.max_active = max(gate.max_active, gate.active)
            try:
                self._answer()
            finally:
                with gate.lock:
                    gate.active -= 1

        def _answer(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(length) if length else None
            if gate.mode in ("429", "503"):
                payload = b'{"errors":[{"code":"TOOMANYREQUESTS","message":"slow down"}]}'
                self.send_response(int(gate.mode))
                self.send_header("content-type", "application/json")
                self.send_header("retry-after", "1")
                self.send_header("content-length", str(len(payload)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(payload)
                return
            conn = http.client.HTTPConnection(gate.upstream_host, timeout=60)
            try:
                headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP | {"host"}}
                conn.request(self.command, self.path, body=body, headers=headers)
                response = conn.getresponse()
                self.send_response(response.status)
                raw = [(k, v) for k, v in response.getheaders() if k.lower() not in _HOP]
                declared = response.getheader("content-length")
                data = None
                if declared is None and self.command != "HEAD":
                    data = response.read()
                    raw.append(("content-length", str(len(data))))
                for k, v in raw:
                    self.send_header(k, v)
                self.end_headers()
                if self.command == "HEAD":
                    return
                if data is not None:
                    self.wfile.write(data)
                    return
                while True:
                    chunk = response.read(64 * 1024)
                    if not chunk:
                        break
                    self.wfile.write(chunk)
            finally:
                conn.close()

        do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = _forward  # noqa: N815 - stdlib names

    return Handler


@contextmanager
def start_gate(upstream_host: str) -> Iterator[Gate]:
    gate = Gate(upstream_host)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(gate))
    server.daemon_threads = True
    gate.server = server
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield gate
    finally:
        server.shutdown()
        server.server_close()

"""Suite-wide fixtures: a Moorage server per metadata backend (SQLite, PostgreSQL)."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator

import httpx
import pytest

from tests.common.backends import backend_server
from tests.common.s3 import moto_server
from tests.common.servers import ADMIN, Server

# sqlite: the embedded default (SQLite + filesystem); postgres: PostgreSQL + filesystem;
# scaled: PostgreSQL + S3 (moto over real HTTP), the scaled-out mode.
BACKENDS = ["sqlite", "postgres", "scaled"]
logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto's request log drowns real failures


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--backend", action="append", choices=BACKENDS,
                     help="metadata backend(s) to run server tests on (default: both)")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "backend" in metafunc.fixturenames:
        chosen = metafunc.config.getoption("--backend") or os.environ.get("MOORAGE_TEST_BACKENDS", "").split(",")
        chosen = [b for b in chosen if b] or BACKENDS
        metafunc.parametrize("backend", chosen, scope="session")


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    with moto_server() as endpoint:
        yield endpoint


@pytest.fixture(scope="session")
def moorage(backend: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
            ) -> Iterator[Server]:
    """A running `moorage serve` on the given backend, shared by a session's tests."""
    endpoint = request.getfixturevalue("moto_endpoint") if backend == "scaled" else None
    with backend_server(backend, tmp_path_factory.mktemp(f"moorage-{backend}"), endpoint) as server:
        yield server


@pytest.fixture
def client(moorage: Server) -> Iterator[httpx.Client]:
    """An HTTP client signed in as the system administrator (Basic credentials)."""
    with httpx.Client(base_url=moorage.url, timeout=60, auth=ADMIN) as c:
        yield c

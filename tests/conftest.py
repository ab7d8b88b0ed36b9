"""Suite-wide fixtures: a Moorage server per metadata backend (SQLite, PostgreSQL)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.common.databases import postgres_database
from tests.common.servers import Server, start_moorage

BACKENDS = ["sqlite", "postgres"]


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--backend", action="append", choices=BACKENDS,
                     help="metadata backend(s) to run server tests on (default: both)")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "backend" in metafunc.fixturenames:
        chosen = metafunc.config.getoption("--backend") or os.environ.get("MOORAGE_TEST_BACKENDS", "").split(",")
        chosen = [b for b in chosen if b] or BACKENDS
        metafunc.parametrize("backend", chosen, scope="session")


@pytest.fixture(scope="session")
def moorage(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A running `moorage serve` on the given backend, shared by a session's tests."""
    data_dir: Path = tmp_path_factory.mktemp(f"moorage-{backend}")
    if backend == "postgres":
        with postgres_database("moorage_srv") as url, start_moorage(data_dir, db_url=url) as server:
            yield server
    else:
        with start_moorage(data_dir) as server:
            yield server


@pytest.fixture
def client(moorage: Server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=moorage.url, timeout=60) as c:
        yield c

"""Fixtures for the real-client conformance suite.

``MOORAGE_TEST_TARGET`` picks the registry under test, once per session:

* ``moorage`` (default): ``python -m moorage serve`` on a free port with a temporary data dir,
  once per metadata/storage backend;
* ``reference``: Debian's ``docker-registry`` (distribution 2.8), to validate the tests
  themselves. Tests that need something the reference lacks (OCI 1.1 referrers API) skip
  only when ``registry.kind == "reference"``.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.common.backends import backend_server
from tests.common.servers import ADMIN, Server, start_reference_registry
from tests.conformance.clients import ClientEnv

TARGETS = ("reference", "moorage")


def target_kind() -> str:
    kind = os.environ.get("MOORAGE_TEST_TARGET", "moorage").strip() or "moorage"
    if kind not in TARGETS:
        raise pytest.UsageError(f"MOORAGE_TEST_TARGET must be one of {TARGETS}, not {kind!r}")
    return kind


@pytest.fixture(scope="session")
def registry(backend: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
             ) -> Iterator[Server]:
    """The registry under test; ``.url``, ``.host`` (127.0.0.1:PORT) and ``.kind``.

    Moorage runs on each test backend (sqlite, postgres, scaled = PostgreSQL + S3)."""
    kind = target_kind()
    data_dir: Path = tmp_path_factory.mktemp(f"registry-{kind}-{backend}")
    if kind == "reference":
        if backend != "sqlite":
            pytest.skip("the reference registry has no metadata backends; it runs once")
        if shutil.which("docker-registry") is None:
            pytest.skip("reference registry binary 'docker-registry' not on PATH "
                        "(apt-get install docker-registry)")
        with start_reference_registry(data_dir) as server:
            yield server
    else:
        endpoint = request.getfixturevalue("moto_endpoint") if backend == "scaled" else None
        with backend_server(backend, data_dir, endpoint) as server:
            yield server


@pytest.fixture
def client_env(tmp_path: Path, registry: Server) -> Iterator[ClientEnv]:
    """Private policy/auth/registries/storage config and temp dir for the container tools.

    The runroot lives in a short directory directly under /tmp: podman rejects one longer
    than 50 characters, and pytest's tmp_path is longer.
    """
    run_root = Path(tempfile.mkdtemp(prefix="moorage-run-", dir=_short_tmp()))
    try:
        cenv = ClientEnv.create(tmp_path / "client-env", run_root)
        cenv.set_credentials(registry.host, *ADMIN)  # as after `podman login` as the administrator
        yield cenv
    finally:
        shutil.rmtree(run_root, ignore_errors=True)


def _short_tmp() -> str | None:
    default = tempfile.gettempdir()
    return default if len(default) <= 20 else ("/tmp" if Path("/tmp").is_dir() else None)

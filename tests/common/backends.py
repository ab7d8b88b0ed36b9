"""One way to start Moorage on each test backend: sqlite (embedded default), postgres
(PostgreSQL + filesystem) and scaled (PostgreSQL + S3 on moto)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.common.databases import postgres_database
from tests.common.s3 import new_bucket, s3_env
from tests.common.servers import Server, start_moorage


@contextmanager
def backend_server(
    backend: str, data_dir: Path, moto_endpoint: str | None = None, extra_env: dict[str, str] | None = None
) -> Iterator[Server]:
    env = dict(extra_env or {})
    if backend == "sqlite":
        with start_moorage(data_dir, extra_env=env) as server:
            yield server
        return
    if backend == "scaled":
        assert moto_endpoint is not None, "the scaled backend needs the moto_endpoint fixture"
        env.update(s3_env(moto_endpoint, new_bucket(moto_endpoint)))
    with postgres_database("moorage_srv") as url, start_moorage(data_dir, db_url=url, extra_env=env) as server:
        yield server

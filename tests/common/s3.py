"""A moto S3 server over real HTTP on 127.0.0.1, and buckets in it."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import boto3
from moto.server import ThreadedMotoServer

S3_KEYS = {"access_key": "testing", "secret_key": "testing"}


@contextmanager
def moto_server() -> Iterator[str]:
    """Start moto's server mode on a free port; yield its endpoint URL."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


def s3_client(endpoint: str) -> Any:
    return boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                        aws_access_key_id=S3_KEYS["access_key"], aws_secret_access_key=S3_KEYS["secret_key"])


def new_bucket(endpoint: str) -> str:
    name = f"moorage-{uuid.uuid4().hex[:16]}"
    s3_client(endpoint).create_bucket(Bucket=name)
    return name


def s3_env(endpoint: str, bucket: str, redirect: bool = False) -> dict[str, str]:
    """Environment that points a Moorage server at the bucket."""
    return {
        "MOORAGE_STORAGE__DRIVER": "s3",
        "MOORAGE_STORAGE__S3__BUCKET": bucket,
        "MOORAGE_STORAGE__S3__ENDPOINT_URL": endpoint,
        "MOORAGE_STORAGE__S3__ACCESS_KEY": S3_KEYS["access_key"],
        "MOORAGE_STORAGE__S3__SECRET_KEY": S3_KEYS["secret_key"],
        "MOORAGE_STORAGE__S3__CHUNK_SIZE": str(5 * 1024 * 1024),
        "MOORAGE_STORAGE__S3__REDIRECT": "true" if redirect else "false",
    }

"""Storage test fixtures: a moto S3 server over real HTTP and a harness that builds
every driver kind (filesystem in tmp_path, S3 in a fresh bucket) for the conformance suite.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from moorage.storage.driver import BlobDriver
from moorage.storage.filesystem import STAGING_DIR, FilesystemBlobDriver
from moorage.storage.s3 import MIN_PART_SIZE, S3BlobDriver

S3_KEYS = {"access_key": "testing", "secret_key": "testing"}
DRIVER_KINDS = ["filesystem", "s3", "s3-rooted"]


class DriverHarness:
    """Builds independent driver instances over one backing store (as separate processes
    or replicas would), and inspects the store behind the driver's back."""

    def __init__(self, kind: str, tmp_path: Path, endpoint: str | None) -> None:
        self.kind = kind
        self.root = str(tmp_path / "storage")
        self.endpoint = endpoint
        self.bucket = f"moorage-{uuid.uuid4().hex[:16]}"
        self.root_directory = "registry/v1" if kind == "s3-rooted" else ""
        self._drivers: list[BlobDriver] = []
        if self.is_s3:
            self.s3().create_bucket(Bucket=self.bucket)

    @property
    def is_s3(self) -> bool:
        return self.kind.startswith("s3")

    def spec(self, presign: bool = False) -> dict[str, Any]:
        """Constructor arguments, JSON-serialisable so a subprocess can build the driver."""
        if not self.is_s3:
            return {"root": self.root}
        return {
            "bucket": self.bucket,
            "endpoint_url": self.endpoint,
            "root_directory": self.root_directory,
            "chunk_size": MIN_PART_SIZE,
            "presign": presign,
            **S3_KEYS,
        }

    def new(self, presign: bool = False) -> BlobDriver:
        """A fresh driver instance with no in-memory state shared with earlier ones."""
        driver: BlobDriver = S3BlobDriver(**self.spec(presign)) if self.is_s3 else FilesystemBlobDriver(**self.spec())
        self._drivers.append(driver)
        return driver

    def s3(self) -> Any:
        assert self.endpoint is not None
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            region_name="us-east-1",
            aws_access_key_id=S3_KEYS["access_key"],
            aws_secret_access_key=S3_KEYS["secret_key"],
        )

    def leftovers(self) -> list[str]:
        """Resumable-write state still in the store (staging files, sidecars, uploads)."""
        if not self.is_s3:
            staging = os.path.join(self.root, STAGING_DIR)
            return sorted(os.listdir(staging)) if os.path.isdir(staging) else []
        client = self.s3()
        prefix = f"{self.root_directory}/" if self.root_directory else ""
        listing = client.list_objects_v2(Bucket=self.bucket, Prefix=f"{prefix}{STAGING_DIR}/")
        uploads = client.list_multipart_uploads(Bucket=self.bucket).get("Uploads", [])
        return [o["Key"] for o in listing.get("Contents", [])] + [f"upload:{u['Key']}" for u in uploads]

    async def aclose(self) -> None:
        for driver in self._drivers:
            await driver.close()


@pytest.fixture(params=DRIVER_KINDS)
async def harness(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[DriverHarness]:
    kind: str = request.param
    endpoint = request.getfixturevalue("moto_endpoint") if kind.startswith("s3") else None
    built = DriverHarness(kind, tmp_path, endpoint)
    try:
        yield built
    finally:
        await built.aclose()


@pytest.fixture
def driver(harness: DriverHarness) -> BlobDriver:
    return harness.new()

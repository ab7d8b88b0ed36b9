"""The content-addressed blob store: path layout, streaming uploads with inline hashing,
verification, and reads.  Drivers only see paths; digests and layout live here.

Layout: ``blobs/<algorithm>/<first two hex>/<hex>/data`` for blobs and
``_uploads/<id>/data`` for upload sessions in progress.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass
from typing import Any

from moorage.core.errors import oci_error
from moorage.oci.digest import Digest
from moorage.storage.driver import BlobDriver, PathNotFound, StorageError
from moorage.storage.hashing import Hashers, state_of


class UploadInterrupted(Exception):
    """Storage holds a different amount than the session acknowledged (a request died mid-way)."""


@dataclass(frozen=True, slots=True)
class Progress:
    """Where an upload stands after a request: acknowledged size and running digest state."""

    size: int
    hash_state: bytes | None


def blob_path(digest: str) -> str:
    algorithm, hexpart = digest.split(":", 1)
    return f"blobs/{algorithm}/{hexpart[:2]}/{hexpart}/data"


def upload_path(upload_id: str) -> str:
    return f"_uploads/{upload_id}/data"


class BlobStore:
    def __init__(self, driver: BlobDriver, hashers: Hashers) -> None:
        self.driver = driver
        self.hashers = hashers

    async def size(self, digest: str) -> int | None:
        try:
            return (await self.driver.stat(blob_path(digest))).size
        except PathNotFound:
            return None

    def read(self, digest: str, offset: int = 0, length: int | None = None) -> AsyncIterator[bytes]:
        return self.driver.reader(blob_path(digest), offset, length)

    async def read_all(self, digest: str) -> bytes:
        return await self.driver.get(blob_path(digest))

    def local_path(self, digest: str) -> str | None:
        return self.driver.local_path(blob_path(digest))

    async def redirect_url(self, digest: str) -> str | None:
        return await self.driver.redirect_url(blob_path(digest))

    async def put_content(self, digest: str, data: bytes) -> None:
        """Store small content whose digest the caller has verified (e.g. the empty JSON config)."""
        await self.driver.put(blob_path(digest), data)

    async def delete(self, digest: str) -> None:
        with contextlib.suppress(PathNotFound):
            await self.driver.delete(blob_path(digest))

    async def append(
        self,
        upload_id: str,
        body: AsyncIterable[bytes],
        offset: int,
        hash_state: bytes | None,
        finish: Digest | None = None,
    ) -> Progress:
        """Stream ``body`` onto the upload at ``offset``, hashing inline.

        With ``finish`` the digest is verified and the blob moved into place (DIGEST_INVALID
        and the session discarded on a mismatch).  Raises UploadInterrupted when storage and
        the acknowledged ``offset`` disagree.
        """
        writer = await self.driver.writer(upload_path(upload_id), append=True)
        if writer.size > offset:  # a request died after writing bytes it never acknowledged
            with contextlib.suppress(StorageError):  # where it cannot, the session restarts below
                await writer.truncate(offset)
        if writer.size != offset or (offset and hash_state is None):
            # Storage lost acknowledged bytes, or (without libcrypto) the digest state is gone.
            await writer.cancel()
            raise UploadInterrupted(upload_id)
        hasher = self.hashers.new("sha256", hash_state)
        try:
            async for chunk in body:
                if chunk:
                    hasher.update(chunk)
                    await writer.write(chunk)
        except BaseException:
            await writer.close()
            raise
        if finish is None:
            await writer.close()
            return Progress(writer.size, state_of(hasher))
        size = writer.size
        await writer.commit()
        await self._verify_and_place(upload_id, finish, hasher)
        return Progress(size, None)

    async def _verify_and_place(self, upload_id: str, digest: Digest, hasher: Any) -> None:
        path = upload_path(upload_id)
        if digest.algorithm == "sha256":  # the inline hash is always sha256
            actual = hasher.hexdigest()
        else:
            other = self.hashers.new(digest.algorithm)
            async for chunk in self.driver.reader(path):
                other.update(chunk)
            actual = other.hexdigest()
        if actual != digest.hex:
            await self.discard(upload_id)
            raise oci_error(
                "DIGEST_INVALID",
                f"uploaded content has digest {digest.algorithm}:{actual}, not {digest}",
                detail={"digest": str(digest)},
            )
        target = blob_path(str(digest))
        try:
            await self.driver.stat(target)
        except PathNotFound:
            await self.driver.move(path, target)
        else:  # already stored (deduplicated): keep the existing copy
            await self.discard(upload_id)

    async def discard(self, upload_id: str) -> None:
        """Remove everything an upload wrote, committed or not."""
        writer = await self.driver.writer(upload_path(upload_id), append=True)
        await writer.cancel()
        with contextlib.suppress(PathNotFound):
            await self.driver.delete(f"_uploads/{upload_id}")

"""The S3 storage driver: blobs as objects in one bucket (AWS S3 or an S3-compatible store).

Appendable writes are multipart uploads resumable from any process: full parts go to the
upload as they fill, and ``close`` stores the leftover bytes as a sidecar object under
``<root>/.staging/<path>`` (tagged with the upload id and part count it follows).
A resumed writer continues from the last ``close``: parts uploaded after it by a writer
that died are dropped, so callers can rely on "closed = persisted".
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

from aiobotocore.config import AioConfig
from aiobotocore.session import get_session
from botocore.exceptions import BotoCoreError, ClientError

from moorage.storage.driver import READ_SIZE, PathNotFound, Stat, StorageError
from moorage.storage.filesystem import STAGING_DIR, check_path

MIN_PART_SIZE = 5 * 1024 * 1024  # S3's smallest part (all but the last)
MAX_PARTS = 10_000
MAX_COPY_SIZE = 5 * 1024**3  # a single CopyObject handles at most 5 GiB
COPY_PART_SIZE = 512 * 1024 * 1024
_MISSING = {"NoSuchKey", "NotFound", "404", "NoSuchUpload"}


@contextlib.contextmanager
def _errors(path: str) -> Iterator[None]:
    """Map a missing object to PathNotFound(path) and other client failures to StorageError."""
    try:
        yield
    except ClientError as e:
        if e.response.get("Error", {}).get("Code") in _MISSING:
            raise PathNotFound(path) from None
        raise StorageError(str(e)) from e
    except BotoCoreError as e:
        raise StorageError(str(e)) from e


def _error_code(e: ClientError) -> str:
    return str(e.response.get("Error", {}).get("Code", ""))


@dataclass(frozen=True, slots=True)
class _Part:
    number: int
    etag: str
    size: int


@dataclass(slots=True)
class _Pending:
    """Resumable state of a write: the multipart upload, its parts and the buffered tail."""

    upload_id: str | None
    parts: list[_Part]
    buffer: bytearray


async def _read_up_to(body: Any, size: int) -> bytes:
    """Read ``size`` bytes from a streaming body (fewer only at the end)."""
    pieces: list[bytes] = []
    got = 0
    while got < size:
        piece = await body.read(size - got)
        if not piece:
            break
        pieces.append(piece)
        got += len(piece)
    return b"".join(pieces)


class S3Writer:
    """An appendable write to one key, buffered into multipart-upload parts."""

    def __init__(self, driver: S3BlobDriver, path: str, pending: _Pending) -> None:
        self._driver = driver
        self._path = path
        self._key = driver.key(path)
        self._state = pending
        self._uploaded = sum(part.size for part in pending.parts)
        self._closed = False

    @property
    def size(self) -> int:
        return self._uploaded + len(self._state.buffer)

    def _check_open(self) -> None:
        if self._closed:
            raise StorageError("writer is closed")

    async def write(self, data: bytes) -> None:
        self._check_open()
        buffer = self._state.buffer
        buffer += data
        chunk = self._driver.chunk_size
        while len(buffer) >= chunk:
            await self._upload_part(bytes(buffer[:chunk]))
            del buffer[:chunk]

    async def truncate(self, size: int) -> None:
        """Only the unsent buffer can be cut: uploaded parts are immutable."""
        self._check_open()
        if size > self.size:
            raise ValueError(f"cannot truncate {self.size} bytes to {size}")
        if size < self._uploaded:
            raise StorageError(f"{self._path}: {self._uploaded} bytes are already in uploaded parts")
        del self._state.buffer[size - self._uploaded :]

    async def _upload_part(self, data: bytes) -> None:
        s3 = await self._driver.client()
        state = self._state
        if len(state.parts) >= MAX_PARTS:
            raise StorageError(f"{self._path}: more than {MAX_PARTS} parts")
        with _errors(self._path):
            if state.upload_id is None:
                created = await s3.create_multipart_upload(Bucket=self._driver.bucket, Key=self._key)
                state.upload_id = str(created["UploadId"])
            number = len(state.parts) + 1
            response = await s3.upload_part(
                Bucket=self._driver.bucket,
                Key=self._key,
                UploadId=state.upload_id,
                PartNumber=number,
                Body=data,
            )
        state.parts.append(_Part(number, str(response["ETag"]), len(data)))
        self._uploaded += len(data)

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        await self._driver.save_tail(self._path, self._state)

    async def commit(self) -> None:
        self._check_open()
        self._closed = True
        state, s3, bucket = self._state, await self._driver.client(), self._driver.bucket
        if state.upload_id is not None and not state.parts:  # created, then interrupted
            await self._driver.abort(self._key, state.upload_id)
            state.upload_id = None
        with _errors(self._path):
            if state.upload_id is None:
                await s3.put_object(Bucket=bucket, Key=self._key, Body=bytes(state.buffer))
            else:
                if state.buffer:
                    await self._upload_part(bytes(state.buffer))
                parts = [{"ETag": p.etag, "PartNumber": p.number} for p in state.parts]
                await s3.complete_multipart_upload(
                    Bucket=bucket,
                    Key=self._key,
                    UploadId=state.upload_id,
                    MultipartUpload={"Parts": parts},
                )
            await s3.delete_object(Bucket=bucket, Key=self._driver.tail_key(self._path))

    async def cancel(self) -> None:
        self._closed = True
        await self._driver.discard_pending(self._path)


class S3BlobDriver:
    """BlobDriver over an S3 bucket, keys prefixed by ``root_directory``."""

    name = "s3"

    def __init__(
        self,
        bucket: str,
        region: str = "us-east-1",
        endpoint_url: str | None = None,
        access_key: str | None = None,
        secret_key: str | None = None,
        root_directory: str = "",
        chunk_size: int = 8 * 1024 * 1024,
        presign: bool = False,
    ) -> None:
        if chunk_size < MIN_PART_SIZE:
            raise ValueError(f"chunk_size must be at least {MIN_PART_SIZE} bytes")
        self.bucket = bucket
        self.region = region
        self.endpoint_url = endpoint_url
        self.chunk_size = chunk_size
        self.presign = presign
        self._access_key = access_key
        self._secret_key = secret_key
        root = root_directory.strip("/")
        self._prefix = f"{root}/" if root else ""
        self._client: Any = None
        self._stack = contextlib.AsyncExitStack()
        self._lock = asyncio.Lock()

    async def client(self) -> Any:
        """The shared aiobotocore client, created on first use."""
        if self._client is None:
            async with self._lock:
                if self._client is None:
                    self._client = await self._stack.enter_async_context(self._create_client())
        return self._client

    def _create_client(self) -> Any:
        config = AioConfig(
            signature_version="s3v4",
            s3={"addressing_style": "path" if self.endpoint_url else "auto"},
            # S3-compatible stores (MinIO, Ceph, moto) vary in support for the newer checksums.
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
            max_pool_connections=64,
        )
        return get_session().create_client(
            "s3",
            region_name=self.region,
            endpoint_url=self.endpoint_url,
            aws_access_key_id=self._access_key,
            aws_secret_access_key=self._secret_key,
            config=config,
        )

    def key(self, path: str) -> str:
        """The object key of a validated driver path ('' is the root prefix)."""
        checked = check_path(path, allow_root=True)
        return f"{self._prefix}{checked}" if checked else self._prefix

    def _dir_key(self, path: str) -> str:
        key = self.key(path)
        return key if not key or key.endswith("/") else f"{key}/"

    def tail_key(self, path: str) -> str:
        return f"{self._prefix}{STAGING_DIR}/{check_path(path)}"

    def _relative(self, key: str) -> str:
        return key[len(self._prefix) :].rstrip("/")

    async def stat(self, path: str) -> Stat:
        checked = check_path(path, allow_root=True)
        if not checked:
            return Stat("", 0, 0.0, is_dir=True)
        s3 = await self.client()
        try:
            with _errors(path):
                head = await s3.head_object(Bucket=self.bucket, Key=self.key(path))
            return Stat(checked, int(head["ContentLength"]), head["LastModified"].timestamp())
        except PathNotFound:
            with _errors(path):
                listing = await s3.list_objects_v2(Bucket=self.bucket, Prefix=self._dir_key(path), MaxKeys=1)
            if listing.get("KeyCount", 0) == 0:
                raise
            return Stat(checked, 0, 0.0, is_dir=True)

    def reader(self, path: str, offset: int = 0, length: int | None = None) -> AsyncIterator[bytes]:
        if offset < 0 or (length is not None and length < 0):
            raise ValueError("offset and length must not be negative")
        return self._read(path, self.key(check_path(path)), offset, length)

    async def _read(self, path: str, key: str, offset: int, length: int | None) -> AsyncIterator[bytes]:
        s3 = await self.client()
        if length == 0:
            await self.stat(path)
            return
        extra: dict[str, str] = {}
        if offset or length is not None:
            end = "" if length is None else str(offset + length - 1)
            extra["Range"] = f"bytes={offset}-{end}"
        try:
            with _errors(path):
                response = await s3.get_object(Bucket=self.bucket, Key=key, **extra)
        except StorageError as e:
            if isinstance(e.__cause__, ClientError) and _error_code(e.__cause__) == "InvalidRange":
                return  # offset at or past the end
            raise
        body = response["Body"]
        try:
            while True:
                with _errors(path):
                    chunk = await _read_up_to(body, READ_SIZE)
                if not chunk:
                    break
                yield chunk
        finally:
            body.close()

    async def writer(self, path: str, append: bool = False) -> S3Writer:
        check_path(path)
        if append:
            return S3Writer(self, path, await self._resume(path))
        await self.discard_pending(path)
        return S3Writer(self, path, _Pending(None, [], bytearray()))

    async def _uploads(self, key: str) -> list[dict[str, Any]]:
        """In-progress multipart uploads for exactly ``key``, oldest first."""
        s3 = await self.client()
        found: list[dict[str, Any]] = []
        with _errors(key):
            paginator = s3.get_paginator("list_multipart_uploads")
            async for page in paginator.paginate(Bucket=self.bucket, Prefix=key):
                found.extend(u for u in page.get("Uploads", []) if u["Key"] == key)
        return sorted(found, key=lambda upload: upload["Initiated"])

    async def _parts(self, key: str, upload_id: str) -> list[_Part]:
        s3 = await self.client()
        parts: list[_Part] = []
        with _errors(key):
            paginator = s3.get_paginator("list_parts")
            async for page in paginator.paginate(Bucket=self.bucket, Key=key, UploadId=upload_id):
                parts.extend(_Part(int(p["PartNumber"]), str(p["ETag"]), int(p["Size"])) for p in page.get("Parts", []))
        return sorted(parts, key=lambda part: part.number)

    async def _load_tail(self, path: str) -> tuple[bytes, dict[str, str]] | None:
        s3 = await self.client()
        try:
            with _errors(path):
                response = await s3.get_object(Bucket=self.bucket, Key=self.tail_key(path))
                async with response["Body"] as body:
                    data = await body.read()
        except PathNotFound:
            return None
        return bytes(data), dict(response.get("Metadata", {}))

    async def _resume(self, path: str) -> _Pending:
        """Rebuild a closed write's state from the bucket (works from any process)."""
        key = self.key(path)
        tail = await self._load_tail(path)
        uploads = await self._uploads(key)
        tail_upload = tail[1].get("upload-id", "") if tail else ""
        ids = [str(u["UploadId"]) for u in uploads]
        # The last close is the persisted state: its tail follows exactly its first N parts.
        # Parts a writer uploaded after that and then died without closing were never
        # persisted by the protocol; they are left out (re-uploading a part number replaces
        # it, and completion lists only the parts kept), so the resumed size is what the
        # last close recorded.
        closed_parts = tail[1].get("parts", "") if tail else ""
        if tail and not tail_upload and closed_parts == "0":
            # Closed before any part existed: uploads started since then are a dead writer's.
            for orphan in ids:
                await self.abort(key, orphan)
            return _Pending(None, [], bytearray(tail[0]))
        upload_id = tail_upload if tail_upload in ids else (ids[-1] if ids else None)
        parts = await self._parts(key, upload_id) if upload_id else []
        buffer = bytearray()
        if tail and tail_upload == (upload_id or "") and closed_parts.isdigit():
            count = int(closed_parts)
            if count <= len(parts) and [p.number for p in parts[:count]] == list(range(1, count + 1)):
                parts = parts[:count]
                buffer = bytearray(tail[0])
        return _Pending(upload_id, parts, buffer)

    async def save_tail(self, path: str, state: _Pending) -> None:
        """Persist a closed writer's buffered tail next to its multipart upload."""
        s3 = await self.client()
        metadata = {"upload-id": state.upload_id or "", "parts": str(len(state.parts))}
        with _errors(path):
            await s3.put_object(
                Bucket=self.bucket, Key=self.tail_key(path), Body=bytes(state.buffer), Metadata=metadata
            )

    async def abort(self, key: str, upload_id: str) -> None:
        s3 = await self.client()
        try:
            with _errors(key):
                await s3.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload_id)
        except PathNotFound:
            pass

    async def discard_pending(self, path: str) -> None:
        """Abort every multipart upload for ``path`` and remove its tail sidecar."""
        key = self.key(path)
        for upload in await self._uploads(key):
            await self.abort(key, str(upload["UploadId"]))
        s3 = await self.client()
        with _errors(path):
            await s3.delete_object(Bucket=self.bucket, Key=self.tail_key(path))

    async def get(self, path: str) -> bytes:
        s3 = await self.client()
        with _errors(path):
            response = await s3.get_object(Bucket=self.bucket, Key=self.key(check_path(path)))
            async with response["Body"] as body:
                return bytes(await body.read())

    async def put(self, path: str, data: bytes) -> None:
        s3 = await self.client()
        with _errors(path):
            await s3.put_object(Bucket=self.bucket, Key=self.key(check_path(path)), Body=data)

    async def list(self, prefix: str) -> list[str]:
        s3 = await self.client()
        children: set[str] = set()
        at_root = not check_path(prefix, allow_root=True)
        with _errors(prefix):
            paginator = s3.get_paginator("list_objects_v2")
            pages = paginator.paginate(Bucket=self.bucket, Prefix=self._dir_key(prefix), Delimiter="/")
            async for page in pages:
                children.update(self._relative(p["Prefix"]) for p in page.get("CommonPrefixes", []))
                children.update(self._relative(o["Key"]) for o in page.get("Contents", []))
        children.discard(self._relative(self._dir_key(prefix)))  # a directory marker object
        if at_root:
            children.discard(STAGING_DIR)
        return sorted(children)

    def walk(self, prefix: str) -> AsyncIterator[Stat]:
        return self._walk(self._dir_key(prefix), not check_path(prefix, allow_root=True))

    async def _walk(self, key_prefix: str, at_root: bool) -> AsyncIterator[Stat]:
        s3 = await self.client()
        staging = f"{self._prefix}{STAGING_DIR}/"
        with _errors(key_prefix):
            paginator = s3.get_paginator("list_objects_v2")
            async for page in paginator.paginate(Bucket=self.bucket, Prefix=key_prefix):
                for obj in page.get("Contents", []):
                    key = str(obj["Key"])
                    if key.endswith("/") or (at_root and key.startswith(staging)):
                        continue
                    yield Stat(self._relative(key), int(obj["Size"]), obj["LastModified"].timestamp())

    async def move(self, src: str, dst: str) -> None:
        s3 = await self.client()
        src_key, dst_key = self.key(check_path(src)), self.key(check_path(dst))
        with _errors(src):
            head = await s3.head_object(Bucket=self.bucket, Key=src_key)
        size = int(head["ContentLength"])
        with _errors(src):
            if size <= MAX_COPY_SIZE:
                source = {"Bucket": self.bucket, "Key": src_key}
                await s3.copy_object(Bucket=self.bucket, Key=dst_key, CopySource=source)
            else:
                await self._multipart_copy(src_key, dst_key, size)
            await s3.delete_object(Bucket=self.bucket, Key=src_key)

    async def _multipart_copy(self, src_key: str, dst_key: str, size: int) -> None:
        s3 = await self.client()
        created = await s3.create_multipart_upload(Bucket=self.bucket, Key=dst_key)
        upload_id = str(created["UploadId"])
        parts: list[dict[str, Any]] = []
        try:
            for number, start in enumerate(range(0, size, COPY_PART_SIZE), start=1):
                end = min(start + COPY_PART_SIZE, size) - 1
                response = await s3.upload_part_copy(
                    Bucket=self.bucket,
                    Key=dst_key,
                    UploadId=upload_id,
                    PartNumber=number,
                    CopySource={"Bucket": self.bucket, "Key": src_key},
                    CopySourceRange=f"bytes={start}-{end}",
                )
                parts.append({"ETag": response["CopyPartResult"]["ETag"], "PartNumber": number})
            await s3.complete_multipart_upload(
                Bucket=self.bucket, Key=dst_key, UploadId=upload_id, MultipartUpload={"Parts": parts}
            )
        except BaseException:
            await self.abort(dst_key, upload_id)
            raise

    async def delete(self, path: str) -> None:
        s3 = await self.client()
        key = self.key(check_path(path))
        found = True
        try:
            with _errors(path):
                await s3.head_object(Bucket=self.bucket, Key=key)
                await s3.delete_object(Bucket=self.bucket, Key=key)
        except PathNotFound:
            found = False
        if not await self._delete_prefix(f"{key}/") and not found:
            raise PathNotFound(path)

    async def _delete_prefix(self, key_prefix: str) -> bool:
        """Delete every object under ``key_prefix``; return whether there were any."""
        s3 = await self.client()
        deleted = False
        with _errors(key_prefix):
            paginator = s3.get_paginator("list_objects_v2")
            async for page in paginator.paginate(Bucket=self.bucket, Prefix=key_prefix):
                objects = [{"Key": o["Key"]} for o in page.get("Contents", [])]
                if objects:
                    deleted = True
                    await s3.delete_objects(Bucket=self.bucket, Delete={"Objects": objects, "Quiet": True})
        return deleted

    async def redirect_url(self, path: str, expires_in: int = 1200) -> str | None:
        key = self.key(check_path(path))
        if not self.presign:
            return None
        s3 = await self.client()
        url = await s3.generate_presigned_url(
            "get_object", Params={"Bucket": self.bucket, "Key": key}, ExpiresIn=expires_in
        )
        return str(url)

    def local_path(self, path: str) -> str | None:
        return None

    async def close(self) -> None:
        await self._stack.aclose()
        self._client = None

"""The storage driver protocol: the small async surface every backend implements.

Paths are '/'-separated keys relative to the driver's root (no leading slash, no '..').
Content addressing and the path layout live above the drivers (see ``blobs.py``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

READ_SIZE = 1024 * 1024  # 1 MiB reads: 64 KiB reads cap large GETs far below loopback speed


class StorageError(Exception):
    """A backend failure that is not a missing path."""


class PathNotFound(StorageError):
    """The path does not exist."""

    def __init__(self, path: str) -> None:
        super().__init__(f"path not found: {path}")
        self.path = path


@dataclass(frozen=True, slots=True)
class Stat:
    path: str
    size: int
    modified: float  # POSIX timestamp, seconds
    is_dir: bool = False


@runtime_checkable
class Writer(Protocol):
    """An open, possibly resumed, write to one path.

    Nothing written is visible at ``path`` to ``stat``/``reader``/``get`` until
    ``commit`` returns; after ``commit`` the content is durable (survives kill -9 and
    power loss on the filesystem driver).  ``cancel`` discards everything written by
    this and earlier (resumed) writers for the path.  ``close`` keeps what was written
    so far for a later ``writer(path, append=True)`` without making it visible.
    """

    @property
    def size(self) -> int:
        """Bytes written so far, including what earlier writers appended."""
        ...

    async def write(self, data: bytes) -> None:
        """Append ``data``; raises StorageError on backend failure."""
        ...

    async def close(self) -> None:
        """Persist what was written so it can be resumed with ``append=True``; not visible."""
        ...

    async def truncate(self, size: int) -> None:
        """Drop everything after the first ``size`` bytes (a request that died mid-way wrote
        bytes that were never acknowledged).  Raises StorageError where the backend cannot
        cut back that far; ValueError if ``size`` exceeds ``self.size``."""
        ...

    async def commit(self) -> None:
        """Make the content durable and visible at the path. The writer is closed afterwards."""
        ...

    async def cancel(self) -> None:
        """Discard the content (and any resumable state). The writer is closed afterwards."""
        ...


@runtime_checkable
class BlobDriver(Protocol):
    """Storage backend contract. Every method is safe to call concurrently."""

    name: str

    async def stat(self, path: str) -> Stat:
        """Return size/mtime of a committed file or a directory prefix; raise PathNotFound."""
        ...

    def reader(self, path: str, offset: int = 0, length: int | None = None) -> AsyncIterator[bytes]:
        """Yield the bytes [offset, offset+length) in chunks of about READ_SIZE.

        Raises PathNotFound (on first iteration) when the path does not exist.
        """
        ...

    async def writer(self, path: str, append: bool = False) -> Writer:
        """Open a writer at ``path``; with ``append`` resume a write previously ``close``d.

        ``append=True`` on a path with no pending write starts empty.
        """
        ...

    async def get(self, path: str) -> bytes:
        """Whole content of a small file; raise PathNotFound."""
        ...

    async def put(self, path: str, data: bytes) -> None:
        """Write a small file atomically and durably (replacing any previous content)."""
        ...

    async def list(self, prefix: str) -> list[str]:
        """Immediate children (full paths) under the directory ``prefix``; [] if none."""
        ...

    def walk(self, prefix: str) -> AsyncIterator[Stat]:
        """Every committed file below ``prefix`` (recursively), in no particular order."""
        ...

    async def move(self, src: str, dst: str) -> None:
        """Move a committed file, replacing ``dst``; raise PathNotFound if ``src`` is missing."""
        ...

    async def delete(self, path: str) -> None:
        """Delete a file or, recursively, a directory prefix; raise PathNotFound if neither."""
        ...

    async def redirect_url(self, path: str, expires_in: int = 1200) -> str | None:
        """A URL clients may fetch the content from directly (presigned), or None if unsupported."""
        ...

    def local_path(self, path: str) -> str | None:
        """The OS path of a committed file when the backend is a local filesystem, else None."""
        ...

    async def close(self) -> None:
        """Release connections and other resources."""
        ...

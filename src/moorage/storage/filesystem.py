"""The filesystem storage driver: blobs as files under one root directory.

Writes land in a hidden staging directory and reach their path only by an atomic
``os.replace`` after fsync, so a crash never exposes a partially written file.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
import errno
import hashlib
import os
import shutil
import stat as stat_module
import uuid
from collections.abc import AsyncIterator, Callable
from typing import BinaryIO, TypeVar

from moorage.storage.driver import READ_SIZE, PathNotFound, Stat, StorageError

STAGING_DIR = ".staging"  # under the root, hidden from list/walk; reserved as a first path component
_WRITE_BUFFER = 1024 * 1024
WRITEBACK_BYTES = 32 * 1024 * 1024  # start flushing to disk in the background every 32 MiB
_REPLACE_ATTEMPTS = 5  # a concurrent delete may prune the fresh parent directory between mkdir and rename

T = TypeVar("T")


def check_path(path: str, *, allow_root: bool = False) -> str:
    """Validate a driver path and return it without a trailing '/'; raise ValueError if unsafe."""
    if path.startswith("/") or "\\" in path or "\0" in path:
        raise ValueError(f"invalid storage path: {path!r}")
    stripped = path.rstrip("/")
    if not stripped:
        if allow_root:
            return ""
        raise ValueError("empty storage path")
    parts = stripped.split("/")
    if any(part in ("", ".", "..") for part in parts) or parts[0] == STAGING_DIR:
        raise ValueError(f"invalid storage path: {path!r}")
    return stripped


def _fsync_dir(directory: str) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _makedirs_durable(directory: str) -> None:
    """Create ``directory`` and its missing parents, fsyncing each new entry's parent.

    A concurrent delete may prune an empty parent between its creation and ours: then the
    parent is created again.
    """
    parent = os.path.dirname(directory)
    for _ in range(_REPLACE_ATTEMPTS):
        if os.path.isdir(directory):
            return
        _makedirs_durable(parent)
        try:
            os.mkdir(directory)
        except FileExistsError:
            return
        except FileNotFoundError:
            continue  # the parent was pruned meanwhile
        _fsync_dir(parent)
        return
    raise FileNotFoundError(errno.ENOENT, "parent directory keeps disappearing", directory)


def _replace_durable(src: str, dst: str) -> None:
    """Rename ``src`` onto ``dst`` (creating parents) and fsync the target directory."""
    parent = os.path.dirname(dst)
    for attempt in range(_REPLACE_ATTEMPTS):
        _makedirs_durable(parent)
        try:
            os.replace(src, dst)
            break
        except FileNotFoundError:
            if not os.path.exists(src) or attempt == _REPLACE_ATTEMPTS - 1:
                raise
    _fsync_dir(parent)


def _prune_empty_parents(directory: str, root: str) -> None:
    """Remove empty directories from ``directory`` up to (not including) ``root``."""
    while directory != root and directory.startswith(root):
        try:
            os.rmdir(directory)
        except OSError:
            return
        directory = os.path.dirname(directory)


def _list_dir(full: str) -> list[str]:
    try:
        return os.listdir(full)
    except (FileNotFoundError, NotADirectoryError):
        return []


def _scan_dir(root: str, directory: str) -> tuple[list[Stat], list[str]]:
    """Files (as Stats) and subdirectory paths directly in ``directory``, staging excluded."""
    files: list[Stat] = []
    subdirs: list[str] = []
    full = os.path.join(root, *directory.split("/")) if directory else root
    try:
        entries = list(os.scandir(full))
    except (FileNotFoundError, NotADirectoryError):
        return files, subdirs
    for entry in entries:
        path = f"{directory}/{entry.name}" if directory else entry.name
        if entry.is_dir(follow_symlinks=False):
            if path != STAGING_DIR:
                subdirs.append(path)
            continue
        try:
            st = entry.stat()
        except FileNotFoundError:  # deleted while walking
            continue
        files.append(Stat(path, st.st_size, st.st_mtime))
    return files, subdirs


async def _io(func: Callable[..., T], *args: object, missing: str | None = None) -> T:
    """Run blocking file I/O in a thread: a missing ``missing`` path raises PathNotFound,
    any other OSError StorageError."""
    try:
        return await asyncio.to_thread(func, *args)
    except (FileNotFoundError, NotADirectoryError) as e:
        if missing is None:
            raise StorageError(str(e)) from e
        raise PathNotFound(missing) from None
    except OSError as e:
        raise StorageError(str(e)) from e


def _writeback_starter() -> Callable[[int, int, int], None] | None:
    """Linux's sync_file_range(SYNC_FILE_RANGE_WRITE): start writing a range to disk and
    return at once.  None where libc does not have it."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        func = libc.sync_file_range
    except (OSError, AttributeError):
        return None
    func.argtypes = [ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint]
    func.restype = ctypes.c_int

    def start(fd: int, offset: int, length: int) -> None:
        func(fd, offset, length, 2)  # SYNC_FILE_RANGE_WRITE; a failure only means no head start

    return start


START_WRITEBACK = _writeback_starter()


class FilesystemWriter:
    """An appendable write into a staging file, renamed into place on commit.

    Every WRITEBACK_BYTES, and when a request's writer closes, the kernel is asked to start
    writing what arrived to disk (without waiting), so the fsync before commit only has the
    last stretch left (elsewhere a background fdatasync does the same).
    """

    def __init__(self, file: BinaryIO, staging: str, target: str, size: int) -> None:
        self._file = file
        self._staging = staging
        self._target = target
        self._size = size
        self._closed = False
        self._unsynced = 0
        self._writeback: asyncio.Future[None] | None = None

    def _start_writeback(self) -> None:
        self._file.flush()
        start, self._unsynced = self._size - self._unsynced, 0
        if START_WRITEBACK is not None:
            START_WRITEBACK(self._file.fileno(), start, self._size - start)
        elif self._writeback is None or self._writeback.done():
            self._writeback = asyncio.get_running_loop().run_in_executor(None, os.fdatasync, self._file.fileno())

    async def _finish_writeback(self) -> None:
        if self._writeback is not None:
            with contextlib.suppress(OSError):  # the final fsync reports real errors
                await self._writeback
            self._writeback = None

    @property
    def size(self) -> int:
        return self._size

    def _check_open(self) -> None:
        if self._closed:
            raise StorageError("writer is closed")

    async def write(self, data: bytes) -> None:
        self._check_open()
        try:
            # Buffered write into the page cache: cheaper inline than a thread hop per chunk.
            self._file.write(data)
        except OSError as e:
            raise StorageError(str(e)) from e
        self._size += len(data)
        self._unsynced += len(data)
        if self._unsynced >= WRITEBACK_BYTES:
            self._start_writeback()

    async def truncate(self, size: int) -> None:
        self._check_open()
        await self._finish_writeback()
        if size > self._size:
            raise ValueError(f"cannot truncate {self._size} bytes to {size}")
        try:
            self._file.flush()
            self._file.truncate(size)
            self._file.seek(size)
        except OSError as e:
            raise StorageError(str(e)) from e
        self._size = size

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._unsynced and START_WRITEBACK is not None:
            self._start_writeback()
        await self._finish_writeback()
        await _io(self._file.close)

    async def commit(self) -> None:
        self._check_open()
        self._closed = True
        await self._finish_writeback()
        await _io(self._commit_sync)

    def _commit_sync(self) -> None:
        try:
            self._file.flush()
            os.fsync(self._file.fileno())
        finally:
            self._file.close()
        _replace_durable(self._staging, self._target)

    async def cancel(self) -> None:
        await self._finish_writeback()
        if not self._closed:
            self._closed = True
            await _io(self._file.close)
        with contextlib.suppress(PathNotFound):
            await _io(os.unlink, self._staging, missing=self._target)


class FilesystemBlobDriver:
    """BlobDriver over a local (or shared, POSIX-semantics) directory tree."""

    name = "filesystem"

    def __init__(self, root: str) -> None:
        self.root = os.path.abspath(root)
        self._staging_dir = os.path.join(self.root, STAGING_DIR)

    def _full(self, path: str, *, allow_root: bool = False) -> str:
        checked = check_path(path, allow_root=allow_root)
        return os.path.join(self.root, *checked.split("/")) if checked else self.root

    def _staging_path(self, path: str) -> str:
        return os.path.join(self._staging_dir, hashlib.sha256(path.encode()).hexdigest())

    def _temp_path(self) -> str:
        return os.path.join(self._staging_dir, f"tmp-{uuid.uuid4().hex}")

    async def stat(self, path: str) -> Stat:
        full = self._full(path, allow_root=True)
        st = await _io(os.stat, full, missing=path)
        is_dir = stat_module.S_ISDIR(st.st_mode)
        return Stat(check_path(path, allow_root=True), 0 if is_dir else st.st_size, st.st_mtime, is_dir)

    def reader(self, path: str, offset: int = 0, length: int | None = None) -> AsyncIterator[bytes]:
        if offset < 0 or (length is not None and length < 0):
            raise ValueError("offset and length must not be negative")
        return self._read(path, self._full(path), offset, length)

    async def _read(self, path: str, full: str, offset: int, length: int | None) -> AsyncIterator[bytes]:
        fd = await _io(os.open, full, os.O_RDONLY, missing=path)
        try:
            if os.path.isdir(full):
                raise PathNotFound(path)
            loop = asyncio.get_running_loop()
            position, end = offset, None if length is None else offset + length
            while end is None or position < end:
                want = READ_SIZE if end is None else min(READ_SIZE, end - position)
                chunk = await loop.run_in_executor(None, os.pread, fd, want, position)
                if not chunk:
                    break
                position += len(chunk)
                yield chunk
        except OSError as e:
            raise StorageError(str(e)) from e
        finally:
            os.close(fd)

    async def writer(self, path: str, append: bool = False) -> FilesystemWriter:
        target = self._full(path)
        staging = self._staging_path(check_path(path))
        file = await _io(self._open_staging, staging, append)
        return FilesystemWriter(file, staging, target, os.fstat(file.fileno()).st_size)

    def _open_staging(self, staging: str, append: bool) -> BinaryIO:
        os.makedirs(self._staging_dir, exist_ok=True)
        return open(staging, "ab" if append else "wb", buffering=_WRITE_BUFFER)  # noqa: SIM115

    async def get(self, path: str) -> bytes:
        # Small files by contract (configs, manifests): a page-cache read costs less than the
        # hand-off to a thread and back.
        full = self._full(path)
        try:
            return self._read_all(full)
        except (FileNotFoundError, NotADirectoryError):
            raise PathNotFound(path) from None
        except OSError as e:
            raise StorageError(str(e)) from e

    @staticmethod
    def _read_all(full: str) -> bytes:
        try:
            with open(full, "rb") as f:
                return f.read()
        except IsADirectoryError:
            raise FileNotFoundError(errno.ENOENT, "is a directory", full) from None

    async def put(self, path: str, data: bytes) -> None:
        await _io(self._put_sync, self._full(path), data)

    def _put_sync(self, full: str, data: bytes) -> None:
        os.makedirs(self._staging_dir, exist_ok=True)
        temp = self._temp_path()
        try:
            with open(temp, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            _replace_durable(temp, full)
        finally:
            if os.path.exists(temp):
                os.unlink(temp)

    async def list(self, prefix: str) -> list[str]:
        checked = check_path(prefix, allow_root=True)
        names = await _io(_list_dir, self._full(prefix, allow_root=True))
        if not checked:
            return sorted(name for name in names if name != STAGING_DIR)
        return sorted(f"{checked}/{name}" for name in names)

    def walk(self, prefix: str) -> AsyncIterator[Stat]:
        checked = check_path(prefix, allow_root=True)
        return self._walk(checked)

    async def _walk(self, prefix: str) -> AsyncIterator[Stat]:
        pending = [prefix]
        while pending:
            directory = pending.pop()
            files, subdirs = await _io(_scan_dir, self.root, directory)
            pending.extend(subdirs)
            for stat in files:
                yield stat

    async def move(self, src: str, dst: str) -> None:
        src_full, dst_full = self._full(src), self._full(dst)
        await _io(self._move_sync, src_full, dst_full, missing=src)

    def _move_sync(self, src_full: str, dst_full: str) -> None:
        if not os.path.isfile(src_full):
            raise FileNotFoundError(errno.ENOENT, "no such file", src_full)
        try:
            _replace_durable(src_full, dst_full)
        except (FileNotFoundError, NotADirectoryError) as e:
            if os.path.exists(src_full):  # the destination side failed, not a missing source
                raise StorageError(str(e)) from e
            raise
        _prune_empty_parents(os.path.dirname(src_full), self.root)

    async def delete(self, path: str) -> None:
        full = self._full(path)
        await _io(self._delete_sync, full, missing=path)

    def _delete_sync(self, full: str) -> None:
        if os.path.isdir(full) and not os.path.islink(full):
            # Rename first so readers never see a half-deleted tree.
            os.makedirs(self._staging_dir, exist_ok=True)
            trash = self._temp_path()
            os.replace(full, trash)
            shutil.rmtree(trash, ignore_errors=True)
        else:
            os.unlink(full)
        _prune_empty_parents(os.path.dirname(full), self.root)

    async def redirect_url(self, path: str, expires_in: int = 1200) -> str | None:
        check_path(path)
        return None

    def local_path(self, path: str) -> str | None:
        return self._full(path)

    async def close(self) -> None:
        return None

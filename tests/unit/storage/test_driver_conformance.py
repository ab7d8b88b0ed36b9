"""The storage driver conformance suite: every BlobDriver contract, run over every driver
(filesystem, S3 against a moto server, S3 under a root directory)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from typing import TYPE_CHECKING

import pytest

from moorage.storage.driver import (
    READ_SIZE,
    BlobDriver,
    PathNotFound,
    Stat,
    StorageError,
    Writer,
)
from moorage.storage.s3 import MIN_PART_SIZE

if TYPE_CHECKING:
    from conftest import DriverHarness

MiB = 1024 * 1024


def pattern(size: int, seed: int = 0) -> bytes:
    """Deterministic content where every offset differs from its neighbours."""
    block = bytes((i * 7 + seed) % 251 for i in range(251 * 16))
    return (block * (size // len(block) + 1))[:size]


async def read_all(driver: BlobDriver, path: str, offset: int = 0, length: int | None = None) -> bytes:
    return b"".join([chunk async for chunk in driver.reader(path, offset, length)])


async def walk_all(driver: BlobDriver, prefix: str) -> dict[str, int]:
    return {stat.path: stat.size async for stat in driver.walk(prefix)}


async def commit(driver: BlobDriver, path: str, data: bytes) -> None:
    writer = await driver.writer(path)
    await writer.write(data)
    await writer.commit()


# --- protocol shape and missing paths ------------------------------------------------


async def test_implements_protocol(driver: BlobDriver) -> None:
    assert isinstance(driver, BlobDriver)
    writer = await driver.writer("a/file")
    assert isinstance(writer, Writer)
    await writer.cancel()


async def test_missing_paths_raise_path_not_found(driver: BlobDriver) -> None:
    with pytest.raises(PathNotFound):
        await driver.stat("no/such/file")
    with pytest.raises(PathNotFound):
        await driver.get("no/such/file")
    iterator = driver.reader("no/such/file")  # raises on first iteration, not on the call
    with pytest.raises(PathNotFound):
        await iterator.__anext__()
    with pytest.raises(PathNotFound):
        await read_all(driver, "no/such/file", 5, 10)
    with pytest.raises(PathNotFound):
        await read_all(driver, "no/such/file", 0, 0)
    with pytest.raises(PathNotFound):
        await driver.move("no/such/file", "elsewhere")
    with pytest.raises(PathNotFound):
        await driver.delete("no/such/file")
    assert await driver.list("no/such") == []
    assert await walk_all(driver, "no/such") == {}


async def test_path_not_found_is_a_storage_error_naming_the_path(driver: BlobDriver) -> None:
    with pytest.raises(StorageError) as caught:
        await driver.get("missing/blob")
    assert isinstance(caught.value, PathNotFound)
    assert caught.value.path == "missing/blob"


# --- put / get / stat ----------------------------------------------------------------


async def test_put_get_stat(driver: BlobDriver) -> None:
    data = pattern(300_001)
    before = time.time()
    await driver.put("repo/blobs/one", data)
    assert await driver.get("repo/blobs/one") == data
    stat = await driver.stat("repo/blobs/one")
    assert stat == Stat("repo/blobs/one", 300_001, stat.modified, is_dir=False)
    assert before - 5 <= stat.modified <= time.time() + 5


async def test_put_replaces(driver: BlobDriver) -> None:
    await driver.put("x/y", b"a much longer first version")
    await driver.put("x/y", b"short")
    assert await driver.get("x/y") == b"short"
    assert (await driver.stat("x/y")).size == 5


async def test_put_empty(driver: BlobDriver) -> None:
    await driver.put("empty", b"")
    assert await driver.get("empty") == b""
    assert (await driver.stat("empty")).size == 0
    assert await read_all(driver, "empty") == b""


async def test_stat_directory_prefix(driver: BlobDriver) -> None:
    await driver.put("dir/sub/file", b"123")
    for prefix in ("dir", "dir/sub", "dir/"):
        stat = await driver.stat(prefix)
        assert stat.is_dir and stat.path == prefix.rstrip("/")
    assert (await driver.stat("")).is_dir
    with pytest.raises(PathNotFound):
        await driver.stat("di")


async def test_concurrent_calls(driver: BlobDriver) -> None:
    payloads = {f"c/{i}": pattern(10_000 + i, seed=i) for i in range(20)}
    await asyncio.gather(*(driver.put(path, data) for path, data in payloads.items()))
    got = await asyncio.gather(*(driver.get(path) for path in payloads))
    assert got == list(payloads.values())


# --- writers -------------------------------------------------------------------------


async def test_writer_invisible_until_commit(harness: DriverHarness) -> None:
    driver = harness.new()
    await driver.put("up/keep", b"k")
    writer = await driver.writer("up/new")
    await writer.write(b"hello ")
    await writer.write(b"world")
    assert writer.size == 11
    with pytest.raises(PathNotFound):
        await driver.stat("up/new")
    with pytest.raises(PathNotFound):
        await driver.get("up/new")
    await writer.close()
    with pytest.raises(PathNotFound):
        await harness.new().stat("up/new")
    assert await driver.list("up") == ["up/keep"]
    assert await driver.list("") == ["up"]
    assert await walk_all(driver, "") == {"up/keep": 1}

    resumed = await driver.writer("up/new", append=True)
    assert resumed.size == 11
    await resumed.commit()
    assert await driver.get("up/new") == b"hello world"
    assert (await driver.stat("up/new")).size == 11
    assert harness.leftovers() == []


async def test_commit_empty_writer(harness: DriverHarness) -> None:
    driver = harness.new()
    writer = await driver.writer("z/empty")
    assert writer.size == 0
    await writer.commit()
    assert await driver.get("z/empty") == b""
    assert (await driver.stat("z/empty")).size == 0
    assert harness.leftovers() == []


async def test_commit_larger_than_a_part_in_one_writer(harness: DriverHarness) -> None:
    driver = harness.new()
    data = pattern(11 * MiB + 17)
    writer = await driver.writer("big/one")
    await writer.write(data)  # one write spanning several parts
    assert writer.size == len(data)
    await writer.commit()
    assert (await driver.stat("big/one")).size == len(data)
    assert await read_all(driver, "big/one") == data
    assert harness.leftovers() == []


async def test_commit_replaces_existing(driver: BlobDriver) -> None:
    await driver.put("r/file", b"old content that is longer")
    await commit(driver, "r/file", b"new")
    assert await driver.get("r/file") == b"new"


async def test_resume_across_instances(harness: DriverHarness) -> None:
    data = pattern(12 * MiB + 12_345, seed=3)
    splits = [0, 3 * MiB + 1_001, 9 * MiB + 7, len(data)]
    odd_sizes = [1, 777_777, 65_537, 2 * MiB + 3]
    for index in range(3):
        driver = harness.new()  # a new instance: another process or replica
        writer = await driver.writer("_uploads/u1/data", append=True)
        assert writer.size == splits[index]
        position, step = splits[index], 0
        while position < splits[index + 1]:
            size = min(odd_sizes[step % len(odd_sizes)], splits[index + 1] - position)
            await writer.write(data[position : position + size])
            position, step = position + size, step + 1
        assert writer.size == splits[index + 1]
        await writer.close()
        with pytest.raises(PathNotFound):
            await driver.stat("_uploads/u1/data")

    final = await harness.new().writer("_uploads/u1/data", append=True)
    assert final.size == len(data)
    await final.commit()
    reader = harness.new()
    assert (await reader.stat("_uploads/u1/data")).size == len(data)
    assert await read_all(reader, "_uploads/u1/data") == data
    assert harness.leftovers() == []


async def test_truncate_drops_unacknowledged_tail(harness: DriverHarness) -> None:
    data = pattern(3000, seed=5)
    writer = await harness.new().writer("t/data", append=True)
    await writer.write(data[:1000])
    await writer.close()
    resumed = await harness.new().writer("t/data", append=True)
    await resumed.write(b"garbage that was never acknowledged")
    await resumed.truncate(1000)
    assert resumed.size == 1000
    await resumed.write(data[1000:])
    await resumed.commit()
    assert await read_all(harness.new(), "t/data") == data
    with pytest.raises(ValueError):
        await (await harness.new().writer("t2", append=True)).truncate(1)


async def test_truncate_into_uploaded_parts_is_refused_on_s3(harness: DriverHarness) -> None:
    if not harness.is_s3:
        pytest.skip("only object stores have immutable parts")
    writer = await harness.new().writer("t/data", append=True)
    await writer.write(pattern(MIN_PART_SIZE + 10, seed=6))
    with pytest.raises(StorageError):
        await writer.truncate(5)
    await writer.cancel()


async def test_append_without_pending_write_starts_empty(harness: DriverHarness) -> None:
    driver = harness.new()
    writer = await driver.writer("fresh/path", append=True)
    assert writer.size == 0
    await writer.write(b"abc")
    await writer.commit()
    assert await driver.get("fresh/path") == b"abc"


async def test_append_after_commit_starts_empty(harness: DriverHarness) -> None:
    driver = harness.new()
    await commit(driver, "done", b"first")
    writer = await harness.new().writer("done", append=True)
    assert writer.size == 0
    await writer.cancel()
    assert await driver.get("done") == b"first"


async def test_writer_without_append_discards_pending(harness: DriverHarness) -> None:
    driver = harness.new()
    writer = await driver.writer("p/file")
    await writer.write(pattern(6 * MiB))
    await writer.close()
    restarted = await harness.new().writer("p/file")
    assert restarted.size == 0
    await restarted.write(b"only this")
    await restarted.commit()
    assert await driver.get("p/file") == b"only this"
    assert harness.leftovers() == []


@pytest.mark.parametrize("size", [10, 6 * MiB])
async def test_cancel_discards(harness: DriverHarness, size: int) -> None:
    driver = harness.new()
    writer = await driver.writer("c/file")
    await writer.write(pattern(size))
    await writer.close()
    resumed = await harness.new().writer("c/file", append=True)
    assert resumed.size == size
    await resumed.write(b"more")
    await resumed.cancel()
    with pytest.raises(PathNotFound):
        await driver.stat("c/file")
    again = await harness.new().writer("c/file", append=True)
    assert again.size == 0
    await again.cancel()
    assert harness.leftovers() == []


async def test_cancel_keeps_committed_content(driver: BlobDriver) -> None:
    await driver.put("k/file", b"committed")
    writer = await driver.writer("k/file")
    await writer.write(b"replacement")
    await writer.cancel()
    assert await driver.get("k/file") == b"committed"


async def test_writer_is_closed_after_commit(driver: BlobDriver) -> None:
    writer = await driver.writer("w/file")
    await writer.write(b"x")
    await writer.commit()
    with pytest.raises(StorageError):
        await writer.write(b"y")
    assert await driver.get("w/file") == b"x"


# --- reads ---------------------------------------------------------------------------

RANGE_SIZE = 3 * MiB + 123


@pytest.mark.parametrize(
    ("offset", "length", "expected"),
    [
        (0, None, (0, RANGE_SIZE)),
        (0, 10, (0, 10)),
        (5, 1, (5, 6)),
        (READ_SIZE - 1, 2, (READ_SIZE - 1, READ_SIZE + 1)),
        (1000, None, (1000, RANGE_SIZE)),
        (RANGE_SIZE - 1, None, (RANGE_SIZE - 1, RANGE_SIZE)),
        (RANGE_SIZE - 5, 100, (RANGE_SIZE - 5, RANGE_SIZE)),
        (RANGE_SIZE, None, (0, 0)),
        (RANGE_SIZE + 10, 5, (0, 0)),
        (7, 0, (0, 0)),
    ],
)
async def test_ranged_reads(driver: BlobDriver, offset: int, length: int | None, expected: tuple[int, int]) -> None:
    data = pattern(RANGE_SIZE, seed=9)
    await driver.put("range/blob", data)
    chunks = [chunk async for chunk in driver.reader("range/blob", offset, length)]
    assert b"".join(chunks) == data[expected[0] : expected[1]]
    assert all(0 < len(chunk) <= READ_SIZE for chunk in chunks)
    assert len(chunks) == -(-(expected[1] - expected[0]) // READ_SIZE)


async def test_reader_rejects_negative_ranges(driver: BlobDriver) -> None:
    with pytest.raises(ValueError):
        driver.reader("x", -1)
    with pytest.raises(ValueError):
        driver.reader("x", 0, -5)


# --- move / delete / list / walk -----------------------------------------------------


async def test_move(driver: BlobDriver) -> None:
    data = pattern(2 * MiB + 1)
    await driver.put("_uploads/a/data", data)
    await driver.put("blobs/sha256/ab/abcd/data", b"old")
    await driver.move("_uploads/a/data", "blobs/sha256/ab/abcd/data")
    assert await driver.get("blobs/sha256/ab/abcd/data") == data
    with pytest.raises(PathNotFound):
        await driver.stat("_uploads/a/data")
    await driver.move("blobs/sha256/ab/abcd/data", "deep/new/dir/file")
    assert await driver.get("deep/new/dir/file") == data
    assert await walk_all(driver, "") == {"deep/new/dir/file": len(data)}


async def test_delete_file_and_prefix(driver: BlobDriver) -> None:
    for path in ("d/a/1", "d/a/sub/2", "d/a/sub/deeper/3", "d/ab", "d/b/4", "top"):
        await driver.put(path, path.encode())
    await driver.delete("d/ab")
    with pytest.raises(PathNotFound):
        await driver.get("d/ab")
    await driver.delete("d/a")
    assert await walk_all(driver, "") == {"d/b/4": 5, "top": 3}
    with pytest.raises(PathNotFound):
        await driver.stat("d/a")
    with pytest.raises(PathNotFound):
        await driver.delete("d/a")
    await driver.delete("d/b/")
    assert await driver.list("") == ["top"]


async def test_delete_prefix_respects_segment_boundaries(driver: BlobDriver) -> None:
    await driver.put("seg/ab/x", b"1")
    await driver.put("seg/abc/y", b"22")
    await driver.delete("seg/ab")
    assert await walk_all(driver, "seg") == {"seg/abc/y": 2}


async def test_list_immediate_children(driver: BlobDriver) -> None:
    for path in ("l/a", "l/b/1", "l/b/2/3", "l/c/4", "lx/5", "root-file"):
        await driver.put(path, b"x")
    assert await driver.list("l") == ["l/a", "l/b", "l/c"]
    assert await driver.list("l/") == ["l/a", "l/b", "l/c"]
    assert await driver.list("l/b") == ["l/b/1", "l/b/2"]
    assert await driver.list("") == ["l", "lx", "root-file"]
    assert await driver.list("l/a") == []
    assert await driver.list("nothing") == []


async def test_list_and_walk_hide_pending_writes(harness: DriverHarness) -> None:
    driver = harness.new()
    writer = await driver.writer("pending/file")
    await writer.write(pattern(6 * MiB))
    await writer.close()
    assert await driver.list("") == []
    assert await walk_all(driver, "") == {}
    await driver.put("visible", b"v")
    assert await driver.list("") == ["visible"]
    assert await walk_all(driver, "") == {"visible": 1}


async def test_walk_recurses(driver: BlobDriver) -> None:
    files = {"w/a": 1, "w/b/c": 22, "w/b/d/e": 333, "w/b/d/f/g": 4444, "wx/h": 5, "i": 6}
    for path, size in files.items():
        await driver.put(path, pattern(size))
    assert await walk_all(driver, "w") == {k: v for k, v in files.items() if k.startswith("w/")}
    assert await walk_all(driver, "w/b/d") == {"w/b/d/e": 333, "w/b/d/f/g": 4444}
    assert await walk_all(driver, "") == files
    stats = [stat async for stat in driver.walk("w/b")]
    assert all(not stat.is_dir and stat.modified > 0 for stat in stats)


# --- redirect and local paths --------------------------------------------------------


async def test_redirect_url(harness: DriverHarness) -> None:
    data = pattern(70_000, seed=5)
    plain = harness.new()
    await plain.put("r/blob", data)
    assert await plain.redirect_url("r/blob") is None
    url = await harness.new(presign=True).redirect_url("r/blob", expires_in=60)
    if not harness.is_s3:
        assert url is None
        return
    assert url is not None and url.startswith(harness.endpoint or "")
    body = await asyncio.to_thread(lambda: urllib.request.urlopen(url, timeout=10).read())
    assert body == data


async def test_local_path(harness: DriverHarness) -> None:
    driver = harness.new()
    await driver.put("lp/file", b"on disk")
    local = driver.local_path("lp/file")
    if harness.is_s3:
        assert local is None
        return
    assert local is not None and os.path.isabs(local)
    with open(local, "rb") as f:
        assert f.read() == b"on disk"


# --- path validation -----------------------------------------------------------------

BAD_PATHS = ["/abs", "../x", "a/../b", "a/..", "a//b", "a/./b", "", ".staging/x", "a\\b", "a\0b"]


@pytest.mark.parametrize("bad", BAD_PATHS)
async def test_rejects_unsafe_paths(driver: BlobDriver, bad: str) -> None:
    with pytest.raises(ValueError):
        await driver.get(bad)
    with pytest.raises(ValueError):
        await driver.put(bad, b"x")
    with pytest.raises(ValueError):
        await driver.writer(bad)
    with pytest.raises(ValueError):
        await driver.delete(bad)
    with pytest.raises(ValueError):
        await driver.move("ok", bad)
    with pytest.raises(ValueError):
        await driver.redirect_url(bad)
    with pytest.raises(ValueError):
        driver.reader(bad)
    if bad:  # '' is the root: valid for stat, list and walk
        with pytest.raises(ValueError):
            await driver.stat(bad)
        with pytest.raises(ValueError):
            await driver.list(bad)
        with pytest.raises(ValueError):
            driver.walk(bad)


# --- crash safety --------------------------------------------------------------------

DRIVER_FROM_ARGV = """
import asyncio, json, sys
from moorage.storage.filesystem import FilesystemBlobDriver
from moorage.storage.s3 import S3BlobDriver

kind, spec = sys.argv[1], json.loads(sys.argv[2])
driver = (S3BlobDriver if kind.startswith("s3") else FilesystemBlobDriver)(**spec)
"""

CRASH_LOOP = """
async def main():
    generation = 0
    while True:
        generation += 1
        data = bytes([generation % 256]) * (6 * 1024 * 1024 + 1)
        writer = await driver.writer("crash/written")
        for start in range(0, len(data), 1_000_003):
            await writer.write(data[start : start + 1_000_003])
        await writer.commit()
        await driver.put("crash/put", data[: 1024 * 1024])
        print(generation, flush=True)

asyncio.run(main())
"""

WRITE_THEN_HANG = """
async def main():
    data = sys.stdin.buffer.read()
    writer = await driver.writer("_uploads/crashed/data", append=True)
    await writer.write(data)
    print(writer.size, flush=True)
    await asyncio.sleep(3600)

asyncio.run(main())
"""


def spawn(harness: DriverHarness, script: str) -> subprocess.Popen[bytes]:
    """Run ``script`` in another process with ``driver`` built from the harness spec."""
    return subprocess.Popen(
        [sys.executable, "-c", DRIVER_FROM_ARGV + script, harness.kind, json.dumps(harness.spec())],
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )


async def first_line_then_kill(process: subprocess.Popen[bytes], delay: float = 0.0) -> bytes:
    assert process.stdout is not None
    try:
        line = await asyncio.wait_for(asyncio.to_thread(process.stdout.readline), 30)
        await asyncio.sleep(delay)
    finally:
        process.send_signal(signal.SIGKILL)
        await asyncio.to_thread(process.wait)
        process.stdout.close()
    return line


async def test_kill_9_never_exposes_partial_content(harness: DriverHarness) -> None:
    for delay in (0.0, 0.013, 0.037, 0.071):
        process = spawn(harness, CRASH_LOOP)
        assert process.stdin is not None
        process.stdin.close()
        # Killed once a generation is committed, so the next writes are mid-flight.
        assert (await first_line_then_kill(process, delay)).strip().isdigit()
        driver = harness.new()
        for path, size in (("crash/written", 6 * MiB + 1), ("crash/put", MiB)):
            data = await driver.get(path)
            assert len(data) == size and data == data[:1] * size


@pytest.mark.parametrize(
    ("closed_at", "crashed_at"),
    [(3 * MiB + 5, 7 * MiB), (6 * MiB + 5, 11 * MiB)],  # closed before / after the first part
)
async def test_resume_after_writer_killed_before_close(harness: DriverHarness, closed_at: int, crashed_at: int) -> None:
    data = pattern(12 * MiB, seed=11)
    writer = await harness.new().writer("_uploads/crashed/data")
    await writer.write(data[:closed_at])
    await writer.close()

    process = spawn(harness, WRITE_THEN_HANG)
    assert process.stdin is not None
    process.stdin.write(data[closed_at:crashed_at])
    process.stdin.close()
    assert int(await first_line_then_kill(process)) == crashed_at

    # What survives an unclosed writer is backend-specific, but it must be a true prefix.
    resumed = await harness.new().writer("_uploads/crashed/data", append=True)
    assert closed_at <= resumed.size <= crashed_at
    if harness.is_s3:  # object stores resume from the last close: later parts were never persisted
        assert resumed.size == closed_at
    await resumed.write(data[resumed.size :])
    await resumed.commit()
    assert await harness.new().get("_uploads/crashed/data") == data


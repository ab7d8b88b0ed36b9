"""Blob GET/HEAD (with Range) and DELETE.  A blob a proxy-cache project lacks is fetched
upstream (``domain/proxy.py``): a whole GET receives the bytes as they are stored."""

from __future__ import annotations

import re

from moorage.core.errors import MoorageError, oci_error
from moorage.domain.blobs import BlobLocation
from moorage.registry.services import RegistryServices
from moorage.web.http import Request, Response

_RANGE_RE = re.compile(r"^bytes=(\d*)-(\d*)$")


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """(start, end inclusive) of a single-range request, None to serve everything.

    Raises RANGE_INVALID (416) when the range starts beyond the end; malformed or
    multi-range headers are ignored, as RFC 9110 allows.
    """
    if not header:
        return None
    m = _RANGE_RE.match(header.strip())
    if not m or (not m.group(1) and not m.group(2)):
        return None
    first, last = m.group(1), m.group(2)
    if not first:  # suffix range: the last N bytes
        n = int(last)
        if n == 0:
            raise _unsatisfiable(size)
        return max(size - n, 0), size - 1
    start = int(first)
    end = int(last) if last else size - 1
    if end < start:
        return None
    if start >= size:
        raise _unsatisfiable(size)
    return start, min(end, size - 1)


def _unsatisfiable(size: int) -> Exception:
    return oci_error("RANGE_INVALID", f"range not satisfiable: the blob has {size} bytes",
                     headers={"Content-Range": f"bytes */{size}"})


class BlobHandlers:
    def __init__(self, services: RegistryServices) -> None:
        self.s = services

    async def _locate(self, req: Request) -> BlobLocation | Response:
        """The local blob; for a proxy-cache project, a miss is fetched upstream (a whole GET is
        answered with the bytes as they stream in)."""
        name, digest = req.params["name"], req.params["digest"]
        try:
            return await self.s.blobs.locate(name, digest)
        except MoorageError as exc:
            proxy = await self.s.proxy.project(name) if self.s.proxy is not None else None
            if exc.code != "BLOB_UNKNOWN" or proxy is None or self.s.proxy is None:
                raise
        mode = "head" if req.method == "HEAD" else "fetch" if req.headers.get("range") else "stream"
        found = await self.s.proxy.blob(proxy, name, digest, mode)
        if found.stream is not None:
            return Response(200, _headers(found.digest), stream=found.stream, length=found.size)
        if mode == "head":
            return Response(200, _headers(found.digest), length=found.size)
        return await self.s.blobs.locate(name, digest)

    async def get(self, req: Request) -> Response:
        located = await self._locate(req)
        if isinstance(located, Response):
            return located
        loc = located
        headers = {
            "content-type": "application/octet-stream",
            "docker-content-digest": loc.digest,
            "accept-ranges": "bytes",
            "etag": f'"{loc.digest}"',
            "cache-control": "max-age=31536000",
        }
        rng = parse_range(req.headers.get("range"), loc.size) if req.method == "GET" else None
        if loc.content is not None:
            body = loc.content if rng is None else loc.content[rng[0] : rng[1] + 1]
            if rng is not None:
                headers["content-range"] = f"bytes {rng[0]}-{rng[1]}/{loc.size}"
            return Response(206 if rng else 200, headers, body, length=len(body))
        if req.method == "HEAD":
            return Response(200, headers, length=loc.size)
        if rng is None and self.s.redirect_blobs:
            url = await self.s.store.redirect_url(loc.digest)
            if url:
                return Response(307, {"location": url, "docker-content-digest": loc.digest})
        if rng is not None:
            start, end = rng
            headers["content-range"] = f"bytes {start}-{end}/{loc.size}"
            return Response(206, headers, stream=self.s.store.read(loc.digest, start, end - start + 1),
                            length=end - start + 1)
        return Response(200, headers, stream=self.s.store.read(loc.digest), length=loc.size,
                        path=self.s.store.local_path(loc.digest))

    async def delete(self, req: Request) -> Response:
        await self.s.blobs.delete(req.params["name"], req.params["digest"])
        return Response(202)


def _headers(digest: str) -> dict[str, str]:
    return {"content-type": "application/octet-stream", "docker-content-digest": digest, "accept-ranges": "bytes",
            "etag": f'"{digest}"', "cache-control": "max-age=31536000"}

"""Blob GET/HEAD (with Range) and DELETE."""

from __future__ import annotations

import re

from moorage.core.errors import oci_error
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

    async def get(self, req: Request) -> Response:
        loc = await self.s.blobs.locate(req.params["name"], req.params["digest"])
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

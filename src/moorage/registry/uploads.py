"""Blob uploads: POST (session, monolithic, mount), PATCH, PUT, GET status, DELETE."""

from __future__ import annotations

import re

from moorage.core.errors import oci_error
from moorage.oci.digest import parse_digest
from moorage.oci.uploads import upload_headers
from moorage.registry.access import actor_of
from moorage.registry.services import RegistryServices
from moorage.web.http import Request, Response

_CONTENT_RANGE_RE = re.compile(r"^(?:bytes[ =])?(\d+)-(\d+)(?:/(?:\d+|\*))?$")


def blob_created(name: str, digest: str) -> Response:
    return Response(201, {"location": f"/v2/{name}/blobs/{digest}", "docker-content-digest": digest})


class UploadHandlers:
    def __init__(self, services: RegistryServices) -> None:
        self.s = services

    async def start(self, req: Request) -> Response:
        name = req.params["name"]
        mount = req.query("mount")
        if mount is not None:
            digest = str(parse_digest(mount))
            source = req.query("from")
            # Mounting from a repository the caller cannot pull falls back to a normal upload.
            readable = not source or await self.s.access.may(req.ctx, source, "pull")
            if readable and await self.s.uploads.mount(name, digest, source, actor_of(req, req.ctx)):
                await req.drain()
                return blob_created(name, digest)
        digest_param = req.query("digest")
        if digest_param is not None and mount is None:
            wanted = parse_digest(digest_param)
            await self.s.uploads.monolithic(name, wanted, req.stream(), actor=actor_of(req, req.ctx))
            return blob_created(name, str(wanted))
        await req.drain()
        upload_id = await self.s.uploads.start(name)
        headers = upload_headers(name, upload_id, 0)
        headers["oci-chunk-min-length"] = "0"
        return Response(202, headers)

    async def patch(self, req: Request) -> Response:
        name, upload_id = req.params["name"], req.params["uuid"]
        start = _content_range_start(req)
        size = await self.s.uploads.patch(name, upload_id, req.stream(), start, actor_of(req, req.ctx))
        return Response(202, upload_headers(name, upload_id, size))

    async def finish(self, req: Request) -> Response:
        name, upload_id = req.params["name"], req.params["uuid"]
        digest_param = req.query("digest")
        if not digest_param:
            raise oci_error("DIGEST_INVALID", "the digest query parameter is required to finish an upload")
        digest = parse_digest(digest_param)
        start = _content_range_start(req)
        await self.s.uploads.finish(name, upload_id, digest, req.stream(), start, actor_of(req, req.ctx))
        return blob_created(name, str(digest))

    async def status(self, req: Request) -> Response:
        name, upload_id = req.params["name"], req.params["uuid"]
        size = await self.s.uploads.offset(name, upload_id)
        return Response(204, upload_headers(name, upload_id, size))

    async def cancel(self, req: Request) -> Response:
        await self.s.uploads.cancel(req.params["name"], req.params["uuid"])
        return Response(204)


def _content_range_start(req: Request) -> int | None:
    """First byte of Content-Range (416 when malformed or inconsistent with Content-Length)."""
    raw = req.headers.get("content-range")
    if raw is None:
        return None
    m = _CONTENT_RANGE_RE.match(raw.strip())
    if not m or int(m.group(2)) < int(m.group(1)):
        raise oci_error("BLOB_UPLOAD_INVALID", f"invalid Content-Range {raw!r}", status=416)
    start, end = int(m.group(1)), int(m.group(2))
    length = req.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) != end - start + 1:
        raise oci_error("BLOB_UPLOAD_INVALID",
                        f"Content-Range {raw!r} does not match Content-Length {length}", status=416)
    return start

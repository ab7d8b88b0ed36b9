"""Manifest GET/HEAD (with Accept negotiation), PUT and DELETE.  Pulls from a proxy-cache
project go through the proxy cache (``domain/proxy.py``)."""

from __future__ import annotations

import orjson

from moorage.core.errors import oci_error
from moorage.domain.audit import SYSTEM, Actor
from moorage.domain.proxy import ProxiedManifest
from moorage.oci import mediatypes as mt
from moorage.registry.access import actor_of
from moorage.registry.services import RegistryServices
from moorage.web.http import BodyTooLarge, Request, Response


def accepted_types(header: str | None) -> set[str]:
    if not header:
        return set()
    return {part.split(";")[0].strip() for part in header.split(",") if part.strip()}


def manifest_response(found: ProxiedManifest) -> Response:
    headers = {
        "content-type": found.media_type,
        "docker-content-digest": found.digest,
        "etag": f'"{found.digest}"',
    }
    return Response(200, headers, found.content)


class ManifestHandlers:
    def __init__(self, services: RegistryServices, max_bytes: int) -> None:
        self.s = services
        self.max_bytes = max_bytes

    async def get(self, req: Request) -> Response:
        name, reference = req.params["name"], req.params["reference"]
        found = await self._find(name, reference, req.method == "GET", actor_of(req, req.ctx))
        accept = accepted_types(req.headers.get("accept"))
        if not accept or found.media_type in accept or "*/*" in accept:
            return manifest_response(found)
        if found.media_type in mt.INDEXES and accept & mt.IMAGE_MANIFESTS:
            child = await self._default_child(name, found, accept)
            if child is not None:
                return manifest_response(child)
        raise oci_error(
            "MANIFEST_UNKNOWN",
            f"manifest {reference} is {found.media_type}, which the Accept header does not allow",
            detail={"reference": reference, "mediaType": found.media_type},
        )

    async def _find(self, name: str, reference: str, record_pull: bool, actor: Actor) -> ProxiedManifest:
        proxy = await self.s.proxy.project(name) if self.s.proxy is not None else None
        if proxy is not None and self.s.proxy is not None:
            return await self.s.proxy.manifest(proxy, name, reference, record_pull=record_pull, actor=actor)
        found = await self.s.manifests.get(name, reference, record_pull=record_pull, actor=actor)
        return ProxiedManifest(found.digest, found.media_type, found.content)

    async def _default_child(self, name: str, index: ProxiedManifest, accept: set[str]) -> ProxiedManifest | None:
        """For clients that cannot read an index: the linux/amd64 image, as distribution does."""
        doc = orjson.loads(index.content)
        for desc in doc.get("manifests", []):
            platform = desc.get("platform") or {}
            if platform.get("os") == "linux" and platform.get("architecture") == "amd64":
                child = await self._find(name, desc["digest"], False, SYSTEM)
                return child if child.media_type in accept else None
        return None

    async def put(self, req: Request) -> Response:
        name, reference = req.params["name"], req.params["reference"]
        try:
            body = await req.body(self.max_bytes)
        except BodyTooLarge:
            raise oci_error("MANIFEST_INVALID", f"manifest is larger than {self.max_bytes} bytes",
                            status=413) from None
        result = await self.s.manifests.put(name, reference, body, req.headers.get("content-type"),
                                            actor_of(req, req.ctx))
        headers = {"location": f"/v2/{name}/manifests/{result.digest}", "docker-content-digest": result.digest}
        if result.subject:
            headers["oci-subject"] = result.subject
        return Response(201, headers)

    async def delete(self, req: Request) -> Response:
        await self.s.manifests.delete(req.params["name"], req.params["reference"], actor_of(req, req.ctx))
        return Response(202)

"""Discovery: tags list, catalog and the referrers API, with n/last pagination."""

from __future__ import annotations

from urllib.parse import quote

from moorage.core.errors import oci_error
from moorage.oci import mediatypes as mt
from moorage.registry.services import RegistryServices
from moorage.web.http import Request, Response, json_response

MAX_PAGE = 100_000


def page_size(req: Request) -> int | None:
    raw = req.query("n")
    if raw is None or raw == "":
        return None
    if not raw.isdigit() or int(raw) > MAX_PAGE:
        raise oci_error("PAGINATION_NUMBER_INVALID", f"n must be an integer from 0 to {MAX_PAGE}",
                        detail={"n": raw})
    return int(raw)


def paginate(items: list[str], n: int | None, base: str) -> tuple[list[str], dict[str, str]]:
    """Trim a page fetched with one extra item; add a Link header when more follow."""
    if n is None or len(items) <= n:
        return items, {}
    page = items[:n]
    return page, {"link": f'<{base}?n={n}&last={quote(page[-1])}>; rel="next"'}


class DiscoveryHandlers:
    def __init__(self, services: RegistryServices) -> None:
        self.s = services

    async def tags(self, req: Request) -> Response:
        name = req.params["name"]
        n = page_size(req)
        proxy = await self.s.proxy.project(name) if self.s.proxy is not None else None
        if proxy is not None and self.s.proxy is not None:  # upstream's tags (the cached ones if it fails)
            last = req.query("last")
            every = [t for t in await self.s.proxy.tags(proxy, name) if last is None or t > last]
            if n == 0:
                return json_response({"name": name, "tags": []})
            page, headers = paginate(every[: None if n is None else n + 1], n, f"/v2/{name}/tags/list")
            return json_response({"name": name, "tags": page}, headers=headers)
        if n == 0:
            await self.s.manifests.tags(name, None, 0)  # still 404 for unknown repositories
            return json_response({"name": name, "tags": []})
        items = await self.s.manifests.tags(name, req.query("last"), None if n is None else n + 1)
        page, headers = paginate(items, n, f"/v2/{name}/tags/list")
        return json_response({"name": name, "tags": page}, headers=headers)

    async def catalog(self, req: Request) -> Response:
        n = page_size(req)
        if n == 0:
            return json_response({"repositories": []})
        visible = await self.s.access.visible_projects(req.ctx)
        items = await self.s.manifests.catalog(req.query("last"), None if n is None else n + 1, visible)
        page, headers = paginate(items, n, "/v2/_catalog")
        return json_response({"repositories": page}, headers=headers)

    async def referrers(self, req: Request) -> Response:
        artifact_type = req.query("artifactType")
        manifests = await self.s.manifests.referrers(req.params["name"], req.params["digest"], artifact_type)
        headers = {"oci-filters-applied": "artifactType"} if artifact_type is not None else {}
        body = {"schemaVersion": 2, "mediaType": mt.OCI_INDEX, "manifests": manifests}
        return json_response(body, headers=headers, content_type=mt.OCI_INDEX)

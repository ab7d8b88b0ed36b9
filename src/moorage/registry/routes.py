"""The /v2 route table. Each route declares the action it needs (pull, push, delete,
catalog), so permissions are enforced in one place (see ``app.py``)."""

from __future__ import annotations

from moorage.registry.blobs import BlobHandlers
from moorage.registry.discovery import DiscoveryHandlers
from moorage.registry.manifests import ManifestHandlers
from moorage.registry.services import RegistryServices
from moorage.registry.uploads import UploadHandlers
from moorage.web.http import Request, Response
from moorage.web.routing import Route, route

_NAME = r"(?P<name>[^?#]+?)"
_DIGEST = r"(?P<digest>[^/]+)"


async def base(req: Request) -> Response:
    return Response(200, {"content-type": "application/json"}, b"{}")


def build_routes(services: RegistryServices, max_manifest_bytes: int) -> list[Route]:
    blobs = BlobHandlers(services)
    uploads = UploadHandlers(services)
    manifests = ManifestHandlers(services, max_manifest_bytes)
    discovery = DiscoveryHandlers(services)
    return [
        route("GET|HEAD", r"^/v2/?$", base, None),
        route("GET", r"^/v2/_catalog$", discovery.catalog, "catalog"),
        route("GET|HEAD", rf"^/v2/{_NAME}/tags/list$", discovery.tags, "pull"),
        route("GET|HEAD", rf"^/v2/{_NAME}/manifests/(?P<reference>[^/]+)$", manifests.get, "pull"),
        route("PUT", rf"^/v2/{_NAME}/manifests/(?P<reference>[^/]+)$", manifests.put, "push"),
        route("DELETE", rf"^/v2/{_NAME}/manifests/(?P<reference>[^/]+)$", manifests.delete, "delete"),
        route("POST", rf"^/v2/{_NAME}/blobs/uploads/?$", uploads.start, "push"),
        route("GET", rf"^/v2/{_NAME}/blobs/uploads/(?P<uuid>[^/]+)$", uploads.status, "push"),
        route("PATCH", rf"^/v2/{_NAME}/blobs/uploads/(?P<uuid>[^/]+)$", uploads.patch, "push"),
        route("PUT", rf"^/v2/{_NAME}/blobs/uploads/(?P<uuid>[^/]+)$", uploads.finish, "push"),
        route("DELETE", rf"^/v2/{_NAME}/blobs/uploads/(?P<uuid>[^/]+)$", uploads.cancel, "push"),
        route("GET|HEAD", rf"^/v2/{_NAME}/blobs/{_DIGEST}$", blobs.get, "pull"),
        route("DELETE", rf"^/v2/{_NAME}/blobs/{_DIGEST}$", blobs.delete, "delete"),
        route("GET", rf"^/v2/{_NAME}/referrers/{_DIGEST}$", discovery.referrers, "pull"),
    ]

"""The domain services the /v2 handlers use, injected by the composition root."""

from __future__ import annotations

from dataclasses import dataclass

from moorage.domain.blobs import BlobService
from moorage.domain.manifests import ManifestService
from moorage.domain.proxy import ProxyCache
from moorage.domain.uploads import UploadService
from moorage.registry.access import RegistryAccess
from moorage.storage.blobs import BlobStore


@dataclass(frozen=True, slots=True)
class RegistryServices:
    blobs: BlobService
    uploads: UploadService
    manifests: ManifestService
    store: BlobStore
    access: RegistryAccess
    redirect_blobs: bool = False
    proxy: ProxyCache | None = None  # pull-through cache projects (None in unit tests of the edge)

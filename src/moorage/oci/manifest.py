"""Manifest parsing and structural validation (no storage access).

``parse_manifest`` turns request bytes into a ``ParsedManifest``: which blobs and child
manifests it references, its subject, artifact type and annotations.  Whether those
references exist is checked above, in the domain.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

from moorage.core.errors import oci_error
from moorage.oci import mediatypes as mt
from moorage.oci.digest import parse_digest


@dataclass(frozen=True, slots=True)
class Descriptor:
    media_type: str
    digest: str
    size: int
    platform: dict[str, Any] | None = None
    annotations: dict[str, str] | None = None
    artifact_type: str | None = None
    urls: tuple[str, ...] = ()

    @property
    def is_foreign(self) -> bool:
        """Foreign layers (or layers with URLs) live outside the registry and are not checked."""
        return self.media_type == mt.DOCKER_FOREIGN_LAYER or bool(self.urls)


@dataclass(slots=True)
class ParsedManifest:
    media_type: str
    config: Descriptor | None
    layers: list[Descriptor] = field(default_factory=list)
    children: list[Descriptor] = field(default_factory=list)
    subject: Descriptor | None = None
    artifact_type: str | None = None
    annotations: dict[str, str] | None = None

    @property
    def is_index(self) -> bool:
        return self.media_type in mt.INDEXES

    @property
    def effective_artifact_type(self) -> str | None:
        """artifactType, else the config media type (the referrers API's rule)."""
        if self.artifact_type:
            return self.artifact_type
        return self.config.media_type if self.config else None


def _invalid(message: str, detail: Any = None) -> Exception:
    return oci_error("MANIFEST_INVALID", message, detail=detail)


def _descriptor(raw: Any, where: str) -> Descriptor:
    if not isinstance(raw, dict):
        raise _invalid(f"{where}: descriptor must be an object")
    media_type, digest, size = raw.get("mediaType"), raw.get("digest"), raw.get("size")
    if not isinstance(media_type, str) or not media_type:
        raise _invalid(f"{where}: descriptor mediaType missing")
    if not isinstance(digest, str):
        raise _invalid(f"{where}: descriptor digest missing")
    try:
        parse_digest(digest)
    except Exception as exc:
        raise _invalid(f"{where}: invalid digest {digest!r}") from exc
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise _invalid(f"{where}: descriptor size must be a non-negative integer")
    platform = raw.get("platform")
    if platform is not None and not isinstance(platform, dict):
        raise _invalid(f"{where}: platform must be an object")
    annotations = raw.get("annotations")
    if annotations is not None and not isinstance(annotations, dict):
        raise _invalid(f"{where}: annotations must be an object")
    urls = raw.get("urls") or ()
    if not isinstance(urls, list | tuple):
        raise _invalid(f"{where}: urls must be a list")
    artifact_type = raw.get("artifactType")
    return Descriptor(
        media_type, digest, size, platform, annotations,
        artifact_type if isinstance(artifact_type, str) else None, tuple(str(u) for u in urls),
    )


def parse_manifest(body: bytes, content_type: str | None) -> ParsedManifest:
    """Parse and structurally validate a manifest; raise MANIFEST_INVALID / UNSUPPORTED."""
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise _invalid(f"manifest is not valid JSON: {exc}") from exc
    if not isinstance(doc, dict):
        raise _invalid("manifest must be a JSON object")
    declared = doc.get("mediaType")
    ctype = (content_type or "").split(";")[0].strip() or None
    if ctype in mt.SCHEMA1 or declared in mt.SCHEMA1 or doc.get("schemaVersion") == 1:
        raise oci_error("MANIFEST_INVALID", "Docker schema 1 manifests are not supported; push schema 2 or OCI")
    if doc.get("schemaVersion") != 2:
        raise _invalid("schemaVersion must be 2")
    if declared is not None and not isinstance(declared, str):
        raise _invalid("mediaType must be a string")
    media_type = _media_type(declared, ctype, doc)
    artifact_type = doc.get("artifactType")
    if artifact_type is not None and not isinstance(artifact_type, str):
        raise _invalid("artifactType must be a string")
    annotations = doc.get("annotations")
    if annotations is not None and not isinstance(annotations, dict):
        raise _invalid("annotations must be an object")
    subject = _descriptor(doc["subject"], "subject") if doc.get("subject") is not None else None
    parsed = ParsedManifest(media_type, None, subject=subject, artifact_type=artifact_type,
                            annotations=annotations)
    if media_type in mt.INDEXES:
        children = doc.get("manifests")
        if not isinstance(children, list):
            raise _invalid("index must have a manifests list")
        parsed.children = [_descriptor(c, f"manifests[{i}]") for i, c in enumerate(children)]
    else:
        if "config" not in doc:
            raise _invalid("image manifest must have a config descriptor")
        parsed.config = _descriptor(doc["config"], "config")
        layers = doc.get("layers", [])
        if not isinstance(layers, list):
            raise _invalid("layers must be a list")
        parsed.layers = [_descriptor(x, f"layers[{i}]") for i, x in enumerate(layers)]
        if media_type == mt.DOCKER_MANIFEST and not parsed.layers:
            raise _invalid("a Docker image manifest needs at least one layer")
    return parsed


def _media_type(declared: str | None, ctype: str | None, doc: dict[str, Any]) -> str:
    """Reconcile the body's mediaType with Content-Type (the spec: they must agree)."""
    if declared and ctype and declared != ctype and ctype in mt.MANIFESTS:
        raise _invalid(f"mediaType {declared!r} does not match Content-Type {ctype!r}")
    media_type = declared or (ctype if ctype in mt.MANIFESTS else None)
    if media_type is None:
        # OCI allows omitting mediaType; infer from the shape.
        media_type = mt.OCI_INDEX if "manifests" in doc else mt.OCI_MANIFEST
    if media_type not in mt.MANIFESTS:
        raise _invalid(f"unsupported manifest media type {media_type!r}")
    return media_type

"""The headers that tell a client where a blob upload stands (OCI Distribution Spec)."""

from __future__ import annotations


def upload_headers(repository: str, upload_id: str, size: int) -> dict[str, str]:
    """Location, Range (inclusive, ``0-0`` when empty) and Docker-Upload-UUID of a session."""
    return {
        "location": f"/v2/{repository}/blobs/uploads/{upload_id}",
        "range": f"0-{max(size - 1, 0)}",
        "docker-upload-uuid": upload_id,
    }

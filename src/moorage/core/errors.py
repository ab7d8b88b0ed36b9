"""The one error table: every error code Moorage raises, its HTTP status and default message.

Domain code raises ``MoorageError`` subclasses (or ``MoorageError(code, ...)``); each edge
converts them once into its envelope (OCI ``errors[]`` for ``/v2``).
"""

from __future__ import annotations

from typing import Any

# code -> (HTTP status, default message).  OCI Distribution codes first, then Moorage's.
ERROR_TABLE: dict[str, tuple[int, str]] = {
    "BLOB_UNKNOWN": (404, "blob unknown to registry"),
    "BLOB_UPLOAD_INVALID": (400, "blob upload invalid"),
    "BLOB_UPLOAD_UNKNOWN": (404, "blob upload unknown to registry"),
    "DIGEST_INVALID": (400, "provided digest did not match uploaded content"),
    "MANIFEST_BLOB_UNKNOWN": (400, "manifest references a manifest or blob unknown to registry"),
    "MANIFEST_INVALID": (400, "manifest invalid"),
    "MANIFEST_UNKNOWN": (404, "manifest unknown to registry"),
    "NAME_INVALID": (400, "invalid repository name"),
    "NAME_UNKNOWN": (404, "repository name not known to registry"),
    "SIZE_INVALID": (400, "provided length did not match content length"),
    "TAG_INVALID": (400, "manifest tag did not match URI"),
    "UNAUTHORIZED": (401, "authentication required"),
    "DENIED": (403, "requested access to the resource is denied"),
    "UNSUPPORTED": (405, "the operation is unsupported"),
    "TOOMANYREQUESTS": (429, "too many requests"),
    # Moorage-specific codes (also used by later edges).
    "RANGE_INVALID": (416, "requested range not satisfiable"),
    "PAYLOAD_TOO_LARGE": (413, "payload too large"),
    "PAGINATION_NUMBER_INVALID": (400, "invalid number of results requested"),
    "NOT_FOUND": (404, "resource not found"),
    "CONFLICT": (409, "resource already exists"),
    "BAD_REQUEST": (400, "bad request"),
    "PRECONDITION": (412, "precondition failed"),
    "FORBIDDEN": (403, "forbidden"),
    "UNPROCESSABLE_ENTITY": (422, "the request cannot be processed"),
    "METHOD_NOT_ALLOWED": (405, "method not allowed"),
    "INTERNAL_ERROR": (500, "internal server error"),
}


class MoorageError(Exception):
    """An error with a code from ERROR_TABLE; ``status`` overrides the table when a protocol
    needs a different status for the same code (e.g. 416 BLOB_UPLOAD_INVALID on a gap)."""

    code = "INTERNAL_ERROR"

    def __init__(
        self,
        message: str | None = None,
        *,
        code: str | None = None,
        detail: Any = None,
        status: int | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        if code is not None:
            self.code = code
        if self.code not in ERROR_TABLE:
            raise KeyError(f"unknown error code {self.code}")
        table_status, default_message = ERROR_TABLE[self.code]
        self.message = message or default_message
        self.detail = detail
        self.status = status or table_status
        self.headers = headers or {}
        super().__init__(self.message)


class NotFound(MoorageError):
    code = "NOT_FOUND"


class Conflict(MoorageError):
    code = "CONFLICT"


class BadRequest(MoorageError):
    code = "BAD_REQUEST"


class Unauthorized(MoorageError):
    code = "UNAUTHORIZED"


class Forbidden(MoorageError):
    code = "FORBIDDEN"


class PreconditionFailed(MoorageError):
    code = "PRECONDITION"


def oci_error(code: str, message: str | None = None, detail: Any = None, **kw: Any) -> MoorageError:
    """Build an error for one of the OCI codes (keeps call sites short)."""
    return MoorageError(message, code=code, detail=detail, **kw)

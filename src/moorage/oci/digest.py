"""Digests: parsing, validation and streaming verification (sha256, sha512)."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from moorage.core.errors import oci_error

ALGORITHMS = {"sha256": 64, "sha512": 128}
_DIGEST_RE = re.compile(r"^([a-z0-9]+(?:[+._-][a-z0-9]+)*):([a-zA-Z0-9=_-]+)$")
_HEX_RE = re.compile(r"^[a-f0-9]+$")


@dataclass(frozen=True, slots=True)
class Digest:
    algorithm: str
    hex: str

    def __str__(self) -> str:
        return f"{self.algorithm}:{self.hex}"

    def hasher(self) -> hashlib._Hash:
        return hashlib.new(self.algorithm)


def parse_digest(value: str) -> Digest:
    """Parse ``algo:hex``; raise DIGEST_INVALID for malformed or unsupported digests."""
    m = _DIGEST_RE.match(value or "")
    if not m:
        raise oci_error("DIGEST_INVALID", f"invalid digest {value!r}", detail={"digest": value})
    algorithm, encoded = m.group(1), m.group(2)
    if algorithm not in ALGORITHMS:
        raise oci_error(
            "DIGEST_INVALID", f"unsupported digest algorithm {algorithm!r}", detail={"digest": value}
        )
    if len(encoded) != ALGORITHMS[algorithm] or not _HEX_RE.match(encoded):
        raise oci_error("DIGEST_INVALID", f"invalid {algorithm} digest {value!r}", detail={"digest": value})
    return Digest(algorithm, encoded)


def is_digest(value: str) -> bool:
    """True when ``value`` looks like a digest (has an algorithm separator)."""
    return ":" in value


def digest_of(data: bytes, algorithm: str = "sha256") -> str:
    return f"{algorithm}:{hashlib.new(algorithm, data).hexdigest()}"


EMPTY_JSON = b"{}"
EMPTY_JSON_DIGEST = digest_of(EMPTY_JSON)

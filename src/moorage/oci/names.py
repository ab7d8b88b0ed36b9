"""Repository names and tags as the OCI Distribution Spec defines them."""

from __future__ import annotations

import re

from moorage.core.errors import oci_error

_COMPONENT = r"[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*"
NAME_RE = re.compile(rf"^{_COMPONENT}(?:/{_COMPONENT})*$")
TAG_RE = re.compile(r"^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$")
MAX_NAME_LENGTH = 255


def validate_name(name: str) -> str:
    """Return ``name`` if it is a valid repository name with a project component; else NAME_INVALID."""
    if len(name) > MAX_NAME_LENGTH or not NAME_RE.match(name):
        raise oci_error("NAME_INVALID", f"invalid repository name {name!r}", detail={"name": name})
    if "/" not in name:
        raise oci_error(
            "NAME_INVALID",
            f"repository name {name!r} must start with a project, e.g. library/{name}",
            detail={"name": name},
        )
    return name


def project_of(name: str) -> str:
    """The project component of a repository name."""
    return name.split("/", 1)[0]


def validate_tag(tag: str) -> str:
    if not TAG_RE.match(tag):
        raise oci_error("TAG_INVALID", f"invalid tag {tag!r}", detail={"tag": tag})
    return tag


PROJECT_RE = re.compile(r"^[a-z0-9]+(?:[._-][a-z0-9]+)*$")


def validate_project_name(name: str) -> str:
    """Harbor's project name rule: lower case, digits, '._-' separators, 1..255 chars."""
    if not (1 <= len(name) <= 255) or not PROJECT_RE.match(name):
        raise oci_error(
            "NAME_INVALID",
            f"invalid project name {name!r}: use lower case letters, digits and ._- separators",
            detail={"name": name},
        )
    return name

"""The one permission table: Harbor's role → resource → actions matrix, and the rules that
evaluate a principal against it.  Every edge asks ``allowed(...)``; nothing else decides.

Source: Harbor ``src/common/rbac/project/rbac_role.go`` and ``rbac_util.go`` (see
``harbor-reference.md``).  The system administrator may do everything except
``scanner-pull``; system-level resources are admin-only (or granted to system robots).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any, Literal


class Role(IntEnum):
    PROJECT_ADMIN = 1
    DEVELOPER = 2
    GUEST = 3
    MAINTAINER = 4
    LIMITED_GUEST = 5


ROLE_NAMES = {
    Role.PROJECT_ADMIN: "projectAdmin", Role.DEVELOPER: "developer", Role.GUEST: "guest",
    Role.MAINTAINER: "maintainer", Role.LIMITED_GUEST: "limitedGuest",
}

ACTION_CODES = {
    "C": "create", "R": "read", "U": "update", "D": "delete", "L": "list", "Ps": "push", "Pl": "pull",
    "Op": "operate", "S": "stop",
}

# resource: (projectAdmin, maintainer, developer, guest, limitedGuest, public project)
_MATRIX: dict[str, tuple[str, str, str, str, str, str]] = {
    "project":             ("R,U,D",           "R",               "R",             "R",      "R",      "R"),
    "accessory":           ("L",               "L",               "L",             "L",      "L",      "L"),
    "artifact":            ("C,R,D,L",         "C,R,D,L",         "C,R,L",         "R,L",    "R,L",    "R,L"),
    "artifact-addition":   ("R",               "R",               "R",             "R",      "R",      "R"),
    "artifact-label":      ("C,D",             "C,D",             "C,D",           "",       "",       ""),
    "configuration":       ("R,U",             "R",               "R",             "R",      "R",      ""),
    "export-cve":          ("C,R,L",           "C,R,L",           "C,R,L",         "",       "",       ""),
    "immutable-tag":       ("C,U,D,L",         "C,U,D,L",         "",              "",       "",       ""),
    "label":               ("C,R,U,D,L",       "C,R,U,D,L",       "R,L",           "R,L",    "",       "R,L"),
    "log":                 ("L",               "",                "",              "",       "",       ""),
    "member":              ("C,R,U,D,L",       "R,L",             "R,L",           "R,L",    "",       ""),
    "metadata":            ("C,R,U,D",         "R",               "",              "",       "",       ""),
    "notification-policy": ("C,R,U,D,L",       "R,L",             "",              "",       "",       ""),
    "preheat-policy":      ("C,R,U,D,L",       "",                "",              "",       "",       ""),
    "quota":               ("R",               "R",               "R",             "R",      "R",      ""),
    "repository":          ("C,R,U,D,L,Ps,Pl", "C,R,U,D,L,Ps,Pl", "C,R,U,L,Ps,Pl", "R,L,Pl", "R,L,Pl", "L,Pl"),
    "robot":               ("C,R,U,D,L",       "R,L",             "R,L",           "R,L",    "",       ""),
    "sbom":                ("C,R,S",           "C,R,S",           "R",             "R",      "R",      ""),
    "scan":                ("C,R,S",           "C,R,S",           "R",             "R",      "R",      "R"),
    "scanner":             ("C,R",             "R",               "R",             "R",      "R",      "R"),
    "tag":                 ("C,D,L",           "C,D,L",           "C,L",           "L",      "L",      "L"),
    "tag-retention":       ("C,R,U,D,L,Op",    "C,R,U,D,L,Op",    "C,R,U,D,L,Op",  "",       "",       ""),
}
_COLUMNS: tuple[Role | Literal["public"], ...] = (
    Role.PROJECT_ADMIN, Role.MAINTAINER, Role.DEVELOPER, Role.GUEST, Role.LIMITED_GUEST, "public",
)


def _expand(codes: str) -> frozenset[str]:
    return frozenset(ACTION_CODES[c] for c in codes.split(",") if c)


# (role or "public") -> resource -> actions
PROJECT_POLICIES: dict[Role | Literal["public"], dict[str, frozenset[str]]] = {
    column: {resource: _expand(row[i]) for resource, row in _MATRIX.items() if row[i]}
    for i, column in enumerate(_COLUMNS)
}

# System-level resources (admin only, or a system robot holding them).
SYSTEM_RESOURCES: frozenset[str] = frozenset({
    "audit-log", "catalog", "project", "user", "user-group", "registry", "replication", "replication-policy",
    "replication-adapter", "distribution", "preheat-instance", "garbage-collection", "scan-all", "system-volumes",
    "ldap-user", "configuration", "jobservice-monitor", "security-hub", "purge-audit", "label", "quota", "robot",
    "scanner", "export-cve",
})

# What a robot may be granted (Harbor's PoliciesMap); a robot gets at most what its creator holds.
ROBOT_PROJECT_GRANTABLE: dict[str, frozenset[str]] = {
    "log": _expand("L"), "project": _expand("R,U,D"), "metadata": _expand("C,R,U,D,L"),
    "repository": _expand("R,U,D,L,Pl,Ps"), "artifact": _expand("C,R,L,D"), "scan": _expand("C,R,S"),
    "sbom": _expand("C,R,S"), "tag": _expand("C,L,D"), "accessory": _expand("L"),
    "artifact-addition": _expand("R"), "artifact-label": _expand("C,D"), "scanner": _expand("C,R"),
    "preheat-policy": _expand("C,R,U,D,L"), "immutable-tag": _expand("C,U,D,L"),
    "notification-policy": _expand("C,R,U,D,L"), "tag-retention": _expand("C,R,U,D,L"),
    "label": _expand("C,R,U,D,L"), "quota": _expand("R"), "robot": _expand("C,R,L,D"),
    "export-cve": _expand("C,R"), "member": _expand("C,R,U,D,L"),
}
ROBOT_SYSTEM_GRANTABLE: dict[str, frozenset[str]] = {
    "audit-log": _expand("L"), "preheat-instance": _expand("C,R,U,D,L"), "project": _expand("C,L"),
    "replication-policy": _expand("C,R,U,D,L"), "replication": _expand("C,R,L,S"),
    "replication-adapter": _expand("L"), "registry": _expand("C,R,U,D,L"), "scan-all": _expand("C,R,U,S"),
    "system-volumes": _expand("R"), "garbage-collection": _expand("C,R,U,S,L"), "purge-audit": _expand("C,R,U,S,L"),
    "jobservice-monitor": _expand("L,S"), "scanner": _expand("C,R,U,D,L"), "label": _expand("C,R,U,D"),
    "security-hub": _expand("R,L"), "catalog": _expand("R"), "quota": _expand("R,U"),
    "robot": _expand("C,R,U,D,L"), "user": _expand("C,R,U,D,L"), "user-group": _expand("C,R,U,D,L"),
    "ldap-user": _expand("C,L"), "export-cve": _expand("C,R"), "configuration": _expand("R,U"),
}


@dataclass(frozen=True, slots=True)
class ProjectRef:
    """What permission checks need to know about a project."""

    id: int
    name: str
    public: bool


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is asking: ``anonymous``, a ``user`` or a ``robot`` (``permissions`` in Harbor's format)."""

    kind: Literal["anonymous", "user", "robot"]
    id: int | None = None
    name: str = ""
    sysadmin: bool = False
    permissions: tuple[dict[str, Any], ...] = field(default=())
    robot_project_id: int | None = None

    @property
    def authenticated(self) -> bool:
        return self.kind != "anonymous"


ANONYMOUS = Principal("anonymous")


def role_allows(role: int | None, resource: str, action: str) -> bool:
    if role is None:
        return False
    try:
        return action in PROJECT_POLICIES[Role(role)].get(resource, frozenset())
    except ValueError:
        return False


def _robot_grants(principal: Principal, kind: str, namespace: str, resource: str, action: str) -> bool:
    for perm in principal.permissions:
        if perm.get("kind") != kind or perm.get("namespace") not in (namespace, "*"):
            continue
        for access in perm.get("access") or ():
            if access.get("effect", "allow") == "deny":
                continue
            if access.get("resource") in (resource, "*") and access.get("action") in (action, "*"):
                return True
    return False


def allowed(principal: Principal, resource: str, action: str, project: ProjectRef | None = None,
            role: int | None = None) -> bool:
    """May ``principal`` do ``action`` on ``resource``?  Project-scoped when ``project`` is given
    (``role`` is the principal's member role there, None for a non-member); system-scoped otherwise."""
    if action == "scanner-pull":
        return principal.kind == "robot" and project is not None and _robot_grants(
            principal, "project", project.name, resource, action)
    if principal.sysadmin:
        return True
    if project is None:
        return principal.kind == "robot" and _robot_grants(principal, "system", "/", resource, action)
    if project.public and action in PROJECT_POLICIES["public"].get(resource, frozenset()):
        return True
    if principal.kind == "user":
        return role_allows(role, resource, action)
    if principal.kind == "robot":
        return _robot_grants(principal, "project", project.name, resource, action)
    return False


def project_actions(role: int | None, public: bool) -> dict[str, frozenset[str]]:
    """Everything a member with ``role`` may do in a project (``/users/current/permissions``)."""
    out: dict[str, set[str]] = {}
    sources = [PROJECT_POLICIES[Role(role)]] if role in set(Role) else []
    if public:
        sources.append(PROJECT_POLICIES["public"])
    for policy in sources:
        for resource, actions in policy.items():
            out.setdefault(resource, set()).update(actions)
    return {k: frozenset(v) for k, v in out.items()}

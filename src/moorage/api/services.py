"""What the ``/api/v2.0`` edge (and ``/service/token``, ``/c/*``) is given by the composition root."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from moorage.auth.context import Authenticator
from moorage.auth.tokens import TokenService
from moorage.config import Settings
from moorage.domain.audit import AuditService
from moorage.domain.configuration import ConfigService
from moorage.domain.projects import ProjectService


@dataclass
class ApiServices:
    settings: Settings
    authenticator: Authenticator
    tokens: TokenService
    config: ConfigService
    audit: AuditService
    projects: ProjectService
    users: Any = None  # domain.users.UserService
    members: Any = None  # domain.members.MemberService
    robots: Any = None  # domain.robots.RobotService
    repositories: Any = None  # domain.repositories.RepositoryService
    health: Any = None  # async () -> dict[str, str]: component -> "healthy" | "unhealthy"

"""What the portal edge is given by the composition root: the domain services it calls."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from moorage.auth.context import Authenticator
from moorage.config import Settings
from moorage.db.engine import Database
from moorage.domain.audit import AuditService
from moorage.domain.auditpurge import AuditPurgeService
from moorage.domain.blobs import BlobService
from moorage.domain.configuration import ConfigService
from moorage.domain.executions import ExecutionService
from moorage.domain.gc import GcService
from moorage.domain.immutability import ImmutabilityService
from moorage.domain.labels import LabelService
from moorage.domain.manifests import ManifestService
from moorage.domain.members import MemberService
from moorage.domain.projects import ProjectService
from moorage.domain.quotas import QuotaService
from moorage.domain.registries import RegistryService
from moorage.domain.replication import ReplicationService
from moorage.domain.repositories import RepositoryService
from moorage.domain.retention import RetentionService
from moorage.domain.robots import RobotService
from moorage.domain.schedules import ScheduleService
from moorage.domain.users import UserService
from moorage.domain.webhooks import WebhookService


@dataclass
class PortalServices:
    settings: Settings
    db: Database  # for domain functions that take it (statistics, visibility); no SQL here
    authenticator: Authenticator
    config: ConfigService
    audit: AuditService
    projects: ProjectService
    users: UserService
    members: MemberService
    robots: RobotService
    repositories: RepositoryService
    manifests: ManifestService
    blobs: BlobService
    quotas: QuotaService
    labels: LabelService
    auditpurge: AuditPurgeService
    executions: ExecutionService
    schedules: ScheduleService
    webhooks: WebhookService
    immutability: ImmutabilityService
    retention: RetentionService
    gc: GcService
    registries: RegistryService
    replication: ReplicationService
    health: Callable[[], Awaitable[dict[str, str]]]

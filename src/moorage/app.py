"""Composition root: ``create_app(settings)`` builds the engine, storage and services,
injects them into the edges, and returns one ASGI application.  Only the CLI and the
tests import this module."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
from dataclasses import dataclass, field
from typing import Any

import structlog
from sqlalchemy import text

from moorage.api.app import ApiApp, build_api
from moorage.api.services import ApiServices
from moorage.auth.context import Authenticator
from moorage.auth.passwords import Passwords
from moorage.auth.tokens import TokenService
from moorage.config import Settings
from moorage.core.logging import configure_logging
from moorage.db.engine import Database
from moorage.db.migrate import upgrade
from moorage.domain.audit import AuditService
from moorage.domain.auditpurge import AuditPurgeService
from moorage.domain.blobs import BlobService
from moorage.domain.configuration import ConfigService
from moorage.domain.copier import ArtifactCopier
from moorage.domain.events import EventLog
from moorage.domain.executions import ExecutionService
from moorage.domain.gc import GarbageCollector, GcService
from moorage.domain.immutability import ImmutabilityService
from moorage.domain.labels import LabelService
from moorage.domain.manifests import ManifestService
from moorage.domain.members import MemberService
from moorage.domain.outbound import OutboundGuard
from moorage.domain.projects import ProjectService
from moorage.domain.proxy import ProxyCache
from moorage.domain.pulls import PullRecorder
from moorage.domain.quotas import QuotaService
from moorage.domain.registries import RegistryService
from moorage.domain.replication import ReplicationService
from moorage.domain.repositories import RepositoryService
from moorage.domain.retention import RetentionService
from moorage.domain.robots import RobotService
from moorage.domain.schedules import ScheduleService
from moorage.domain.secrets import SecretBox, load_key
from moorage.domain.uploads import UploadService
from moorage.domain.users import UserService
from moorage.domain.webhook_payloads import registry_host
from moorage.domain.webhooks import WebhookService
from moorage.jobs.service import JobService
from moorage.jobs.tasks.auditpurge import purge_audit_job
from moorage.jobs.tasks.gc import gc_job
from moorage.jobs.tasks.replication import replication_jobs
from moorage.jobs.tasks.retention import retention_plan_job, retention_repository_job
from moorage.jobs.tasks.webhook import webhook_job
from moorage.portal.app import PortalApp, build_portal
from moorage.portal.services import PortalServices
from moorage.registry.access import AccessSettings, RegistryAccess
from moorage.registry.app import RegistryApp
from moorage.registry.routes import build_routes
from moorage.registry.services import RegistryServices
from moorage.storage.blobs import BlobStore
from moorage.storage.driver import BlobDriver, PathNotFound
from moorage.storage.hashing import Hashers
from moorage.web.http import Receive, Scope, Send

log = structlog.get_logger(__name__)


def create_driver(settings: Settings) -> BlobDriver:
    if settings.storage.driver == "s3":
        from moorage.storage.s3 import S3BlobDriver

        s3 = settings.storage.s3
        return S3BlobDriver(
            bucket=s3.bucket, region=s3.region, endpoint_url=s3.endpoint_url, access_key=s3.access_key,
            secret_key=s3.secret_key, root_directory=s3.root_directory, chunk_size=s3.chunk_size,
            presign=s3.redirect,
        )
    from moorage.storage.filesystem import FilesystemBlobDriver

    return FilesystemBlobDriver(str(settings.storage_root))


@dataclass
class Components:
    """Everything one process holds, built once by ``build_components``."""

    settings: Settings
    db: Database
    driver: BlobDriver
    store: BlobStore
    projects: ProjectService
    uploads: UploadService
    manifests: ManifestService
    blobs: BlobService
    pulls: PullRecorder
    passwords: Passwords
    authenticator: Authenticator
    tokens: TokenService
    audit: AuditService
    config: ConfigService
    users: UserService
    members: MemberService
    robots: RobotService
    repositories: RepositoryService
    quotas: QuotaService
    labels: LabelService
    events: EventLog
    executions: ExecutionService
    schedules: ScheduleService
    jobs: JobService
    webhooks: WebhookService
    auditpurge: AuditPurgeService
    immutability: ImmutabilityService
    retention: RetentionService
    gc: GcService
    collector: GarbageCollector
    registries: RegistryService
    replication: ReplicationService
    proxy: ProxyCache
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    async def db_ready(self) -> None:
        """Migrate the schema, create the default public project and ``admin``, load the token
        signing keys (all idempotent)."""
        await upgrade(self.db)
        await self.projects.ensure(self.settings.registry.default_project, public=True)
        await self.users.ensure_admin(self.settings.admin_password, self.settings.data_dir)
        await self.tokens.load()

    async def health(self) -> dict[str, str]:
        """Each component's state for ``/api/v2.0/health``: the database answers a query and
        the blob storage answers a stat."""
        out: dict[str, str] = {}
        try:
            async with self.db.read() as conn:
                await conn.execute(text("SELECT 1"))
            out["database"] = "healthy"
        except Exception:
            log.warning("health_database_failed", exc_info=True)
            out["database"] = "unhealthy"
        try:
            with contextlib.suppress(PathNotFound):  # an answer either way means the store is up
                await self.driver.stat("_health/probe")
            out["storage"] = "healthy"
        except Exception:
            log.warning("health_storage_failed", exc_info=True)
            out["storage"] = "unhealthy"
        out["core"] = "healthy"
        return out

    async def start(self) -> None:
        """Make the database ready, start the job service and the periodic maintenance loops."""
        await self.db_ready()
        jobs = self.settings.jobs
        await self.jobs.start(run_tasks=jobs.backend == "local" and jobs.run_in_server)
        reg = self.settings.registry
        self.tasks.append(asyncio.create_task(self._every(reg.pull_stats_flush_seconds, self.pulls.flush)))
        self.tasks.append(asyncio.create_task(
            self._every(reg.upload_purge_interval_seconds, lambda: self.uploads.purge_expired(reg.upload_expiry_hours))
        ))

    async def start_worker(self) -> None:
        """A ``moorage worker`` process: the schema must be current; run tasks, tick."""
        await upgrade(self.db)
        await self.jobs.start(run_tasks=True)

    async def stop_worker(self) -> None:
        await self.jobs.stop()
        await self.close()

    async def stop(self) -> None:
        for task in self.tasks:
            task.cancel()
        for task in self.tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.pulls.flush()
        await self.proxy.close()
        await self.jobs.stop()
        await self.close()

    async def close(self) -> None:
        await self.driver.close()
        await self.db.dispose()

    @staticmethod
    async def _every(seconds: float, work: Any) -> None:
        while True:
            await asyncio.sleep(seconds)
            try:
                await work()
            except Exception:
                log.exception("maintenance_failed", work=getattr(work, "__qualname__", str(work)))


def register_jobs(c: Components) -> None:
    """Every job the job service can run, and every subscriber of the event outbox."""
    c.jobs.add(webhook_job(c.webhooks, c.settings.outbound, c.settings.webhook))
    c.jobs.add(purge_audit_job(c.auditpurge))
    c.jobs.add(gc_job(c.collector))
    c.jobs.add(retention_plan_job(c.retention))
    c.jobs.add(retention_repository_job(c.retention))
    for spec in replication_jobs(c.replication):
        c.jobs.add(spec)
    c.jobs.subscribe(c.webhooks.on_event)
    c.jobs.subscribe(c.replication.on_event)


def build_components(settings: Settings) -> Components:
    db = Database(settings.database_url, settings.database.pool_size, settings.database.echo)
    driver = create_driver(settings)
    store = BlobStore(driver, Hashers())
    audit = AuditService(db)
    projects = ProjectService(db, audit)
    events = EventLog()
    pulls = PullRecorder(db, audit, events)
    passwords = Passwords()
    config = ConfigService(db, settings.auth, audit, settings.quota)
    quotas = QuotaService(db, config, events, audit, settings.quota.warning_percent)
    immutability = ImmutabilityService(db, audit)
    manifests = ManifestService(db, store, projects, pulls, settings.registry.max_manifest_bytes, audit, events,
                                quotas, immutability, blob_window_hours=settings.gc.blob_time_window_hours)
    executions = ExecutionService(db)
    uploads = UploadService(db, store, projects, quotas)
    repositories = RepositoryService(db, audit, manifests, projects, events, quotas)
    guard = OutboundGuard(settings.outbound.allowed_networks)
    box = SecretBox(load_key(settings.secrets.key, settings.secret_key_file))
    registries = RegistryService(db, box, guard, settings.outbound, settings.replication, audit)
    blobs = BlobService(db, store)
    copier = ArtifactCopier(settings.replication, db, store, uploads, manifests, blobs, projects)
    components = Components(
        settings=settings, db=db, driver=driver, store=store, projects=projects,
        uploads=uploads, manifests=manifests,
        blobs=blobs, pulls=pulls, passwords=passwords,
        authenticator=Authenticator(db, passwords, settings.auth),
        tokens=TokenService(db, settings.auth.token_issuer), audit=audit,
        config=config, users=UserService(db, passwords, audit), members=MemberService(db, audit),
        robots=RobotService(db, passwords, config, audit, projects),
        repositories=repositories, events=events, immutability=immutability,
        retention=RetentionService(db, audit, events, executions, ScheduleService(db), repositories, immutability),
        quotas=quotas,
        labels=LabelService(db), auditpurge=AuditPurgeService(db, executions, ScheduleService(db)),
        executions=executions, schedules=ScheduleService(db),
        jobs=JobService(settings.jobs, db, executions, events),
        gc=GcService(executions, ScheduleService(db), settings.gc),
        collector=GarbageCollector(db, store, uploads, settings.gc, settings.registry.upload_expiry_hours),
        webhooks=WebhookService(db, executions, config, guard, audit, registry_host(settings)),
        registries=registries,
        replication=ReplicationService(db, registries, executions, ScheduleService(db), events, audit,
                                       copier, settings.replication),
        proxy=ProxyCache(db, registries, store, uploads, settings.proxy, manifests, blobs),
    )
    register_jobs(components)
    return components


class MoorageApp:
    """The ASGI entry point: lifespan plus dispatch by path prefix to the edges."""

    def __init__(self, components: Components) -> None:
        self.components = components
        auth = components.settings.auth
        access = RegistryAccess(components.authenticator, components.tokens,
                                AccessSettings(auth.token_service, auth.external_url))
        services = RegistryServices(
            blobs=components.blobs, uploads=components.uploads, manifests=components.manifests,
            store=components.store, access=access, redirect_blobs=components.settings.storage.s3.redirect,
            proxy=components.proxy,
        )
        self.registry = RegistryApp(build_routes(services, components.settings.registry.max_manifest_bytes), access,
                                    components.proxy)
        self.api = ApiApp(build_api(ApiServices(
            settings=components.settings, authenticator=components.authenticator, tokens=components.tokens,
            config=components.config, audit=components.audit, projects=components.projects,
            users=components.users, members=components.members, robots=components.robots,
            repositories=components.repositories, health=components.health, quotas=components.quotas,
            executions=components.executions, schedules=components.schedules,
            labels=components.labels, webhooks=components.webhooks, auditpurge=components.auditpurge,
            immutability=components.immutability, retention=components.retention, gc=components.gc,
            registries=components.registries, replication=components.replication,
        )))
        self.portal = PortalApp(build_portal(PortalServices(
            settings=components.settings, db=components.db, authenticator=components.authenticator,
            config=components.config, audit=components.audit, projects=components.projects,
            users=components.users, members=components.members, robots=components.robots,
            repositories=components.repositories, manifests=components.manifests, blobs=components.blobs,
            quotas=components.quotas, labels=components.labels, auditpurge=components.auditpurge,
            executions=components.executions, schedules=components.schedules, webhooks=components.webhooks,
            immutability=components.immutability, retention=components.retention, gc=components.gc,
            registries=components.registries, replication=components.replication, health=components.health,
        )))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            path = scope["path"]
            if path.startswith("/v2"):
                await self.registry(scope, receive, send)
            elif path.startswith(("/api/", "/service/", "/c/", "/devcenter-api-2.0")):
                await self.api(scope, receive, send)
            else:
                await self.portal(scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan(receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self.components.start()
                except Exception as exc:
                    log.exception("startup_failed")
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.components.stop()
                await send({"type": "lifespan.shutdown.complete"})
                return


M_MMAP_THRESHOLD = -3


def tune_malloc() -> None:
    """Serve blocks of 4 MiB and more straight from mmap, so they go back to the system when
    freed.  glibc's default raises this threshold after the first large free, after which an
    argon2 hash (19 MiB) or a 16 MiB S3 part stays in the heap for good: +19 MiB of RSS per
    sign-in thread, measured.  Smaller, frequent blocks (1 MiB reads) are unaffected."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").mallopt(M_MMAP_THRESHOLD, 4 * 1024 * 1024)


def create_app(settings: Settings) -> MoorageApp:
    tune_malloc()
    configure_logging(settings.log.level, settings.log.format)
    return MoorageApp(build_components(settings))

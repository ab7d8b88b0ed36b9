"""Registry endpoints: remote registries (Moorage/Harbor, distribution, any OCI registry) that
replication policies and proxy-cache projects talk to.

Credentials are encrypted at rest with the installation's key (``SecretBox``) and never leave
this module in clear except inside an ``Endpoint`` handed to a ``RemoteRegistry``.  Every URL
passes the SSRF guard when it is configured (a clear 400) and again on every request the client
makes.  An endpoint's health (``healthy``/``unhealthy`` and why) is refreshed by a ping and,
at most every ``STATUS_TTL`` seconds, when it is read.
"""

from __future__ import annotations

import asyncio
import ssl
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import structlog

from moorage.config.settings import OutboundSettings, ReplicationSettings
from moorage.core.errors import BadRequest, Conflict, NotFound, PreconditionFailed
from moorage.db.base import utcnow
from moorage.db.engine import Database
from moorage.domain.audit import Actor, AuditEntry, AuditService
from moorage.domain.outbound import OutboundGuard
from moorage.domain.remote import Endpoint, RemoteError, RemoteRegistry
from moorage.domain.secrets import SecretBox, SecretUnreadable
from moorage.metadata.queries import registries as q
from moorage.metadata.queries.registries import RegistryRow, RegistryValues

log = structlog.get_logger(__name__)

TYPES = ("docker-registry", "harbor", "oci")  # the adapters, as /replication/adapters lists them
CREDENTIAL_TYPES = ("basic", "oauth")  # oauth: access_secret is a bearer token sent as-is
HEALTHY, UNHEALTHY, UNKNOWN = "healthy", "unhealthy", "unknown"
MASK = "*****"  # what responses show instead of a secret; an update sending it keeps the secret
STATUS_TTL = timedelta(seconds=30)  # a read re-checks health when the last check is older
PING_TIMEOUT = 10.0  # seconds a health check may take (a read waits for it)
REFRESH_CONCURRENCY = 10  # health checks a list runs at once
MAX_ID = 2**31 - 1
TRIGGERS = ("manual", "scheduled")  # what a remote source supports (event-based needs local events)
FILTERS: tuple[dict[str, Any], ...] = (
    {"type": "name", "style": "input"},
    {"type": "tag", "style": "input"},
    {"type": "resource", "style": "radio", "values": ["image", "artifact"]},
)


@dataclass(frozen=True, slots=True)
class RegistryRecord:
    """An endpoint as callers see it: the secret is never included, only whether there is one."""

    id: int
    name: str
    description: str
    type: str
    url: str
    insecure: bool
    ca_bundle: str | None
    credential_type: str
    access_key: str
    has_secret: bool
    status: str
    status_message: str
    checked_at: datetime | None
    creation_time: datetime
    update_time: datetime


@dataclass(frozen=True, slots=True)
class RegistryInput:
    """An endpoint as the API sends it (``None``: not given; ``access_secret`` ``MASK``: keep)."""

    name: str | None = None
    description: str | None = None
    type: str | None = None
    url: str | None = None
    insecure: bool | None = None
    ca_bundle: str | None = None
    credential_type: str | None = None
    access_key: str | None = None
    access_secret: str | None = None


@dataclass(frozen=True, slots=True)
class RegistryInfo:
    """What replication can do with an endpoint of this type (Harbor's ``RegistryInfo``)."""

    type: str
    description: str
    supported_resource_filters: list[dict[str, Any]]
    supported_triggers: list[str]
    supported_copy_by_chunk: bool


def _record(row: RegistryRow) -> RegistryRecord:
    return RegistryRecord(row.id, row.name, row.description, row.type, row.url, row.insecure, row.ca_bundle,
                          row.credential_type, row.access_key, bool(row.access_secret), row.status,
                          row.status_message, row.checked_at, row.creation_time, row.update_time)


def normalize_url(raw: str) -> str:
    """Harbor's rule: trimmed, no trailing slash, ``http://`` when no scheme is given; only http(s),
    no credentials, query or fragment in it.  BadRequest otherwise."""
    url = raw.strip().rstrip("/")
    if not url:
        raise BadRequest("the registry needs a url")
    if "://" not in url:
        url = "http://" + url
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError as exc:
        raise BadRequest(f"invalid registry url {raw!r}: {exc}") from None
    if parts.scheme.lower() not in ("http", "https"):
        raise BadRequest(f"invalid registry url {raw!r}: the scheme must be http or https")
    if not parts.hostname:
        raise BadRequest(f"invalid registry url {raw!r}: no host")
    if parts.username is not None or parts.password is not None:
        raise BadRequest("the registry url must not contain credentials: use access_key and access_secret")
    if parts.query or parts.fragment:
        raise BadRequest(f"invalid registry url {raw!r}: no query or fragment allowed")
    return url


def check_ca_bundle(pem: str | None) -> str | None:
    """The bundle (None when empty); BadRequest unless it is PEM holding at least one certificate."""
    if pem is None or not pem.strip():
        return None
    try:
        ssl.create_default_context().load_verify_locations(cadata=pem)
    except (ssl.SSLError, ValueError) as exc:
        raise BadRequest(f"ca_certificate is not a PEM certificate bundle: {exc}") from None
    return pem


def _choice(value: str, allowed: tuple[str, ...], what: str) -> str:
    if value not in allowed:
        raise BadRequest(f"unknown {what} {value!r}: must be one of {', '.join(allowed)}")
    return value


class RegistryService:
    def __init__(self, db: Database, box: SecretBox, guard: OutboundGuard, outbound: OutboundSettings,
                 replication: ReplicationSettings, audit: AuditService) -> None:
        self.db = db
        self.box = box
        self.guard = guard
        self.outbound = outbound
        self.settings = replication
        self.audit = audit

    # Validation -------------------------------------------------------------------------------------

    async def _values(self, body: RegistryInput, current: RegistryRow | None) -> RegistryValues:
        """Merge ``body`` over ``current`` and check the result (a new URL with the SSRF guard)."""
        def given(new: Any, field: str, default: Any) -> Any:
            if new is not None:
                return new
            return getattr(current, field) if current is not None else default

        name = str(given(body.name, "name", "")).strip()
        if not name:
            raise BadRequest("the registry needs a name")
        if len(name) > 255:
            raise BadRequest("the registry name is longer than 255 characters")
        kind = str(given(body.type, "type", "")).strip()
        if not kind:
            raise BadRequest(f"the registry needs a type: one of {', '.join(TYPES)}")
        _choice(kind, TYPES, "registry type")
        url = normalize_url(str(given(body.url, "url", "")))
        if current is None or url != current.url:  # every request checks it again anyway
            await self.guard.resolve(url)
        credential_type = _choice(str(given(body.credential_type, "credential_type", "")) or "basic",
                                  CREDENTIAL_TYPES, "credential type")
        if body.access_secret is None or (current is not None and body.access_secret == MASK):
            secret = current.access_secret if current is not None else ""
        else:
            secret = self.box.encrypt(body.access_secret)
        ca_bundle = check_ca_bundle(body.ca_bundle) if body.ca_bundle is not None else given(None, "ca_bundle", None)
        return RegistryValues(
            name=name, description=str(given(body.description, "description", "")), type=kind, url=url,
            insecure=bool(given(body.insecure, "insecure", False)), ca_bundle=ca_bundle,
            credential_type=credential_type, access_key=str(given(body.access_key, "access_key", "")),
            access_secret=secret)

    # Reads ------------------------------------------------------------------------------------------

    async def _row(self, registry_id: int) -> RegistryRow:
        found = None
        if 0 < registry_id <= MAX_ID:
            async with self.db.read() as conn:
                found = await q.find_registry(conn, registry_id)
        if found is None:
            raise NotFound(f"registry {registry_id} not found")
        return found

    async def get(self, registry_id: int, *, refresh: bool = False) -> RegistryRecord:
        """The endpoint (its health re-checked first when ``refresh`` and the last check is stale); NotFound."""
        row = await self._row(registry_id)
        if refresh:
            row = (await self._refresh([row]))[0]
        return _record(row)

    async def page(self, offset: int, limit: int, *, name: str | None = None, name_fuzzy: bool = False,
                   kind: str | None = None, sort: list[tuple[str, bool]] | None = None, refresh: bool = False
                   ) -> tuple[list[RegistryRecord], int]:
        async with self.db.read() as conn:
            total = await q.count_registries(conn, name=name, name_fuzzy=name_fuzzy, kind=kind)
            rows = await q.list_registries(conn, offset, limit, name=name, name_fuzzy=name_fuzzy, kind=kind,
                                           sort=sort) if total > offset else []
        if refresh:
            rows = await self._refresh(rows)
        return [_record(r) for r in rows], total

    async def info(self, registry_id: int) -> RegistryInfo:
        row = await self._row(registry_id)
        return RegistryInfo(row.type, row.description, [dict(f) for f in FILTERS], list(TRIGGERS), True)

    async def in_use(self, registry_id: int) -> list[str]:
        """Why the endpoint cannot be deleted: the replication policies and proxy-cache projects using it."""
        async with self.db.read() as conn:
            policies = await q.list_policy_names_using(conn, registry_id)
            projects = await q.list_proxy_project_names_using(conn, registry_id)
        return [f"replication policy {p!r}" for p in policies] + [f"proxy-cache project {p!r}" for p in projects]

    async def usage(self, registry_id: int) -> tuple[list[str], list[str]]:
        """The names of the replication policies and of the proxy-cache projects using the
        endpoint (what the portal lists, in its own words, when it refuses a delete)."""
        async with self.db.read() as conn:
            return (await q.list_policy_names_using(conn, registry_id),
                    await q.list_proxy_project_names_using(conn, registry_id))

    # Changes ----------------------------------------------------------------------------------------

    async def create(self, body: RegistryInput, actor: Actor) -> int:
        """BadRequest for a bad field or a URL the guard refuses; Conflict for a duplicate name."""
        values = await self._values(body, None)
        async with self.db.write() as uow:
            registry_id = await q.create_registry(uow.conn, values)
            if registry_id is None:
                raise Conflict(f"a registry named {values.name!r} already exists")
            await self.audit.record(uow.conn, actor, AuditEntry(
                "create", "registry", values.name, None,
                f"created {values.type} registry {values.name} ({values.url})"))
        return registry_id

    async def update(self, registry_id: int, body: RegistryInput, actor: Actor) -> None:
        """Like create; a secret not given (or given as ``*****``) is kept; NotFound."""
        current = await self._row(registry_id)
        values = await self._values(body, current)
        reachable = (values.type, values.url, values.insecure, values.ca_bundle, values.credential_type,
                     values.access_key, values.access_secret)
        before = (current.type, current.url, current.insecure, current.ca_bundle, current.credential_type,
                  current.access_key, current.access_secret)
        async with self.db.write() as uow:
            other = await q.find_registry_id_by_name(uow.conn, values.name)
            if (other is not None and other != registry_id) or not await q.update_registry(
                    uow.conn, registry_id, values, reset_status=reachable != before):
                raise Conflict(f"a registry named {values.name!r} already exists")
            await self.audit.record(uow.conn, actor, AuditEntry(
                "update", "registry", values.name, None, f"updated registry {values.name}"))

    async def delete(self, registry_id: int, actor: Actor) -> None:
        """PreconditionFailed while a replication policy or a proxy-cache project uses it; NotFound."""
        current = await self._row(registry_id)
        users = await self.in_use(registry_id)
        if users:
            raise PreconditionFailed(f"registry {current.name} is in use by {', '.join(users)}: "
                                     "change or delete them first")
        async with self.db.write() as uow:
            deleted = await q.delete_registry(uow.conn, registry_id)
            if deleted is None:  # a policy started using it since the check
                raise PreconditionFailed(f"registry {current.name} is in use by a replication policy")
            if not deleted:
                raise NotFound(f"registry {registry_id} not found")
            await self.audit.record(uow.conn, actor, AuditEntry(
                "delete", "registry", current.name, None, f"deleted registry {current.name}"))

    # Reaching the endpoint --------------------------------------------------------------------------

    def _endpoint(self, row: RegistryRow) -> Endpoint:
        try:
            password = self.box.decrypt(row.access_secret)
        except SecretUnreadable as exc:
            raise PreconditionFailed(f"the credentials of registry {row.name} cannot be read: {exc}") from None
        return Endpoint(url=row.url, type=row.type, username=row.access_key, password=password,
                        credential_type=row.credential_type, insecure=row.insecure, ca_bundle=row.ca_bundle)

    async def endpoint(self, registry_id: int) -> Endpoint:
        """How to reach the endpoint (credentials decrypted); NotFound; PreconditionFailed when the
        stored secret does not decrypt with this installation's key."""
        return self._endpoint(await self._row(registry_id))

    def client(self, endpoint: Endpoint, *, speed_kib: int = 0, max_connections: int = 10,
               timeout: float | None = None, rate_limit_wait: float = 0.0) -> RemoteRegistry:
        """A client for ``endpoint`` going through the SSRF guard, with the replication settings'
        timeout and page size (close it, or use it as an ``async with``)."""
        return RemoteRegistry(endpoint, self.guard, timeout=timeout or self.settings.request_timeout_seconds,
                              speed_kib=max(speed_kib, 0), max_connections=max_connections,
                              page_size=self.settings.page_size, rate_limit_wait=rate_limit_wait)

    async def check(self, endpoint: Endpoint) -> str | None:
        """Ping the endpoint: None when it answers and accepts the credentials, else why not."""
        try:
            async with self.client(endpoint, timeout=min(PING_TIMEOUT, self.settings.request_timeout_seconds)
                                   ) as remote:
                await remote.ping()
        except RemoteError as exc:
            return exc.message or type(exc).__name__
        return None

    async def _check_row(self, row: RegistryRow) -> str | None:
        try:
            endpoint = self._endpoint(row)
        except PreconditionFailed as exc:
            return exc.message
        return await self.check(endpoint)

    async def _store_status(self, rows: list[tuple[RegistryRow, str | None]]) -> list[RegistryRow]:
        now = utcnow()
        async with self.db.write() as uow:
            for row, problem in rows:
                await q.set_status(uow.conn, row.id, HEALTHY if problem is None else UNHEALTHY, problem or "", now)
        for row, problem in rows:
            if problem is not None and row.status != UNHEALTHY:
                log.warning("registry_unhealthy", registry=row.name, reason=problem)
        return [replace(row, status=HEALTHY if problem is None else UNHEALTHY, status_message=problem or "",
                        checked_at=now) for row, problem in rows]

    async def _refresh(self, rows: list[RegistryRow]) -> list[RegistryRow]:
        """``rows`` with the stale ones' health re-checked (concurrently) and stored."""
        limit = utcnow() - STATUS_TTL
        stale = [r for r in rows if r.checked_at is None or r.checked_at < limit]
        if not stale:
            return rows
        gate = asyncio.Semaphore(REFRESH_CONCURRENCY)

        async def checked(row: RegistryRow) -> str | None:
            async with gate:
                return await self._check_row(row)

        problems = await asyncio.gather(*(checked(r) for r in stale))
        fresh = {r.id: r for r in await self._store_status(list(zip(stale, problems, strict=True)))}
        return [fresh.get(r.id, r) for r in rows]

    @staticmethod
    def _override(base: Endpoint, body: RegistryInput, stored: bool) -> Endpoint:
        """``base`` with the fields ``body`` gives (a secret ``*****`` keeps a ``stored`` one)."""
        keep_secret = body.access_secret is None or (stored and body.access_secret == MASK)
        credential_type = base.credential_type
        if body.credential_type is not None:
            credential_type = _choice(body.credential_type or "basic", CREDENTIAL_TYPES, "credential type")
        return Endpoint(
            url=normalize_url(body.url) if body.url is not None else base.url,
            type=_choice(body.type, TYPES, "registry type") if body.type else base.type,
            username=body.access_key if body.access_key is not None else base.username,
            password=base.password if keep_secret else str(body.access_secret), credential_type=credential_type,
            insecure=body.insecure if body.insecure is not None else base.insecure,
            ca_bundle=check_ca_bundle(body.ca_bundle) if body.ca_bundle is not None else base.ca_bundle)

    async def ping(self, registry_id: int | None, body: RegistryInput) -> None:
        """Check a stored endpoint (``registry_id``; fields in ``body`` override its own, a secret
        ``*****`` keeps the stored one) or an unsaved one (``body`` alone).  A stored endpoint
        pinged as stored gets its health recorded.  BadRequest with the reason when it is
        unreachable, refused by the guard, or refuses the credentials (or its stored secret no
        longer decrypts); NotFound."""
        row = await self._row(registry_id) if registry_id is not None else None
        base = Endpoint(url="", type="oci")
        if row is not None:
            try:
                base = self._endpoint(row)
            except PreconditionFailed as exc:
                if body.access_secret is None or body.access_secret == MASK:
                    await self._store_status([(row, exc.message)])
                    raise BadRequest(f"registry {row.url} is unhealthy: {exc.message}") from None
                base = Endpoint(url=row.url, type=row.type, username=row.access_key,
                                credential_type=row.credential_type, insecure=row.insecure, ca_bundle=row.ca_bundle)
        endpoint = self._override(base, body, row is not None)
        if not endpoint.url:
            raise BadRequest("give the id of a registry or its url")
        await self.guard.resolve(endpoint.url)
        problem = await self.check(endpoint)
        if row is not None and endpoint == base:
            await self._store_status([(row, problem)])
        if problem is not None:
            raise BadRequest(f"registry {endpoint.url} is unhealthy: {problem}")

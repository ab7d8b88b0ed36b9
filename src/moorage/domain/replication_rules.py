"""The pure rules of replication policies, in Harbor's terms: validating a policy body
(exactly one remote side, filters, trigger, destination namespace), selecting source
artifacts with the filters (name/tag doublestar ``matches``/``excludes``, labels, resource
type), Harbor's destination-namespace rule with ``dest_namespace_replace_count``, the status
and trigger names the API shows, and the REPLICATION event payload of a finished run.  No I/O:
the service and the jobs build on these."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from moorage.core.errors import BadRequest
from moorage.domain.executions import ERROR, EVENT, MANUAL, PENDING, RUNNING, SCHEDULE, STOPPED, SUCCESS
from moorage.domain.schedules import cron_for
from moorage.domain.selectors import EXCLUDES, MATCHES, MAX_PATTERN, doublestar_match
from moorage.metadata.models.replication import RegistryEndpoint, ReplicationPolicy
from moorage.oci import mediatypes as mt
from moorage.oci.names import NAME_RE

TRIGGER_MANUAL, TRIGGER_SCHEDULED, TRIGGER_EVENT = "manual", "scheduled", "event_based"
TRIGGER_TYPES = (TRIGGER_MANUAL, TRIGGER_SCHEDULED, TRIGGER_EVENT)
FILTER_NAME, FILTER_TAG, FILTER_LABEL, FILTER_RESOURCE = "name", "tag", "label", "resource"
FILTER_TYPES = (FILTER_NAME, FILTER_TAG, FILTER_LABEL, FILTER_RESOURCE)
RESOURCE_IMAGE, RESOURCE_ARTIFACT = "image", "artifact"
MAX_NAME = 255
IMAGE_CONFIGS = frozenset({"application/vnd.oci.image.config.v1+json",
                           "application/vnd.docker.container.image.v1+json"})

# Job-service names -> Harbor's replication names.
EXECUTION_STATUS = {PENDING: "InProgress", RUNNING: "InProgress", SUCCESS: "Succeed", ERROR: "Failed",
                    STOPPED: "Stopped"}
TASK_STATUS = {PENDING: "Pending", RUNNING: "InProgress", SUCCESS: "Succeed", ERROR: "Failed", STOPPED: "Stopped"}
TRIGGER_OF_KIND = {MANUAL: TRIGGER_MANUAL, SCHEDULE: TRIGGER_SCHEDULED, EVENT: TRIGGER_EVENT}
KIND_OF_TRIGGER = {v: k for k, v in TRIGGER_OF_KIND.items()}


def statuses_named(harbor_status: str, table: Mapping[str, str]) -> list[str]:
    """The job-service statuses a Harbor status name stands for (BadRequest when unknown)."""
    found = [ours for ours, theirs in table.items() if theirs.lower() == harbor_status.lower()]
    if not found:
        raise BadRequest(f"unknown status {harbor_status!r}: use one of {', '.join(sorted(set(table.values())))}")
    return found


@dataclass(frozen=True, slots=True)
class Filter:
    type: str
    value: str | tuple[str, ...]
    decoration: str = MATCHES

    def to_json(self) -> dict[str, Any]:
        value = list(self.value) if isinstance(self.value, tuple) else self.value
        out: dict[str, Any] = {"type": self.type, "value": value}
        if self.type in (FILTER_NAME, FILTER_TAG, FILTER_LABEL):
            out["decoration"] = self.decoration
        return out


@dataclass(frozen=True, slots=True)
class Candidate:
    """What the filters judge: one artifact (``tags`` empty when untagged)."""

    repository: str
    tags: tuple[str, ...] = ()
    labels: tuple[str, ...] = ()
    media_type: str = ""
    artifact_type: str | None = None


@dataclass(frozen=True, slots=True)
class Filters:
    items: tuple[Filter, ...] = ()

    def _get(self, kind: str) -> Filter | None:
        return next((f for f in self.items if f.type == kind), None)

    def select_repository(self, repository: str) -> bool:
        """Whether the name filter keeps the repository (full name, project included)."""
        f = self._get(FILTER_NAME)
        if f is None:
            return True
        matched = doublestar_match(str(f.value), repository)
        return matched if f.decoration == MATCHES else not matched

    def select_tags(self, tags: Sequence[str]) -> list[str] | None:
        """The tags to replicate; None when the artifact is not selected (with a tag filter an
        untagged artifact never is, as in Harbor)."""
        f = self._get(FILTER_TAG)
        if f is None:
            return list(tags)
        kept = [t for t in tags if doublestar_match(str(f.value), t) == (f.decoration == MATCHES)]
        return kept or None

    def select_labels(self, labels: Sequence[str]) -> bool:
        f = self._get(FILTER_LABEL)
        if f is None:
            return True
        wanted = set(f.value)
        if f.decoration == MATCHES:
            return wanted <= set(labels)
        return not wanted & set(labels)

    def select_resource(self, media_type: str, artifact_type: str | None) -> bool:
        f = self._get(FILTER_RESOURCE)
        return f is None or f.value == RESOURCE_ARTIFACT or is_image(media_type, artifact_type)

    def select(self, candidate: Candidate) -> list[str] | None:
        """The tags to replicate of a selected artifact (maybe empty: untagged), or None."""
        if not (self.select_repository(candidate.repository)
                and self.select_labels(candidate.labels)
                and self.select_resource(candidate.media_type, candidate.artifact_type)):
            return None
        return self.select_tags(candidate.tags)

    def has(self, kind: str) -> bool:
        return self._get(kind) is not None

    def to_json(self) -> list[dict[str, Any]]:
        return [f.to_json() for f in self.items]


def is_image(media_type: str, artifact_type: str | None) -> bool:
    """Harbor's resource type "image": container images and image indexes (not charts, SBOMs...)."""
    if media_type in mt.INDEXES:
        return True
    if not artifact_type:  # type unknown (e.g. listed remotely without its config): an image manifest
        return media_type in mt.IMAGE_MANIFESTS
    return artifact_type.upper() == "IMAGE" or artifact_type in IMAGE_CONFIGS


def parse_filters(raw: Any) -> Filters:
    """Validate Harbor's filter array; BadRequest naming the faulty filter."""
    if raw is None:
        return Filters()
    if not isinstance(raw, list):
        raise BadRequest("filters must be an array")
    seen: set[str] = set()
    items = []
    for i, f in enumerate(raw):
        where = f"filter {i + 1}"
        if not isinstance(f, Mapping):
            raise BadRequest(f"{where}: must be an object with type, value and decoration")
        kind = f.get("type")
        if kind not in FILTER_TYPES:
            raise BadRequest(f"{where}: unknown type {kind!r}: use one of {', '.join(FILTER_TYPES)}")
        if kind in seen:
            raise BadRequest(f"{where}: only one {kind} filter is allowed")
        seen.add(kind)
        decoration = f.get("decoration") or MATCHES
        if decoration not in (MATCHES, EXCLUDES):
            raise BadRequest(f"{where}: decoration must be {MATCHES!r} or {EXCLUDES!r}, not {decoration!r}")
        value = f.get("value")
        if kind == FILTER_LABEL:
            if not isinstance(value, list) or not value or not all(isinstance(v, str) and v for v in value):
                raise BadRequest(f"{where}: a label filter's value is a non-empty array of label names")
            items.append(Filter(kind, tuple(value), decoration))
        elif kind == FILTER_RESOURCE:
            if value not in (RESOURCE_IMAGE, RESOURCE_ARTIFACT):
                raise BadRequest(f"{where}: a resource filter's value is {RESOURCE_IMAGE!r} or {RESOURCE_ARTIFACT!r}")
            items.append(Filter(kind, str(value)))
        else:
            if not isinstance(value, str) or not value.strip() or len(value) > MAX_PATTERN:
                raise BadRequest(f"{where}: a {kind} filter's value is a doublestar pattern "
                                 f"(1 to {MAX_PATTERN} characters)")
            items.append(Filter(kind, value.strip(), decoration))
    return Filters(tuple(items))


def destination_repository(repository: str, namespace: str, replace_count: int) -> str:
    """Harbor's rule: with namespace ``n``, ``a/b/c/img`` becomes ``n/img`` (-1, legacy: flatten
    all), ``n/a/b/c/img`` (0), ``n/b/c/img`` (1), ``n/c/img`` (2), ``n/img`` (3); a count larger
    than the path components before the last one is an error.  No namespace: unchanged."""
    if not namespace:
        return repository
    parts = repository.split("/")
    if replace_count < 0:
        return f"{namespace}/{parts[-1]}"
    if replace_count > len(parts) - 1:
        raise BadRequest(f"the repository {repository!r} has only {len(parts) - 1} path component(s) before its "
                         f"name: it cannot have {replace_count} replaced by the destination namespace")
    return "/".join([namespace, *parts[replace_count:]])


def resource_string(repository: str, tags: Sequence[str], digest: str) -> str:
    """Harbor's ``src_resource``/``dst_resource``: ``repo:[t1,t2]``, or ``repo@digest`` untagged."""
    return f"{repository}:[{','.join(tags)}]" if tags else f"{repository}@{digest}"


@dataclass(frozen=True, slots=True)
class PolicyInput:
    """A validated policy body (registry ids still to be checked for existence)."""

    name: str
    description: str
    src_registry_id: int | None
    dest_registry_id: int | None
    dest_namespace: str
    dest_namespace_replace_count: int
    trigger: dict[str, Any]
    filters: Filters
    replicate_deletion: bool
    override: bool
    enabled: bool
    speed: int
    copy_by_chunk: bool
    single_active_replication: bool
    extra: dict[str, Any] = field(default_factory=dict)

    def values(self) -> dict[str, Any]:
        """The ``replication_policies`` column values."""
        return {"name": self.name, "description": self.description, "src_registry_id": self.src_registry_id,
                "dest_registry_id": self.dest_registry_id, "dest_namespace": self.dest_namespace,
                "dest_namespace_replace_count": self.dest_namespace_replace_count, "trigger": self.trigger,
                "filters": self.filters.to_json(), "replicate_deletion": self.replicate_deletion,
                "override": self.override, "enabled": self.enabled, "speed": self.speed,
                "copy_by_chunk": self.copy_by_chunk, "single_active_replication": self.single_active_replication}


def _registry_id(raw: Any, which: str) -> int | None:
    """``{"id": n}`` -> n; absent, null or id 0 (Harbor's "Local") -> None."""
    if raw is None:
        return None
    if not isinstance(raw, Mapping):
        raise BadRequest(f"{which} must be an object with the registry's id")
    value = raw.get("id")
    if value in (None, 0):
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise BadRequest(f"{which}.id must be a registry id")
    return value


def _flag(body: Mapping[str, Any], key: str, default: bool) -> bool:
    value = body.get(key)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise BadRequest(f"{key} must be a boolean")
    return value


def _int(body: Mapping[str, Any], key: str, default: int) -> int:
    value = body.get(key)
    if value is None:
        return default
    if not isinstance(value, int) or isinstance(value, bool):
        raise BadRequest(f"{key} must be an integer")
    return value


def parse_trigger(raw: Any) -> dict[str, Any]:
    if raw is None:
        return {"type": TRIGGER_MANUAL, "trigger_settings": {"cron": ""}}
    if not isinstance(raw, Mapping):
        raise BadRequest("trigger must be an object with type and trigger_settings")
    kind = raw.get("type") or TRIGGER_MANUAL
    if kind not in TRIGGER_TYPES:
        raise BadRequest(f"unknown trigger type {kind!r}: use one of {', '.join(TRIGGER_TYPES)}")
    cron = str((raw.get("trigger_settings") or {}).get("cron") or "").strip()
    if kind == TRIGGER_SCHEDULED:
        if not cron:
            raise BadRequest("a scheduled trigger needs trigger_settings.cron (six fields, seconds first)")
        cron_for("Custom", cron)
    return {"type": kind, "trigger_settings": {"cron": cron if kind == TRIGGER_SCHEDULED else ""}}


def parse_policy(body: Mapping[str, Any]) -> PolicyInput:
    """Validate a ReplicationPolicy body; BadRequest saying what is wrong."""
    name = body.get("name")
    if not isinstance(name, str) or not name.strip() or len(name) > MAX_NAME:
        raise BadRequest(f"name is required (1 to {MAX_NAME} characters)")
    src = _registry_id(body.get("src_registry"), "src_registry")
    dest = _registry_id(body.get("dest_registry"), "dest_registry")
    if (src is None) == (dest is None):
        raise BadRequest("exactly one of src_registry (pull-based) and dest_registry (push-based) must name a "
                         "remote registry; the other side is this registry")
    namespace = body.get("dest_namespace") or ""
    if not isinstance(namespace, str):
        raise BadRequest("dest_namespace must be a string")
    namespace = namespace.strip("/")
    if namespace and (len(namespace) > MAX_NAME or not NAME_RE.match(namespace)):
        raise BadRequest(f"invalid dest_namespace {namespace!r}: it must be a valid repository path")
    replace_count = _int(body, "dest_namespace_replace_count", -1)
    if replace_count < -1:
        raise BadRequest("dest_namespace_replace_count must be -1 (flatten all levels) or more")
    trigger = parse_trigger(body.get("trigger"))
    if src is not None and trigger["type"] == TRIGGER_EVENT:
        raise BadRequest("an event_based trigger needs a push-based policy (events are about local artifacts)")
    filters = parse_filters(body.get("filters"))
    if src is not None and filters.has(FILTER_LABEL):
        raise BadRequest("a label filter needs a push-based policy (labels belong to local artifacts)")
    description = body.get("description") or ""
    if not isinstance(description, str):
        raise BadRequest("description must be a string")
    deletion = body.get("replicate_deletion")
    return PolicyInput(
        name=name.strip(), description=description, src_registry_id=src, dest_registry_id=dest,
        dest_namespace=namespace, dest_namespace_replace_count=replace_count, trigger=trigger, filters=filters,
        replicate_deletion=_flag(body, "replicate_deletion" if deletion is not None else "deletion", False),
        override=_flag(body, "override", True), enabled=_flag(body, "enabled", True),
        speed=_int(body, "speed", -1), copy_by_chunk=_flag(body, "copy_by_chunk", False),
        single_active_replication=_flag(body, "single_active_replication", False))


def replication_event_data(policy: ReplicationPolicy, trigger: str, started: float, status: str,
                      registry: RegistryEndpoint | None, project: str,
                      tasks: list[tuple[dict[str, Any], str]]) -> dict[str, Any]:
    """Harbor's ``event_data.replication`` of a finished run, for one local project."""
    remote = {"registry_name": registry.name if registry else "", "registry_type": registry.type if registry else "",
              "endpoint": registry.url if registry else "", "namespace": ""}
    local = {"registry_name": "Local", "registry_type": "harbor", "endpoint": "", "namespace": project}
    push = policy.dest_registry_id is not None

    def artifacts(wanted: str) -> list[dict[str, Any]]:
        return [{"type": str(p.get("resource_type") or "artifact"), "status": "Success" if wanted == SUCCESS
                 else "Failed", "name_tag": resource_string(str(p.get("src_repo") or ""), list(p.get("tags") or []),
                                                            str(p.get("digest") or ""))}
                for p, outcome in tasks if (outcome == SUCCESS) == (wanted == SUCCESS)]

    return {"harbor_hostname": "", "job_status": status, "artifact_type": "image",
            "authentication_type": registry.credential_type if registry else "",
            "override_mode": policy.override, "trigger_type": trigger, "policy_creator": policy.creator,
            "execution_timestamp": int(started),
            "src_resource": local if push else remote, "dest_resource": remote if push else local,
            "successful_artifact": artifacts(SUCCESS), "failed_artifact": artifacts(ERROR)}


"""What a webhook delivers: Harbor's Default payload built from an outbox event, and its
CloudEvents and Slack renderings.  Pure functions of the event and repository facts."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from moorage.config.settings import Settings
from moorage.domain import events as ev
from moorage.metadata.queries.webhooks import RepositoryInfo

DEFAULT_FORMAT, CLOUDEVENTS_FORMAT = "Default", "CloudEvents"
JSON_TYPE, CLOUDEVENTS_TYPE = "application/json", "application/cloudevents+json"

# Harbor's CloudEvents ``type`` per event type (pkg/notifier/formats/cloudevents.go).
CLOUDEVENT_TYPES = {
    ev.DELETE_ARTIFACT: "harbor.artifact.deleted", ev.PULL_ARTIFACT: "harbor.artifact.pulled",
    ev.PUSH_ARTIFACT: "harbor.artifact.pushed", ev.QUOTA_EXCEED: "harbor.quota.exceeded",
    ev.QUOTA_WARNING: "harbor.quota.warned", ev.REPLICATION: "harbor.replication.status.changed",
    ev.TAG_RETENTION: "harbor.tag_retention.finished",
}
ARTIFACT_EVENTS = (ev.PUSH_ARTIFACT, ev.PULL_ARTIFACT, ev.DELETE_ARTIFACT)
QUOTA_EVENTS = (ev.QUOTA_EXCEED, ev.QUOTA_WARNING)


def registry_host(settings: Settings) -> str:
    """The host:port in ``resource_url``: the external URL's, else the configured listener's."""
    external = settings.auth.external_url
    if external:
        netloc = urlsplit(external if "//" in external else f"//{external}").netloc
        if netloc:
            return netloc
    return f"{settings.http.host}:{settings.http.port}"


def _repository(repository: str, info: RepositoryInfo | None) -> dict[str, Any]:
    namespace, _, name = repository.partition("/")
    out: dict[str, Any] = {}
    if info is not None and info.created_at is not None:
        out["date_created"] = int(info.created_at.timestamp())
    out.update({"name": name, "namespace": info.project_name if info else namespace, "repo_full_name": repository,
                "repo_type": "public" if info is not None and info.public else "private"})
    return out


def _reference_url(host: str, repository: str, reference: str) -> str:
    separator = "@" if ":" in reference else ":"  # a digest (tags never contain ':')
    return f"{host}/{repository}{separator}{reference}"


def _retention(data: dict[str, Any], host: str, info: RepositoryInfo | None) -> dict[str, Any]:
    deleted = []
    for item in data.get("deleted") or []:
        repository = str(item.get("repository") or "")
        name = repository.partition("/")[2] or repository
        tags = [str(t) for t in item.get("tags") or []]
        reference = f"{name}:{tags[0]}" if tags else f"{name}@{item.get('digest', '')}"
        deleted.append({"type": str(item.get("kind") or "image"), "status": "SUCCESS", "name_tag": reference})
    out: dict[str, Any] = {"total": int(data.get("total") or 0), "retained": int(data.get("retained") or 0),
                           "harbor_hostname": host.split(":", 1)[0]}
    if info is not None:
        out["project_name"] = info.project_name
    if data.get("policy_id"):
        out["retention_policy_id"] = int(data["policy_id"])
    out["result"] = str(data.get("status") or "SUCCESS")
    if deleted:
        out["deleted_artifact"] = deleted
    return out


def event_data(event: ev.EventRecord, info: RepositoryInfo | None, host: str) -> dict[str, Any]:
    """Harbor's ``event_data`` for an outbox event."""
    data = event.data
    repository = str(data.get("repository") or "")
    if event.event_type in ARTIFACT_EVENTS or event.event_type in QUOTA_EVENTS:
        out: dict[str, Any] = {}
        digest = str(data.get("digest") or "")
        reference = str(data.get("tag") or "") or digest
        if event.event_type in ARTIFACT_EVENTS:
            out["resources"] = [{"digest": digest, "tag": reference,
                                 "resource_url": _reference_url(host, repository, reference)}]
        elif digest or data.get("tag"):
            out["resources"] = [{"digest": digest, "tag": str(data.get("tag") or "")}]
        if repository:
            out["repository"] = _repository(repository, info)
        if event.event_type in QUOTA_EVENTS:
            out["custom_attributes"] = {"Details": str(data.get("message") or "")}
        return out
    if event.event_type == ev.TAG_RETENTION:
        return {"retention": _retention(data, host, info)}
    if event.event_type == ev.REPLICATION:
        return {"replication": data.get("replication", data)}
    return dict(data)


def default_payload(event: ev.EventRecord, info: RepositoryInfo | None, host: str) -> dict[str, Any]:
    """Harbor's Default format: ``{type, occur_at, operator, event_data}``."""
    return {"type": event.event_type, "occur_at": int(event.occur_at.timestamp()), "operator": event.operator,
            "event_data": event_data(event, info, host)}


def cloudevent(payload: dict[str, Any], project_id: int, policy_id: int) -> dict[str, Any]:
    """The Default payload as a structured-mode CloudEvent (spec 1.0), as Harbor sends it:
    the operator is an extension attribute, ``data`` is the event data."""
    occur = datetime.fromtimestamp(int(payload["occur_at"]), UTC)
    return {
        "specversion": "1.0", "id": str(uuid.uuid4()), "source": f"/projects/{project_id}/webhook/policies/{policy_id}",
        "type": CLOUDEVENT_TYPES.get(str(payload["type"]), f"harbor.{str(payload['type']).lower()}"),
        "datacontenttype": JSON_TYPE, "time": occur.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "operator": payload["operator"], "data": payload["event_data"],
    }


def _summary(payload: dict[str, Any]) -> list[str]:
    data = payload.get("event_data") or {}
    lines = [f"• `{r.get('resource_url') or r.get('digest')}`" for r in data.get("resources") or []]
    if (custom := data.get("custom_attributes")) and custom.get("Details"):
        lines.append(str(custom["Details"]))
    if retention := data.get("retention"):
        lines.append(f"retained {retention.get('retained', 0)} of {retention.get('total', 0)}")
        lines += [f"• deleted `{a.get('name_tag')}`" for a in retention.get("deleted_artifact") or []]
    return lines


def slack_message(payload: dict[str, Any]) -> dict[str, Any]:
    """A Slack incoming-webhook message: a text fallback and blocks naming the event, when, who
    and the resources, with the event data itself as a code block (as Harbor does)."""
    repository = ((payload.get("event_data") or {}).get("repository") or {}).get("repo_full_name")
    title = f"Harbor webhook event {payload['type']}" + (f" in {repository}" if repository else "")
    lines = _summary(payload)
    text = "\n".join([title, *lines])
    details = json.dumps(payload.get("event_data") or {}, indent=1, sort_keys=True)
    return {"text": text, "blocks": [
        {"type": "section", "text": {"type": "mrkdwn", "text": f"*{title}*"}},
        {"type": "section", "text": {"type": "mrkdwn", "text": (
            f"*event_type:* {payload['type']}\n"
            f"*occur_at:* <!date^{payload['occur_at']}^{{date}} at {{time}}|{payload['occur_at']}>\n"
            f"*operator:* {payload['operator']}" + ("\n" + "\n".join(lines) if lines else ""))}},
        {"type": "section", "text": {"type": "mrkdwn", "text": f"```{details[:2900]}```"}},
    ]}


def render(payload: dict[str, Any], notify_type: str, payload_format: str, project_id: int, policy_id: int
           ) -> tuple[str, dict[str, Any]]:
    """(content type, body) of one delivery to one target."""
    if notify_type == "slack":
        return JSON_TYPE, slack_message(payload)
    if payload_format == CLOUDEVENTS_FORMAT:
        return CLOUDEVENTS_TYPE, cloudevent(payload, project_id, policy_id)
    return JSON_TYPE, payload

"""Webhook payloads: Harbor's Default format per event type, CloudEvents and Slack renderings."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from moorage.config.settings import Settings
from moorage.domain import events as ev
from moorage.domain.webhook_payloads import (
    CLOUDEVENTS_TYPE,
    JSON_TYPE,
    default_payload,
    registry_host,
    render,
)
from moorage.metadata.queries.webhooks import RepositoryInfo

AT = datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)
DIGEST = "sha256:" + "a" * 64
INFO = RepositoryInfo("proj", False, datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC))


def event(event_type: str, **data: object) -> ev.EventRecord:
    return ev.EventRecord(7, event_type, 3, "alice", dict(data), AT)


def test_push_default_payload() -> None:
    e = event(ev.PUSH_ARTIFACT, repository="proj/app/web", digest=DIGEST, tag="v1", media_type="x", size=1)
    assert default_payload(e, INFO, "reg.example.com") == {
        "type": "PUSH_ARTIFACT", "occur_at": int(AT.timestamp()), "operator": "alice",
        "event_data": {
            "resources": [{"digest": DIGEST, "tag": "v1", "resource_url": "reg.example.com/proj/app/web:v1"}],
            "repository": {"date_created": int(INFO.created_at.timestamp()),  # type: ignore[union-attr]
                           "name": "app/web", "namespace": "proj", "repo_full_name": "proj/app/web",
                           "repo_type": "private"},
        },
    }


def test_untagged_and_deleted_artifacts_use_the_digest() -> None:
    e = event(ev.DELETE_ARTIFACT, repository="proj/app", digest=DIGEST, tag=None)
    data = default_payload(e, RepositoryInfo("proj", True, None), "h:5000")["event_data"]
    assert data["resources"] == [{"digest": DIGEST, "tag": DIGEST, "resource_url": f"h:5000/proj/app@{DIGEST}"}]
    assert data["repository"] == {"name": "app", "namespace": "proj", "repo_full_name": "proj/app",
                                  "repo_type": "public"}


def test_quota_events_carry_details() -> None:
    e = event(ev.QUOTA_EXCEED, repository="proj/app", digest=DIGEST, used=10, hard=5, message="quota exceeded")
    data = default_payload(e, INFO, "h")["event_data"]
    assert data["custom_attributes"] == {"Details": "quota exceeded"}
    assert data["resources"] == [{"digest": DIGEST, "tag": ""}]
    assert data["repository"]["repo_full_name"] == "proj/app"
    assert "resources" not in default_payload(event(ev.QUOTA_WARNING, repository="proj/app", digest="",
                                                     message="m"), INFO, "h")["event_data"]


def test_retention_payload() -> None:
    e = event(ev.TAG_RETENTION, execution_id=4, retained=1, total=3, deleted=[
        {"repository": "proj/app", "digest": DIGEST, "tags": ["old"]},
        {"repository": "proj/app", "digest": DIGEST, "tags": []}])
    retention = default_payload(e, INFO, "reg.example.com:443")["event_data"]["retention"]
    assert retention == {
        "total": 3, "retained": 1, "harbor_hostname": "reg.example.com", "project_name": "proj", "result": "SUCCESS",
        "deleted_artifact": [{"type": "image", "status": "SUCCESS", "name_tag": "app:old"},
                             {"type": "image", "status": "SUCCESS", "name_tag": f"app@{DIGEST}"}]}


def test_replication_payload_passes_through() -> None:
    e = event(ev.REPLICATION, replication={"job_status": "Success"})
    assert default_payload(e, None, "h")["event_data"] == {"replication": {"job_status": "Success"}}


def test_cloudevents_rendering() -> None:
    payload = default_payload(event(ev.PULL_ARTIFACT, repository="proj/app", digest=DIGEST, tag="v1"), INFO, "h")
    content_type, body = render(payload, "http", "CloudEvents", 3, 9)
    assert content_type == CLOUDEVENTS_TYPE
    assert body["specversion"] == "1.0" and body["type"] == "harbor.artifact.pulled"
    assert body["source"] == "/projects/3/webhook/policies/9" and body["time"] == "2024-05-06T07:08:09Z"
    assert body["datacontenttype"] == "application/json" and body["operator"] == "alice"
    assert body["data"] == payload["event_data"] and len(body["id"]) == 36
    assert render(payload, "http", "CloudEvents", 3, 9)[1]["id"] != body["id"]
    for event_type, ce_type in [(ev.QUOTA_EXCEED, "harbor.quota.exceeded"), (ev.QUOTA_WARNING, "harbor.quota.warned"),
                                (ev.TAG_RETENTION, "harbor.tag_retention.finished")]:
        assert render({**payload, "type": event_type}, "http", "CloudEvents", 1, 1)[1]["type"] == ce_type


def test_default_and_slack_rendering() -> None:
    payload = default_payload(event(ev.PUSH_ARTIFACT, repository="proj/app", digest=DIGEST, tag="v1"), INFO, "h")
    assert render(payload, "http", "Default", 3, 9) == (JSON_TYPE, payload)
    content_type, slack = render(payload, "slack", "Default", 3, 9)
    assert content_type == JSON_TYPE
    assert "PUSH_ARTIFACT" in slack["text"] and "h/proj/app:v1" in slack["text"]
    assert slack["blocks"][0]["type"] == "section"
    assert json.loads(slack["blocks"][-1]["text"]["text"].strip("`")) == payload["event_data"]


def test_registry_host() -> None:
    assert registry_host(Settings(auth={"external_url": "https://reg.example.com"})) == "reg.example.com"
    assert registry_host(Settings(auth={"external_url": "https://reg.example.com:8443/x"})) == "reg.example.com:8443"
    assert registry_host(Settings(http={"host": "10.0.0.5", "port": 5001})) == "10.0.0.5:5001"

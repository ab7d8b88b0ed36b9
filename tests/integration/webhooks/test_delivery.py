"""Webhook delivery end to end: pushes, pulls and deletes through ``/v2`` reach a real HTTP
receiver in Harbor's Default, CloudEvents and Slack formats; failures are retried and logged
per attempt; disabled policies and ``notification_enable=false`` deliver nothing; the
delivery history (executions, tasks, logs) and ``lasttrigger`` show what happened."""

from __future__ import annotations

import time
from datetime import datetime

import httpx

from tests.common.oci import push_image
from tests.integration.webhooks.conftest import (
    Project,
    Receiver,
    create_policy,
    policy_body,
    wait_for,
)


def executions(api: httpx.Client, project: Project, policy_id: int) -> list[dict[str, object]]:
    r = api.get(f"{project.policies}/{policy_id}/executions")
    assert r.status_code == 200, r.text
    return list(r.json())


def finished(api: httpx.Client, project: Project, policy_id: int, count: int = 1) -> list[dict[str, object]]:
    """The policy's executions once ``count`` of them have finished."""
    def check() -> list[dict[str, object]] | None:
        rows = executions(api, project, policy_id)
        done = [e for e in rows if e["status"] in ("Success", "Error", "Stopped")]
        return rows if len(done) >= count else None
    result: list[dict[str, object]] = wait_for(check)
    return result


def test_push_delivers_default_payload_with_auth_header(api: httpx.Client, registry: httpx.Client,
                                                        project: Project, receiver: Receiver) -> None:
    policy_id = create_policy(api, project, policy_body(receiver.url, auth_header="Bearer t0ken"))
    before = int(time.time())
    digest = push_image(registry, f"{project.name}/app", "v1")
    delivery = receiver.wait(1)[0]
    assert delivery.method == "POST" and delivery.path == "/hook"
    assert delivery.headers["authorization"] == "Bearer t0ken"
    assert delivery.headers["content-type"] == "application/json"
    payload = delivery.json()
    host = registry.base_url.netloc.decode()
    assert payload["type"] == "PUSH_ARTIFACT" and payload["operator"] == "admin"
    assert before - 1 <= payload["occur_at"] <= time.time() + 1
    assert payload["event_data"]["resources"] == [
        {"digest": digest, "tag": "v1", "resource_url": f"{host}/{project.name}/app:v1"}]
    repository = payload["event_data"]["repository"]
    assert {k: v for k, v in repository.items() if k != "date_created"} == {
        "name": "app", "namespace": project.name, "repo_full_name": f"{project.name}/app", "repo_type": "private"}
    assert before - 1 <= repository["date_created"] <= time.time() + 1

    [execution] = finished(api, project, policy_id)
    assert execution["vendor_type"] == "WEBHOOK" and execution["vendor_id"] == policy_id
    assert execution["trigger"] == "EVENT" and execution["status"] == "Success"
    assert execution["extra_attrs"]["event_type"] == "PUSH_ARTIFACT"  # type: ignore[index]
    assert execution["metrics"]["success_task_count"] == 1  # type: ignore[index]
    time.sleep(1)
    assert len(receiver.deliveries) == 1  # delivered once


def test_cloudevents_format(api: httpx.Client, registry: httpx.Client, project: Project, receiver: Receiver) -> None:
    policy_id = create_policy(api, project, policy_body(receiver.url, payload_format="CloudEvents"))
    digest = push_image(registry, f"{project.name}/app", "v2")
    delivery = receiver.wait(1)[0]
    assert delivery.headers["content-type"] == "application/cloudevents+json"
    assert "authorization" not in delivery.headers
    event = delivery.json()
    assert event["specversion"] == "1.0" and event["type"] == "harbor.artifact.pushed"
    assert event["source"] == f"/projects/{project.id}/webhook/policies/{policy_id}"
    assert event["datacontenttype"] == "application/json" and event["operator"] == "admin"
    assert len(event["id"]) == 36 and datetime.fromisoformat(event["time"].replace("Z", "+00:00"))
    assert event["data"]["resources"][0]["digest"] == digest
    assert event["data"]["repository"]["repo_full_name"] == f"{project.name}/app"


def test_slack_target(api: httpx.Client, registry: httpx.Client, project: Project, receiver: Receiver) -> None:
    body = policy_body(receiver.url)
    body["targets"] = [{"type": "slack", "address": receiver.url}]
    create_policy(api, project, body)
    push_image(registry, f"{project.name}/app", "v3")
    message = receiver.wait(1)[0].json()
    assert "PUSH_ARTIFACT" in message["text"] and f"{project.name}/app:v3" in message["text"]
    assert message["blocks"] and all(b["type"] == "section" for b in message["blocks"])


def test_pull_and_delete_events(api: httpx.Client, registry: httpx.Client, project: Project,
                                receiver: Receiver) -> None:
    create_policy(api, project, policy_body(receiver.url, ["PULL_ARTIFACT", "DELETE_ARTIFACT"]))
    digest = push_image(registry, f"{project.name}/app", "v1")
    r = registry.get(f"/v2/{project.name}/app/manifests/v1",
                     headers={"Accept": "application/vnd.oci.image.manifest.v1+json"})
    assert r.status_code == 200
    pulled = receiver.wait(1)[0].json()  # pull statistics are flushed every 0.5 s on this server
    assert pulled["type"] == "PULL_ARTIFACT" and pulled["operator"] == "admin"
    assert pulled["event_data"]["resources"][0]["digest"] == digest
    assert pulled["event_data"]["repository"]["repo_full_name"] == f"{project.name}/app"

    assert registry.delete(f"/v2/{project.name}/app/manifests/{digest}").status_code == 202
    deleted = receiver.wait(2)[1].json()
    assert deleted["type"] == "DELETE_ARTIFACT"
    assert deleted["event_data"]["resources"][0]["digest"] == digest
    assert deleted["event_data"]["resources"][0]["resource_url"].endswith(f"/{project.name}/app@{digest}")
    assert [d.json()["type"] for d in receiver.deliveries] == ["PULL_ARTIFACT", "DELETE_ARTIFACT"]  # no push


def test_disabled_policy_delivers_nothing(api: httpx.Client, registry: httpx.Client, project: Project,
                                          receiver: Receiver) -> None:
    disabled = create_policy(api, project, {**policy_body(receiver.url + "?disabled"), "enabled": False})
    enabled = create_policy(api, project, policy_body(receiver.url + "?enabled"))
    push_image(registry, f"{project.name}/app", "v1")
    finished(api, project, enabled)  # the event was handled
    time.sleep(0.5)
    assert [d.path for d in receiver.deliveries] == ["/hook?enabled"]
    assert executions(api, project, disabled) == []


def test_notification_enable_false_delivers_nothing(api: httpx.Client, registry: httpx.Client, project: Project,
                                                    receiver: Receiver) -> None:
    policy_id = create_policy(api, project, policy_body(receiver.url))
    assert api.put("/configurations", json={"notification_enable": False}).status_code == 200
    try:
        assert api.get("/configurations").json()["notification_enable"]["value"] is False
        push_image(registry, f"{project.name}/app", "off")
        time.sleep(3)  # several dispatcher ticks
        assert receiver.deliveries == [] and executions(api, project, policy_id) == []
    finally:
        assert api.put("/configurations", json={"notification_enable": True}).status_code == 200
    push_image(registry, f"{project.name}/app", "on")
    assert receiver.wait(1)[0].json()["event_data"]["resources"][0]["tag"] == "on"


def test_failing_receiver_is_retried_and_the_log_shows_each_attempt(
        api: httpx.Client, registry: httpx.Client, project: Project, receiver: Receiver) -> None:
    receiver.statuses.extend([500, 500])
    policy_id = create_policy(api, project, policy_body(receiver.url))
    push_image(registry, f"{project.name}/app", "v1")
    first, second, third = receiver.wait(3)
    assert first.body == second.body == third.body  # the same payload each time
    assert second.at - first.at >= 0.4 and third.at - second.at >= 0.8  # backoff 0.5 s, doubling
    [execution] = finished(api, project, policy_id)
    assert execution["status"] == "Success"
    base = f"{project.policies}/{policy_id}/executions/{execution['id']}"
    tasks = api.get(f"{base}/tasks")
    assert tasks.status_code == 200 and tasks.headers["x-total-count"] == "1"
    [task] = tasks.json()
    assert task["status"] == "Success" and task["run_count"] == 3
    assert task["extra_attrs"]["event_type"] == "PUSH_ARTIFACT" and task["extra_attrs"]["address"] == receiver.url
    assert '"type": "PUSH_ARTIFACT"' in task["extra_attrs"]["payload"]
    log = api.get(f"{base}/tasks/{task['id']}/log")
    assert log.status_code == 200 and log.headers["content-type"].startswith("text/plain")
    lines = [line for line in log.text.splitlines() if "POST" in line]
    assert len(lines) == 3, log.text
    assert "attempt 1:" in lines[0] and "-> 500" in lines[0] and " ms" in lines[0]
    assert "attempt 2:" in lines[1] and "-> 500" in lines[1]
    assert "attempt 3:" in lines[2] and "-> 200" in lines[2]
    assert "t0ken" not in log.text


def test_unreachable_receiver_ends_in_error(api: httpx.Client, registry: httpx.Client, project: Project,
                                            receiver: Receiver) -> None:
    receiver.default_status = 503
    policy_id = create_policy(api, project, policy_body(receiver.url))
    push_image(registry, f"{project.name}/app", "v1")
    receiver.wait(4)  # the first attempt and 3 retries
    [execution] = finished(api, project, policy_id)
    assert execution["status"] == "Error"
    [task] = api.get(f"{project.policies}/{policy_id}/executions/{execution['id']}/tasks").json()
    assert task["status"] == "Error" and task["run_count"] == 4 and "503" in task["status_message"]
    time.sleep(1)
    assert len(receiver.deliveries) == 4


def test_one_task_per_target_and_policy(api: httpx.Client, registry: httpx.Client, project: Project,
                                        receiver: Receiver) -> None:
    body = policy_body(receiver.url + "?a")
    body["targets"].append({"type": "http", "address": receiver.url + "?b", "payload_format": "CloudEvents"})
    first = create_policy(api, project, body)
    second = create_policy(api, project, policy_body(receiver.url + "?c"))
    push_image(registry, f"{project.name}/app", "v1")
    receiver.wait(3)
    assert sorted(d.path for d in receiver.deliveries) == ["/hook?a", "/hook?b", "/hook?c"]
    [execution] = finished(api, project, first)
    assert execution["metrics"]["task_count"] == 2  # type: ignore[index]
    assert len(finished(api, project, second)) == 1


def test_last_trigger(api: httpx.Client, registry: httpx.Client, project: Project, receiver: Receiver) -> None:
    policy = policy_body(receiver.url, ["PUSH_ARTIFACT", "DELETE_ARTIFACT"])
    policy_id = create_policy(api, project, policy)
    r = api.get(f"/projects/{project.id}/webhook/lasttrigger")
    assert r.status_code == 200
    assert [(t["policy_name"], t["event_type"], t["enabled"], "last_trigger_time" in t) for t in r.json()] == [
        (policy["name"], "PUSH_ARTIFACT", True, False), (policy["name"], "DELETE_ARTIFACT", True, False)]
    before = time.time()
    push_image(registry, f"{project.name}/app", "v1")
    finished(api, project, policy_id)
    triggers = {t["event_type"]: t for t in api.get(f"/projects/{project.id}/webhook/lasttrigger").json()}
    pushed = datetime.fromisoformat(triggers["PUSH_ARTIFACT"]["last_trigger_time"].replace("Z", "+00:00"))
    assert before - 1 <= pushed.timestamp() <= time.time() + 1
    assert "last_trigger_time" not in triggers["DELETE_ARTIFACT"]
    assert triggers["PUSH_ARTIFACT"]["creation_time"]


def test_delivery_history_goes_with_the_policy(api: httpx.Client, registry: httpx.Client, project: Project,
                                               receiver: Receiver) -> None:
    policy_id = create_policy(api, project, policy_body(receiver.url))
    push_image(registry, f"{project.name}/app", "v1")
    [execution] = finished(api, project, policy_id)
    other = create_policy(api, project, policy_body(receiver.url))
    # another policy's execution, a task of another execution: not found through this policy
    assert api.get(f"{project.policies}/{other}/executions/{execution['id']}/tasks").status_code == 404
    assert api.get(f"{project.policies}/{policy_id}/executions/987654321/tasks").status_code == 404
    [task] = api.get(f"{project.policies}/{policy_id}/executions/{execution['id']}/tasks").json()
    assert api.get(f"{project.policies}/{policy_id}/executions/{execution['id']}/tasks/{task['id'] + 100000}/log"
                   ).status_code == 404
    assert api.delete(f"{project.policies}/{policy_id}").status_code == 200
    assert api.get(f"{project.policies}/{policy_id}/executions").status_code == 404


def test_policy_deleted_before_delivery_sends_nothing(api: httpx.Client, registry: httpx.Client, project: Project,
                                                      receiver: Receiver) -> None:
    """A retrying delivery whose policy is deleted stops instead of sending again."""
    receiver.default_status = 500
    policy_id = create_policy(api, project, policy_body(receiver.url))
    push_image(registry, f"{project.name}/app", "v1")
    receiver.wait(1)
    assert api.delete(f"{project.policies}/{policy_id}").status_code == 200
    newcomer = create_policy(api, project, policy_body(receiver.url + "?new", ["DELETE_ARTIFACT"]))
    assert newcomer != policy_id  # ids are never reused: the old deliveries cannot become the newcomer's
    time.sleep(4)  # longer than the remaining backoff
    assert len(receiver.deliveries) <= 2  # at most an attempt already under way
    assert executions(api, project, newcomer) == []
    assert all(d.path == "/hook" for d in receiver.deliveries)


def test_https_target_and_skip_cert_verify(api: httpx.Client, registry: httpx.Client, project: Project,
                                           tls_receiver: Receiver) -> None:
    """A self-signed receiver: refused while certificates are verified, reached when the target
    skips verification."""
    verified = create_policy(api, project, policy_body(tls_receiver.url + "?verified"))
    create_policy(api, project, policy_body(tls_receiver.url + "?skipped", skip_cert_verify=True))
    push_image(registry, f"{project.name}/app", "v1")
    assert tls_receiver.wait(1)[0].path == "/hook?skipped"
    [execution] = finished(api, project, verified)
    assert execution["status"] == "Error"
    base = f"{project.policies}/{verified}/executions/{execution['id']}"
    [task] = api.get(f"{base}/tasks").json()
    assert "CERTIFICATE_VERIFY_FAILED" in api.get(f"{base}/tasks/{task['id']}/log").text
    assert [d.path for d in tls_receiver.deliveries] == ["/hook?skipped"]

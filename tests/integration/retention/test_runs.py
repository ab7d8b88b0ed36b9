"""Retention runs over real pushes: dry run, real run (immutable tags always kept, untagged
artifacts only when selected, repositories out of scope untouched), per-repository tasks and
their logs, the TAG_RETENTION event, history and schedules (stopping: test_stop.py)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.common.oci import image_manifest, push_image, put_manifest, sha256
from tests.integration.retention.conftest import rule, wait_execution
from tests.integration.webhooks.conftest import Receiver

Factory = Callable[..., dict[str, Any]]


def artifacts(api: httpx.Client, project: str, repository: str) -> dict[str, list[str]]:
    """digest → tags of every artifact of the repository ({} when it is gone)."""
    r = api.get(f"/projects/{project}/repositories/{repository}/artifacts", params={"page_size": 100})
    if r.status_code == 404:
        return {}
    assert r.status_code == 200, r.text
    return {a["digest"]: sorted(t["name"] for t in a.get("tags") or []) for a in r.json()}


def tasks_of(api: httpx.Client, policy_id: int, execution_id: int) -> list[dict[str, Any]]:
    r = api.get(f"/retentions/{policy_id}/executions/{execution_id}/tasks")
    assert r.status_code == 200, r.text
    return list(r.json())


def task_log(api: httpx.Client, policy_id: int, execution_id: int, task_id: int) -> str:
    r = api.get(f"/retentions/{policy_id}/executions/{execution_id}/tasks/{task_id}")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/plain")
    return r.text


def table_rows(log: str) -> dict[str, tuple[str, str]]:
    """digest → (tags, RETAIN/DEL) from a task log's table."""
    rows = {}
    for line in log.splitlines():
        cells = [c.strip() for c in line.split("|")[1:-1]]
        if len(cells) == 6 and cells[0].startswith("sha256:"):
            rows[cells[0]] = (cells[1], cells[4])
    return rows


@pytest.fixture
def five(client: httpx.Client, new_project: Factory) -> tuple[str, int, list[str]]:
    """A project whose ``app`` holds v1..v4 (pushed in that order) and one untagged artifact."""
    project = new_project()
    name = project["name"]
    digests = [push_image(client, f"{name}/app", f"v{i}") for i in range(1, 5)]
    untagged = image_manifest(client, f"{name}/app")
    assert put_manifest(client, f"{name}/app", sha256(untagged), untagged).status_code == 201
    return name, int(project["project_id"]), [*digests, sha256(untagged)]


def test_dry_run_reports_without_deleting(api: httpx.Client, five: tuple[str, int, list[str]],
                                          create_policy: Callable[..., int], run: Callable[..., dict[str, Any]]
                                          ) -> None:
    name, pid, digests = five
    policy_id = create_policy(pid, [rule("latestPushedK", 2)])
    before = artifacts(api, name, "app")
    execution = run(policy_id, dry_run=True)
    assert execution["status"] == "Success" and execution["dry_run"] is True
    assert execution["policy_id"] == policy_id and execution["trigger"] == "MANUAL"
    assert artifacts(api, name, "app") == before
    [task] = tasks_of(api, policy_id, execution["id"])
    assert task["repository"] == f"{name}/app" and task["status"] == "Success" and task["status_code"] == 3
    assert (task["total"], task["retained"]) == (4, 2)  # the untagged one is not a candidate
    log = task_log(api, policy_id, execution["id"], task["id"])
    assert "2 would be deleted (dry run: nothing was deleted)" in log
    assert table_rows(log) == {digests[3]: ("v4", "RETAIN"), digests[2]: ("v3", "RETAIN"),
                               digests[1]: ("v2", "DEL"), digests[0]: ("v1", "DEL")}


def test_run_deletes_what_no_rule_retains_and_keeps_immutable_tags(
        api: httpx.Client, five: tuple[str, int, list[str]], create_policy: Callable[..., int],
        run: Callable[..., dict[str, Any]]) -> None:
    name, pid, digests = five
    r = api.post(f"/projects/{name}/immutabletagrules", json={
        "tag_selectors": [{"kind": "doublestar", "decoration": "matches", "pattern": "v1"}],
        "scope_selectors": {"repository": [{"kind": "doublestar", "decoration": "repoMatches", "pattern": "**"}]}})
    assert r.status_code == 201, r.text
    policy_id = create_policy(pid, [rule("latestPushedK", 1)])
    execution = run(policy_id)
    assert execution["status"] == "Success" and execution["dry_run"] is False
    assert artifacts(api, name, "app") == {digests[3]: ["v4"], digests[0]: ["v1"], digests[4]: []}
    [task] = tasks_of(api, policy_id, execution["id"])
    assert (task["total"], task["retained"]) == (4, 2)
    rows = table_rows(task_log(api, policy_id, execution["id"], task["id"]))
    assert rows[digests[0]] == ("v1", "RETAIN") and rows[digests[1]] == ("v2", "DEL")
    assert "immutable tag v1" in task_log(api, policy_id, execution["id"], task["id"])
    audit = api.get("/auditlog-exts", params={"q": "operation=delete", "page_size": 50}).json()
    assert {a["resource"] for a in audit} >= {f"{name}/app@{digests[1]}", f"{name}/app@{digests[2]}"}


def test_the_artifact_is_the_unit(api: httpx.Client, client: httpx.Client, new_project: Factory,
                                  create_policy: Callable[..., int], run: Callable[..., dict[str, Any]]) -> None:
    """An artifact kept for one tag keeps all its tags; one no rule keeps loses them all."""
    project = new_project()
    name, pid = project["name"], int(project["project_id"])
    old = push_image(client, f"{name}/app", "1.0")
    assert api.post(f"/projects/{name}/repositories/app/artifacts/{old}/tags", json={"name": "stable"}
                    ).status_code == 201
    dev = push_image(client, f"{name}/app", "dev-1")
    assert api.post(f"/projects/{name}/repositories/app/artifacts/{dev}/tags", json={"name": "nightly"}
                    ).status_code == 201
    policy_id = create_policy(pid, [rule("always", tags="stable")])
    run(policy_id)
    assert artifacts(api, name, "app") == {old: ["1.0", "stable"]}


def test_untagged_artifacts_only_when_a_selector_takes_them(
        api: httpx.Client, five: tuple[str, int, list[str]], create_policy: Callable[..., int],
        run: Callable[..., dict[str, Any]]) -> None:
    name, pid, digests = five
    policy_id = create_policy(pid, [rule("always", tags="v*"), rule("nothing", untagged=True)])
    execution = run(policy_id)
    assert set(artifacts(api, name, "app")) == set(digests[:4])  # the untagged one is gone
    [task] = tasks_of(api, policy_id, execution["id"])
    assert (task["total"], task["retained"]) == (5, 4)
    assert table_rows(task_log(api, policy_id, execution["id"], task["id"]))[digests[4]] == ("<untagged>", "DEL")


def test_one_task_per_repository_in_scope(api: httpx.Client, client: httpx.Client, new_project: Factory,
                                          create_policy: Callable[..., int], run: Callable[..., dict[str, Any]]
                                          ) -> None:
    project = new_project()
    name, pid = project["name"], int(project["project_id"])
    kept = {repo: [push_image(client, f"{name}/{repo}", t) for t in ("a", "b")]
            for repo in ("team/web", "team/api", "tools")}
    policy_id = create_policy(pid, [rule("latestPushedK", 1, repos="team/**")])
    execution = run(policy_id)
    tasks = tasks_of(api, policy_id, execution["id"])
    assert sorted(t["repository"] for t in tasks) == [f"{name}/team/api", f"{name}/team/web"]
    assert all(t["status"] == "Success" and (t["total"], t["retained"]) == (2, 1) for t in tasks)
    assert set(artifacts(api, name, "team%252Fweb")) == {kept["team/web"][1]}
    assert set(artifacts(api, name, "tools")) == set(kept["tools"])  # out of scope: untouched
    r = api.get(f"/retentions/{policy_id}/executions/{execution['id']}/tasks", params={"page_size": 1})
    assert len(r.json()) == 1 and r.headers["x-total-count"] == "2"


def test_executions_are_listed_newest_first_and_checked(api: httpx.Client, five: tuple[str, int, list[str]],
                                                        create_policy: Callable[..., int],
                                                        run: Callable[..., dict[str, Any]]) -> None:
    _, pid, _ = five
    policy_id = create_policy(pid, [rule("always")])
    first, second = run(policy_id, dry_run=True), run(policy_id)
    r = api.get(f"/retentions/{policy_id}/executions", params={"page": 1, "page_size": 1})
    assert r.status_code == 200 and r.headers["x-total-count"] == "2"
    [latest] = r.json()
    assert latest["id"] == second["id"] and latest["dry_run"] is False
    assert set(latest) == {"id", "policy_id", "start_time", "end_time", "status", "trigger", "dry_run"}
    assert latest["start_time"] <= latest["end_time"]
    other = create_policy(int(api.post("/projects", json={"project_name": f"o{policy_id}x{pid}"}).headers[
        "location"].rsplit("/", 1)[1]), [rule("always")])
    assert api.get(f"/retentions/{other}/executions/{first['id']}/tasks").status_code == 404
    [task] = tasks_of(api, policy_id, first["id"])
    assert api.get(f"/retentions/{policy_id}/executions/{second['id']}/tasks/{task['id']}").status_code == 404
    assert api.patch(f"/retentions/{policy_id}/executions/{first['id']}", json={"action": "pause"}
                     ).status_code == 400


def test_a_real_run_emits_one_tag_retention_event(api: httpx.Client, five: tuple[str, int, list[str]],
                                                  create_policy: Callable[..., int],
                                                  run: Callable[..., dict[str, Any]], receiver: Receiver) -> None:
    name, pid, digests = five
    hook = {"name": f"hook{pid}", "enabled": True, "event_types": ["TAG_RETENTION"],
            "targets": [{"type": "http", "address": receiver.url}]}
    assert api.post(f"/projects/{pid}/webhook/policies", json=hook).status_code == 201
    policy_id = create_policy(pid, [rule("latestPushedK", 3)])
    run(policy_id, dry_run=True)
    run(policy_id)
    [delivery] = receiver.wait(1)
    body = delivery.json()
    assert body["type"] == "TAG_RETENTION"
    retention = body["event_data"]["retention"]
    assert (retention["total"], retention["retained"], retention["retention_policy_id"]) == (4, 3, policy_id)
    assert [a["name_tag"] for a in retention["deleted_artifact"]] == ["app:v1"]
    time.sleep(1.5)
    assert len(receiver.deliveries) == 1  # the dry run emitted nothing
    assert digests[0] not in artifacts(api, name, "app")


def test_a_second_run_waits_for_the_first(api: httpx.Client, five: tuple[str, int, list[str]],
                                          create_policy: Callable[..., int]) -> None:
    _, pid, _ = five
    policy_id = create_policy(pid, [rule("always")])
    codes = [api.post(f"/retentions/{policy_id}/executions", json={"dry_run": True}).status_code for _ in range(2)]
    assert codes[0] == 201 and codes[1] in (201, 409)  # 409 while the first one is unfinished


def test_schedule_runs_the_policy(api: httpx.Client, five: tuple[str, int, list[str]],
                                  create_policy: Callable[..., int]) -> None:
    name, pid, digests = five
    policy_id = create_policy(pid, [rule("latestPushedK", 2)], "* * * * * *")
    deadline = time.monotonic() + 30
    while True:
        runs = api.get(f"/retentions/{policy_id}/executions").json()
        if runs:
            break
        assert time.monotonic() < deadline, "the schedule never fired"
        time.sleep(0.3)
    assert runs[-1]["trigger"] == "SCHEDULE" and runs[-1]["dry_run"] is False
    wait_execution(api, policy_id, runs[-1]["id"])
    assert set(artifacts(api, name, "app")) == {digests[2], digests[3], digests[4]}
    assert api.put(f"/retentions/{policy_id}", json={
        "algorithm": "or", "rules": [rule("latestPushedK", 2)], "trigger": {"kind": "Schedule", "settings": {}},
        "scope": {"level": "project", "ref": pid}}).status_code == 200
    time.sleep(1.5)
    count = int(api.get(f"/retentions/{policy_id}/executions").headers["x-total-count"])
    time.sleep(2.5)
    assert int(api.get(f"/retentions/{policy_id}/executions").headers["x-total-count"]) == count

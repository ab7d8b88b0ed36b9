"""System administration pages (``/admin``): users, global labels, garbage collection, audit
logs (and their purge), system configuration — rendered in English and 简体中文, and the
actions checked through ``/api/v2.0``."""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tests.common.servers import ADMIN, start_moorage
from tests.integration.portal.conftest import PASSWORD, PortalClient

NewUser = Callable[..., tuple[str, str]]

# Rendering, both languages -------------------------------------------------------------------------

PAGES = [
    ("/admin/users", "Users", "用户"),
    ("/admin/labels", "Global labels", "全局标签"),
    ("/admin/gc", "Garbage collection", "垃圾清理"),
    ("/admin/audit-logs", "Audit logs", "审计日志"),
    ("/admin/audit-logs/purge", "Audit log purge", "审计日志清理"),
    ("/admin/configuration", "System configuration", "系统配置"),
]


def _check_markup(page: str) -> None:
    """No duplicate ids; every visible control has a ``<label for>``; no inline style or script."""
    ids = re.findall(r'\sid="([^"]+)"', page)
    assert len(ids) == len(set(ids)), sorted({i for i in ids if ids.count(i) > 1})
    labelled = set(re.findall(r'<label[^>]*\sfor="([^"]+)"', page))
    for tag in re.findall(r"<(?:input|select|textarea)\b[^>]*>", page):
        if 'type="hidden"' in tag:
            continue
        found = re.search(r'\sid="([^"]+)"', tag)
        assert found and found.group(1) in labelled, tag
    assert "style=" not in page and "<script>" not in page


@pytest.mark.parametrize(("path", "english", "chinese"), PAGES)
def test_page_renders_in_english_and_chinese(admin: PortalClient, zh: PortalClient, path: str, english: str,
                                             chinese: str) -> None:
    page = admin.page(path)
    assert f"<h1>{english}</h1>" in page
    _check_markup(page)
    assert 'lang="en"' in page
    zh_page = zh.page(path)
    assert f"<h1>{chinese}</h1>" in zh_page
    assert 'lang="zh-CN"' in zh_page


def test_admin_pages_are_for_system_administrators_only(new_user: NewUser, anonymous: PortalClient) -> None:
    name, password = new_user()
    user = PortalClient(anonymous.server).sign_in(name, password)
    try:
        for path, _, _ in PAGES:
            assert user.get(path).status_code == 403, path
        assert user.post("/admin/gc/run", {"mode": "dry"}).status_code == 403
        assert user.post("/admin/users", {"username": "x" + name, "password": PASSWORD,
                                          "password_confirm": PASSWORD}).status_code == 403
        assert user.post("/admin/configuration", {"token_expiration": "5"}).status_code == 403
        assert user.post("/admin/labels", {"name": "x" + name}).status_code == 403
    finally:
        user.close()
    redirect = anonymous.get("/admin/users")
    assert redirect.status_code == 303 and redirect.headers["location"].startswith("/sign-in")


# Users ----------------------------------------------------------------------------------------------


def test_create_user_search_grant_reset_and_delete(admin: PortalClient, zh: PortalClient, api: httpx.Client
                                                   ) -> None:
    name = f"pu{secrets.token_hex(4)}"
    created = admin.post("/admin/users", {"username": name, "email": f"{name}@example.com", "realname": "Pat <b>",
                                          "password": PASSWORD, "password_confirm": PASSWORD, "comment": "hi"})
    assert created.status_code == 303, created.text[:2000]
    found = api.get("/users", params={"q": f"username={name}"}).json()
    assert len(found) == 1 and found[0]["email"] == f"{name}@example.com" and not found[0]["sysadmin_flag"]
    user_id = found[0]["user_id"]

    listed = admin.page(f"/admin/users?q={name}")
    assert f'href="/admin/users/{user_id}"' in listed and "Pat &lt;b&gt;" in listed
    assert "No user matches" in admin.page("/admin/users?q=nobody-has-this-name")

    # Duplicate name: the form comes back with the error in plain words.
    again = admin.post("/admin/users", {"username": name, "password": PASSWORD, "password_confirm": PASSWORD})
    assert again.status_code == 409 and "already taken" in again.text
    mismatch = admin.post("/admin/users", {"username": name + "x", "password": PASSWORD, "password_confirm": "no"})
    assert mismatch.status_code == 400 and "The passwords do not match." in mismatch.text
    weak = zh.post("/admin/users", {"username": name + "y", "password": "short", "password_confirm": "short"})
    assert weak.status_code == 400 and "password" in weak.text

    assert admin.post(f"/admin/users/{user_id}/sysadmin", {"sysadmin": "1"}).status_code == 303
    assert api.get(f"/users/{user_id}").json()["sysadmin_flag"] is True
    detail_en = admin.page(f"/admin/users/{user_id}")
    assert "Revoke administrator" in detail_en
    _check_markup(detail_en)
    assert admin.post(f"/admin/users/{user_id}/sysadmin", {"sysadmin": "0"}).status_code == 303
    assert api.get(f"/users/{user_id}").json()["sysadmin_flag"] is False

    detail = zh.page(f"/admin/users/{user_id}")
    assert "重置密码" in detail and "个人资料" in detail
    new_password = "Changed12345"
    reset = admin.post(f"/admin/users/{user_id}/password", {"password": new_password,
                                                           "password_confirm": new_password})
    assert reset.status_code == 303
    with httpx.Client(base_url=api.base_url, auth=(name, new_password), timeout=30) as as_user:
        assert as_user.get("/users/current").status_code == 200

    assert admin.post(f"/admin/users/{user_id}/profile", {"email": f"new-{name}@example.com", "realname": "Pat",
                                                          "comment": "c"}).status_code == 303
    assert api.get(f"/users/{user_id}").json()["email"] == f"new-{name}@example.com"

    assert admin.post(f"/admin/users/{user_id}/delete").status_code == 303
    assert api.get(f"/users/{user_id}").status_code == 404


def test_admin_cannot_delete_or_demote_themself(admin: PortalClient, api: httpx.Client) -> None:
    me = api.get("/users/current").json()["user_id"]
    assert admin.post(f"/admin/users/{me}/delete").status_code == 403
    assert admin.post(f"/admin/users/{me}/sysadmin", {"sysadmin": "0"}).status_code == 403
    assert api.get("/users/current").json()["sysadmin_flag"] is True


def test_users_list_pages(admin: PortalClient, new_user: NewUser) -> None:
    for _ in range(3):
        new_user()
    page = admin.page("/admin/users?page_size=2")
    assert 'rel="next"' in page
    assert page.count('<th scope="row"><a href="/admin/users/') == 2
    newest_first = admin.page("/admin/users?sort=-creation_time&page_size=100")
    assert 'aria-sort="descending"' in newest_first
    names = re.findall(r'<th scope="row"><a href="/admin/users/\d+">([^<]+)</a>', newest_first)
    assert names[-1] == "admin"


# Global labels --------------------------------------------------------------------------------------


def test_global_labels_create_edit_delete(admin: PortalClient, zh: PortalClient, api: httpx.Client) -> None:
    name = f"lbl-{secrets.token_hex(3)}"
    assert admin.post("/admin/labels", {"name": name, "color": "#FF0000", "description": "red"}).status_code == 303
    labels = {x["name"]: x for x in api.get("/labels", params={"scope": "g", "page_size": 100}).json()}
    assert labels[name]["color"] == "#FF0000" and labels[name]["scope"] == "g"
    label_id = labels[name]["id"]
    page = admin.page(f"/admin/labels?name={name}")
    assert name in page and 'fill="#FF0000"' in page
    assert admin.post("/admin/labels", {"name": name, "color": "#00FF00"}).status_code == 409

    edit = admin.page(f"/admin/labels/{label_id}")
    assert f"Edit label {name}" in edit
    _check_markup(edit)
    assert f"编辑标签 {name}" in zh.page(f"/admin/labels/{label_id}")
    assert admin.post(f"/admin/labels/{label_id}", {"name": name + "-x", "color": "#00ff00",
                                                    "description": "green"}).status_code == 303
    got = api.get(f"/labels/{label_id}").json()
    assert got["name"] == name + "-x" and got["description"] == "green"

    assert admin.post(f"/admin/labels/{label_id}/delete").status_code == 303
    assert api.get(f"/labels/{label_id}").status_code == 404


def test_a_color_that_is_not_hex_is_not_put_in_the_page(admin: PortalClient, api: httpx.Client) -> None:
    name = f"lbl-{secrets.token_hex(3)}"
    assert api.post("/labels", json={"name": name, "color": 'red" onload="x', "scope": "g"}).status_code == 201
    page = admin.page(f"/admin/labels?name={name}")
    assert 'onload="x' not in page and "sys-swatch-none" in page


# Garbage collection ---------------------------------------------------------------------------------


def _wait_finished(admin: PortalClient, run_id: int, timeout: float = 60) -> str:
    deadline = time.monotonic() + timeout
    while True:
        page = admin.page(f"/admin/gc/{run_id}/-/status")
        if "data-poll-active" not in page:
            return page
        assert time.monotonic() < deadline, page
        time.sleep(0.2)


def _start(admin: PortalClient, data: dict[str, str]) -> int:
    deadline = time.monotonic() + 60
    while True:
        response = admin.post("/admin/gc/run", data)
        if response.status_code != 409 or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    assert response.status_code == 303, response.text[:2000]
    assert response.headers["location"] == "/admin/gc"
    runs = admin.page("/admin/gc")
    return max(int(x) for x in re.findall(r'href="/admin/gc/(\d+)"', runs))


def test_gc_dry_run_and_run_show_in_history_with_a_readable_log(admin: PortalClient, zh: PortalClient,
                                                                api: httpx.Client) -> None:
    dry = _start(admin, {"mode": "dry", "delete_untagged": "on"})
    status = _wait_finished(admin, dry)
    assert "Succeeded" in status and "eligible for deletion" in status and "success to run gc in job." in status
    run = _start(admin, {"mode": "run", "workers": "2"})
    status = _wait_finished(admin, run)
    assert "Succeeded" in status and "Space freed" in status

    history = api.get("/system/gc", params={"page_size": 10}).json()
    by_id = {h["id"]: h for h in history}
    assert '"dry_run": true' in by_id[dry]["job_parameters"] and '"delete_untagged": true' in by_id[dry][
        "job_parameters"]
    assert '"dry_run": false' in by_id[run]["job_parameters"] and '"workers": 2' in by_id[run]["job_parameters"]

    page = admin.page("/admin/gc")
    assert f'href="/admin/gc/{dry}"' in page and f'href="/admin/gc/{run}"' in page
    assert "Dry run" in page and "data-poll=" in page
    detail = admin.page(f"/admin/gc/{dry}")
    assert "<pre" in detail and "success to run gc in job." in detail
    _check_markup(detail)
    log = admin.get(f"/admin/gc/{dry}/log")
    assert log.status_code == 200 and log.headers["content-type"].startswith("text/plain")
    assert "success to run gc in job." in log.text
    zh_detail = zh.page(f"/admin/gc/{dry}")
    assert f"垃圾清理 {dry}" in zh_detail and "模拟运行" in zh_detail and "成功" in zh_detail
    fragment = admin.page("/admin/gc/-/history")
    assert "<html" not in fragment and f'href="/admin/gc/{run}"' in fragment
    assert admin.get("/admin/gc/99999999").status_code == 404


def test_gc_schedule_is_saved_and_removed(admin: PortalClient, api: httpx.Client) -> None:
    bad = admin.post("/admin/gc/schedule", {"kind": "Custom", "cron": "not a cron"})
    assert bad.status_code == 400 and "six fields" in bad.text
    assert admin.post("/admin/gc/schedule", {"kind": "Custom", "cron": "0 30 2 * * *",
                                             "delete_untagged": "on", "workers": "3"}).status_code == 303
    got = api.get("/system/gc/schedule").json()
    assert got["schedule"]["type"] == "Custom" and got["schedule"]["cron"] == "0 30 2 * * *"
    assert '"delete_untagged": true' in got["job_parameters"] and '"workers": 3' in got["job_parameters"]
    page = admin.page("/admin/gc")
    assert "0 30 2 * * *" in page and "Next run:" in page
    assert admin.post("/admin/gc/schedule", {"kind": "Daily"}).status_code == 303
    assert api.get("/system/gc/schedule").json()["schedule"]["type"] == "Daily"
    assert admin.post("/admin/gc/schedule", {"kind": "None"}).status_code == 303
    assert api.get("/system/gc/schedule").json()["schedule"]["type"] == "None"
    assert "Not scheduled." in admin.page("/admin/gc")


# Audit logs -----------------------------------------------------------------------------------------


def test_audit_logs_filter_and_page(admin: PortalClient, zh: PortalClient) -> None:
    name = f"audited{secrets.token_hex(3)}"
    assert admin.post("/admin/users", {"username": name, "password": PASSWORD,
                                       "password_confirm": PASSWORD}).status_code == 303
    row = f'<td class="mono sys-wrap">{name}</td>'
    page = admin.page(f"/admin/audit-logs?resource={name}&operation=create&resource_type=user")
    assert row in page and "<td>Create</td>" in page
    assert row not in admin.page(f"/admin/audit-logs?resource={name}&operation=delete")
    assert row not in admin.page(f"/admin/audit-logs?resource={name}&until=2000-01-01T00:00")
    assert row in admin.page(f"/admin/audit-logs?resource={name}&since=2000-01-01T00:00&username=admin")
    assert row not in admin.page(f"/admin/audit-logs?resource={name}&username=nobody-else")
    zh_page = zh.page(f"/admin/audit-logs?resource={name}")
    assert row in zh_page and "<td>创建</td>" in zh_page
    paged = admin.page("/admin/audit-logs?page_size=1")
    assert 'rel="next"' in paged
    bad = admin.get("/admin/audit-logs?since=yesterday")
    assert bad.status_code == 400 and "notice-error" in bad.text


def test_audit_purge_dry_run_and_schedule(admin: PortalClient, zh: PortalClient, api: httpx.Client) -> None:
    response = admin.post("/admin/audit-logs/purge/run", [("mode", "dry"), ("retention_hours", "240000"),
                                                          ("event_types", "pull_artifact")])
    assert response.status_code == 303, response.text[:2000]
    runs = api.get("/system/purgeaudit").json()
    assert runs and '"dry_run": true' in runs[0]["job_parameters"]
    assert '"include_event_types": "pull_artifact"' in runs[0]["job_parameters"]
    run_id = runs[0]["id"]
    assert f'href="/admin/audit-logs/purge/{run_id}"' in admin.page("/admin/audit-logs/purge")
    assert f"审计日志清理 {run_id}" in zh.page(f"/admin/audit-logs/purge/{run_id}")
    assert admin.post("/admin/audit-logs/purge/schedule", [("kind", "Weekly"), ("retention_hours", "720"),
                                                           ("event_types", "pull_artifact"),
                                                           ("event_types", "login_user")]).status_code == 303
    got = api.get("/system/purgeaudit/schedule").json()
    assert got["schedule"]["type"] == "Weekly" and '"audit_retention_hour": 720' in got["job_parameters"]
    page = admin.page("/admin/audit-logs/purge")
    assert 'value="720"' in page
    assert admin.post("/admin/audit-logs/purge/schedule", {"kind": "None", "retention_hours": "720"}
                      ).status_code == 303
    assert api.get("/system/purgeaudit/schedule").json()["schedule"]["type"] == "None"
    bad = admin.post("/admin/audit-logs/purge/run", {"mode": "dry", "retention_hours": "0"})
    assert bad.status_code == 400 and "audit_retention_hour" in bad.text


# Configuration --------------------------------------------------------------------------------------


def _form_of(config: dict[str, dict[str, object]], **changes: str) -> dict[str, str]:
    values = {k: v["value"] for k, v in config.items()}
    form: dict[str, str] = {}
    for key in ("self_registration", "quota_per_project_enable", "notification_enable"):
        if values[key]:
            form[key] = "on"
    for key in ("session_timeout", "token_expiration", "robot_token_duration", "robot_name_prefix",
                "project_creation_restriction", "banner_message"):
        form[key] = str(values[key])
    size = int(str(values["storage_per_project"]))
    form["storage_per_project"], form["storage_unit"] = (str(size // 1024**2), "MiB") if size >= 0 else ("-1", "GiB")
    form.update(changes)
    return {k: v for k, v in form.items() if v is not None}


def test_configuration_change_is_seen_by_the_api(admin: PortalClient, zh: PortalClient, api: httpx.Client) -> None:
    before = api.get("/configurations").json()
    try:
        form = _form_of(before, token_expiration="45", storage_per_project="3", storage_unit="GiB",
                        project_creation_restriction="adminonly", banner_message="Maintenance <tonight>")
        form.pop("notification_enable", None)  # unchecked
        assert admin.post("/admin/configuration", form).status_code == 303
        after = api.get("/configurations").json()
        assert after["token_expiration"]["value"] == 45
        assert after["storage_per_project"]["value"] == 3 * 1024**3
        assert after["project_creation_restriction"]["value"] == "adminonly"
        assert after["notification_enable"]["value"] is False
        assert after["banner_message"]["value"] == "Maintenance <tonight>"
        page = admin.page("/admin/configuration")
        assert 'value="45"' in page and 'value="3"' in page
        assert 'role="note">Maintenance &lt;tonight&gt;</div>' in admin.page("/admin/users")
        assert "保存配置" in zh.page("/admin/configuration")
        bad = admin.post("/admin/configuration", _form_of(after, session_timeout="0"))
        assert bad.status_code == 400 and "session_timeout" in bad.text
        not_number = admin.post("/admin/configuration", _form_of(after, token_expiration="soon"))
        assert not_number.status_code == 400 and "must be a whole number" in not_number.text
        assert api.get("/configurations").json()["session_timeout"] == after["session_timeout"]
    finally:
        keys = ("token_expiration", "storage_per_project", "project_creation_restriction", "notification_enable",
                "banner_message")
        assert api.put("/configurations", json={k: before[k]["value"] for k in keys}).status_code == 200


def test_an_unfinished_gc_is_shown_live_and_can_be_stopped(tmp_path: Path) -> None:
    """On a server that queues jobs but runs none, a run stays Pending: the history and the
    run page poll their fragments, and Stop ends it."""
    with start_moorage(tmp_path, extra_env={"MOORAGE_JOBS__RUN_IN_SERVER": "false"}) as server:
        client = PortalClient(server).sign_in(*ADMIN)
        try:
            run_id = _start(client, {"mode": "run"})
            page = client.page("/admin/gc")
            assert "data-poll-active" in page and 'data-poll="/admin/gc/-/history' in page
            assert "Pending" in page
            detail = client.page(f"/admin/gc/{run_id}")
            assert "data-poll-active" in detail and f'action="/admin/gc/{run_id}/stop"' in detail
            busy = client.post("/admin/gc/run", {"mode": "dry"})
            assert busy.status_code == 409 and "already running" in busy.text
            assert client.post(f"/admin/gc/{run_id}/stop").status_code == 303
            status = _wait_finished(client, run_id, timeout=20)
            assert "Stopped" in status and f"/admin/gc/{run_id}/stop" not in status
            assert "data-poll-active" not in client.page("/admin/gc/-/history")
        finally:
            client.close()

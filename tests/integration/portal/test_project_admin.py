"""Project administration pages in a browser's shoes: members, robot accounts (the secret shown
once), policies (tag retention rules, schedule, dry run with its RETAIN/DEL results; tag
immutability), webhooks with their delivery log, and the project's audit logs — rendered in
English and 简体中文, acted on through forms, checked through the API."""

from __future__ import annotations

import html
import json
import re
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from tests.common.oci import push_image
from tests.common.servers import ADMIN, Server
from tests.integration.portal.conftest import PortalClient

ROLE_IDS = {"projectAdmin": 1, "developer": 2, "guest": 3, "maintainer": 4}


def new_project(api: httpx.Client) -> tuple[str, int]:
    name = f"pa{secrets.token_hex(5)}"
    r = api.post("/projects", json={"project_name": name, "metadata": {"public": "false"}})
    assert r.status_code == 201, r.text
    got = api.get(f"/projects/{name}", headers={"X-Is-Resource-Name": "true"})
    return name, int(got.json()["project_id"])


@pytest.fixture
def project(api: httpx.Client) -> tuple[str, int]:
    return new_project(api)


@pytest.fixture(scope="module")
def registry(portal: Server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=portal.url, auth=ADMIN, timeout=60) as c:
        yield c


def text_of(page: str) -> str:
    """The page's visible text, roughly (tags removed, entities decoded, spaces collapsed)."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page)).split())


def well_formed(page: str) -> str:
    """The page, once checked for duplicate ids and for form fields without a label."""
    ids = re.findall(r'\sid="([^"]+)"', page)
    assert len(ids) == len(set(ids)), sorted(i for i in ids if ids.count(i) > 1)
    for field in re.findall(r"<(?:input|select|textarea)\b[^>]*>", page):
        if 'type="hidden"' in field or 'type="submit"' in field:
            continue
        found = re.search(r'\sid="([^"]+)"', field)
        assert found and f'for="{found.group(1)}"' in page, field
    assert "<script>" not in page and " style=" not in page
    return page


def members(api: httpx.Client, project: str) -> dict[str, int]:
    r = api.get(f"/projects/{project}/members")
    assert r.status_code == 200, r.text
    return {m["entity_name"]: m["role_id"] for m in r.json()}


# Rendering in both languages -------------------------------------------------------------------

PAGES = [
    ("members", "Members", "成员"),
    ("robots", "Robot accounts", "机器人账户"),
    ("robots/new", "New robot account", "新建机器人账户"),
    ("policies", "Retention rules", "保留规则"),
    ("policies/immutability", "Immutability rules", "不可变规则"),
    ("webhooks", "No webhook yet.", "还没有 Webhook。"),
    ("webhooks/new", "New webhook", "新建 Webhook"),
    ("logs", "Project logs", "项目日志"),
]


@pytest.mark.parametrize(("path", "english", "chinese"), PAGES, ids=[p[0] for p in PAGES])
def test_page_renders_in_english_and_chinese(admin: PortalClient, zh: PortalClient, project: tuple[str, int],
                                             path: str, english: str, chinese: str) -> None:
    name, _ = project
    en_page = well_formed(admin.page(f"/projects/{name}/{path}"))
    assert english in text_of(en_page), en_page[:3000]
    zh_page = zh.page(f"/projects/{name}/{path}")
    assert chinese in text_of(zh_page) and english not in text_of(zh_page)
    assert 'lang="zh-CN"' in zh_page


def test_pages_need_a_signed_in_member(anonymous: PortalClient, portal: Server, project: tuple[str, int],
                                       new_user: Callable[..., tuple[str, str]]) -> None:
    name, _ = project
    r = anonymous.get(f"/projects/{name}/members")
    assert r.status_code == 303 and r.headers["location"].startswith("/sign-in?next=")
    outsider = PortalClient(portal).sign_in(*new_user())
    try:
        assert outsider.get(f"/projects/{name}/robots").status_code in (403, 404)
    finally:
        outsider.close()


# Members ---------------------------------------------------------------------------------------


def test_members_add_change_role_and_remove(admin: PortalClient, zh: PortalClient, api: httpx.Client,
                                            project: tuple[str, int], new_user: Callable[..., tuple[str, str]]
                                            ) -> None:
    name, _ = project
    user, _ = new_user()
    r = admin.post(f"/projects/{name}/members", {"username": user, "role": "2"})
    assert r.status_code == 303, r.text[:2000]
    assert members(api, name)[user] == ROLE_IDS["developer"]
    page = admin.page(r.headers["location"])
    assert f"{user} was added as Developer." in text_of(page)
    member_id = next(m["id"] for m in api.get(f"/projects/{name}/members").json() if m["entity_name"] == user)

    assert admin.post(f"/projects/{name}/members/{member_id}/role", {"role": "4"}).status_code == 303
    assert members(api, name)[user] == ROLE_IDS["maintainer"]
    assert "维护人员" in zh.page(f"/projects/{name}/members")

    again = admin.post(f"/projects/{name}/members", {"username": user, "role": "3"})
    assert again.status_code == 409 and "already a member" in again.text
    unknown = admin.post(f"/projects/{name}/members", {"username": "nobody-" + secrets.token_hex(3), "role": "3"})
    assert unknown.status_code == 404 and "not found" in unknown.text
    assert 'value="nobody-' in unknown.text  # the form keeps what was typed

    assert admin.post(f"/projects/{name}/members/{member_id}/delete").status_code == 303
    assert user not in members(api, name)


def test_members_page_filters_and_pages(admin: PortalClient, api: httpx.Client, project: tuple[str, int],
                                        new_user: Callable[..., tuple[str, str]]) -> None:
    name, _ = project
    users = [new_user()[0] for _ in range(3)]
    for user in users:
        r = api.post(f"/projects/{name}/members", json={"role_id": 3, "member_user": {"username": user}})
        assert r.status_code == 201, r.text
    page = admin.page(f"/projects/{name}/members?page_size=2")
    assert "Page 1 of 2" in text_of(page)
    found = admin.page(f"/projects/{name}/members?q={users[1]}")
    assert users[1] in found and users[0] not in found


def test_developer_reads_members_but_cannot_change_them(portal: Server, api: httpx.Client,
                                                        project: tuple[str, int],
                                                        new_user: Callable[..., tuple[str, str]]) -> None:
    name, _ = project
    dev, password = new_user()
    other, _ = new_user()
    assert api.post(f"/projects/{name}/members",
                    json={"role_id": 2, "member_user": {"username": dev}}).status_code == 201
    client = PortalClient(portal).sign_in(dev, password)
    try:
        page = client.page(f"/projects/{name}/members")
        assert dev in page and 'action="/projects/' + name + '/members"' not in page
        r = client.post(f"/projects/{name}/members", {"username": other, "role": "1"})
        assert r.status_code == 403
        assert other not in members(api, name)
    finally:
        client.close()


# Robot accounts --------------------------------------------------------------------------------


def robot_secret(page: str) -> str:
    match = re.search(r'data-copy="([^"]+)" aria-label="Copy: Secret"', page)
    assert match, page[:4000]
    return html.unescape(match.group(1))


def robot_can_read(portal: Server, project: str, robot: str, secret: str) -> int:
    r = httpx.get(f"{portal.url}/api/v2.0/projects/{project}/repositories", auth=(robot, secret), timeout=30)
    return r.status_code


def test_robot_secret_is_shown_once_and_refreshed(admin: PortalClient, api: httpx.Client, portal: Server,
                                                  project: tuple[str, int]) -> None:
    name, pid = project
    r = admin.post(f"/projects/{name}/robots", [("name", "ci"), ("description", "builds"), ("duration", "30"),
                                                 ("access", "repository:pull"), ("access", "repository:push"),
                                                 ("access", "repository:list"), ("access", "artifact:read")])
    assert r.status_code == 200, r.text[:3000]
    assert "location" not in r.headers and r.headers["cache-control"] == "no-store"
    secret = robot_secret(well_formed(r.text))
    assert secret not in " ".join(r.headers.get_list("set-cookie"))
    assert "only time it is shown" in r.text
    full = f"robot${name}+ci"
    assert full in r.text
    robots = api.get("/robots", params={"q": f"Level=project,ProjectID={pid}"}).json()
    assert [x["name"] for x in robots] == [full]
    robot_id = robots[0]["id"]
    assert robots[0]["duration"] == 30 and robots[0]["description"] == "builds"
    access = {(a["resource"], a["action"]) for a in robots[0]["permissions"][0]["access"]}
    assert access == {("repository", "pull"), ("repository", "push"), ("repository", "list"), ("artifact", "read")}
    assert robot_can_read(portal, name, full, secret) == 200

    listing = admin.page(f"/projects/{name}/robots")
    detail = well_formed(admin.page(f"/projects/{name}/robots/{robot_id}"))
    assert full in listing and secret not in listing and secret not in detail

    refreshed = admin.post(f"/projects/{name}/robots/{robot_id}/refresh")
    assert refreshed.status_code == 200
    new_secret = robot_secret(refreshed.text)
    assert new_secret != secret
    assert robot_can_read(portal, name, full, secret) == 401
    assert robot_can_read(portal, name, full, new_secret) == 200


def test_robot_disable_enable_edit_and_delete(admin: PortalClient, zh: PortalClient, api: httpx.Client,
                                              portal: Server, project: tuple[str, int]) -> None:
    name, pid = project
    r = admin.post(f"/projects/{name}/robots", [("name", "deploy"), ("never", "on"),
                                                 ("access", "repository:list")])
    secret = robot_secret(r.text)
    full = f"robot${name}+deploy"
    robot = api.get("/robots", params={"q": f"Level=project,ProjectID={pid}"}).json()[0]
    assert robot["duration"] == -1 and robot["expires_at"] == -1

    assert admin.post(f"/projects/{name}/robots/{robot['id']}/disable").status_code == 303
    assert api.get(f"/robots/{robot['id']}").json()["disable"] is True
    assert robot_can_read(portal, name, full, secret) == 401
    assert "已禁用" in zh.page(f"/projects/{name}/robots")
    assert admin.post(f"/projects/{name}/robots/{robot['id']}/enable").status_code == 303
    assert robot_can_read(portal, name, full, secret) == 200

    saved = admin.post(f"/projects/{name}/robots/{robot['id']}",
                       [("description", "prod"), ("duration", "7"), ("access", "repository:pull"),
                        ("access", "artifact:list")])
    assert saved.status_code == 303, saved.text[:2000]
    stored = api.get(f"/robots/{robot['id']}").json()
    assert stored["description"] == "prod" and stored["duration"] == 7
    assert {a["action"] for a in stored["permissions"][0]["access"]} == {"pull", "list"}

    assert admin.post(f"/projects/{name}/robots/{robot['id']}/delete").status_code == 303
    assert api.get(f"/robots/{robot['id']}").status_code == 404


def test_robot_form_errors_are_shown(admin: PortalClient, project: tuple[str, int]) -> None:
    name, _ = project
    r = admin.post(f"/projects/{name}/robots", [("name", "Bad Name"), ("duration", "30"),
                                                 ("access", "repository:pull")])
    assert r.status_code == 400 and "lower case" in r.text and 'value="Bad Name"' in r.text
    r = admin.post(f"/projects/{name}/robots", [("name", "nothing"), ("duration", "30")])
    assert r.status_code == 400 and "Choose at least one permission." in r.text
    r = admin.post(f"/projects/{name}/robots", [("name", "x"), ("duration", "30"), ("access", "quota:update")])
    assert r.status_code == 400 and "cannot be granted" in r.text


# Tag retention ---------------------------------------------------------------------------------


def wait_final(admin: PortalClient, url: str, timeout: float = 60, query: str = "") -> str:
    """The run's live fragment once the run is finished (polled as the page's script does)."""
    deadline = time.monotonic() + timeout
    while True:
        fragment = admin.page(url + "?fragment=1" + query)
        assert fragment.lstrip().startswith("<div id=\"retention-tasks\"")
        if "data-poll-active" not in fragment:
            return fragment
        assert time.monotonic() < deadline, fragment
        time.sleep(0.3)


def retention_policy(api: httpx.Client, project: str) -> dict[str, Any]:
    meta = api.get(f"/projects/{project}", headers={"X-Is-Resource-Name": "true"}).json()["metadata"]
    r = api.get(f"/retentions/{meta['retention_id']}")
    assert r.status_code == 200, r.text
    return dict(r.json())


def rule_form(template: str, value: str = "", **extra: str) -> dict[str, str]:
    return {"template": template, "value": value, "repo_decoration": "repoMatches", "repo_pattern": "**",
            "tag_decoration": "matches", "tag_pattern": "**", **extra}


def test_retention_dry_run_shows_retain_and_del(admin: PortalClient, zh: PortalClient, api: httpx.Client,
                                                registry: httpx.Client, project: tuple[str, int]) -> None:
    name, _ = project
    digests = [push_image(registry, f"{name}/app", f"v{i}") for i in range(1, 4)]
    r = admin.post(f"/projects/{name}/policies/retention/rules", rule_form("latestPushedK", "1"))
    assert r.status_code == 303, r.text[:3000]
    policy = retention_policy(api, name)
    assert [(x["template"], x["params"]) for x in policy["rules"]] == [("latestPushedK", {"latestPushedK": 1})]
    page = text_of(admin.page(f"/projects/{name}/policies"))
    assert "retain the most recently pushed 1 artifact" in page

    run = admin.post(f"/projects/{name}/policies/retention/run", {"dry_run": "on"})
    assert run.status_code == 303
    execution_url = run.headers["location"]
    assert re.fullmatch(rf"/projects/{name}/policies/retention/executions/\d+", execution_url)
    fragment = wait_final(admin, execution_url)
    assert f"{name}/app" in fragment and "1 / 3" in fragment
    task_url = re.search(r'href="([^"]+/tasks/\d+)"', fragment)
    assert task_url
    log = well_formed(admin.page(task_url.group(1)))
    well_formed(admin.page(execution_url))
    text = text_of(log)
    assert text.count("RETAIN") >= 1 and text.count("DEL") >= 2
    assert "1 retained, 2 would be deleted" in text
    assert digests[2][:19] in log and "v3" in text  # the newest is kept
    assert "保留" in zh.page(task_url.group(1))

    push_image(registry, f"{name}/other", "x")
    second = admin.post(f"/projects/{name}/policies/retention/run", {"dry_run": "on"})
    paged = wait_final(admin, second.headers["location"], query="&page_size=1")
    assert "1–1 of 2" in text_of(paged)
    assert all("fragment" not in link for link in re.findall(r'href="([^"]+)"', paged))

    history = admin.page(f"/projects/{name}/policies")
    assert execution_url in history
    tags = {t["name"] for a in api.get(f"/projects/{name}/repositories/app/artifacts").json()
            for t in a.get("tags") or []}
    assert tags == {"v1", "v2", "v3"}  # a dry run deletes nothing


def test_retention_rules_schedule_toggle_and_delete(admin: PortalClient, api: httpx.Client,
                                                    project: tuple[str, int]) -> None:
    name, _ = project
    assert admin.post(f"/projects/{name}/policies/retention/schedule",
                      {"kind": "Daily", "cron": ""}).status_code == 303
    assert retention_policy(api, name)["trigger"]["settings"]["cron"] == "0 0 0 * * *"
    bad = admin.post(f"/projects/{name}/policies/retention/schedule", {"kind": "Custom", "cron": "bad"})
    assert bad.status_code == 400 and "invalid cron" in bad.text

    assert admin.post(f"/projects/{name}/policies/retention/rules",
                      rule_form("nDaysSinceLastPush", "7", untagged="on")).status_code == 303
    assert admin.post(f"/projects/{name}/policies/retention/rules", rule_form("always")).status_code == 303
    policy = retention_policy(api, name)
    assert [x["template"] for x in policy["rules"]] == ["nDaysSinceLastPush", "always"]
    assert policy["trigger"]["settings"]["cron"] == "0 0 0 * * *"  # kept by rule changes
    missing = admin.post(f"/projects/{name}/policies/retention/rules", rule_form("latestPushedK", ""))
    assert missing.status_code == 400

    first = policy["rules"][0]["id"]
    edit = well_formed(admin.page(f"/projects/{name}/policies/retention/rules/{first}"))
    assert 'value="7"' in edit and 'value="nDaysSinceLastPush" selected' in edit
    saved = admin.post(f"/projects/{name}/policies/retention/rules/{first}",
                       rule_form("nDaysSinceLastPull", "14", tag_pattern="release-*"))
    assert saved.status_code == 303, saved.text[:2000]
    policy = retention_policy(api, name)
    assert policy["rules"][0]["params"] == {"nDaysSinceLastPull": 14}
    assert policy["rules"][0]["tag_selectors"][0]["pattern"] == "release-*"
    assert [x["template"] for x in policy["rules"]] == ["nDaysSinceLastPull", "always"]
    first = policy["rules"][0]["id"]
    bad = admin.post(f"/projects/{name}/policies/retention/rules/{first}", rule_form("latestPushedK", "x"))
    assert bad.status_code == 400 and 'value="x"' in bad.text
    assert admin.post(f"/projects/{name}/policies/retention/rules/{first}/toggle").status_code == 303
    policy = retention_policy(api, name)
    assert [x["disabled"] for x in policy["rules"]] == [True, False]
    second = policy["rules"][1]["id"]
    assert admin.post(f"/projects/{name}/policies/retention/rules/{second}/delete").status_code == 303
    assert [x["template"] for x in retention_policy(api, name)["rules"]] == ["nDaysSinceLastPull"]
    assert admin.post(f"/projects/{name}/policies/retention/schedule", {"kind": "None"}).status_code == 303
    assert retention_policy(api, name)["trigger"]["settings"]["cron"] == ""


# Tag immutability ------------------------------------------------------------------------------


def test_immutability_rules_add_edit_toggle_delete(admin: PortalClient, api: httpx.Client,
                                                   project: tuple[str, int]) -> None:
    name, _ = project
    form = {"repo_decoration": "repoMatches", "repo_pattern": "**", "tag_decoration": "matches",
            "tag_pattern": "v*"}
    assert admin.post(f"/projects/{name}/policies/immutability", form).status_code == 303
    duplicate = admin.post(f"/projects/{name}/policies/immutability", form)
    assert duplicate.status_code == 409
    [rule] = api.get(f"/projects/{name}/immutabletagrules").json()
    assert rule["tag_selectors"][0]["pattern"] == "v*" and rule["disabled"] is False
    assert "v*" in admin.page(f"/projects/{name}/policies/immutability")

    edit = well_formed(admin.page(f"/projects/{name}/policies/immutability/{rule['id']}"))
    assert 'value="v*"' in edit
    assert admin.post(f"/projects/{name}/policies/immutability/{rule['id']}",
                      {**form, "tag_pattern": "release-*", "repo_decoration": "repoExcludes"}).status_code == 303
    [rule] = api.get(f"/projects/{name}/immutabletagrules").json()
    assert rule["tag_selectors"][0]["pattern"] == "release-*"
    assert rule["scope_selectors"]["repository"][0]["decoration"] == "repoExcludes"

    assert admin.post(f"/projects/{name}/policies/immutability/{rule['id']}/toggle").status_code == 303
    assert api.get(f"/projects/{name}/immutabletagrules").json()[0]["disabled"] is True
    assert admin.post(f"/projects/{name}/policies/immutability/{rule['id']}/delete").status_code == 303
    assert api.get(f"/projects/{name}/immutabletagrules").json() == []


# Webhooks --------------------------------------------------------------------------------------


class Hooks:
    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.cond = threading.Condition()


@pytest.fixture
def hooks() -> Iterator[tuple[str, Hooks]]:
    received = Hooks()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            body = self.rfile.read(int(self.headers.get("content-length") or 0))
            with received.cond:
                received.bodies.append(json.loads(body or b"{}"))
                received.cond.notify_all()
            self.send_response(200)
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    host, port = server.server_address[:2]
    yield f"http://{host!s}:{port}/hook", received
    server.shutdown()
    server.server_close()


def webhook_form(address: str, name: str = "ci-hook", **extra: Any) -> list[tuple[str, str]]:
    fields = [("name", name), ("description", "notify CI"), ("notify_type", "http"),
              ("payload_format", "Default"), ("address", address), ("auth_header", "Bearer s3cret"),
              ("event_types", "PUSH_ARTIFACT"), ("event_types", "DELETE_ARTIFACT"), ("enabled", "on")]
    return fields + list(extra.items())


def test_webhook_create_edit_toggle_delete(admin: PortalClient, api: httpx.Client, project: tuple[str, int]
                                           ) -> None:
    name, pid = project
    r = admin.post(f"/projects/{name}/webhooks", webhook_form("http://127.0.0.1:9/hook"))
    assert r.status_code == 303, r.text[:3000]
    [policy] = api.get(f"/projects/{pid}/webhook/policies").json()
    assert policy["event_types"] == ["PUSH_ARTIFACT", "DELETE_ARTIFACT"] and policy["enabled"] is True
    assert policy["targets"][0]["auth_header"] == "Bearer s3cret"
    listing = admin.page(f"/projects/{name}/webhooks")
    assert "ci-hook" in listing and "Bearer s3cret" not in listing
    edit = well_formed(admin.page(f"/projects/{name}/webhooks/{policy['id']}/edit"))
    assert "Bearer s3cret" not in edit and 'value="ci-hook"' in edit

    fields = [f for f in webhook_form("http://127.0.0.1:9/other", "renamed") if f[0] != "auth_header"]
    assert admin.post(f"/projects/{name}/webhooks/{policy['id']}", fields).status_code == 303
    stored = api.get(f"/projects/{pid}/webhook/policies/{policy['id']}").json()
    assert stored["name"] == "renamed" and stored["targets"][0]["address"] == "http://127.0.0.1:9/other"
    assert stored["targets"][0]["auth_header"] == "Bearer s3cret"  # kept when left empty

    bad = admin.post(f"/projects/{name}/webhooks", [f for f in webhook_form("") if f[0] != "event_types"])
    assert bad.status_code == 400

    assert admin.post(f"/projects/{name}/webhooks/{policy['id']}/toggle").status_code == 303
    assert api.get(f"/projects/{pid}/webhook/policies/{policy['id']}").json()["enabled"] is False
    assert admin.post(f"/projects/{name}/webhooks/{policy['id']}/delete").status_code == 303
    assert api.get(f"/projects/{pid}/webhook/policies").json() == []


def test_webhook_delivery_log(admin: PortalClient, zh: PortalClient, registry: httpx.Client,
                              project: tuple[str, int], hooks: tuple[str, Hooks]) -> None:
    name, _ = project
    url, received = hooks
    assert admin.post(f"/projects/{name}/webhooks", webhook_form(url)).status_code == 303
    policy_url = re.search(rf'href="(/projects/{name}/webhooks/\d+)"', admin.page(f"/projects/{name}/webhooks"))
    assert policy_url
    push_image(registry, f"{name}/hooked", "v1")
    with received.cond:
        assert received.cond.wait_for(lambda: received.bodies, timeout=30)
    deadline = time.monotonic() + 30
    while "Succeeded" not in (log := admin.page(policy_url.group(1))):
        assert time.monotonic() < deadline, log
        time.sleep(0.3)
    assert "Artifact pushed" in log
    execution_url = re.search(rf'href="({policy_url.group(1)}/executions/\d+)"', log)
    assert execution_url
    execution = well_formed(admin.page(execution_url.group(1)))
    assert url in execution
    task_url = re.search(r'href="([^"]+/tasks/\d+)"', execution)
    assert task_url
    task = well_formed(admin.page(task_url.group(1)))
    assert "PUSH_ARTIFACT" in task and "hooked" in task
    assert "投递" in zh.page(policy_url.group(1))


# Logs ------------------------------------------------------------------------------------------


def test_project_logs_filter_and_page(admin: PortalClient, zh: PortalClient, api: httpx.Client,
                                      project: tuple[str, int], new_user: Callable[..., tuple[str, str]]) -> None:
    name, _ = project
    for _ in range(3):
        user, _ = new_user()
        assert admin.post(f"/projects/{name}/members", {"username": user, "role": "3"}).status_code == 303
    page = text_of(admin.page(f"/projects/{name}/logs"))
    assert f"{name}/{user}" in page and "added" in page
    paged = text_of(admin.page(f"/projects/{name}/logs?page_size=2"))
    assert "Page 1 of 2" in paged
    only = text_of(admin.page(f"/projects/{name}/logs?resource={user}&operation=create"))
    assert f"{name}/{user}" in only and "1–1 of 1" in only
    none = text_of(admin.page(f"/projects/{name}/logs?operation=delete"))
    assert "No log entry matches these filters." in none
    bad = admin.get(f"/projects/{name}/logs?since=yesterday")
    assert bad.status_code == 400 and "is not a date" in bad.text
    today = time.strftime("%Y-%m-%d", time.gmtime())
    assert f"{name}/{user}" in admin.page(f"/projects/{name}/logs?since={today}&until={today}")
    assert "成员" in zh.page(f"/projects/{name}/logs?resource_type=member")


def test_retention_run_now_deletes_and_stop_of_a_finished_run(admin: PortalClient, api: httpx.Client,
                                                              registry: httpx.Client, project: tuple[str, int]
                                                              ) -> None:
    name, _ = project
    for i in range(1, 4):
        push_image(registry, f"{name}/app", f"v{i}")
    assert admin.post(f"/projects/{name}/policies/retention/rules", rule_form("latestPushedK", "2")).status_code == 303
    run = admin.post(f"/projects/{name}/policies/retention/run")
    assert run.status_code == 303
    fragment = wait_final(admin, run.headers["location"])
    assert "2 / 3" in fragment and "3 judged: 2 retained, 1 deleted" in text_of(fragment)
    tags = {t["name"] for a in api.get(f"/projects/{name}/repositories/app/artifacts").json()
            for t in a.get("tags") or []}
    assert tags == {"v2", "v3"}
    page = admin.page(run.headers["location"])
    assert "Retention run" in page and "Stop" not in text_of(page)
    stop = admin.post(run.headers["location"] + "/stop")
    assert stop.status_code == 303  # stopping a finished run changes nothing


def test_retention_run_without_policy_is_refused(admin: PortalClient, project: tuple[str, int]) -> None:
    name, _ = project
    r = admin.post(f"/projects/{name}/policies/retention/run", {"dry_run": "on"})
    assert r.status_code == 400 and "Add a retention rule first." in r.text


def test_robot_secret_page_in_chinese(zh: PortalClient, project: tuple[str, int]) -> None:
    name, _ = project
    r = zh.post(f"/projects/{name}/robots", [("name", "zh"), ("duration", "1"), ("access", "repository:pull")])
    assert r.status_code == 200
    assert "只会显示这一次" in r.text and f"robot${name}+zh" in r.text


def test_developer_lists_robots_and_rules_read_only(portal: Server, api: httpx.Client, project: tuple[str, int],
                                                    new_user: Callable[..., tuple[str, str]]) -> None:
    name, pid = project
    dev, password = new_user()
    assert api.post(f"/projects/{name}/members",
                    json={"role_id": 2, "member_user": {"username": dev}}).status_code == 201
    client = PortalClient(portal).sign_in(dev, password)
    try:
        robots = client.page(f"/projects/{name}/robots")
        assert "New robot account" not in robots
        assert client.get(f"/projects/{name}/robots/new").status_code == 403
        denied = client.post(f"/projects/{name}/robots", [("name", "x"), ("duration", "1"),
                                                           ("access", "repository:pull")])
        assert denied.status_code == 403
        assert api.get("/robots", params={"q": f"Level=project,ProjectID={pid}"}).json() == []
        made = api.post("/robots", json={"name": "ro", "level": "project", "duration": -1, "permissions": [
            {"kind": "project", "namespace": name, "access": [{"resource": "repository", "action": "pull"}]}]})
        assert made.status_code == 201, made.text
        detail = client.page(f"/projects/{name}/robots/{made.json()['id']}")
        assert "Repository: Pull" in text_of(detail) and "<form method=\"post\" action=\"/projects" not in detail
        assert client.post(f"/projects/{name}/robots/{made.json()['id']}/disable").status_code == 403
        policies = client.page(f"/projects/{name}/policies")  # developers hold tag-retention
        assert "Tag immutability" not in policies  # but not immutable-tag
        assert client.get(f"/projects/{name}/policies/immutability").status_code == 403
        assert client.get(f"/projects/{name}/webhooks").status_code == 403
        assert client.get(f"/projects/{name}/logs").status_code == 403
    finally:
        client.close()


def test_project_admin_cannot_change_or_remove_own_membership(portal: Server, api: httpx.Client,
                                                              project: tuple[str, int],
                                                              new_user: Callable[..., tuple[str, str]]) -> None:
    name, _ = project
    boss, password = new_user()
    assert api.post(f"/projects/{name}/members",
                    json={"role_id": 1, "member_user": {"username": boss}}).status_code == 201
    own = next(m["id"] for m in api.get(f"/projects/{name}/members").json() if m["entity_name"] == boss)
    client = PortalClient(portal).sign_in(boss, password)
    try:
        page = client.page(f"/projects/{name}/members")
        assert f"/members/{own}/delete" not in page and "(you)" in text_of(page)
        r = client.post(f"/projects/{name}/members/{own}/role", {"role": "3"})
        assert r.status_code == 403 and "You cannot change your own role." in r.text
        r = client.post(f"/projects/{name}/members/{own}/delete")
        assert r.status_code == 403 and "You cannot remove yourself." in r.text
        assert members(api, name)[boss] == ROLE_IDS["projectAdmin"]
    finally:
        client.close()


def test_detail_and_edit_pages_render_in_both_languages(admin: PortalClient, zh: PortalClient, api: httpx.Client,
                                                        project: tuple[str, int]) -> None:
    name, pid = project
    assert admin.post(f"/projects/{name}/policies/retention/rules", rule_form("always")).status_code == 303
    retention_rule = retention_policy(api, name)["rules"][0]["id"]
    assert admin.post(f"/projects/{name}/policies/immutability",
                      {**rule_form("always"), "tag_pattern": "v*"}).status_code == 303
    immutable_rule = api.get(f"/projects/{name}/immutabletagrules").json()[0]["id"]
    assert admin.post(f"/projects/{name}/webhooks", webhook_form("http://127.0.0.1:9/hook")).status_code == 303
    webhook = api.get(f"/projects/{pid}/webhook/policies").json()[0]["id"]
    admin.post(f"/projects/{name}/robots", [("name", "pages"), ("duration", "3"), ("access", "repository:pull")])
    robot = api.get("/robots", params={"q": f"Level=project,ProjectID={pid}"}).json()[0]["id"]
    pages = [
        (f"policies/retention/rules/{retention_rule}", "Edit retention rule", "编辑保留规则"),
        (f"policies/immutability/{immutable_rule}", "Edit immutability rule", "编辑不可变规则"),
        (f"webhooks/{webhook}/edit", "Edit webhook ci-hook", "编辑 Webhook ci-hook"),
        (f"webhooks/{webhook}", "Delivery log of ci-hook", "ci-hook 的投递日志"),
        (f"robots/{robot}", f"Robot account robot${name}+pages", f"机器人账户 robot${name}+pages"),
    ]
    for path, english, chinese in pages:
        assert english in text_of(well_formed(admin.page(f"/projects/{name}/{path}"))), path
        zh_text = text_of(zh.page(f"/projects/{name}/{path}"))
        assert chinese in zh_text and english not in zh_text, path

"""The replication pages of the portal: registry endpoints (list with health, create, edit,
test connection, delete refused while in use), replication policies (create, edit, enable,
delete, run now), executions (overall and per policy), an execution's live progress fragment,
task logs, stop and re-run of the failed tasks.  The remote side is Debian's docker-registry
on 127.0.0.1; stored state is checked through ``/api/v2.0``."""

from __future__ import annotations

import html
import os
import re
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from tests.common.oci import push_image
from tests.common.servers import ADMIN, Server, start_reference_registry
from tests.integration.portal.conftest import PortalClient
from tests.integration.replication.conftest import wait_execution


def unique(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:8]}"


def notices(page: str) -> list[str]:
    """The texts of the page's notices (flash messages, form errors, test results)."""
    return [html.unescape(re.sub(r"<[^>]+>", "", m)).strip()
            for m in re.findall(r'<div class="notice[^"]*"[^>]*>(.*?)</div>', page, flags=re.S)]


def h1(page: str) -> str:
    found = re.search(r"<h1>(.*?)</h1>", page, flags=re.S)
    assert found, page[:2000]
    return html.unescape(found.group(1)).strip()


def assert_accessible(page: str, path: str) -> None:
    """No duplicate ids, and every visible control has a <label for>."""
    ids = re.findall(r'\sid="([^"]+)"', page)
    assert len(ids) == len(set(ids)), f"{path}: duplicate ids {sorted(i for i in ids if ids.count(i) > 1)}"
    labelled = set(re.findall(r'<label[^>]*\sfor="([^"]+)"', page))
    for tag in re.findall(r"<(?:input|select|textarea)\b[^>]*>", page):
        if re.search(r'type="(hidden|submit|button)"', tag):
            continue
        found = re.search(r'\sid="([^"]+)"', tag)
        assert found and found.group(1) in labelled, f"{path}: unlabelled control {tag}"


def location_id(response: httpx.Response) -> int:
    assert response.status_code in (201, 303), response.text[:2000]
    return int(response.headers["location"].rstrip("/").rsplit("/", 1)[1])


@pytest.fixture(scope="module")
def peer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """Debian's docker-registry, no auth: the remote side of the policies."""
    with start_reference_registry(tmp_path_factory.mktemp("portal-peer")) as server:
        yield server


@pytest.fixture(scope="module")
def peer_client(peer: Server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=peer.url, timeout=30) as client:
        yield client


@pytest.fixture(scope="module")
def registry(portal: Server) -> Iterator[httpx.Client]:
    """The portal server's /v2 as the administrator (to push images)."""
    with httpx.Client(base_url=portal.url, auth=ADMIN, timeout=60) as client:
        yield client


def endpoint_form(url: str, **fields: str) -> dict[str, str]:
    return {"type": "docker-registry", "name": unique("peer"), "description": "", "url": url,
            "credential_type": "basic", "access_key": "", "access_secret": "", "ca_bundle": "", **fields}


def create_endpoint(api: httpx.Client, url: str) -> tuple[int, str]:
    name = unique("reg")
    r = api.post("/registries", json={"name": name, "type": "docker-registry", "url": url, "insecure": False,
                                      "credential": {"type": "basic", "access_key": "", "access_secret": ""}})
    return location_id(r), name


@pytest.fixture(scope="module")
def endpoint(api: httpx.Client, peer: Server) -> tuple[int, str]:
    """The peer's endpoint, shared by the policy tests."""
    return create_endpoint(api, peer.url)


def policy_form(registry_id: int, **fields: str) -> dict[str, str]:
    return {"name": unique("policy"), "description": "from the portal", "mode": "push",
            "registry_id": str(registry_id), "filter_name": "", "filter_name_decoration": "matches",
            "filter_tag": "", "filter_tag_decoration": "matches", "filter_label": "",
            "filter_label_decoration": "matches", "filter_resource": "", "dest_namespace": "",
            "replace_count": "-1", "trigger": "manual", "cron": "", "speed": "-1", "override": "on",
            "enabled": "on", **fields}


def policy_named(api: httpx.Client, name: str) -> dict[str, Any]:
    r = api.get("/replication/policies", params={"q": f"name={name}"})
    assert r.status_code == 200, r.text
    [found] = r.json()
    return dict(found)


def create_policy_api(api: httpx.Client, registry_id: int, push: bool = True, **fields: Any) -> int:
    body: dict[str, Any] = {"name": unique("policy"), "enabled": True, "override": True, "filters": [],
                            "trigger": {"type": "manual", "trigger_settings": {"cron": ""}},
                            "dest_namespace": "", "dest_namespace_replace_count": -1, **fields}
    body["dest_registry" if push else "src_registry"] = {"id": registry_id}
    return location_id(api.post("/replication/policies", json=body))


def wait_page(client: PortalClient, path: str, predicate: Callable[[str], bool], timeout: float = 60) -> str:
    deadline = time.monotonic() + timeout
    while True:
        page = client.page(path)
        if predicate(page):
            return page
        assert time.monotonic() < deadline, f"{path} never matched:\n{page[:3000]}"
        time.sleep(0.25)


def peer_tags(peer_client: httpx.Client, repository: str) -> list[str]:
    r = peer_client.get(f"/v2/{repository}/tags/list")
    return sorted(r.json().get("tags") or []) if r.status_code == 200 else []


# Rendering in both languages --------------------------------------------------------------------


def test_registry_pages_render_in_english_and_chinese(admin: PortalClient, zh: PortalClient,
                                                       endpoint: tuple[int, str]) -> None:
    registry_id, name = endpoint
    pages = {"/admin/registries": ("Registry endpoints", "仓库管理"),
             "/admin/registries/new": ("New registry endpoint", "新建仓库目标"),
             f"/admin/registries/{registry_id}": (f"Edit registry endpoint {name}", f"编辑仓库目标 {name}")}
    for path, (english, chinese) in pages.items():
        page = admin.page(path)
        assert h1(page) == english, path
        assert_accessible(page, path)
        page = zh.page(path)
        assert h1(page) == chinese, path
        assert "测试连接" in page, path  # the test connection button
    listing = admin.page("/admin/registries")
    assert name in listing and "Healthy" in listing  # the list checks health
    assert "健康" in zh.page("/admin/registries")


def test_replication_pages_render_in_english_and_chinese(admin: PortalClient, zh: PortalClient, api: httpx.Client,
                                                          registry: httpx.Client, endpoint: tuple[int, str]) -> None:
    project = unique("rend")
    assert api.post("/projects", json={"project_name": project, "metadata": {"public": "false"}}).status_code == 201
    push_image(registry, f"{project}/app", "v1")
    policy_id = create_policy_api(api, endpoint[0], filters=[{"type": "name", "value": f"{project}/**"}])
    policy = api.get(f"/replication/policies/{policy_id}").json()["name"]
    r = api.post("/replication/executions", json={"policy_id": policy_id})
    execution_id = location_id(r)
    wait_execution(api, execution_id)
    [task] = api.get(f"/replication/executions/{execution_id}/tasks").json()
    pages = {
        "/admin/replications": ("Replication policies", "复制策略"),
        "/admin/replications/new": ("New replication policy", "新建复制策略"),
        f"/admin/replications/{policy_id}": (f"Edit replication policy {policy}", f"编辑复制策略 {policy}"),
        "/admin/replications/executions": ("Replication executions", "复制执行记录"),
        f"/admin/replications/{policy_id}/executions": (f"Executions of {policy}", f"{policy} 的执行记录"),
        f"/admin/replications/executions/{execution_id}": (f"Replication run #{execution_id}",
                                                           f"复制执行 #{execution_id}"),
        f"/admin/replications/executions/{execution_id}/tasks/{task['id']}/log": (
            f"Log of task {task['id']}", f"任务 {task['id']} 的日志"),
    }
    for path, (english, chinese) in pages.items():
        page = admin.page(path)
        assert h1(page) == english, path
        assert_accessible(page, path)
        assert h1(zh.page(path)) == chinese, path
    fragment = zh.get(f"/admin/replications/executions/{execution_id}/progress")
    assert fragment.status_code == 200 and "<html" not in fragment.text
    assert "1 个任务中已完成 1 个" in fragment.text


def test_pages_are_for_system_administrators(portal: Server, new_user: Callable[..., tuple[str, str]],
                                             anonymous: PortalClient) -> None:
    user = PortalClient(portal).sign_in(*new_user())
    try:
        for path in ("/admin/registries", "/admin/replications", "/admin/replications/executions"):
            assert user.get(path).status_code == 403, path
        assert user.post("/admin/registries/new", endpoint_form("http://127.0.0.1:1")).status_code == 403
    finally:
        user.close()
    r = anonymous.get("/admin/replications")
    assert r.status_code == 303 and r.headers["location"].startswith("/sign-in")


# Registry endpoints ------------------------------------------------------------------------------


def test_create_endpoint_with_test_connection(admin: PortalClient, api: httpx.Client, peer: Server) -> None:
    form = endpoint_form(peer.url, description="the peer")
    tested = admin.post("/admin/registries/test", form)
    assert tested.status_code == 200
    assert any(n.startswith("Connection succeeded") for n in notices(tested.text)), notices(tested.text)
    assert f'value="{form["name"]}"' in tested.text  # the form keeps what was typed

    closed = admin.post("/admin/registries/test", {**form, "url": "http://127.0.0.1:9"})
    assert closed.status_code == 200
    assert any(n.startswith("Connection failed") for n in notices(closed.text)), notices(closed.text)

    created = admin.post("/admin/registries/new", form, follow=True)
    assert f"Registry endpoint {form['name']} created." in notices(created.text)
    [stored] = [r for r in api.get("/registries", params={"q": f"name={form['name']}"}).json()]
    assert (stored["url"], stored["type"], stored["description"], stored["insecure"]) == (
        peer.url, "docker-registry", "the peer", False)

    again = admin.post("/admin/registries/new", form)
    assert again.status_code == 409 and "already exists" in " ".join(notices(again.text))

    from_edit = admin.post(f"/admin/registries/{stored['id']}/test", form)  # as stored: health recorded
    assert any(n.startswith("Connection succeeded") for n in notices(from_edit.text)), notices(from_edit.text)
    assert f"Edit registry endpoint {form['name']}" in from_edit.text
    pinged = admin.post(f"/admin/registries/{stored['id']}/ping", {}, follow=True)
    assert f"{form['name']}: connection succeeded." in notices(pinged.text)
    assert api.get(f"/registries/{stored['id']}").json()["status"] == "healthy"

    edited = admin.post(f"/admin/registries/{stored['id']}", {**form, "description": "edited", "insecure": "on"},
                        follow=True)
    assert f"Registry endpoint {form['name']} saved." in notices(edited.text)
    now = api.get(f"/registries/{stored['id']}").json()
    assert (now["description"], now["insecure"]) == ("edited", True)

    gone = admin.post(f"/admin/registries/{stored['id']}/delete", {}, follow=True)
    assert f"Registry endpoint {form['name']} deleted." in notices(gone.text)
    assert api.get(f"/registries/{stored['id']}").status_code == 404


def test_unreachable_endpoint_shows_unhealthy_and_bad_url_is_refused(admin: PortalClient, api: httpx.Client,
                                                                    zh: PortalClient) -> None:
    dead = admin.post("/admin/registries/new", endpoint_form("http://127.0.0.1:9"), follow=True)
    assert any(n.endswith("created.") for n in notices(dead.text))
    assert "Unhealthy" in admin.page("/admin/registries?q=peer")
    refused = admin.post("/admin/registries/new", endpoint_form("ftp://example.com"))
    assert refused.status_code == 400 and "scheme" in " ".join(notices(refused.text))
    bad_ca = admin.post("/admin/registries/new", endpoint_form("http://127.0.0.1:9", ca_bundle="not a certificate"))
    assert bad_ca.status_code == 400 and "PEM" in " ".join(notices(bad_ca.text))
    assert "not a certificate" in bad_ca.text  # the form keeps what was typed
    failed = zh.post("/admin/registries/test", endpoint_form("http://127.0.0.1:9"))
    assert any(n.startswith("连接失败") for n in notices(failed.text)), notices(failed.text)


def test_delete_endpoint_in_use_is_refused_in_plain_words(admin: PortalClient, zh: PortalClient, api: httpx.Client,
                                                          peer: Server) -> None:
    registry_id, name = create_endpoint(api, peer.url)
    policy_id = create_policy_api(api, registry_id)
    policy = api.get(f"/replication/policies/{policy_id}").json()["name"]
    refused = admin.post(f"/admin/registries/{registry_id}/delete", {}, follow=True)
    assert (f"Registry endpoint {name} is in use by replication policy {policy}: change or delete them first."
            in notices(refused.text)), notices(refused.text)
    in_chinese = zh.post(f"/admin/registries/{registry_id}/delete", {}, follow=True)
    assert f"仓库目标 {name} 正被 复制策略 {policy} 使用" in " ".join(notices(in_chinese.text))
    assert api.get(f"/registries/{registry_id}").status_code == 200
    assert api.delete(f"/replication/policies/{policy_id}").status_code == 200
    admin.post(f"/admin/registries/{registry_id}/delete", {})
    assert api.get(f"/registries/{registry_id}").status_code == 404


# Policies ----------------------------------------------------------------------------------------


def test_create_edit_toggle_and_delete_a_policy(admin: PortalClient, api: httpx.Client,
                                                endpoint: tuple[int, str]) -> None:
    registry_id, registry_name = endpoint
    invalid = admin.post("/admin/replications/new", policy_form(registry_id, trigger="scheduled"))
    assert invalid.status_code == 400 and "cron" in " ".join(notices(invalid.text))
    no_registry = admin.post("/admin/replications/new", {**policy_form(registry_id), "registry_id": ""})
    assert no_registry.status_code == 400 and "Choose a registry endpoint." in notices(no_registry.text)

    form = policy_form(registry_id, filter_name="library/**", filter_tag="v*", filter_tag_decoration="excludes",
                       filter_label="prod, qa", filter_resource="image", dest_namespace="mirror",
                       replace_count="1", trigger="scheduled", cron="0 0 3 * * *", speed="512", deletion="on")
    created = admin.post("/admin/replications/new", form, follow=True)
    assert f"Replication policy {form['name']} created." in notices(created.text)
    assert form["name"] in created.text and registry_name in created.text
    assert "0 0 3 * * *" in created.text and "Next run:" in created.text
    stored = policy_named(api, form["name"])
    assert stored["dest_registry"]["id"] == registry_id and stored["src_registry"]["id"] == 0
    assert (stored["dest_namespace"], stored["dest_namespace_replace_count"], stored["speed"]) == ("mirror", 1, 512)
    assert stored["trigger"] == {"type": "scheduled", "trigger_settings": {"cron": "0 0 3 * * *"}}
    assert stored["replicate_deletion"] is True and stored["override"] is True
    assert sorted(stored["filters"], key=lambda f: f["type"]) == [
        {"type": "label", "value": ["prod", "qa"], "decoration": "matches"},
        {"type": "name", "value": "library/**", "decoration": "matches"},
        {"type": "resource", "value": "image"},
        {"type": "tag", "value": "v*", "decoration": "excludes"},
    ]
    policy_id = int(stored["id"])
    edit = admin.page(f"/admin/replications/{policy_id}")
    assert 'value="library/**"' in edit and 'value="prod, qa"' in edit and 'value="0 0 3 * * *"' in edit

    pull = {**form, "mode": "pull", "filter_label": "", "trigger": "manual", "override": ""}
    saved = admin.post(f"/admin/replications/{policy_id}", pull, follow=True)
    assert f"Replication policy {form['name']} saved." in notices(saved.text)
    now = api.get(f"/replication/policies/{policy_id}").json()
    assert now["src_registry"]["id"] == registry_id and now["dest_registry"]["id"] == 0
    assert (now["trigger"]["type"], now["override"]) == ("manual", False)

    off = admin.post(f"/admin/replications/{policy_id}/enable", {"enabled": "off"}, follow=True)
    assert f"Replication policy {form['name']} disabled." in notices(off.text)
    assert api.get(f"/replication/policies/{policy_id}").json()["enabled"] is False
    refused = admin.post(f"/admin/replications/{policy_id}/run", {}, follow=True)
    assert f"Replication policy {form['name']} is disabled: enable it first." in notices(refused.text)
    on = admin.post(f"/admin/replications/{policy_id}/enable", {"enabled": "on"}, follow=True)
    assert f"Replication policy {form['name']} enabled." in notices(on.text)
    assert api.get(f"/replication/policies/{policy_id}").json()["enabled"] is True

    deleted = admin.post(f"/admin/replications/{policy_id}/delete", {}, follow=True)
    assert f"Replication policy {form['name']} deleted." in notices(deleted.text)
    assert api.get(f"/replication/policies/{policy_id}").status_code == 404


def test_run_policy_shows_progress_and_task_logs(admin: PortalClient, api: httpx.Client, registry: httpx.Client,
                                                 peer_client: httpx.Client, endpoint: tuple[int, str]) -> None:
    project = unique("run")
    assert api.post("/projects", json={"project_name": project, "metadata": {"public": "false"}}).status_code == 201
    push_image(registry, f"{project}/app", "v1")
    push_image(registry, f"{project}/app", "v2")
    form = policy_form(endpoint[0], filter_name=f"{project}/**", dest_namespace=f"copy{project}")
    admin.post("/admin/replications/new", form)
    policy_id = int(policy_named(api, form["name"])["id"])

    started = admin.post(f"/admin/replications/{policy_id}/run", {})
    execution_id = location_id(started)
    page = admin.get(started.headers["location"]).text
    assert f"Replication policy {form['name']} started." in notices(page)
    assert f'data-poll="/admin/replications/executions/{execution_id}/progress"' in page

    fragment_url = f"/admin/replications/executions/{execution_id}/progress"
    done = wait_page(admin, fragment_url, lambda text: "data-poll-active" not in text)
    assert "2 of 2 tasks finished (100%)" in done
    assert re.search(r'<progress id="repl-bar" max="2" value="2">', done)
    assert f"{project}/app:[v1]" in done and f"copy{project}/app:[v2]" in done
    assert "Re-run failed tasks" not in done  # nothing failed
    assert peer_tags(peer_client, f"copy{project}/app") == ["v1", "v2"]

    listed = admin.page(f"/admin/replications/{policy_id}/executions")
    assert f'href="/admin/replications/executions/{execution_id}"' in listed
    policies = admin.page(f"/admin/replications?q={form['name']}")  # its last run
    assert f'href="/admin/replications/executions/{execution_id}"' in policies
    link = f'href="/admin/replications/executions/{execution_id}"'
    assert link in admin.page("/admin/replications/executions?status=Succeed")
    assert link not in admin.page("/admin/replications/executions?status=Failed")

    log_url = re.findall(r'href="(/admin/replications/executions/\d+/tasks/\d+/log)"', done)[0]
    log_page = admin.page(log_url)
    assert "copied" in log_page and "Succeeded" in log_page
    fragment = admin.get(log_url + "?fragment=1")
    assert fragment.status_code == 200 and "<html" not in fragment.text and "copied" in fragment.text
    assert "data-poll-active" not in fragment.text  # the task is over: nothing to poll
    text = admin.get(log_url + "?format=text")
    assert text.headers["content-type"].startswith("text/plain") and "copied" in text.text
    other = admin.get(f"/admin/replications/executions/{execution_id + 10_000}/tasks/1/log")
    assert other.status_code == 404


def test_rerun_failed_tasks(admin: PortalClient, zh: PortalClient, api: httpx.Client, peer_client: httpx.Client,
                            registry: httpx.Client, endpoint: tuple[int, str]) -> None:
    """A pull into a project whose quota is too small fails one task; once the quota is raised,
    "re-run failed tasks" copies just that one."""
    upstream = unique("up")
    push_image(peer_client, f"{upstream}/small", "v1")
    push_image(peer_client, f"{upstream}/large", "v1", layer=os.urandom(2 * 1024 * 1024))
    project = unique("quota")
    r = api.post("/projects", json={"project_name": project, "metadata": {"public": "false"},
                                    "storage_limit": 1024 * 1024})
    assert r.status_code == 201, r.text
    project_id = location_id(r)
    form = policy_form(endpoint[0], mode="pull", filter_name=f"{upstream}/**", dest_namespace=project,
                       replace_count="1")
    assert admin.post("/admin/replications/new", form).status_code == 303
    policy_id = int(policy_named(api, form["name"])["id"])
    first = location_id(admin.post(f"/admin/replications/{policy_id}/run", {}))
    assert wait_execution(api, first)["status"] == "Failed"

    page = admin.page(f"/admin/replications/executions/{first}")
    assert "data-poll-active" not in page and "1 of 2 task(s) failed" in page
    assert "Re-run failed tasks" in page
    assert "重新运行失败的任务" in zh.page(f"/admin/replications/executions/{first}")
    failed_only = admin.page(f"/admin/replications/executions/{first}?task_status=Failed")
    assert f"{upstream}/large:[v1]" in failed_only and f"{upstream}/small:[v1]" not in failed_only

    assert api.put(f"/quotas/{project_id}", json={"hard": {"storage": -1}}).status_code == 200
    rerun = admin.post(f"/admin/replications/executions/{first}/retry", {})
    second = location_id(rerun)
    assert second != first
    run = wait_execution(api, second)
    assert (run["status"], run["total"], run["succeed"]) == ("Succeed", 1, 1)
    page = admin.page(f"/admin/replications/executions/{second}")
    assert f'href="/admin/replications/executions/{first}">#{first}</a>' in page  # "re-run of"
    assert registry.head(f"/v2/{project}/large/manifests/v1", headers={
        "Accept": "application/vnd.oci.image.manifest.v1+json"}).status_code == 200
    nothing = admin.post(f"/admin/replications/executions/{second}/retry", {}, follow=True)
    assert "No task of this run failed: there is nothing to re-run." in notices(nothing.text)


def test_stop_a_running_execution(admin: PortalClient, api: httpx.Client, registry: httpx.Client,
                                  endpoint: tuple[int, str]) -> None:
    project = unique("stop")
    assert api.post("/projects", json={"project_name": project, "metadata": {"public": "false"}}).status_code == 201
    push_image(registry, f"{project}/big", "v1", layer=os.urandom(11 * 1024 * 1024))  # chunked: speed applies
    form = policy_form(endpoint[0], filter_name=f"{project}/**", speed="256")
    admin.post("/admin/replications/new", form)
    policy_id = int(policy_named(api, form["name"])["id"])
    execution_id = location_id(admin.post(f"/admin/replications/{policy_id}/run", {}))
    path = f"/admin/replications/executions/{execution_id}"
    # The copy task is spawned and not finished: 0 of 1 done, the page polls.
    running = wait_page(admin, path, lambda text: '<progress id="repl-bar" max="1" value="0">' in text)
    assert "data-poll-active" in running and ">Stop</button>" in running
    listed = admin.get(f"/admin/replications/{policy_id}/executions?fragment=1").text
    assert "<html" not in listed and "data-poll-active" in listed  # the list refreshes while a run is active
    stopped = admin.post(path + "/stop", {}, follow=True)
    assert "Stop requested: running tasks stop at their next step." in notices(stopped.text)
    assert wait_execution(api, execution_id)["status"] == "Stopped"
    final = admin.page(path)
    assert "data-poll-active" not in final and "Re-run failed tasks" in final
    assert "data-poll-active" not in admin.page(f"/admin/replications/{policy_id}/executions")

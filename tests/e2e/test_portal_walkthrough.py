"""An administrator's day in the portal, in a real browser (Debian's Chromium through
Playwright): sign in, create a project, push an image with skopeo and find it with its tag
and size, add a member and a robot account, set a retention rule and dry-run it, run GC,
switch to 简体中文, sign out.  Screenshots of each page land in ``test-artifacts/portal/``."""

from __future__ import annotations

import os
import re
import secrets
import shutil
from pathlib import Path

import httpx
import pytest

from tests.common.servers import ADMIN, ADMIN_PASSWORD, Server
from tests.conformance.clients import ClientEnv, require_binaries, skopeo_copy, umoci_build_image

pytest.importorskip("playwright")
from playwright.sync_api import Browser, Page, expect  # noqa: E402

pytestmark = pytest.mark.clients


def shot(page: Page, artifacts: Path, name: str) -> None:
    page.screenshot(path=str(artifacts / f"{name}.png"), full_page=True)


def heading(page: Page) -> str:
    return page.locator("h1").first.inner_text()


@pytest.fixture
def pushed_image(server: Server, tmp_path: Path) -> tuple[str, int]:
    """An image built with umoci, to be pushed with skopeo (layout path, layer size)."""
    require_binaries("skopeo", "umoci")
    layout = tmp_path / "layout"
    umoci_build_image(layout, "v1", {"srv/hello.txt": os.urandom(400_000)}, workdir=tmp_path)
    return str(layout), 400_000


def test_an_administrators_walkthrough(page: Page, server: Server, artifacts: Path, tmp_path: Path,
                                       pushed_image: tuple[str, int]) -> None:
    base = server.url
    project = f"e2e{secrets.token_hex(2)}"
    with httpx.Client(base_url=f"{base}/api/v2.0", auth=ADMIN, timeout=30) as api:
        member = f"dev{secrets.token_hex(2)}"
        assert api.post("/users", json={"username": member, "password": "Member12345", "realname": "Dev",
                                        "email": f"{member}@example.com"}).status_code == 201

    # Sign in: an anonymous visit lands on the sign-in page.
    page.goto(base + "/")
    expect(page).to_have_url(re.compile(r"/sign-in"))
    shot(page, artifacts, "01-sign-in")
    page.get_by_label("User name").fill("admin")
    page.get_by_label("Password").fill(ADMIN_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("h1")).to_contain_text("Projects")
    shot(page, artifacts, "02-projects")

    # Create a project.
    page.get_by_role("link", name="New project").first.click()
    shot(page, artifacts, "03-new-project")
    page.get_by_label("Project name").fill(project)
    page.get_by_role("button", name="Create").click()
    expect(page).to_have_url(f"{base}/projects/{project}")
    expect(page.locator("h1")).to_contain_text(project)
    shot(page, artifacts, "04-project-summary")

    # Push an image with skopeo, then find it with its tag and size.
    run_root = Path(f"/tmp/mre2e-{secrets.token_hex(3)}")
    try:
        cenv = ClientEnv.create(tmp_path / "client-env", run_root)
        cenv.set_credentials(server.host, *ADMIN)
        skopeo_copy(cenv, f"oci:{pushed_image[0]}:v1", f"docker://{server.host}/{project}/app:v1")
    finally:
        shutil.rmtree(run_root, ignore_errors=True)
    page.get_by_role("link", name="Repositories").first.click()
    expect(page.get_by_role("link", name=f"{project}/app")).to_be_visible()
    shot(page, artifacts, "05-repositories")
    page.get_by_role("link", name=f"{project}/app").click()
    row = page.locator("table.list tbody tr").first
    expect(row).to_contain_text("v1")
    expect(row).to_contain_text(re.compile(r"\d+(\.\d)? KB"))
    shot(page, artifacts, "06-artifacts")
    row.locator("th a").first.click()
    expect(page.locator(f"input[value^='docker pull {server.host}/{project}/app']").first).to_be_visible()
    expect(page.locator("body")).to_contain_text("umoci repack")  # the build history, from the config
    shot(page, artifacts, "07-artifact")

    # Add a member.
    page.goto(f"{base}/projects/{project}/members")
    page.get_by_label("Username").fill(member)
    page.get_by_label("Role").first.select_option(label="Developer")
    page.get_by_role("button", name="Add member").click()
    expect(page.locator("table.list")).to_contain_text(member)
    shot(page, artifacts, "08-members")

    # Add a robot account: its secret is shown once, with a copy button.
    page.goto(f"{base}/projects/{project}/robots")
    page.get_by_role("link", name="New robot account").click()
    page.locator("#f-name").fill("ci")
    page.get_by_role("button", name="Create robot account").click()
    expect(page.locator("h2")).to_contain_text("created")
    secret = page.locator("input[readonly]").last.input_value()
    assert len(secret) >= 16
    expect(page.get_by_role("button", name=re.compile("Copy"))).not_to_have_count(0)
    shot(page, artifacts, "09-robot-secret")
    page.goto(f"{base}/projects/{project}/robots")
    expect(page.locator("body")).not_to_contain_text(secret)
    shot(page, artifacts, "10-robots")

    # A retention rule, and a dry run with its results.
    page.goto(f"{base}/projects/{project}/policies")
    page.get_by_text("Add a rule").click()
    page.get_by_label("Retain").select_option(index=0)
    page.get_by_label("Count (artifacts or days)").fill("1")
    page.get_by_role("button", name="Add rule").click()
    expect(page.locator("body")).to_contain_text("**")
    page.get_by_role("button", name="Dry run").first.click()
    page.wait_for_timeout(500)
    for _ in range(40):
        page.goto(f"{base}/projects/{project}/policies")
        if page.locator("table.list").last.get_by_text(re.compile("Succeeded|Failed")).count():
            break
        page.wait_for_timeout(500)
    expect(page.locator("table.list").last).to_contain_text("Succeeded")
    shot(page, artifacts, "11-policies")
    page.locator("table.list").last.locator("tbody tr th a").first.click()
    expect(page.locator("body")).to_contain_text(f"{project}/app")
    shot(page, artifacts, "12-retention-run")

    # Garbage collection.
    page.goto(f"{base}/admin/gc")
    page.get_by_role("button", name="Run GC now").click()
    for _ in range(40):
        page.goto(f"{base}/admin/gc")
        if page.get_by_text("Succeeded").count():
            break
        page.wait_for_timeout(500)
    expect(page.get_by_text("Succeeded").first).to_be_visible()
    shot(page, artifacts, "13-gc")

    # The other administration pages, for the record.
    for name, path in (("14-users", "/admin/users"), ("15-registries", "/admin/registries"),
                       ("16-replications", "/admin/replications"), ("17-labels", "/admin/labels"),
                       ("18-audit-logs", "/admin/audit-logs"), ("19-configuration", "/admin/configuration"),
                       ("20-project-logs", f"/projects/{project}/logs"),
                       ("21-project-webhooks", f"/projects/{project}/webhooks"),
                       ("22-project-labels", f"/projects/{project}/labels"),
                       ("23-project-configuration", f"/projects/{project}/configuration"),
                       ("30-immutability", f"/projects/{project}/policies/immutability"),
                       ("31-change-password", "/account/password")):
        response = page.goto(base + path)
        assert response is not None and response.status == 200, path
        shot(page, artifacts, name)

    # Switch to Simplified Chinese: the page is translated, and stays so.
    page.goto(f"{base}/projects")
    page.get_by_role("button", name="简体中文").click()
    expect(page.locator("h1")).to_contain_text("项目")
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    page.goto(f"{base}/projects/{project}/repositories")
    expect(page.get_by_role("link", name="镜像仓库")).to_be_visible()
    shot(page, artifacts, "24-zh-repositories")

    # The dark theme.
    page.get_by_role("button", name="深色").or_(page.locator("[data-theme-toggle]")).first.click()
    expect(page.locator("html")).to_have_attribute("data-theme", "dark")
    shot(page, artifacts, "25-zh-dark")

    # Sign out.
    page.locator("details.menu summary").click()
    page.get_by_role("button", name="退出登录").click()
    expect(page).to_have_url(re.compile(r"/sign-in"))
    expect(page.locator("h1")).to_contain_text("登录")
    page.goto(f"{base}/projects")
    expect(page).to_have_url(re.compile(r"/sign-in"))


def test_reading_works_without_javascript(browser: Browser, server: Server, artifacts: Path) -> None:
    name = f"nojs{secrets.token_hex(2)}"
    with httpx.Client(base_url=f"{server.url}/api/v2.0", auth=ADMIN, timeout=30) as api:
        created = api.post("/users", json={"username": name, "password": "NoScript123", "realname": "No Script",
                                           "email": f"{name}@example.com"})
        assert created.status_code == 201
        user_id = created.headers["location"].rsplit("/", 1)[1]
        assert api.put(f"/users/{user_id}/sysadmin", json={"sysadmin_flag": True}).status_code == 200
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    page.goto(server.url + "/sign-in")
    page.get_by_label("User name").fill(name)
    page.get_by_label("Password").fill("NoScript123")
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("h1")).to_contain_text("Projects")
    for path in ("/projects/library", "/projects/library/repositories", "/projects/library/members",
                 "/admin/users", "/admin/gc", "/admin/replications"):
        response = page.goto(server.url + path)
        assert response is not None and response.status == 200, path
        expect(page.locator("h1").first).to_be_visible()
    # Forms work too: the language switch is a plain form post.
    page.get_by_role("button", name="简体中文").click()
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    shot(page, artifacts, "26-no-javascript")
    context.close()


def test_keyboard_reaches_the_sign_in_form(page: Page, server: Server) -> None:
    page.goto(server.url + "/sign-in")
    page.keyboard.press("Tab")  # the skip link comes first
    assert page.evaluate("document.activeElement.className") == "skip"
    focused = set()
    for _ in range(12):
        page.keyboard.press("Tab")
        focused.add(page.evaluate("document.activeElement.id || document.activeElement.textContent.trim()"))
    assert {"f-principal", "f-password"} <= focused


def sign_in_new_admin(page: Page, server: Server) -> str:
    """A fresh system administrator (so the language another test chose does not carry over)."""
    name = f"ops{secrets.token_hex(2)}"
    with httpx.Client(base_url=f"{server.url}/api/v2.0", auth=ADMIN, timeout=30) as api:
        created = api.post("/users", json={"username": name, "password": "Operator123", "realname": "Ops",
                                           "email": f"{name}@example.com"})
        assert created.status_code == 201
        user_id = created.headers["location"].rsplit("/", 1)[1]
        assert api.put(f"/users/{user_id}/sysadmin", json={"sysadmin_flag": True}).status_code == 200
    page.goto(server.url + "/sign-in")
    page.get_by_label("User name").fill(name)
    page.get_by_label("Password").fill("Operator123")
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("h1")).to_contain_text("Projects")
    return name


def test_replication_in_the_browser(page: Page, server: Server, artifacts: Path) -> None:
    """An endpoint with a connection test, a push policy, a run watched live to the end, a task log."""
    from tests.common.oci import push_image

    source = f"src{secrets.token_hex(2)}"
    with httpx.Client(base_url=server.url, auth=ADMIN, timeout=30) as client:
        assert client.post("/api/v2.0/projects", json={"project_name": source}).status_code == 201
        push_image(client, f"{source}/app", "v1")
    sign_in_new_admin(page, server)

    page.goto(server.url + "/admin/registries/new")
    page.locator("#f-type").select_option("harbor")  # a Moorage (or Harbor) peer creates the project
    page.locator("#f-name").fill(f"peer{secrets.token_hex(2)}")
    page.locator("#f-url").fill(server.url)
    page.get_by_label("Access ID (username)").fill(ADMIN[0])
    page.locator("input[type=password]").first.fill(ADMIN[1])
    page.get_by_role("button", name="Test connection").click()
    expect(page.locator(".notice").first).to_contain_text("Connection succeeded")
    shot(page, artifacts, "27-registry-endpoint")
    page.get_by_role("button", name="Create").click()
    expect(page.locator("table.list")).to_contain_text(server.url)
    shot(page, artifacts, "15-registries")

    page.goto(server.url + "/admin/replications/new")
    page.locator("#f-name").fill(f"out{secrets.token_hex(2)}")
    page.locator("#f-registry_id").select_option(index=1)
    page.locator("#f-filter_name").fill(f"{source}/**")
    page.locator("#f-dest_namespace").fill(f"{source}-copy")
    page.get_by_role("button", name="Create").click()
    expect(page.locator("table.list")).to_contain_text(f"{source}-copy")
    shot(page, artifacts, "16-replications")
    page.get_by_role("button", name="Replicate now").first.click()
    expect(page.locator("h1")).to_contain_text("Replication run")
    # The page follows the run by itself (polling a fragment) until it ends.
    expect(page.locator("main .badge").first).to_have_text("Succeeded", timeout=60_000)
    expect(page.locator("main")).to_contain_text("1 of 1 tasks finished (100%)")
    expect(page.locator("progress").first).to_be_visible()
    shot(page, artifacts, "28-replication-run")
    page.get_by_role("link", name="View log").first.click()
    expect(page.locator("body")).to_contain_text(f"{source}/app")
    shot(page, artifacts, "29-replication-task-log")
    page.goto(server.url + "/admin/replications/executions")
    expect(page.locator("table.list")).to_contain_text("Succeeded")
    shot(page, artifacts, "32-replication-executions")


def test_select_all_ticks_the_page(page: Page, server: Server) -> None:
    """The artifacts page's select-all box (shown only with JavaScript) ticks every row."""
    from tests.common.oci import push_image

    project = f"sel{secrets.token_hex(2)}"
    with httpx.Client(base_url=server.url, auth=ADMIN, timeout=30) as client:
        assert client.post("/api/v2.0/projects", json={"project_name": project}).status_code == 201
        for tag in ("a", "b", "c"):
            push_image(client, f"{project}/app", tag)
    sign_in_new_admin(page, server)
    page.goto(f"{server.url}/projects/{project}/repositories/app")
    page.get_by_label("Select all on this page").check()
    expect(page.locator("tbody input[name=digest]:checked")).to_have_count(3)

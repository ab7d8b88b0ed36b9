"""The portal's own pages and rules: signing in and out, self-registration, password change,
the language remembered per user, themes, CSRF, escaping, error pages, security headers, and
the projects list, create and delete."""

from __future__ import annotations

import re
import secrets

import httpx

from tests.common.servers import Server
from tests.integration.portal.conftest import PASSWORD, PortalClient, make_user


def h1(page: str) -> str:
    found = re.search(r"<h1[^>]*>(.*?)</h1>", page, re.S)
    assert found, page[:2000]
    return re.sub(r"<[^>]+>|\s+", " ", found.group(1)).strip()


def notices(page: str) -> list[str]:
    return [re.sub(r"\s+", " ", n).strip() for n in re.findall(r'class="notice[^"]*"[^>]*>(.*?)</div>', page, re.S)]


# Signing in and out ---------------------------------------------------------------------

def test_anonymous_visitors_are_sent_to_sign_in_and_come_back(portal: Server, api: httpx.Client) -> None:
    client = PortalClient(portal)
    response = client.get("/projects?q=x")
    assert response.status_code == 303
    assert response.headers["location"] == "/sign-in?next=/projects%3Fq%3Dx"
    page = client.page(response.headers["location"])
    assert h1(page) == "Sign in to Moorage"
    assert 'value="/projects?q=x"' in page
    name, password = make_user(api)
    signed = client.post("/sign-in", {"principal": name, "password": password, "next": "/projects?q=x"})
    assert signed.status_code == 303 and signed.headers["location"] == "/projects?q=x"
    assert "HttpOnly" in signed.headers["set-cookie"] and "SameSite=lax" in signed.headers["set-cookie"]
    assert h1(client.page("/projects")).startswith("Projects")


def test_a_wrong_password_is_refused_in_plain_words(anonymous: PortalClient, api: httpx.Client) -> None:
    name, _password = make_user(api)
    anonymous.get("/sign-in")
    response = anonymous.post("/sign-in", {"principal": name, "password": "wrong"})
    assert response.status_code == 401
    assert "Invalid user name or password." in response.text
    logs = api.get("/audit-logs", params={"q": f"resource={name}"}).json()
    assert any(entry["operation"] == "login" and entry["resource"] == name for entry in logs)


def test_next_never_leaves_the_site(anonymous: PortalClient, api: httpx.Client) -> None:
    name, password = make_user(api)
    anonymous.get("/sign-in")
    response = anonymous.post("/sign-in", {"principal": name, "password": password, "next": "//evil.example/x"})
    assert response.headers["location"] == "/projects"


def test_sign_out_ends_the_session(portal: Server, api: httpx.Client) -> None:
    name, password = make_user(api)
    client = PortalClient(portal).sign_in(name, password)
    cookie = client.http.cookies.get("sid")
    response = client.post("/sign-out")
    assert response.status_code == 303 and response.headers["location"] == "/sign-in"
    # The old cookie no longer works, even if a browser kept it.
    stale = httpx.get(f"{portal.url}/projects", cookies={"sid": cookie or ""})
    assert stale.status_code == 303 and stale.headers["location"].startswith("/sign-in")
    assert "You have signed out." in notices(client.page("/sign-in"))


def test_robots_cannot_sign_in_to_the_portal(anonymous: PortalClient, api: httpx.Client, admin: PortalClient
                                             ) -> None:
    project = f"rb{secrets.token_hex(3)}"
    assert api.post("/projects", json={"project_name": project}).status_code == 201
    robot = api.post("/robots", json={"name": "r1", "level": "project", "duration": -1, "permissions": [
        {"kind": "project", "namespace": project, "access": [{"resource": "repository", "action": "pull"}]}]})
    assert robot.status_code == 201, robot.text
    anonymous.get("/sign-in")
    response = anonymous.post("/sign-in", {"principal": robot.json()["name"], "password": robot.json()["secret"]})
    assert response.status_code == 401


# CSRF -------------------------------------------------------------------------------------

def test_a_post_without_the_csrf_token_is_refused(admin: PortalClient, api: httpx.Client) -> None:
    name = f"csrf{secrets.token_hex(3)}"
    response = admin.post("/projects/new", {"name": name}, csrf=False)
    assert response.status_code == 403
    assert "form has expired" in response.text
    assert api.head("/projects", params={"project_name": name}).status_code == 404


def test_a_post_with_another_sessions_token_is_refused(portal: Server, api: httpx.Client, admin: PortalClient
                                                       ) -> None:
    other = PortalClient(portal).sign_in(*make_user(api))
    name = f"csrf{secrets.token_hex(3)}"
    response = admin.http.post("/projects/new", data={"name": name, "csrf_token": other.token})
    assert response.status_code == 403
    assert api.head("/projects", params={"project_name": name}).status_code == 404


def test_the_sign_in_form_needs_its_cookie_token(portal: Server, api: httpx.Client) -> None:
    name, password = make_user(api)
    response = httpx.post(f"{portal.url}/sign-in", data={"principal": name, "password": password,
                                                         "csrf_token": "forged"})
    assert response.status_code == 403


# Self-registration and passwords --------------------------------------------------------

def test_sign_up_only_while_self_registration_is_on(anonymous: PortalClient, api: httpx.Client) -> None:
    assert api.put("/configurations", json={"self_registration": False}).status_code == 200
    assert anonymous.get("/sign-up").status_code == 404
    assert "/sign-up" not in anonymous.page("/sign-in")
    assert api.put("/configurations", json={"self_registration": True}).status_code == 200
    try:
        page = anonymous.page("/sign-in")
        assert 'href="/sign-up"' in page
        name = f"self{secrets.token_hex(3)}"
        mismatch = anonymous.post("/sign-up", {"username": name, "password": PASSWORD, "confirm": "x"})
        assert mismatch.status_code == 400 and "The two passwords do not match." in mismatch.text
        weak = anonymous.post("/sign-up", {"username": name, "password": "short", "confirm": "short"})
        assert weak.status_code == 400 and "password" in weak.text.lower()
        done = anonymous.post("/sign-up", {"username": name, "password": PASSWORD, "confirm": PASSWORD,
                                           "email": f"{name}@example.com", "realname": "Self Made"})
        assert done.status_code == 303, done.text[:1000]
        assert api.get("/users/search", params={"username": name}).json()[0]["username"] == name
        PortalClient(anonymous.server).sign_in(name, PASSWORD)
    finally:
        api.put("/configurations", json={"self_registration": False})


def test_change_password(portal: Server, api: httpx.Client) -> None:
    name, password = make_user(api)
    client = PortalClient(portal).sign_in(name, password)
    assert h1(client.page("/account/password")) == "Change password"
    wrong = client.post("/account/password", {"old_password": "nope", "new_password": "Better12345",
                                              "confirm": "Better12345"})
    assert wrong.status_code == 403 and "current password is incorrect" in wrong.text
    mismatch = client.post("/account/password", {"old_password": password, "new_password": "Better12345",
                                                 "confirm": "Other12345"})
    assert mismatch.status_code == 400
    done = client.post("/account/password", {"old_password": password, "new_password": "Better12345",
                                              "confirm": "Better12345"})
    assert done.status_code == 303 and done.headers["location"] == "/sign-in"
    PortalClient(portal).sign_in(name, "Better12345")


# Language and theme ---------------------------------------------------------------------

def test_the_language_is_remembered_per_user(portal: Server, api: httpx.Client) -> None:
    name, password = make_user(api)
    client = PortalClient(portal).sign_in(name, password)
    assert h1(client.page("/projects")).startswith("Projects")
    assert client.post("/account/language", {"locale": "zh_CN", "next": "/projects"}).status_code == 303
    page = client.page("/projects")
    assert h1(page).startswith("项目") and '<html lang="zh-CN"' in page
    # Another browser (English by its headers, no cookies) gets the user's choice after signing in.
    elsewhere = PortalClient(portal).sign_in(name, password)
    assert h1(elsewhere.page("/projects")).startswith("项目")
    assert elsewhere.post("/account/language", {"locale": "en", "next": "/projects"}).status_code == 303
    assert h1(client.page("/projects")).startswith("Projects")


def test_the_sign_in_page_follows_the_browser_and_the_cookie(portal: Server) -> None:
    chinese = PortalClient(portal, "zh_CN")
    assert h1(chinese.page("/sign-in")) == "登录 Moorage"
    english = PortalClient(portal)
    assert english.post("/account/language", {"locale": "zh_CN", "next": "/sign-in"}).status_code == 303
    assert h1(english.page("/sign-in")) == "登录 Moorage"


def test_an_unknown_language_is_refused(admin: PortalClient) -> None:
    response = admin.post("/account/language", {"locale": "xx", "next": "/projects"})
    assert response.status_code == 303
    assert "Unknown language." in notices(admin.page("/projects"))


def test_theme_switch(admin: PortalClient) -> None:
    assert 'data-theme="auto"' in admin.page("/projects")
    assert admin.post("/account/theme", {"theme": "dark", "next": "/projects"}).status_code == 303
    assert 'data-theme="dark"' in admin.page("/projects")
    admin.post("/account/theme", {"theme": "nonsense", "next": "/projects"})
    assert 'data-theme="auto"' in admin.page("/projects")


# Errors, escaping, headers, static files ------------------------------------------------

def test_unknown_pages_answer_a_page_not_a_trace(admin: PortalClient, zh: PortalClient) -> None:
    response = admin.get("/no/such/page")
    assert response.status_code == 404 and h1(response.text) == "Not found"
    assert "Traceback" not in response.text
    assert h1(zh.get("/no/such/page").text) == "未找到"
    missing = admin.get("/projects/no-such-project-here")
    assert missing.status_code == 404 and "Traceback" not in missing.text


def test_output_is_escaped(admin: PortalClient) -> None:
    page = admin.page("/projects?q=%3Cscript%3Ealert(1)%3C/script%3E")
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_security_headers(admin: PortalClient) -> None:
    response = admin.get("/projects")
    assert "script-src 'self'" in response.headers["content-security-policy"]
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["cache-control"] == "no-store"


def test_static_files_are_served_with_etags(portal: Server) -> None:
    response = httpx.get(f"{portal.url}/static/portal.css")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/css")
    again = httpx.get(f"{portal.url}/static/portal.css", headers={"if-none-match": response.headers["etag"]})
    assert again.status_code == 304
    assert httpx.get(f"{portal.url}/static/../app.py").status_code == 404
    assert httpx.get(f"{portal.url}/static/portal.js").headers["content-type"].startswith("text/javascript")


def test_every_form_has_labelled_controls(admin: PortalClient) -> None:
    for path in ("/projects", "/projects/new", "/account/password"):
        page = admin.page(path)
        ids = set(re.findall(r'<label[^>]*\bfor="([^"]+)"', page))
        controls = re.findall(r'<(?:input|select|textarea)\b(?![^>]*type="(?:hidden|submit)")[^>]*\bid="([^"]+)"',
                              page)
        assert controls and all(c in ids for c in controls), (path, set(controls) - ids)


# Projects ---------------------------------------------------------------------------------

def test_create_a_project_and_see_it_listed(admin: PortalClient, api: httpx.Client) -> None:
    name = f"web{secrets.token_hex(3)}"
    assert h1(admin.page("/projects/new")) == "New project"
    response = admin.post("/projects/new", {"name": name, "public": "on", "limit": "2", "unit": "GB"})
    assert response.status_code == 303 and response.headers["location"] == f"/projects/{name}"
    project = api.get(f"/projects/{name}", headers={"X-Is-Resource-Name": "true"}).json()
    assert project["metadata"]["public"] == "true"
    quota = api.get("/quotas", params={"reference_id": project["project_id"]}).json()[0]
    assert quota["hard"]["storage"] == 2_000_000_000
    page = admin.page(f"/projects?q={name}")
    assert f'href="/projects/{name}"' in page and "2 GB" in page


def test_creating_a_duplicate_or_invalid_project_explains_why(admin: PortalClient) -> None:
    name = f"dup{secrets.token_hex(3)}"
    assert admin.post("/projects/new", {"name": name}).status_code == 303
    again = admin.post("/projects/new", {"name": name})
    assert again.status_code == 409 and "already exists" in again.text
    assert f'value="{name}"' in again.text  # the form keeps what was typed
    bad = admin.post("/projects/new", {"name": "Bad Name!"})
    assert bad.status_code == 400 and "Traceback" not in bad.text


def test_projects_list_pages_searches_and_filters(admin: PortalClient, api: httpx.Client) -> None:
    prefix = f"pg{secrets.token_hex(2)}"
    for i in range(7):
        assert api.post("/projects", json={"project_name": f"{prefix}-{i}", "metadata": {
            "public": "true" if i % 2 else "false"}}).status_code == 201
    page = admin.page(f"/projects?q={prefix}&page_size=3&sort=name")
    assert page.count(f'href="/projects/{prefix}-') == 3 and f"{prefix}-0" in page and f"{prefix}-3" not in page
    assert "1–3 of 7" in page
    last = admin.page(f"/projects?q={prefix}&page_size=3&page=3&sort=name")
    assert f"{prefix}-6" in last and f"{prefix}-0" not in last
    descending = admin.page(f"/projects?q={prefix}&page_size=3&sort=-name")
    assert f"{prefix}-6" in descending and f"{prefix}-0" not in descending
    public = admin.page(f"/projects?q={prefix}&access=public")
    assert public.count(f'href="/projects/{prefix}-') == 3


def test_users_see_only_their_and_public_projects(portal: Server, api: httpx.Client) -> None:
    name, password = make_user(api)
    hidden = f"hid{secrets.token_hex(3)}"
    assert api.post("/projects", json={"project_name": hidden}).status_code == 201
    client = PortalClient(portal).sign_in(name, password)
    assert f'href="/projects/{hidden}"' not in client.page(f"/projects?q={hidden}")
    assert client.get(f"/projects/{hidden}").status_code in (403, 404)


def test_creation_restricted_to_admins(portal: Server, api: httpx.Client) -> None:
    name, password = make_user(api)
    client = PortalClient(portal).sign_in(name, password)
    assert 'href="/projects/new"' in client.page("/projects")
    assert api.put("/configurations", json={"project_creation_restriction": "adminonly"}).status_code == 200
    try:
        assert 'href="/projects/new"' not in client.page("/projects")
        refused = client.post("/projects/new", {"name": f"no{secrets.token_hex(3)}"})
        assert refused.status_code == 403
    finally:
        api.put("/configurations", json={"project_creation_restriction": "everyone"})


def test_delete_a_project(admin: PortalClient, api: httpx.Client) -> None:
    name = f"del{secrets.token_hex(3)}"
    assert api.post("/projects", json={"project_name": name}).status_code == 201
    response = admin.post(f"/projects/{name}/delete")
    assert response.status_code == 303 and response.headers["location"] == "/projects"
    assert f"Project {name} deleted." in notices(admin.page("/projects"))
    assert api.head("/projects", params={"project_name": name}).status_code == 404


def test_a_developer_cannot_delete_the_project(portal: Server, api: httpx.Client) -> None:
    name, password = make_user(api)
    project = f"keep{secrets.token_hex(3)}"
    assert api.post("/projects", json={"project_name": project}).status_code == 201
    assert api.post(f"/projects/{project}/members", headers={"X-Is-Resource-Name": "true"},
                    json={"role_id": 2, "member_user": {"username": name}}).status_code == 201
    client = PortalClient(portal).sign_in(name, password)
    assert client.post(f"/projects/{project}/delete").status_code == 403
    assert api.head("/projects", params={"project_name": project}).status_code == 200


def test_pages_render_in_both_languages(admin: PortalClient, zh: PortalClient) -> None:
    for path, english, chinese in [("/projects", "Projects", "项目"), ("/projects/new", "New project", "新建项目"),
                                   ("/account/password", "Change password", "修改密码")]:
        assert h1(admin.page(path)).startswith(english)
        assert h1(zh.page(path)).startswith(chinese)


def test_the_announcement_banner(admin: PortalClient, anonymous: PortalClient, api: httpx.Client) -> None:
    text = f"Maintenance tonight {secrets.token_hex(2)} <b>"
    assert api.put("/configurations", json={"banner_message": text}).status_code == 200
    try:
        page = anonymous.page("/sign-in")
        assert "Maintenance tonight" in page and "&lt;b&gt;" in page and 'role="note"' in page
        import json
        future = {"message": "Later", "type": "warning", "fromDate": 4102444800000}
        assert api.put("/configurations", json={"banner_message": json.dumps(future)}).status_code == 200
        assert "Later" not in admin.page("/projects")
        now = {"message": "Upgrade at noon", "type": "warning", "closable": True}
        assert api.put("/configurations", json={"banner_message": json.dumps(now)}).status_code == 200
        page = admin.page("/projects")
        assert "Upgrade at noon" in page and "notice-warn" in page
    finally:
        api.put("/configurations", json={"banner_message": ""})


def test_harbor_portal_bookmarks_land_here(anonymous: PortalClient) -> None:
    assert anonymous.get("/harbor/projects").headers["location"] == "/projects"
    assert anonymous.get("/harbor/sign-in").headers["location"] == "/sign-in"
    assert anonymous.get("/harbor").headers["location"] == "/projects"


def test_domain_errors_are_introduced_in_the_pages_language(zh: PortalClient) -> None:
    name = f"zherr{secrets.token_hex(3)}"
    assert zh.post("/projects/new", {"name": name}).status_code == 303
    again = zh.post("/projects/new", {"name": name})
    assert again.status_code == 409
    assert "冲突：" in again.text and "already exists" in again.text


def test_an_administrator_changes_a_projects_storage_limit(admin: PortalClient, api: httpx.Client,
                                                           portal: Server) -> None:
    name = f"quota{secrets.token_hex(3)}"
    assert api.post("/projects", json={"project_name": name}).status_code == 201
    assert 'action="/projects/' + name + '/quota"' in admin.page(f"/projects/{name}")
    response = admin.post(f"/projects/{name}/quota", {"limit": "5", "unit": "GiB"})
    assert response.status_code == 303
    project_id = api.get(f"/projects/{name}", headers={"X-Is-Resource-Name": "true"}).json()["project_id"]
    assert api.get("/quotas", params={"reference_id": project_id}).json()[0]["hard"]["storage"] == 5 * 1024**3
    assert f"The storage limit of {name} was saved." in notices(admin.page(f"/projects/{name}"))
    bad = admin.post(f"/projects/{name}/quota", {"limit": "lots", "unit": "GB"})
    assert bad.status_code == 303 and "positive number" in " ".join(notices(admin.page(f"/projects/{name}")))
    user, password = make_user(api)
    assert api.post(f"/projects/{name}/members", headers={"X-Is-Resource-Name": "true"},
                    json={"role_id": 1, "member_user": {"username": user}}).status_code == 201
    owner = PortalClient(portal).sign_in(user, password)
    assert f'action="/projects/{name}/quota"' not in owner.page(f"/projects/{name}")
    assert owner.post(f"/projects/{name}/quota", {"limit": "-1", "unit": "GB"}).status_code == 403

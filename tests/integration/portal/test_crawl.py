"""Every page the portal links to renders, in English and in Simplified Chinese: a crawl
from the projects list and the administration pages over a world with one of everything
(an image and an index, a member, a robot, labels, policies, a webhook, a registry endpoint,
a replication policy and an execution, a GC run).  No page may fail, show a trace, or
leave its language."""

from __future__ import annotations

import html
import json
import re
import secrets
import time
from collections import deque

import httpx
import pytest

from tests.common.oci import DOCKER_LIST, DOCKER_MANIFEST, descriptor, image_manifest, push_image, put_manifest
from tests.common.servers import ADMIN, Server
from tests.integration.portal.conftest import PortalClient, make_user

SKIP = ("/static/", "/api/", "/devcenter-api-2.0", "/v2/", "/service/", "/c/")
LIMIT = 400


@pytest.fixture(scope="module")
def world(portal: Server, api: httpx.Client) -> str:
    """A project with one of everything; returns its name."""
    name = f"crawl{secrets.token_hex(3)}"
    assert api.post("/projects", json={"project_name": name}).status_code == 201
    with httpx.Client(base_url=portal.url, auth=ADMIN, timeout=60) as v2:
        push_image(v2, f"{name}/app", "v1")
        children = []
        for arch in ("amd64", "arm64"):
            body = image_manifest(v2, f"{name}/multi", arch=arch, media_type=DOCKER_MANIFEST)
            r = put_manifest(v2, f"{name}/multi", descriptor("", body)["digest"], body, DOCKER_MANIFEST)
            assert r.status_code == 201, r.text
            children.append({**descriptor(DOCKER_MANIFEST, body), "platform": {"architecture": arch, "os": "linux"}})
        index = {"schemaVersion": 2, "mediaType": DOCKER_LIST, "manifests": children}
        assert put_manifest(v2, f"{name}/multi", "latest", json.dumps(index).encode(), DOCKER_LIST).status_code == 201
    member, _password = make_user(api)
    assert api.post(f"/projects/{name}/members", headers={"X-Is-Resource-Name": "true"},
                    json={"role_id": 2, "member_user": {"username": member}}).status_code == 201
    assert api.post("/robots", json={"name": "ci", "level": "project", "duration": -1, "permissions": [
        {"kind": "project", "namespace": name, "access": [{"resource": "repository", "action": "pull"}]}]}
                    ).status_code == 201
    project_id = api.get(f"/projects/{name}", headers={"X-Is-Resource-Name": "true"}).json()["project_id"]
    assert api.post("/labels", json={"name": f"l{secrets.token_hex(2)}", "scope": "p", "project_id": project_id,
                                     "color": "#0b63c5"}).status_code == 201
    assert api.post("/labels", json={"name": f"g{secrets.token_hex(2)}", "scope": "g"}).status_code == 201
    assert api.post(f"/projects/{name}/immutabletagrules", headers={"X-Is-Resource-Name": "true"}, json={
        "disabled": False, "action": "immutable", "template": "immutable_template",
        "tag_selectors": [{"kind": "doublestar", "decoration": "matches", "pattern": "v*"}],
        "scope_selectors": {"repository": [{"kind": "doublestar", "decoration": "repoMatches", "pattern": "**"}]},
    }).status_code == 201
    retention = api.post("/retentions", json={
        "algorithm": "or", "scope": {"level": "project", "ref": project_id},
        "trigger": {"kind": "Schedule", "settings": {"cron": ""}},
        "rules": [{"action": "retain", "template": "latestPushedK", "params": {"latestPushedK": 3},
                   "tag_selectors": [{"kind": "doublestar", "decoration": "matches", "pattern": "**"}],
                   "scope_selectors": {"repository": [{"kind": "doublestar", "decoration": "repoMatches",
                                                       "pattern": "**"}]}}]})
    assert retention.status_code == 201, retention.text
    retention_id = int(retention.headers["location"].rsplit("/", 1)[1])
    assert api.post(f"/retentions/{retention_id}/executions", json={"dry_run": True}).status_code == 201
    assert api.post(f"/projects/{name}/webhook/policies", headers={"X-Is-Resource-Name": "true"}, json={
        "name": "hook", "enabled": True, "event_types": ["PUSH_ARTIFACT"],
        "targets": [{"type": "http", "address": "http://127.0.0.1:9/hook"}]}).status_code == 201
    registry = api.post("/registries", json={"name": f"self{secrets.token_hex(2)}", "type": "harbor",
                                             "url": portal.url, "credential": {
                                                 "type": "basic", "access_key": ADMIN[0], "access_secret": ADMIN[1]}})
    assert registry.status_code == 201, registry.text
    registry_id = int(registry.headers["location"].rsplit("/", 1)[1])
    policy = api.post("/replication/policies", json={
        "name": f"out{secrets.token_hex(2)}", "dest_registry": {"id": registry_id}, "dest_namespace": f"{name}-copy",
        "filters": [{"type": "name", "value": f"{name}/app"}], "trigger": {"type": "manual"}, "enabled": True})
    assert policy.status_code == 201, policy.text
    policy_id = int(policy.headers["location"].rsplit("/", 1)[1])
    assert api.post("/replication/executions", json={"policy_id": policy_id}).status_code == 201
    assert api.post("/system/gc/schedule", json={"schedule": {"type": "Manual"}, "parameters": {
        "dry_run": True}}).status_code == 201
    time.sleep(2)  # let the jobs leave a log
    return name


def links(page: str) -> list[str]:
    return [html.unescape(h) for h in re.findall(r'<a\b[^>]*\bhref="([^"#]+)"', page)]


# The page's chrome: headings, labels, buttons, column heads, legends, help text and
# empty states.  On a Chinese page none of it may be English words (data shows in cells).
CHROME = re.compile(r"<(h[1-4]|label|button|legend|summary|caption)\b[^>]*>(.*?)</\1>"
                    r"|<th scope=\"col\"[^>]*>(.*?)</th>|<p class=\"(?:help|empty-title)\"[^>]*>(.*?)</p>", re.S)
SAME_IN_CHINESE = {
    "Tag", "Tags", "TLS", "PEM", "Moorage", "Webhooks", "SBOM", "HTTP", "Slack", "CloudEvents", "English", "API",
    "ID", "URL", "Cron", "Docker", "OCI", "Harbor", "Default", "CVE",
}


def untranslated_chrome(page: str) -> list[str]:
    found = []
    for match in CHROME.finditer(page):
        inner = next(g for g in match.groups()[1:] if g is not None)
        text = " ".join(re.sub(r"<[^>]+>", " ", html.unescape(inner)).split())
        words = [w for w in re.findall(r"[A-Za-z]{3,}", text) if w not in SAME_IN_CHINESE]
        if words and not re.search(r"[\u4e00-\u9fff]", text):
            found.append(text)
    return found


def crawl(client: PortalClient, starts: list[str]) -> dict[str, httpx.Response]:
    seen: dict[str, httpx.Response] = {}
    queue = deque(starts)
    while queue and len(seen) < LIMIT:
        path = queue.popleft()
        if path in seen or not path.startswith("/") or path.startswith(SKIP):
            continue
        response = client.get(path)
        seen[path] = response
        if response.status_code == 200 and "text/html" in response.headers.get("content-type", ""):
            for link in links(response.text):
                # one page of each list is enough: drop paging and sorting variants
                if re.search(r"[?&](page|sort|page_size)=", link):
                    continue
                if link not in seen:
                    queue.append(link)
    return seen


@pytest.mark.parametrize("language", ["en", "zh_CN"])
def test_every_linked_page_renders(portal: Server, world: str, admin: PortalClient, zh: PortalClient,
                                   language: str) -> None:
    client = admin if language == "en" else zh
    pages = crawl(client, ["/projects", f"/projects/{world}", "/admin/users"])
    assert len(pages) > 30, sorted(pages)
    broken = {p: r.status_code for p, r in pages.items() if r.status_code not in (200, 303)}
    assert not broken, broken
    for path, response in pages.items():
        if response.status_code != 200 or "text/html" not in response.headers.get("content-type", ""):
            continue
        assert "Traceback" not in response.text, path
        if response.text.lstrip().startswith("<!doctype html>"):
            assert f'<html lang="{"zh-CN" if language == "zh_CN" else "en"}"' in response.text, path
        if language == "zh_CN":
            english = untranslated_chrome(response.text)
            assert not english, (path, english)
    visited = set(pages)
    for expected in (f"/projects/{world}/repositories", f"/projects/{world}/members", f"/projects/{world}/robots",
                     f"/projects/{world}/policies", f"/projects/{world}/webhooks", f"/projects/{world}/logs",
                     "/admin/registries", "/admin/replications", "/admin/gc", "/admin/audit-logs",
                     "/admin/configuration", "/admin/labels"):
        assert expected in visited, expected

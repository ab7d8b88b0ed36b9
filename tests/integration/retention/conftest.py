"""Fixtures for the tag retention tests: the REST API fixtures, members in a role, a webhook
receiver, policies in Harbor's shape, and waiting for a run to finish."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.integration.api.conftest import PASSWORD, anonymous, api, as_user, new_project, new_user  # noqa: F401
from tests.integration.immutability.conftest import ROLES, member  # noqa: F401 - one member-in-a-role fixture
from tests.integration.webhooks.conftest import receiver  # noqa: F401

FINAL = ("Success", "Error", "Stopped")


def rule(template: str, value: int | None = None, *, tags: str = "**", repos: str = "**", untagged: bool = False,
         tag_decoration: str = "matches", repo_decoration: str = "repoMatches") -> dict[str, Any]:
    """A retention rule as Harbor's portal sends it."""
    return {"disabled": False, "action": "retain", "template": template,
            "params": {template: value} if value is not None else {},
            "tag_selectors": [{"kind": "doublestar", "decoration": tag_decoration, "pattern": tags,
                               "extras": '{"untagged":%s}' % ("true" if untagged else "false")}],
            "scope_selectors": {"repository": [{"kind": "doublestar", "decoration": repo_decoration,
                                                "pattern": repos}]}}


def policy(project_id: int, rules: list[dict[str, Any]], cron: str = "") -> dict[str, Any]:
    return {"algorithm": "or", "rules": rules, "trigger": {"kind": "Schedule", "settings": {"cron": cron}},
            "scope": {"level": "project", "ref": project_id}}


def wait_execution(api: httpx.Client, policy_id: int, execution_id: int,  # noqa: F811
                   timeout: float = 60) -> dict[str, Any]:
    """The execution once it is finished (Success, Error or Stopped)."""
    deadline = time.monotonic() + timeout
    while True:
        r = api.get(f"/retentions/{policy_id}/executions", params={"page_size": 100})
        assert r.status_code == 200, r.text
        found = [e for e in r.json() if e["id"] == execution_id]
        assert found, r.json()
        if found[0]["status"] in FINAL:
            return dict(found[0])
        assert time.monotonic() < deadline, f"execution {execution_id} still {found[0]['status']}"
        time.sleep(0.2)


@pytest.fixture
def create_policy(api: httpx.Client) -> Callable[..., int]:  # noqa: F811
    """``create_policy(project_id, rules, cron="")`` → the new policy's id."""

    def make(project_id: int, rules: list[dict[str, Any]], cron: str = "") -> int:
        r = api.post("/retentions", json=policy(project_id, rules, cron))
        assert r.status_code == 201, r.text
        return int(r.headers["location"].rsplit("/", 1)[1])

    return make


@pytest.fixture
def run(api: httpx.Client) -> Callable[..., dict[str, Any]]:  # noqa: F811
    """``run(policy_id, dry_run=False)`` → the finished execution."""

    def make(policy_id: int, dry_run: bool = False) -> dict[str, Any]:
        r = api.post(f"/retentions/{policy_id}/executions", json={"dry_run": dry_run})
        assert r.status_code == 201, r.text
        return wait_execution(api, policy_id, int(r.headers["location"].rsplit("/", 1)[1]))

    return make

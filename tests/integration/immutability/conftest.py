"""Fixtures for the immutability tests: the REST API fixtures, a project with rules, members in
a given role, and a helper building rules in Harbor's shape."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.integration.api.conftest import PASSWORD, anonymous, api, as_user, new_project, new_user  # noqa: F401

ROLES = {"projectAdmin": 1, "developer": 2, "guest": 3, "maintainer": 4, "limitedGuest": 5}


def rule_body(tags: str = "v*", repos: str = "**", *, tag_decoration: str = "matches",
              repo_decoration: str = "repoMatches", disabled: bool = False) -> dict[str, Any]:
    """An immutable tag rule as Harbor's portal sends it."""
    return {"disabled": disabled, "action": "immutable", "template": "immutable_template",
            "tag_selectors": [{"kind": "doublestar", "decoration": tag_decoration, "pattern": tags}],
            "scope_selectors": {"repository": [{"kind": "doublestar", "decoration": repo_decoration,
                                                "pattern": repos}]}}


@pytest.fixture
def project(new_project: Callable[..., dict[str, Any]]) -> dict[str, Any]:  # noqa: F811
    return new_project()


@pytest.fixture
def add_rule(api: httpx.Client) -> Callable[..., int]:  # noqa: F811
    """``add_rule(project_name, **rule_body kwargs)`` → the new rule's id."""

    def make(project_name: str, tags: str = "v*", repos: str = "**", **kw: Any) -> int:
        r = api.post(f"/projects/{project_name}/immutabletagrules", json=rule_body(tags, repos, **kw))
        assert r.status_code == 201, r.text
        return int(r.headers["location"].rsplit("/", 1)[1])

    return make


@pytest.fixture
def member(api: httpx.Client, new_user: Callable[..., dict[str, Any]],  # noqa: F811
           as_user: Callable[[str, str], httpx.Client]) -> Callable[[int, str], httpx.Client]:  # noqa: F811
    """``member(project_id, role)`` → an API client of a new user holding ``role`` in the project."""

    def make(project_id: int, role: str) -> httpx.Client:
        user = new_user()
        r = api.post(f"/projects/{project_id}/members",
                     json={"role_id": ROLES[role], "member_user": {"username": user["username"]}})
        assert r.status_code == 201, r.text
        return as_user(str(user["username"]), PASSWORD)

    return make

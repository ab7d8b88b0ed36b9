"""The authorization matrix: every ``/v2`` route and every ``/api/v2.0`` operation, called over
real HTTP by each principal — ``sysadmin``, the five project roles (``projectAdmin``=1,
``developer``=2, ``guest``=3, ``maintainer``=4, ``limitedGuest``=5), ``nonMember``,
``anonymous``, ``projectRobot`` and ``systemRobot`` — against the committed expectation in
``expected.yaml``.

The expectation is derived from Harbor (its role matrix in ``rbac_role.go``, the permission
each handler asks for, system resources admin-only), never from ``moorage.auth.rbac``, so the
matrix checks the implementation instead of restating it.  ``expected.yaml`` describes the
world, the principals' grants and the placeholders; ``conftest.py`` builds that world once per
backend (run with ``--backend sqlite --backend postgres``).

Each (operation, principal) pair is its own test:

* ``test_v2[<route>-<principal>]`` — the ``/v2`` route with the principal's Basic credentials
  (none for ``anonymous``).  Denied: 401 + ``WWW-Authenticate: Bearer …`` for anonymous
  callers, 403 ``DENIED`` for signed-in ones.
* ``test_v2_token[<route>-<principal>]`` — the same route with a bearer token from
  ``/service/token?service=moorage-registry&scope=repository:<repo>:pull,push,delete`` (asked
  with the principal's Basic credentials, none for anonymous).  Denied: 401 ``UNAUTHORIZED``
  for an anonymous token, 403 ``DENIED`` for a token naming a signed-in subject — both with
  the Bearer challenge.  (Harbor answers 401 to both; Moorage departs on purpose: oras-py and
  other clients holding a narrower token refresh it only after a 403.)  Only routes naming a
  repository run this pass.
* ``test_api[<operation>-<principal>]`` — the ``/api/v2.0`` operation with Basic credentials.
  Denied: 401 ``UNAUTHORIZED`` for anonymous callers, 403 ``FORBIDDEN`` for signed-in ones.

Allowed means the permission gate passed: any status but 401/403 (200, 201, 202, 204, 404,
409, 412… all count), never a 5xx, and never "no such route" (404 from the router, or 405).
The sysadmin cell must succeed outright (2xx, or a status the row lists in
``sysadmin_status``), which proves each row's request is well formed.  Rows that destroy or
change something (deleting a project, repository, artifact, tag, member, robot or user,
changing a password) name a ``setup`` factory that builds a throwaway object for every cell,
so one principal's success never changes the next one's outcome.

Four more tests check that listings are filtered: the ``/v2/_catalog``, the project and
repository lists, and search show a private project's content only to those who may see it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.integration.authz.conftest import API, PRINCIPALS, SERVICE, World

EXPECTED: dict[str, Any] = yaml.safe_load((Path(__file__).parent / "expected.yaml").read_text())
_REPOSITORY = re.compile(r"^/v2/(?P<name>.+?)/(?:tags|manifests|blobs|referrers)/")


def _expand(names: list[str], groups: dict[str, list[str]]) -> set[str]:
    out: set[str] = set()
    for name in names:
        if name in groups:
            out |= _expand(groups[name], groups)
        else:
            assert name in PRINCIPALS, f"expected.yaml: unknown principal or group {name!r}"
            out.add(name)
    return out


def _cells(section: str, only: Callable[[dict[str, Any]], object] | None = None) -> list[Any]:
    rows = EXPECTED[section]
    ids = [row["id"] for row in rows]
    assert len(ids) == len(set(ids)), f"expected.yaml: duplicate ids in {section}"
    return [
        pytest.param(row, principal, principal in _expand(row["allow"], EXPECTED["groups"]),
                     id=f"{row['id']}-{principal}")
        for row in rows if only is None or only(row) for principal in PRINCIPALS
    ]


class _Any(dict[str, str]):
    """Placeholders that render as a stand-in (to see the shape of a path)."""

    def __missing__(self, key: str) -> str:
        return "x"


V2_CELLS = _cells("v2")
TOKEN_CELLS = _cells("v2", only=lambda row: _REPOSITORY.match(row["path"].format_map(_Any())))
API_CELLS = _cells("api")


def _fill(value: Any, values: dict[str, str]) -> Any:
    if isinstance(value, str):
        filled = value.format_map(values)
        # A bare id placeholder ("{project_id}") in a body is a JSON number, as clients send it.
        return int(filled) if re.fullmatch(r"\{\w*_id\}", value) and filled.isdigit() else filled
    if isinstance(value, dict):
        return {k: _fill(v, values) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, values) for v in value]
    return value


def _prepare(world: World, principal: str, row: dict[str, Any], prefix: str) -> tuple[str, dict[str, Any]]:
    """The path and request arguments of one cell (running the row's factory)."""
    values, data = world.cell(principal, row.get("setup"))
    kwargs: dict[str, Any] = {
        "params": _fill(row.get("params", {}), values),
        "headers": {k: str(v) for k, v in _fill(row.get("headers", {}), values).items()},
    }
    if "body" in row:
        kwargs["json"] = _fill(row["body"], values)
    if "content" in row:
        kwargs["content"] = data[row["content"]]
    return prefix + _fill(row["path"], values), kwargs


def _describe(row: dict[str, Any], principal: str, r: httpx.Response) -> str:
    return f"{row['method']} {r.request.url.path} as {principal}: {r.status_code} {r.text[:300]}"


def _codes(r: httpx.Response) -> list[str]:
    try:
        return [str(e.get("code")) for e in r.json()["errors"]]
    except (ValueError, KeyError, TypeError):
        return []


def _no_route(r: httpx.Response, v2: bool) -> bool:
    """Did the router find no such route (so the operation is not implemented)?"""
    if r.status_code == 405:
        return True
    if r.status_code != 404 or not r.content:
        return False
    try:
        message = str(r.json()["errors"][0]["message"])
    except (ValueError, KeyError, IndexError, TypeError):
        return False
    return message.startswith("no route") if v2 else message == "Not Found"


def _check_allowed(row: dict[str, Any], principal: str, r: httpx.Response, v2: bool) -> None:
    where = _describe(row, principal, r)
    assert r.status_code not in (401, 403), f"expected ALLOWED, got denied: {where}"
    assert not _no_route(r, v2), f"not implemented (no route): {where}"
    assert r.status_code < 500, f"server error: {where}"
    if principal == "sysadmin":
        ok = row.get("sysadmin_status")
        assert (r.status_code in ok) if ok else 200 <= r.status_code < 300, f"sysadmin must succeed: {where}"


def _check_denied(row: dict[str, Any], principal: str, r: httpx.Response, mode: str) -> None:
    where = _describe(row, principal, r)
    body = row["method"] != "HEAD"
    if mode == "token" and principal != "anonymous":
        assert r.status_code == 403, f"expected DENIED with 403, got: {where}"
        assert not body or _codes(r) == ["DENIED"], where
        assert r.headers.get("www-authenticate", "").startswith("Bearer "), f"no Bearer challenge: {where}"
        return
    if principal == "anonymous" or mode == "token":
        assert r.status_code == 401, f"expected DENIED with 401, got: {where}"
        if mode == "api":
            assert not body or _codes(r) == ["UNAUTHORIZED"], where
            return
        challenge = r.headers.get("www-authenticate", "")
        assert challenge, f"401 without a WWW-Authenticate challenge: {where}"
        if mode == "v2":
            assert challenge.startswith("Bearer "), f"expected a Bearer challenge ({challenge!r}): {where}"
            assert not body or _codes(r) == ["UNAUTHORIZED"], where
        return
    assert r.status_code == 403, f"expected DENIED with 403, got: {where}"
    assert not body or _codes(r) == (["FORBIDDEN"] if mode == "api" else ["DENIED"]), where


@pytest.mark.parametrize(("row", "principal", "allowed"), V2_CELLS)
def test_v2(world: World, row: dict[str, Any], principal: str, allowed: bool) -> None:
    path, kwargs = _prepare(world, principal, row, "")
    r = world.clients[principal].request(row["method"], path, **kwargs)
    if allowed:
        _check_allowed(row, principal, r, v2=True)
    else:
        _check_denied(row, principal, r, "v2")


def _token(world: World, principal: str, repository: str) -> str:
    r = world.clients[principal].get("/service/token", params={
        "service": SERVICE, "scope": f"repository:{repository}:pull,push,delete"})
    assert r.status_code == 200, f"token for {principal}: {r.status_code} {r.text}"
    return str(r.json()["token"])


@pytest.mark.parametrize(("row", "principal", "allowed"), TOKEN_CELLS)
def test_v2_token(world: World, row: dict[str, Any], principal: str, allowed: bool) -> None:
    path, kwargs = _prepare(world, principal, row, "")
    match = _REPOSITORY.match(path)
    assert match is not None
    kwargs["headers"]["Authorization"] = f"Bearer {_token(world, principal, match['name'])}"
    r = world.bare.request(row["method"], path, **kwargs)
    if allowed:
        _check_allowed(row, principal, r, v2=True)
    else:
        _check_denied(row, principal, r, "token")


@pytest.mark.parametrize(("row", "principal", "allowed"), API_CELLS)
def test_api(world: World, row: dict[str, Any], principal: str, allowed: bool) -> None:
    path, kwargs = _prepare(world, principal, row, API)
    r = world.clients[principal].request(row["method"], path, **kwargs)
    if allowed:
        _check_allowed(row, principal, r, v2=False)
    else:
        _check_denied(row, principal, r, "api")


# Filtered listings -------------------------------------------------------------------------------

def _suffix(world: World) -> str:
    return world.values["project"].removeprefix("authzp")


def test_catalog_is_filtered(world: World) -> None:
    """A guest's catalog lists the private project's repository; a non-member's does not (but
    does list the public project's)."""
    private, public = f"{world.values['project']}/app", f"{world.values['public']}/app"
    listed = {}
    for principal in ("guest", "nonMember", "sysadmin"):
        r = world.clients[principal].get("/v2/_catalog", params={"n": 10000})
        assert r.status_code == 200, r.text
        listed[principal] = set(r.json()["repositories"])
    assert {private, public} <= listed["guest"]
    assert {private, public} <= listed["sysadmin"]
    assert public in listed["nonMember"] and private not in listed["nonMember"]


def test_project_list_is_filtered(world: World) -> None:
    """Anonymous callers and non-members see the public project only; members see theirs too."""
    project, public = world.values["project"], world.values["public"]
    for principal, expected in (("anonymous", {public}), ("nonMember", {public}), ("projectRobot", {public, project}),
                                ("guest", {public, project}), ("limitedGuest", {public, project}),
                                ("sysadmin", {public, project})):
        r = world.clients[principal].get(f"{API}/projects", params={"name": _suffix(world), "page_size": 100})
        assert r.status_code == 200, r.text
        assert {p["name"] for p in r.json()} == expected, principal


def test_repository_list_is_filtered(world: World) -> None:
    project, public = world.values["project"], world.values["public"]
    for principal, sees_private in (("anonymous", False), ("nonMember", False), ("guest", True), ("sysadmin", True)):
        r = world.clients[principal].get(f"{API}/repositories",
                                          params={"q": f"name=~{_suffix(world)}", "page_size": 100})
        assert r.status_code == 200, r.text
        names = {repo["name"] for repo in r.json()}
        assert f"{public}/app" in names, principal
        assert (f"{project}/app" in names) is sees_private, principal


def test_search_is_filtered(world: World) -> None:
    project, public = world.values["project"], world.values["public"]
    for principal, sees_private in (("anonymous", False), ("nonMember", False), ("guest", True), ("sysadmin", True)):
        r = world.clients[principal].get(f"{API}/search", params={"q": _suffix(world)})
        assert r.status_code == 200, r.text
        projects = {p["name"] for p in r.json()["project"]}
        repositories = {repo["repository_name"] for repo in r.json()["repository"]}
        assert public in projects and f"{public}/app" in repositories, principal
        assert (project in projects) is sees_private and (f"{project}/app" in repositories) is sees_private, principal

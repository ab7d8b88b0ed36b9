"""What a registry token grants: the intersection of the scopes a client asks for (Docker
token spec ``type:name:actions``) and what the caller may do by the permission table."""

from __future__ import annotations

from moorage.auth.context import SecurityContext
from moorage.auth.rbac import ProjectRef
from moorage.auth.tokens import Access
from moorage.metadata.queries import projects as projects_q
from moorage.oci.names import project_of

REGISTRY_ACTIONS = ("pull", "push", "delete")


def parse_scope(scope: str) -> Access | None:
    """``repository:library/nginx:pull,push`` → Access; None if malformed."""
    kind, sep, rest = scope.partition(":")
    name, sep2, actions = rest.rpartition(":")
    if not sep or not sep2 or not kind or not name:
        return None
    kind = kind.split("(", 1)[0]  # "repository(plugin)" resource classes
    return Access(kind, name, tuple(a for a in actions.split(",") if a))


async def grant(ctx: SecurityContext, requested: list[Access]) -> list[Access]:
    granted: list[Access] = []
    for want in requested:
        actions: tuple[str, ...] = ()
        if want.type == "repository":
            actions = await _repository_actions(ctx, want)
        elif want.type == "registry" and want.name == "catalog" and ctx.principal.authenticated:
            actions = tuple(a for a in want.actions if a == "*")
        if actions:
            granted.append(Access(want.type, want.name, actions))
    return granted


async def repository_actions(ctx: SecurityContext, name: str) -> set[str]:
    """Which of pull, push and delete the caller may do on repository ``name`` by the
    permission table.  A missing project allows everything to system administrators only
    (they then hear "project not found" from /v2) and nothing to anyone else."""
    if "/" not in name:
        return set()
    async with ctx.db.read() as conn:
        row = await projects_q.find_project_ref(conn, name=project_of(name))
    if row is None:
        return set(REGISTRY_ACTIONS) if ctx.principal.sysadmin else set()
    project = ProjectRef(*row)
    return {a for a in REGISTRY_ACTIONS if await ctx.can("repository", a, project)}


async def _repository_actions(ctx: SecurityContext, want: Access) -> tuple[str, ...]:
    may = await repository_actions(ctx, want.name)
    out = [a for a in want.actions if a in may]
    if "*" in want.actions and may == set(REGISTRY_ACTIONS):
        out.append("*")
    return tuple(dict.fromkeys(out))

"""Counts for ``/statistics``: projects and repositories by visibility, storage used."""

from __future__ import annotations

from sqlalchemy import func, select

from moorage.db.engine import Conn
from moorage.metadata.models import Blob, Project, Repository


async def count_projects_and_repositories(conn: Conn, project_ids: set[int] | None) -> dict[str, int]:
    """{public,private}_{project,repo}_count over ``project_ids`` (None: every project)."""
    projects = select(Project.public, func.count()).group_by(Project.public)
    repos = select(Project.public, func.count(Repository.id)).join(
        Repository, Repository.project_id == Project.id).group_by(Project.public)
    if project_ids is not None:
        projects = projects.where(Project.id.in_(project_ids))
        repos = repos.where(Project.id.in_(project_ids))
    out = {"public_project_count": 0, "private_project_count": 0, "public_repo_count": 0, "private_repo_count": 0}
    for public, n in await conn.execute(projects):
        out["public_project_count" if public else "private_project_count"] = int(n)
    for public, n in await conn.execute(repos):
        out["public_repo_count" if public else "private_repo_count"] = int(n)
    return out


async def sum_blob_sizes(conn: Conn) -> int:
    return int((await conn.execute(select(func.coalesce(func.sum(Blob.size), 0)))).scalar_one())

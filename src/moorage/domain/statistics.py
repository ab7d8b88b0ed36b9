"""``/statistics``: what the caller can see, counted."""

from __future__ import annotations

from moorage.auth.rbac import Principal
from moorage.auth.visibility import visible_project_ids
from moorage.db.engine import Database
from moorage.metadata.queries import statistics as q


async def statistics(db: Database, principal: Principal) -> dict[str, int]:
    """Project and repository counts over the projects ``principal`` can see; storage used
    only for system administrators (as Harbor)."""
    ids = await visible_project_ids(db, principal)
    async with db.read() as conn:
        counts = await q.count_projects_and_repositories(conn, ids)
        if principal.sysadmin:
            counts["total_storage_consumption"] = await q.sum_blob_sizes(conn)
    counts["total_project_count"] = counts["public_project_count"] + counts["private_project_count"]
    counts["total_repo_count"] = counts["public_repo_count"] + counts["private_repo_count"]
    return counts

"""Registry endpoints and replication policies, executions and task logs."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()

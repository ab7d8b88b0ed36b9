"""Registry endpoints: list, create, edit, delete, test connection."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()

"""System administration: users, labels, garbage collection, audit logs, configuration."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()

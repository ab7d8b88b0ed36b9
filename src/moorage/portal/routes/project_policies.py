"""Project policies: tag retention (rules, schedule, runs and dry runs with their logs) and tag immutability."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()

"""Project administration: members, robot accounts, policies (retention, immutability), webhooks, logs."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()

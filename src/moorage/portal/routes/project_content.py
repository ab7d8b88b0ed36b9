"""Project content: summary, repositories, artifacts, artifact detail, labels, configuration."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()

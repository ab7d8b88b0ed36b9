"""Filesystem-driver specifics that the shared conformance suite cannot provoke reliably."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from moorage.storage import filesystem as fs


def test_makedirs_recreates_a_parent_pruned_meanwhile(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A delete elsewhere prunes the empty parent between its creation and the child's."""
    target = tmp_path / "uploads" / "u1"
    real_mkdir = os.mkdir
    pruned: list[bool] = []

    def mkdir(path: Any, *args: Any, **kwargs: Any) -> None:
        if str(path) == str(target) and not pruned:
            pruned.append(True)
            os.rmdir(tmp_path / "uploads")  # the concurrent prune
        real_mkdir(path, *args, **kwargs)

    monkeypatch.setattr(os, "mkdir", mkdir)
    fs._makedirs_durable(str(target))
    assert pruned and target.is_dir()

"""The dependency direction in CONVENTIONS.md holds (import-linter contracts in pyproject.toml)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest


def test_import_contracts_hold() -> None:
    exe = shutil.which("lint-imports", path=os.pathsep.join([os.path.dirname(sys.executable),
                                                             os.environ.get("PATH", "")]))
    if exe is None:
        pytest.fail("import-linter is part of the test extras; install with pip install -e '.[test]'")
    root = Path(__file__).parents[3]
    out = subprocess.run([exe], cwd=root, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout[-3000:]

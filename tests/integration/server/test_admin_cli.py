"""``moorage admin reset-password``: run against a data directory, then sign in over HTTP."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx

from tests.common.servers import ADMIN, ADMIN_PASSWORD, start_moorage

NEW_PASSWORD = "Res3tByCli"


def reset_password(data_dir: Path, *args: str, stdin: str) -> subprocess.CompletedProcess[str]:
    """Run the command without a controlling terminal, so hidden prompts read stdin."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MOORAGE_")}
    return subprocess.run(
        [sys.executable, "-m", "moorage", "admin", "reset-password", *args, "--data-dir", str(data_dir)],
        input=stdin, capture_output=True, text=True, env=env, timeout=60, start_new_session=True,
    )


def status_as(url: str, username: str, password: str) -> int:
    return httpx.get(f"{url}/api/v2.0/users/current", auth=(username, password), timeout=30).status_code


def test_reset_password_from_stdin_then_sign_in(tmp_path: Path) -> None:
    with start_moorage(tmp_path) as server:
        with httpx.Client(base_url=server.url, timeout=30) as browser:
            assert browser.post("/c/login", data={"principal": "admin", "password": ADMIN_PASSWORD}).status_code == 200
            out = reset_password(tmp_path, "admin", "--password-stdin", stdin=NEW_PASSWORD + "\n")
            assert out.returncode == 0, out.stderr
            assert "password of admin reset" in out.stdout
            assert browser.get("/api/v2.0/users/current").status_code == 401  # the session ended
        assert status_as(server.url, "admin", ADMIN_PASSWORD) == 401
        assert status_as(server.url, "admin", NEW_PASSWORD) == 200
        login = httpx.post(f"{server.url}/c/login", data={"principal": "admin", "password": NEW_PASSWORD})
        assert login.status_code == 200


def test_reset_password_prompts_twice(tmp_path: Path) -> None:
    with start_moorage(tmp_path) as server:
        r = httpx.post(f"{server.url}/api/v2.0/users", auth=ADMIN, timeout=30,
                       json={"username": "dev", "password": "Passw0rdOK"})
        assert r.status_code == 201, r.text
        out = reset_password(tmp_path, "dev", stdin=f"{NEW_PASSWORD}\n{NEW_PASSWORD}\n")
        assert out.returncode == 0, out.stderr
        assert status_as(server.url, "dev", NEW_PASSWORD) == 200
        assert status_as(server.url, "dev", "Passw0rdOK") == 401


def test_reset_password_rejects_mismatch_weak_password_and_unknown_user(tmp_path: Path) -> None:
    mismatch = reset_password(tmp_path, "admin", stdin=f"{NEW_PASSWORD}\nSomethingEls3\n")
    assert mismatch.returncode != 0
    weak = reset_password(tmp_path, "admin", "--password-stdin", stdin="weak\n")
    assert weak.returncode == 1 and "password must be" in weak.stderr
    unknown = reset_password(tmp_path, "nobody", "--password-stdin", stdin=NEW_PASSWORD + "\n")
    assert unknown.returncode == 1 and "not found" in unknown.stderr
    generated = (tmp_path / "admin-password").read_text().strip()  # the first run made admin
    with start_moorage(tmp_path) as server:
        assert status_as(server.url, "admin", NEW_PASSWORD) == 401
        assert status_as(server.url, "admin", generated) == 200

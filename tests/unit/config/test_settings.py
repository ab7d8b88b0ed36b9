"""Settings come from defaults, then the YAML file, then MOORAGE_* variables, then overrides."""

from __future__ import annotations

from pathlib import Path

import pytest

from moorage.config.settings import ConfigError, load_settings


def test_defaults(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    s = load_settings()
    assert s.http.port == 5000
    assert s.data_dir == tmp_path / "moorage"
    assert s.database_url == f"sqlite+aiosqlite:///{tmp_path / 'moorage' / 'moorage.db'}"
    assert s.storage.driver == "filesystem" and s.storage_root == tmp_path / "moorage" / "storage"
    assert s.registry.upload_expiry_hours == 24


def test_yaml_then_env_then_overrides(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    cfg = tmp_path / "moorage.yaml"
    cfg.write_text("http:\n  port: 7000\n  host: 127.0.0.1\nregistry:\n  upload_expiry_hours: 2\n")
    assert load_settings(cfg).http.port == 7000
    monkeypatch.setenv("MOORAGE_HTTP__PORT", "7001")
    s = load_settings(cfg)
    assert (s.http.port, s.http.host, s.registry.upload_expiry_hours) == (7001, "127.0.0.1", 2)
    assert load_settings(cfg, http={"port": 7002}).http.port == 7002


def test_unknown_key_is_an_error(tmp_path: Path) -> None:
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("storage:\n  driver: floppy\n")
    with pytest.raises(ConfigError, match="driver"):
        load_settings(cfg)


def test_s3_needs_a_bucket(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MOORAGE_STORAGE__DRIVER", "s3")
    with pytest.raises(ConfigError, match="bucket"):
        load_settings()


def test_missing_config_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(tmp_path / "nope.yaml")


def test_examples_are_valid() -> None:
    examples = sorted((Path(__file__).parents[3] / "examples").glob("*.yaml"))
    assert examples
    for example in examples:
        load_settings(example)

"""Configuration: one pydantic-settings tree (defaults, then YAML file, then MOORAGE_* env)."""

from moorage.config.settings import Settings, load_settings

__all__ = ["Settings", "load_settings"]

"""Moorage: an enterprise container registry (OCI Distribution + Harbor-compatible management)."""

__version__ = "0.1.0"

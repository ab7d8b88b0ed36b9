"""/api/v2.0 — the Harbor-compatible REST edge."""

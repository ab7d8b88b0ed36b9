"""Projects (``/api/v2.0/projects``): creation rules, name checks, the visibility-filtered
list with Harbor's query parameters, details, updates, deletion, summary and metadata."""

from __future__ import annotations

from collections.abc: Callable, Iterator

"""Database: engines, units of work with after-commit hooks, the declarative base, migrations."""

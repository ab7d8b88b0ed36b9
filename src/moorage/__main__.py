"""``python -m moorage`` runs the CLI."""

from moorage.cli.main import main

main()

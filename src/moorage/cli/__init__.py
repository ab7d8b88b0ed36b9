"""The ``moorage`` command line: serve, version, project, db."""

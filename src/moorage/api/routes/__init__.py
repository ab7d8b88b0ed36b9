"""Route modules of the REST edge; each exposes ``router`` (included by ``api.app``)."""

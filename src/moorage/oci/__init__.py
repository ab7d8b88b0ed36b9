"""OCI primitives: digests, names and references, media types, manifest parsing."""

"""The /v2 edge: OCI Distribution Spec v1.1 and the Docker Registry HTTP API v2."""

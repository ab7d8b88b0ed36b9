"""Business rules: projects, uploads and blobs, manifests and tags, pull statistics."""

"""Blob storage: driver protocol, filesystem and S3 drivers, content-addressed blob store, uploads."""

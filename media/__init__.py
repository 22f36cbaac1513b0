"""Multimedia in object storage: uploads, processing and access-controlled delivery."""

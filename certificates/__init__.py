"""Certificates of attendance: owed on completion, issued by workers, verifiable by anyone."""

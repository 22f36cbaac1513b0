"""Celery plumbing only: the app factory, queues, the async bridge and the beat schedule."""

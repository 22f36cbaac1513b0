"""`lms certificates ...`: bulk operations staff run from a shell."""

from __future__ import annotations

import asyncio
import uuid

import click

from lms.errors import DomainError
from lms.settings import Settings


@click.group("certificates")
def certificates() -> None:
    """Certificates of attendance."""


async def _reissue_course(settings: Settings, slug: str) -> tuple[int, int]:
    from certificates.deps import storage_for
    from certificates.service import CertificateService
    from lms.db import load_models
    from lms.db.outbox import PUBLISHER_KEY
    from lms.db.session import create_engine, create_sessionmaker, unit_of_work
    from workers.app import create_celery

    load_models()
    engine = create_engine(settings)
    sessionmaker = create_sessionmaker(engine)
    # "Certificate ready" e-mails are published as soon as each reissue commits.
    sessionmaker.configure(info={PUBLISHER_KEY: create_celery(settings).conf["aula_publisher"]})
    storage = storage_for(settings)
    try:
        async with unit_of_work(sessionmaker) as session:
            service = CertificateService(session, settings, storage)
            ids: list[uuid.UUID] = await service.course_certificates(slug)
        done = skipped = 0
        with click.progressbar(ids, label=f"Reissuing {len(ids)} certificates of {slug}") as bar:
            for certificate_id in bar:
                try:
                    # One transaction each: an interruption keeps what was done, a rerun does the rest.
                    async with unit_of_work(sessionmaker) as session:
                        await CertificateService(session, settings, storage).reissue_by_id(certificate_id)
                    done += 1
                except DomainError:  # revoked since the list was taken
                    skipped += 1
        return done, skipped
    finally:
        await engine.dispose()


@certificates.command("reissue")
@click.option("--course", "slug", required=True, help="The course's slug.")
def reissue(slug: str) -> None:
    """Print a new version of every issued certificate of a course (after a title or name fix)."""
    settings = Settings()
    if not settings.database_url:
        raise click.ClickException("LMS_DATABASE_URL is not set (use `lms dev` for the embedded database)")
    try:
        done, skipped = asyncio.run(_reissue_course(settings, slug))
    except DomainError as exc:
        raise click.ClickException(exc.detail) from exc
    note = f", skipped {skipped} revoked meanwhile" if skipped else ""
    click.echo(f"reissued {done} certificates{note}")

"""`lms certificates reissue --course SLUG`: every issued certificate of a course gets a new version."""

from __future__ import annotations

import subprocess
import sys

import anyio.to_thread
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from certificates.models import CertificateStatus
from lms.settings import Settings
from tests.certificates.helpers import complete, get_certificate, make_course, run_owed
from tests.support import ROOT, Factory


async def lms(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """Run the `lms` command as an operator would (off the event loop: it takes a few seconds)."""
    command = [sys.executable, "-m", "lms.cli", *args]
    return await anyio.to_thread.run_sync(
        lambda: subprocess.run(
            command, env=env, cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
        )
    )


async def test_reissuing_a_course_from_the_command_line_prints_new_versions_with_progress(
    factory: Factory,
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
    test_env: dict[str, str],
    db: AsyncSession,
) -> None:
    course_id, run_id = await make_course(sessionmaker, slug="fotografia-digital")
    other_course, other_run = await make_course(sessionmaker)
    ids = [await complete(sessionmaker, await factory.user(), course_id, run_id) for _ in range(3)]
    elsewhere = await complete(sessionmaker, await factory.user(), other_course, other_run)
    await run_owed(settings)

    result = await lms(test_env, "certificates", "reissue", "--course", "fotografia-digital")
    unknown = await lms(test_env, "certificates", "reissue", "--course", "no-such-course")

    assert result.returncode == 0, result.stderr
    assert "Reissuing 3 certificates of fotografia-digital" in result.stdout
    assert "reissued 3 certificates" in result.stdout
    for certificate_id in ids:
        certificate = await get_certificate(db, certificate_id)
        assert (certificate.status, certificate.version) == (CertificateStatus.ISSUED, 2)
    assert (await get_certificate(db, elsewhere)).version == 1
    assert unknown.returncode != 0
    assert "no-such-course" in unknown.stderr

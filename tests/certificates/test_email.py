"""The "certificate ready" e-mail: in the learner's language, with download and verify links, over SMTP."""

from __future__ import annotations

from email.header import decode_header, make_header
from urllib.parse import urlsplit

from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from lms.settings import MailBackend, Settings
from tests.certificates.helpers import complete, get_certificate, make_course, run_owed
from tests.support import Factory, mail_text, smtp_server

Client = AsyncTestClient[Litestar]


async def test_the_learner_gets_a_ready_email_in_their_language_with_working_links(
    client: Client,
    factory: Factory,
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
    db: AsyncSession,
) -> None:
    learner = await factory.user(full_name="Ñúñez", language="es", email="nunez@example.org")
    course_id, run_id = await make_course(sessionmaker)
    certificate_id = await complete(sessionmaker, learner, course_id, run_id)
    await run_owed(settings)
    certificate = await get_certificate(db, certificate_id)

    with smtp_server() as smtp:
        mailing = settings.model_copy(
            update={"mail_backend": MailBackend.SMTP, "smtp_host": smtp.host, "smtp_port": smtp.port}
        )
        assert await run_owed(mailing, "certificates.ready_email") == 1
        assert await run_owed(mailing, "certificates.ready_email") == 0  # sent once
        [mail] = smtp.to("nunez@example.org")

    body = mail_text(mail)
    assert (
        str(make_header(decode_header(mail["Subject"])))
        == "Tu certificado de «Fotografía digital» está listo"
    )
    assert "Hola Ñúñez" in body
    verify = f"http://testserver/verify/{certificate.code}?lang=es"
    assert verify in body
    # The link needs no sign-in while it lasts, and the mail says for how long.
    assert "el enlace funciona 30 días; después, inicia sesión para descargarlo" in body
    [download] = [line.strip() for line in body.splitlines() if "/pdf?" in line]
    link = urlsplit(download)
    response = await client.get(f"{link.path}?{link.query}", follow_redirects=False)
    assert response.status_code == 302

"""Enrolment e-mails sent by a real worker over SMTP, in each learner's language."""

from __future__ import annotations

from email.header import decode_header, make_header
from email.message import Message
from pathlib import Path

import pytest

from lms.accounts.models import Role
from lms.settings import Settings
from tests.enrolments.helpers import API, Client, Sessions, build_course, enrol
from tests.support import Factory, running_worker, settings_env, smtp_server, wait_for


def subject(mail: Message) -> str:
    return str(make_header(decode_header(mail["Subject"])))


def body(mail: Message) -> str:
    payload = mail.get_payload(decode=True)
    assert isinstance(payload, bytes)
    return payload.decode()


@pytest.mark.slow
async def test_confirmation_waitlist_and_promotion_emails_arrive_in_the_learners_language(
    client: Client, factory: Factory, sessionmaker: Sessions, settings: Settings, tmp_path: Path
) -> None:
    built = await build_course(
        sessionmaker,
        capacity=1,
        title={"ca": "Ciberseguretat", "es": "Ciberseguridad", "en": "Cybersecurity"},
    )
    catalan = await factory.user(Role.LEARNER, email="jordi@example.org", full_name="Jordi", language="ca")
    spanish = await factory.user(Role.LEARNER, email="maria@example.org", full_name="María", language="es")

    with smtp_server() as smtp:
        env = settings_env(
            settings, LMS_MAIL_BACKEND="smtp", LMS_SMTP_HOST=smtp.host, LMS_SMTP_PORT=str(smtp.port)
        )
        with running_worker(env, tmp_path / "worker.log", "--pool=solo", "--queues=email"):
            seated = await enrol(client, await factory.headers(catalan), built.run_id)
            await enrol(client, await factory.headers(spanish), built.run_id)
            assert wait_for(lambda: len(smtp.messages) == 2, timeout=60)
            await client.delete(f"{API}/me/enrolments/{seated['id']}", headers=await factory.headers(catalan))
            assert wait_for(lambda: len(smtp.to("maria@example.org")) == 2, timeout=30)
        jordi = smtp.to("jordi@example.org")
        maria = smtp.to("maria@example.org")

    assert [subject(m) for m in jordi] == ["Inscripció confirmada: Ciberseguretat"]
    assert "Hola Jordi" in body(jordi[0])
    assert [subject(m) for m in maria] == [
        "Lista de espera: Ciberseguridad",
        "Ya tienes plaza: Ciberseguridad",
    ]
    assert "(posición 1)" in body(maria[0])

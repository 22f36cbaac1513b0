"""Enrolment e-mails, owed through the outbox and sent by workers in the learner's language."""

from __future__ import annotations

import uuid
from typing import Any
from zoneinfo import ZoneInfo

from courses.i18n import pick
from enrolments.models import Enrolment, EnrolmentStatus
from enrolments.repository import EnrolmentRepository
from lms.mail import Mail, build_mailer
from workers.queues import Queue
from workers.registry import TaskContext, task

Template = tuple[str, str]

ENROLLED: dict[str, Template] = {
    "ca": (
        "Inscripció confirmada: {course}",
        "Hola {name},\n\nJa tens plaça a «{course}», que comença el {starts}.\n"
        "Pots seguir el curs a {url}.\n\n{org}\n",
    ),
    "es": (
        "Inscripción confirmada: {course}",
        "Hola {name},\n\nYa tienes plaza en «{course}», que empieza el {starts}.\n"
        "Puedes seguir el curso en {url}.\n\n{org}\n",
    ),
    "en": (
        "Enrolment confirmed: {course}",
        "Hello {name},\n\nYou have a place in \u201c{course}\u201d, starting on {starts}.\n"
        "Follow the course at {url}.\n\n{org}\n",
    ),
}
WAITLISTED: dict[str, Template] = {
    "ca": (
        "Llista d'espera: {course}",
        "Hola {name},\n\n«{course}» és ple i ets a la llista d'espera (posició {position}).\n"
        "Si s'allibera una plaça, serà teva automàticament i t'ho direm.\n\n{org}\n",
    ),
    "es": (
        "Lista de espera: {course}",
        "Hola {name},\n\n«{course}» está completo y estás en la lista de espera (posición {position}).\n"
        "Si se libera una plaza, será tuya automáticamente y te avisaremos.\n\n{org}\n",
    ),
    "en": (
        "Waiting list: {course}",
        "Hello {name},\n\n\u201c{course}\u201d is full and you are on its waiting list "
        "(position {position}).\n"
        "If a place frees up it is yours automatically, and we will tell you.\n\n{org}\n",
    ),
}
PROMOTED: dict[str, Template] = {
    "ca": (
        "Ja tens plaça: {course}",
        "Hola {name},\n\nS'ha alliberat una plaça a «{course}» i ara és teva. Comença el {starts}.\n"
        "Pots seguir el curs a {url}.\n\n{org}\n",
    ),
    "es": (
        "Ya tienes plaza: {course}",
        "Hola {name},\n\nSe ha liberado una plaza en «{course}» y ahora es tuya. Empieza el {starts}.\n"
        "Puedes seguir el curso en {url}.\n\n{org}\n",
    ),
    "en": (
        "You have a place: {course}",
        "Hello {name},\n\nA place in \u201c{course}\u201d has freed up and it is now yours. "
        "It starts on {starts}.\nFollow the course at {url}.\n\n{org}\n",
    ),
}


async def _send(ctx: TaskContext, enrolment_id: str, templates: dict[str, Template]) -> None:
    repo = EnrolmentRepository(session=ctx.session, auto_commit=False)
    row = await repo.user_for_mail(uuid.UUID(enrolment_id))
    if row is None or not row.is_active or row.status is EnrolmentStatus.WITHDRAWN:
        return  # withdrawn meanwhile: nothing to announce
    settings = ctx.runtime.settings
    lang = row.preferred_language if row.preferred_language in templates else "en"
    subject, body = templates[lang]
    starts = row.starts_at.astimezone(ZoneInfo(row.timezone)).strftime("%Y-%m-%d %H:%M")
    values: dict[str, Any] = {
        "org": settings.org_name,
        "name": row.full_name,
        "course": pick(row.title, lang),
        "starts": starts,
        "position": row.waitlist_position or "-",
        "url": f"{settings.public_url.rstrip('/')}/courses/{row.slug}",
    }
    mailer = ctx.runtime.resource("mailer", build_mailer)
    await mailer.send(Mail(to=row.email, subject=subject.format(**values), text=body.format(**values)))


@task("enrolments.confirmation_email", queue=Queue.EMAIL)
async def confirmation_email(ctx: TaskContext, enrolment_id: str, status: str = "enrolled") -> None:
    """Confirm a new enrolment: a seat, or a place on the waiting list with its position."""
    enrolment = await ctx.session.get(Enrolment, uuid.UUID(enrolment_id))
    if enrolment is None:
        return
    if status == EnrolmentStatus.WAITLISTED:
        if enrolment.status is not EnrolmentStatus.WAITLISTED:
            return  # promoted before this was sent: the promotion e-mail says it all
        await _send(ctx, enrolment_id, WAITLISTED)
        return
    await _send(ctx, enrolment_id, ENROLLED)


@task("enrolments.promotion_email", queue=Queue.EMAIL)
async def promotion_email(ctx: TaskContext, enrolment_id: str) -> None:
    """Tell a learner from the waiting list that a seat is now theirs."""
    await _send(ctx, enrolment_id, PROMOTED)

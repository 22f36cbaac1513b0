"""Account e-mails and housekeeping, run by workers."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

from lms.accounts.models import User
from lms.accounts.repository import SessionRepository
from lms.mail import Mail, build_mailer
from workers.queues import Queue
from workers.registry import TaskContext, task

WELCOME = {
    "ca": ("Benvingut/da a {org}", "Hola {name},\n\nEl teu compte a {org} ja està a punt. Entra a {url}.\n"),
    "es": ("Bienvenido/a a {org}", "Hola {name},\n\nTu cuenta en {org} ya está lista. Entra en {url}.\n"),
    "en": ("Welcome to {org}", "Hello {name},\n\nYour {org} account is ready. Sign in at {url}.\n"),
}
ATTEMPT = {
    "ca": (
        "Intent de registre a {org}",
        "Hola {name},\n\nAlgú ha intentat crear un compte a {org} amb aquesta adreça, "
        "que ja en té un. "
        "Si has estat tu, entra amb la teva contrasenya o restableix-la. "
        "Si no, pots ignorar aquest missatge.\n",
    ),
    "es": (
        "Intento de registro en {org}",
        "Hola {name},\n\nAlguien ha intentado crear una cuenta en {org} con esta dirección, "
        "que ya tiene una. "
        "Si has sido tú, entra con tu contraseña o restablécela. Si no, puedes ignorar este mensaje.\n",
    ),
    "en": (
        "Sign-up attempt at {org}",
        "Hello {name},\n\nSomeone tried to create an {org} account with this address, which already has one. "
        "If it was you, sign in with your password or reset it. If not, you can ignore this message.\n",
    ),
}


RESET = {
    "ca": (
        "Restableix la contrasenya de {org}",
        "Hola {name},\n\nPer triar una contrasenya nova, obre aquest enllaç "
        "(caduca d'aquí a {minutes} minuts i només es pot fer servir una vegada):\n\n{link}\n\n"
        "Si no ho has demanat tu, ignora aquest missatge.\n",
    ),
    "es": (
        "Restablece la contraseña de {org}",
        "Hola {name},\n\nPara elegir una contraseña nueva, abre este enlace (caduca en {minutes} minutos "
        "y solo se puede usar una vez):\n\n{link}\n\nSi no lo has pedido tú, ignora este mensaje.\n",
    ),
    "en": (
        "Reset your {org} password",
        "Hello {name},\n\nTo choose a new password, open this link (it expires in {minutes} minutes "
        "and works once):\n\n{link}\n\nIf you did not ask for this, ignore this message.\n",
    ),
}


async def _mail_user(
    ctx: TaskContext, user_id: str, templates: dict[str, tuple[str, str]], **values: str
) -> None:
    user = await ctx.session.get(User, uuid.UUID(user_id))
    if user is None or not user.is_active:
        return
    settings = ctx.runtime.settings
    subject, body = templates.get(user.preferred_language, templates["en"])
    values = {"org": settings.org_name, "name": user.full_name, "url": settings.public_url, **values}
    mailer = ctx.runtime.resource("mailer", build_mailer)
    await mailer.send(Mail(to=user.email, subject=subject.format(**values), text=body.format(**values)))


@task("accounts.welcome_email", queue=Queue.EMAIL)
async def welcome_email(ctx: TaskContext, user_id: str) -> None:
    """Greet a new learner in their language."""
    await _mail_user(ctx, user_id, WELCOME)


@task("accounts.registration_attempt_notice", queue=Queue.EMAIL)
async def registration_attempt_notice(ctx: TaskContext, user_id: str) -> None:
    """Tell an account's owner that someone tried to register their address again."""
    await _mail_user(ctx, user_id, ATTEMPT)


@task("accounts.password_reset_email", queue=Queue.EMAIL, scrub=True)
async def password_reset_email(ctx: TaskContext, user_id: str, token: str) -> None:
    """Send the single-use reset link."""
    settings = ctx.runtime.settings
    base = settings.password_reset_url or f"{settings.public_url.rstrip('/')}/reset-password"
    link = f"{base}?{urlencode({'token': token})}"
    await _mail_user(ctx, user_id, RESET, link=link, minutes=str(settings.password_reset_ttl // 60))


@task("accounts.purge_expired_sessions", queue=Queue.MAINTENANCE, owed=False)
async def purge_expired_sessions(ctx: TaskContext) -> None:
    """Delete login sessions that expired or were revoked more than a day ago."""
    await SessionRepository(session=ctx.session).purge_expired(datetime.now(UTC) - timedelta(days=1))

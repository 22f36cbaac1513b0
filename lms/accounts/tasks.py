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


CONFIRM_EMAIL = {
    "ca": (
        "Confirma la teva adreça nova a {org}",
        "Hola {name},\n\nPer entrar a {org} amb aquesta adreça, obre aquest enllaç "
        "(caduca d'aquí a {hours} hores i només es pot fer servir una vegada):\n\n{link}\n\n"
        "Fins aleshores, continues entrant amb l'adreça d'abans. "
        "Si no ho has demanat tu, ignora aquest missatge.\n",
    ),
    "es": (
        "Confirma tu nueva dirección en {org}",
        "Hola {name},\n\nPara entrar en {org} con esta dirección, abre este enlace "
        "(caduca en {hours} horas y solo se puede usar una vez):\n\n{link}\n\n"
        "Hasta entonces, sigues entrando con la dirección de antes. "
        "Si no lo has pedido tú, ignora este mensaje.\n",
    ),
    "en": (
        "Confirm your new {org} address",
        "Hello {name},\n\nTo sign in to {org} with this address, open this link (it expires in "
        "{hours} hours and works once):\n\n{link}\n\nUntil then you keep signing in with your previous "
        "address. If you did not ask for this, ignore this message.\n",
    ),
}
EMAIL_CHANGED = {
    "ca": (
        "L'adreça del teu compte a {org} ha canviat",
        "Hola {name},\n\nEl teu compte a {org} ara fa servir l'adreça {new_email}; d'ara endavant "
        "hi entraràs amb aquesta. Si no has estat tu, restableix la contrasenya i escriu-nos.\n",
    ),
    "es": (
        "La dirección de tu cuenta en {org} ha cambiado",
        "Hola {name},\n\nTu cuenta en {org} ahora usa la dirección {new_email}; a partir de ahora "
        "entrarás con ella. Si no has sido tú, restablece la contraseña y escríbenos.\n",
    ),
    "en": (
        "Your {org} address has changed",
        "Hello {name},\n\nYour {org} account now uses the address {new_email}; sign in with it from now "
        "on. If this was not you, reset your password and write to us.\n",
    ),
}


async def _mail_user(
    ctx: TaskContext,
    user_id: str,
    templates: dict[str, tuple[str, str]],
    *,
    to: str | None = None,
    **values: str,
) -> None:
    """Mail an active account in its language, at its address unless ``to`` names another."""
    user = await ctx.session.get(User, uuid.UUID(user_id))
    if user is None or not user.is_active:
        return
    settings = ctx.runtime.settings
    subject, body = templates.get(user.preferred_language, templates["en"])
    values = {"org": settings.org_name, "name": user.full_name, "url": settings.public_url, **values}
    mailer = ctx.runtime.resource("mailer", build_mailer)
    await mailer.send(Mail(to=to or user.email, subject=subject.format(**values), text=body.format(**values)))


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


@task("accounts.email_change_email", queue=Queue.EMAIL, scrub=True)
async def email_change_email(ctx: TaskContext, user_id: str, new_email: str, token: str) -> None:
    """Send the confirmation link to the address the learner wants to use."""
    settings = ctx.runtime.settings
    base = settings.email_change_url or f"{settings.public_url.rstrip('/')}/confirm-email"
    link = f"{base}?{urlencode({'token': token})}"
    hours = str(settings.email_change_ttl // 3600)
    await _mail_user(ctx, user_id, CONFIRM_EMAIL, to=new_email, link=link, hours=hours)


@task("accounts.email_changed_notice", queue=Queue.EMAIL)
async def email_changed_notice(ctx: TaskContext, user_id: str, old_email: str, new_email: str) -> None:
    """Tell the previous address that the account moved, in case it was not its owner's doing."""
    await _mail_user(ctx, user_id, EMAIL_CHANGED, to=old_email, new_email=new_email)


@task("accounts.purge_expired_sessions", queue=Queue.MAINTENANCE, owed=False)
async def purge_expired_sessions(ctx: TaskContext) -> None:
    """Delete login sessions that expired or were revoked more than a day ago."""
    await SessionRepository(session=ctx.session).purge_expired(datetime.now(UTC) - timedelta(days=1))

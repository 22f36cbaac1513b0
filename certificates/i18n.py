"""The words certificates, the verification page and the e-mails are printed with, in ca, es and en."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

LANGUAGES = ("ca", "es", "en")
DEFAULT_LANGUAGE = "ca"

_MONTHS = {
    "ca": [
        "gener",
        "febrer",
        "març",
        "abril",
        "maig",
        "juny",
        "juliol",
        "agost",
        "setembre",
        "octubre",
        "novembre",
        "desembre",
    ],
    "es": [
        "enero",
        "febrero",
        "marzo",
        "abril",
        "mayo",
        "junio",
        "julio",
        "agosto",
        "septiembre",
        "octubre",
        "noviembre",
        "diciembre",
    ],
    "en": [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ],
}

FORMATS = {
    "mooc": {"ca": "MOOC", "es": "MOOC", "en": "MOOC"},
    "instant": {"ca": "Curs instantani", "es": "Curso instantáneo", "en": "Instant course"},
    "masterclass": {"ca": "Classe magistral", "es": "Clase magistral", "en": "Masterclass"},
}

TEXT: dict[str, dict[str, str]] = {
    "ca": {
        "title": "Certificat d'assistència",
        "certifies": "Es fa constar que",
        "completed": "ha completat",
        "hour": "hora",
        "hours": "hores",
        "completed_on": "completat el {date}",
        "issued_on": "Emès el {date}",
        "version": "versió {version}",
        "code": "Codi",
        "verify_at": "Verifiqueu-lo a",
        "page_title": "Verificació de certificat",
        "valid": "Certificat vàlid",
        "valid_detail": "Aquest certificat l'ha emès {issuer} i és vàlid.",
        "revoked": "Certificat revocat",
        "revoked_detail": "{issuer} va revocar aquest certificat el {date}.",
        "pending": "Certificat en preparació",
        "pending_detail": "Aquest certificat encara s'està emetent.",
        "too_many": "Massa consultes",
        "too_many_detail": (
            "Massa consultes des d'aquesta adreça. Torneu-ho a provar d'aquí a {seconds} segons."
        ),
        "not_found": "Certificat no trobat",
        "not_found_detail": "No hi ha cap certificat amb aquest codi. Comproveu l'enllaç o el codi QR.",
        "learner": "Persona participant",
        "course": "Curs",
        "format": "Format",
        "duration": "Durada",
        "completion_date": "Data de finalització",
        "issuer": "Entitat emissora",
        "issued": "Data d'emissió",
        "sha256": "Empremta SHA-256 del PDF",
        "hash_current": "L'empremta {hash} correspon a la versió vigent d'aquest certificat.",
        "hash_superseded": (
            "L'empremta {hash} correspon a una versió anterior (versió {version}) que ha estat substituïda."
        ),
        "hash_unknown": "L'empremta {hash} no correspon a cap versió d'aquest certificat.",
        "mail_subject": "El teu certificat de «{course}» és a punt",
        "mail_body": (
            "Hola {name},\n\nEnhorabona per haver completat «{course}». El teu certificat d'assistència "
            "és a punt.\n\nDescarrega'l (l'enllaç funciona {days} dies; després, inicia sessió per "
            "descarregar-lo):\n{download}\n"
            "Qualsevol persona el pot verificar a: {verify}\n\n{org}\n"
        ),
    },
    "es": {
        "title": "Certificado de asistencia",
        "certifies": "Se hace constar que",
        "completed": "ha completado",
        "hour": "hora",
        "hours": "horas",
        "completed_on": "completado el {date}",
        "issued_on": "Emitido el {date}",
        "version": "versión {version}",
        "code": "Código",
        "verify_at": "Verifíquelo en",
        "page_title": "Verificación de certificado",
        "valid": "Certificado válido",
        "valid_detail": "Este certificado lo ha emitido {issuer} y es válido.",
        "revoked": "Certificado revocado",
        "revoked_detail": "{issuer} revocó este certificado el {date}.",
        "pending": "Certificado en preparación",
        "pending_detail": "Este certificado todavía se está emitiendo.",
        "too_many": "Demasiadas consultas",
        "too_many_detail": (
            "Demasiadas consultas desde esta dirección. Vuelva a intentarlo en {seconds} segundos."
        ),
        "not_found": "Certificado no encontrado",
        "not_found_detail": (
            "No existe ningún certificado con este código. Compruebe el enlace o el código QR."
        ),
        "learner": "Participante",
        "course": "Curso",
        "format": "Formato",
        "duration": "Duración",
        "completion_date": "Fecha de finalización",
        "issuer": "Entidad emisora",
        "issued": "Fecha de emisión",
        "sha256": "Huella SHA-256 del PDF",
        "hash_current": "La huella {hash} corresponde a la versión vigente de este certificado.",
        "hash_superseded": (
            "La huella {hash} corresponde a una versión anterior (versión {version}) que ha sido sustituida."
        ),
        "hash_unknown": "La huella {hash} no corresponde a ninguna versión de este certificado.",
        "mail_subject": "Tu certificado de «{course}» está listo",
        "mail_body": (
            "Hola {name},\n\nEnhorabuena por completar «{course}». Tu certificado de asistencia "
            "está listo.\n\nDescárgalo (el enlace funciona {days} días; después, inicia sesión para "
            "descargarlo):\n{download}\n"
            "Cualquier persona puede verificarlo en: {verify}\n\n{org}\n"
        ),
    },
    "en": {
        "title": "Certificate of attendance",
        "certifies": "This is to certify that",
        "completed": "has completed",
        "hour": "hour",
        "hours": "hours",
        "completed_on": "completed on {date}",
        "issued_on": "Issued on {date}",
        "version": "version {version}",
        "code": "Code",
        "verify_at": "Verify at",
        "page_title": "Certificate verification",
        "valid": "Valid certificate",
        "valid_detail": "This certificate was issued by {issuer} and is valid.",
        "revoked": "Revoked certificate",
        "revoked_detail": "{issuer} revoked this certificate on {date}.",
        "pending": "Certificate being prepared",
        "pending_detail": "This certificate is still being issued.",
        "too_many": "Too many requests",
        "too_many_detail": "Too many requests from this address. Try again in {seconds} seconds.",
        "not_found": "Certificate not found",
        "not_found_detail": "There is no certificate with this code. Check the link or the QR code.",
        "learner": "Participant",
        "course": "Course",
        "format": "Format",
        "duration": "Duration",
        "completion_date": "Completion date",
        "issuer": "Issued by",
        "issued": "Issue date",
        "sha256": "SHA-256 fingerprint of the PDF",
        "hash_current": "The fingerprint {hash} matches the current version of this certificate.",
        "hash_superseded": (
            "The fingerprint {hash} matches an earlier version (version {version}) that has been replaced."
        ),
        "hash_unknown": "The fingerprint {hash} does not match any version of this certificate.",
        "mail_subject": "Your certificate for “{course}” is ready",
        "mail_body": (
            "Hello {name},\n\nCongratulations on completing “{course}”. Your certificate of attendance "
            "is ready.\n\nDownload it (the link works for {days} days; after that, sign in to "
            "download it):\n{download}\n"
            "Anyone can verify it at: {verify}\n\n{org}\n"
        ),
    },
}


def language_or_default(language: str | None) -> str:
    return language if language in LANGUAGES else DEFAULT_LANGUAGE


def text(language: str, key: str, **values: object) -> str:
    """A phrase in ``language`` (falling back to Catalan), with its placeholders filled."""
    phrase = TEXT[language_or_default(language)][key]
    return phrase.format(**values) if values else phrase


def long_date(day: date, language: str) -> str:
    """``22 de novembre de 2026`` / ``22 de noviembre de 2026`` / ``22 November 2026``."""
    language = language_or_default(language)
    month = _MONTHS[language][day.month - 1]
    if language == "en":
        return f"{day.day} {month} {day.year}"
    if language == "ca" and month[0] in "aeiou":
        return f"{day.day} d'{month} de {day.year}"  # d'abril, d'agost, d'octubre
    return f"{day.day} de {month} de {day.year}"


def hours_phrase(hours: Decimal, language: str) -> str:
    """``20 hores`` / ``1,5 horas`` / ``1 hour``."""
    number = f"{hours.normalize():f}"
    if language_or_default(language) != "en":
        number = number.replace(".", ",")
    return f"{number} {text(language, 'hour' if hours == 1 else 'hours')}"


def format_label(course_format: str, language: str) -> str:
    labels = FORMATS.get(course_format)
    return labels[language_or_default(language)] if labels else course_format


def negotiate(query_lang: str | None, accept_language: str | None) -> str:
    """The page language: ``?lang=`` first, then the best of Accept-Language, then Catalan."""
    if query_lang in LANGUAGES:
        return query_lang
    best: tuple[float, str] | None = None
    for part in (accept_language or "").split(","):
        tag, _, params = part.strip().partition(";")
        primary = tag.strip().lower().split("-")[0]
        if primary not in LANGUAGES:
            continue
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                continue
        if best is None or quality > best[0]:
            best = (quality, primary)
    return best[1] if best and best[0] > 0 else DEFAULT_LANGUAGE

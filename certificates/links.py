"""Links to a certificate: its public verification page and the signed download link sent by e-mail."""

from __future__ import annotations

import hashlib
import hmac
import time
from urllib.parse import urlencode

from lms.settings import Settings

EMAIL_LINK_TTL = 30 * 24 * 3600  # seconds: long enough to find the e-mail again, short of forever
_PURPOSE = b"aula.certificates.download\x00"  # keeps these signatures apart from any other use of the key


def verify_url(settings: Settings, code: str) -> str:
    """What the QR code points at."""
    base = settings.certificate_verify_base_url or settings.public_url
    return f"{base.rstrip('/')}/verify/{code}"


def verify_link(settings: Settings, code: str, language: str) -> str:
    return f"{verify_url(settings, code)}?{urlencode({'lang': language})}"


def _signature(settings: Settings, code: str, expires: int) -> str:
    message = _PURPOSE + f"{code}:{expires}".encode()
    return hmac.new(settings.signing_key().encode(), message, hashlib.sha256).hexdigest()


def download_link(settings: Settings, code: str, version: int, now: float | None = None) -> str:
    """A link that works without signing in until it expires (then the learner signs in to download)."""
    expires = int((now or time.time()) + EMAIL_LINK_TTL)
    query = urlencode({"expires": expires, "v": version, "sig": _signature(settings, code, expires)})
    return f"{settings.public_url.rstrip('/')}{settings.api_prefix}/certificates/{code}/pdf?{query}"


def valid_download(
    settings: Settings, code: str, expires: int, signature: str, now: float | None = None
) -> bool:
    if expires < (now or time.time()):
        return False
    # As bytes: compare_digest refuses str with non-ASCII characters, which a tampered link may carry.
    return hmac.compare_digest(_signature(settings, code, expires).encode(), signature.encode())

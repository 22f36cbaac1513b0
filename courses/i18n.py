"""Multilingual text: the languages we publish in and the fallback order when one is missing."""

from __future__ import annotations

from collections.abc import Mapping

LANGUAGES = ("ca", "es", "en")
DEFAULT_LANGUAGE = "ca"


def pick(text: Mapping[str, str] | None, lang: str) -> str:
    """The text in ``lang``, else in Catalan, Spanish, English (the first one present)."""
    if not text:
        return ""
    for candidate in (lang, *LANGUAGES):
        value = text.get(candidate)
        if value:
            return value
    return ""


def negotiate(explicit: str | None, accept_language: str | None) -> str:
    """``?lang=`` wins; else the best-weighted supported language of ``Accept-Language``; else Catalan."""
    if explicit and explicit.lower()[:2] in LANGUAGES:
        return explicit.lower()[:2]
    best, best_q = DEFAULT_LANGUAGE, -1.0
    for position, part in enumerate((accept_language or "").split(",")):
        tag, _, params = part.strip().partition(";")
        code = tag.strip().lower()[:2]
        if code not in LANGUAGES:
            continue
        q = 1.0
        params = params.strip()
        if params.startswith("q="):
            try:
                q = float(params[2:])
            except ValueError:
                continue
        # Earlier entries win ties, as the header lists preferences in order.
        score = q - position * 1e-6
        if q > 0 and score > best_q:
            best, best_q = code, score
    return best

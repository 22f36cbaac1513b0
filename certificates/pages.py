"""The public verification page: server-rendered HTML, inline CSS, readable on a phone."""

from __future__ import annotations

from html import escape
from urllib.parse import urlencode

from certificates.i18n import LANGUAGES, format_label, hours_phrase, long_date, text
from certificates.models import Certificate, CertificateStatus

STYLE = """
*{box-sizing:border-box}
body{margin:0;font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans",sans-serif;
color:#1d2b36;background:#eef2f4}
main{max-width:40rem;margin:0 auto;padding:1.25rem}
header{display:flex;justify-content:space-between;align-items:center;gap:1rem;margin-bottom:1rem}
header strong{font-size:1.05rem}
nav a{color:#1f5f74;margin-left:.6rem;text-decoration:none}
nav a[aria-current]{font-weight:700;text-decoration:underline}
.card{background:#fff;border-radius:.75rem;padding:1.25rem;box-shadow:0 1px 3px rgba(0,0,0,.08)}
.status{border-radius:.5rem;padding:.85rem 1rem;margin-bottom:1.25rem}
.status h1{font-size:1.25rem;margin:0 0 .25rem}
.status p{margin:0}
.valid{background:#e3f4e8;border-left:.4rem solid #1e7b3a}
.revoked{background:#fbe5e3;border-left:.4rem solid #b3261e}
.missing{background:#f1f3f4;border-left:.4rem solid #5b6770}
dl{margin:0}
dt{font-size:.8rem;color:#5b6770;text-transform:uppercase;letter-spacing:.04em;margin-top:.9rem}
dd{margin:.1rem 0 0;font-size:1.05rem;overflow-wrap:anywhere}
.name{font-size:1.35rem;font-weight:700}
code{font:.85rem/1.4 ui-monospace,Menlo,Consolas,monospace;overflow-wrap:anywhere}
.check{margin-top:1.25rem;padding:.75rem 1rem;border-radius:.5rem;background:#f1f3f4}
footer{margin-top:1rem;font-size:.8rem;color:#5b6770}
"""


def _languages(code: str, current: str, sha256: str | None) -> str:
    links = []
    for language in LANGUAGES:
        query = urlencode({"lang": language, **({"sha256": sha256} if sha256 else {})})
        attrs = ' aria-current="true"' if language == current else ""
        links.append(
            f'<a href="/verify/{escape(code)}?{escape(query)}" lang="{language}"{attrs}>'
            f"{language.upper()}</a>"
        )
    return "<nav>" + "".join(links) + "</nav>"


def _page(language: str, title: str, org: str, nav: str, body: str) -> str:
    return (
        f'<!doctype html><html lang="{language}"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        '<meta name="robots" content="noindex">'
        f"<title>{escape(title)} · {escape(org)}</title><style>{STYLE}</style></head>"
        f"<body><main><header><strong>{escape(org)}</strong>{nav}</header>{body}</main></body></html>"
    )


def verification_page(
    certificate: Certificate,
    language: str,
    org: str,
    hash_check: str | None,
    hash_version: int | None,
    sha256: str | None,
) -> str:
    """The certificate as printed, whether it is valid, and the PDF's fingerprint."""
    issuer = certificate.issuer_name or org
    if certificate.status is CertificateStatus.REVOKED and certificate.revoked_at is not None:
        css, heading = "revoked", text(language, "revoked")
        detail = text(
            language, "revoked_detail", issuer=issuer, date=long_date(certificate.revoked_at.date(), language)
        )
    else:
        css, heading = "valid", text(language, "valid")
        detail = text(language, "valid_detail", issuer=issuer)
    rows: list[tuple[str, str, str]] = [
        # dir="auto": a name in Arabic or Hebrew script is laid out right to left, punctuation included
        ("learner", escape(certificate.learner_name or ""), ' class="name" dir="auto"'),
        ("course", escape(certificate.course_title or ""), ' dir="auto"'),
        ("format", escape(format_label(certificate.course_format or "", language)), ""),
    ]
    if certificate.hours is not None:
        rows.append(("duration", escape(hours_phrase(certificate.hours, language)), ""))
    if certificate.completed_on is not None:
        rows.append(("completion_date", escape(long_date(certificate.completed_on, language)), ""))
    rows.append(("issuer", escape(issuer), ""))
    if certificate.issued_at is not None:
        rows.append(("issued", escape(long_date(certificate.issued_at.date(), language)), ""))
    rows.append(("code", f"<code>{escape(certificate.code)}</code>", ""))
    rows.append(("sha256", f"<code>{escape(certificate.sha256 or '')}</code>", ""))
    fields = "".join(f"<dt>{text(language, key)}</dt><dd{attrs}>{value}</dd>" for key, value, attrs in rows)
    check = ""
    if hash_check is not None and sha256 is not None:
        shown = f"<code>{escape(sha256.strip()[:64])}</code>"
        key = {"current": "hash_current", "superseded": "hash_superseded"}.get(hash_check, "hash_unknown")
        check = f'<p class="check">{text(language, key, hash=shown, version=hash_version or "")}</p>'
    body = (
        f'<section class="card"><div class="status {css}" role="status"><h1>{escape(heading)}</h1>'
        f"<p>{escape(detail)}</p></div><dl>{fields}</dl>{check}</section>"
        f"<footer>{escape(text(language, 'page_title'))}</footer>"
    )
    return _page(language, heading, org, _languages(certificate.code, language, sha256), body)


def message_page(language: str, org: str, heading_key: str, detail: str) -> str:
    """A page that says why there is nothing to show (unknown code, too many requests)."""
    heading = text(language, heading_key)
    body = (
        f'<section class="card"><div class="status missing" role="status"><h1>{escape(heading)}</h1>'
        f"<p>{escape(detail)}</p></div></section>"
    )
    return _page(language, heading, org, "", body)

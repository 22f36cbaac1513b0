"""Certificates over HTTP: the public verification page and JSON, learners' downloads, staff actions."""

from __future__ import annotations

import uuid
from typing import Annotated

from litestar import Controller, Request, get, post
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from litestar.enums import MediaType
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter
from litestar.response import Redirect, Response
from litestar.status_codes import HTTP_200_OK

from certificates.deps import limit_verification, provide_certificates
from certificates.i18n import negotiate, text
from certificates.links import valid_download, verify_url
from certificates.models import Certificate, CertificateStatus, CertificateVersion
from certificates.pages import message_page, verification_page
from certificates.repository import Issuance
from certificates.schemas import (
    CertificateAdmin,
    CertificateDetail,
    CertificateVersionOut,
    MyCertificate,
    Revocation,
    VerifiedCertificate,
)
from certificates.service import CertificateService, Verification
from lms.accounts.models import User
from lms.errors import Forbidden, NotFound, TooManyRequests
from lms.pagination import Limit, Offset, Page
from lms.settings import Settings

BEARER: list[dict[str, list[str]]] = [{"BearerToken": []}]
# Verification answers change when a certificate is revoked: caches may keep them briefly, never long.
VERIFY_CACHE = "public, max-age=60"
dependencies = {"certificates": Provide(provide_certificates)}


def _settings(request: Request[object, object, State]) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def to_verified(settings: Settings, found: Verification) -> VerifiedCertificate:
    c = found.certificate
    assert c.learner_name is not None
    assert c.completed_on is not None
    assert c.issued_at is not None
    return VerifiedCertificate(
        code=c.code,
        valid=c.status is CertificateStatus.ISSUED,
        status=c.status,
        learner_name=c.learner_name,
        course_title=c.course_title or "",
        course_format=c.course_format or "",
        hours=c.hours,
        completed_on=c.completed_on,
        issuer_name=c.issuer_name or settings.org_name,
        issued_on=c.issued_at.date(),
        revoked_on=c.revoked_at.date() if c.revoked_at else None,
        version=c.version,
        sha256=c.sha256 or "",
        language=c.language or "ca",
        verify_url=verify_url(settings, c.code),
        hash_check=found.hash_check,  # type: ignore[arg-type]
        hash_version=found.hash_version,
    )


def to_admin(item: Issuance) -> CertificateAdmin:
    c = item.certificate
    return CertificateAdmin(
        id=c.id,
        code=c.code,
        status=c.status,
        user_id=c.user_id,
        course_id=c.course_id,
        run_id=c.run_id,
        enrolment_id=c.enrolment_id,
        learner_name=c.learner_name,
        course_title=c.course_title,
        completed_at=c.completed_at,
        created_at=c.created_at,
        issued_at=c.issued_at,
        version=c.version,
        sha256=c.sha256,
        revoked_at=c.revoked_at,
        revoked_reason=c.revoked_reason,
        attempts=item.attempts,
        last_error=item.last_error,
        gave_up=item.gave_up,
    )


def to_detail(item: Issuance, versions: list[CertificateVersion]) -> CertificateDetail:
    admin = to_admin(item)
    return CertificateDetail(
        **{field: getattr(admin, field) for field in admin.__struct_fields__},
        versions=[
            CertificateVersionOut(
                version=v.version,
                sha256=v.sha256,
                created_at=v.created_at,
                current=v.version == item.certificate.version,
            )
            for v in versions
        ],
    )


def to_mine(settings: Settings, c: Certificate) -> MyCertificate:
    downloadable = c.status is CertificateStatus.ISSUED
    return MyCertificate(
        id=c.id,
        code=c.code,
        status=c.status,
        course_id=c.course_id,
        run_id=c.run_id,
        course_title=c.course_title,
        completed_at=c.completed_at,
        issued_at=c.issued_at,
        revoked_at=c.revoked_at,
        version=c.version,
        sha256=c.sha256,
        verify_url=verify_url(settings, c.code),
        download_url=f"{settings.api_prefix}/me/certificates/{c.id}/download" if downloadable else None,
    )


MAX_LANG = 10  # longer than any language tag the page could match
MAX_SHA256 = 128  # a hexadecimal SHA-256 is 64 characters: longer never matches, and is shown cut


class VerifyPageController(Controller):
    """The page the QR code opens: public, server-rendered, in Catalan, Spanish or English."""

    path = "/verify"
    tags = ["certificates"]
    dependencies = dependencies

    # A path parameter, so that anything under /verify/ (even with slashes) gets the HTML 404 page.
    @get("/{code:path}", media_type=MediaType.HTML)
    async def verify_page(
        self,
        code: FromPath[str],
        request: Request[object, object, State],
        certificates: NamedDependency[CertificateService],
        # No length limits here: a browser given a mangled link gets the page, not a JSON error. What the
        # page uses of them is cut to size below.
        lang: Annotated[str | None, QueryParameter()] = None,
        sha256: Annotated[str | None, QueryParameter()] = None,
    ) -> Response[str]:
        """Whether a certificate is genuine, as a web page (``?lang=``, ``?sha256=`` checks a PDF)."""
        settings = _settings(request)
        code = code.lstrip("/")
        lang = lang[:MAX_LANG] if lang else None
        sha256 = sha256[:MAX_SHA256] if sha256 else None
        language = negotiate(lang, request.headers.get("accept-language"))
        headers = {"X-Robots-Tag": "noindex", "Vary": "Accept-Language"}
        try:
            await limit_verification(request)
            found = await certificates.verify(code, sha256)
        except TooManyRequests as exc:
            seconds = exc.headers.get("Retry-After", "60")
            page = message_page(
                language, settings.org_name, "too_many", text(language, "too_many_detail", seconds=seconds)
            )
            return Response(
                page, status_code=429, media_type=MediaType.HTML, headers={**headers, **exc.headers}
            )
        except NotFound:
            page = message_page(language, settings.org_name, "not_found", text(language, "not_found_detail"))
            return Response(page, status_code=404, media_type=MediaType.HTML, headers=headers)
        page = verification_page(
            found.certificate, language, settings.org_name, found.hash_check, found.hash_version, sha256
        )
        return Response(
            page,
            status_code=200,
            media_type=MediaType.HTML,
            headers={**headers, "Cache-Control": VERIFY_CACHE},
        )


class CertificatesController(Controller):
    path = "/certificates"
    tags = ["certificates"]
    dependencies = dependencies

    @get("/{code:str}")
    async def verify(
        self,
        code: FromPath[str],
        request: Request[object, object, State],
        certificates: NamedDependency[CertificateService],
        sha256: Annotated[str | None, QueryParameter(max_length=128)] = None,
    ) -> Response[VerifiedCertificate]:
        """Public: what a certificate shows and whether it is valid; ``?sha256=`` checks a PDF's hash."""
        await limit_verification(request)
        found = await certificates.verify(code, sha256)
        return Response(
            to_verified(_settings(request), found),
            headers={"Cache-Control": VERIFY_CACHE, "X-Robots-Tag": "noindex"},
        )

    @get("/{code:str}/pdf", status_code=302)
    async def download_signed(
        self,
        code: FromPath[str],
        request: Request[object, object, State],
        certificates: NamedDependency[CertificateService],
        expires: FromQuery[int],
        sig: Annotated[str, QueryParameter(max_length=128)],
    ) -> Redirect:
        """The e-mailed download link: checks its signature and expiry, then redirects to the PDF."""
        if not valid_download(_settings(request), code, expires, sig):
            raise Forbidden(
                "This download link is invalid or has expired; sign in to download the certificate."
            )
        return Redirect(await certificates.download_by_code(code), status_code=302)

    @get("/", security=BEARER)
    async def list_certificates(
        self,
        staff: NamedDependency[User],
        certificates: NamedDependency[CertificateService],
        status: FromQuery[CertificateStatus | None] = None,
        course_id: FromQuery[uuid.UUID | None] = None,
        limit: Limit = 20,
        offset: Offset = 0,
    ) -> Page[CertificateAdmin]:
        """Staff: certificates; ``?status=pending`` lists owed ones with attempts and last error."""
        items, total = await certificates.search(status, course_id, limit, offset)
        return Page(items=[to_admin(i) for i in items], total=total, limit=limit, offset=offset)

    @get("/{code:str}/detail", security=BEARER)
    async def detail(
        self,
        code: FromPath[str],
        staff: NamedDependency[User],
        certificates: NamedDependency[CertificateService],
    ) -> CertificateDetail:
        """Staff: a certificate with every version printed for it."""
        return to_detail(*await certificates.detail(code))

    @post("/{code:str}/revoke", status_code=HTTP_200_OK, security=BEARER)
    async def revoke(
        self,
        code: FromPath[str],
        data: JSONBody[Revocation],
        staff: NamedDependency[User],
        certificates: NamedDependency[CertificateService],
    ) -> CertificateDetail:
        """Staff: revoke an issued certificate with a reason (409 if already revoked)."""
        await certificates.revoke(staff, code, data.reason)
        return to_detail(*await certificates.detail(code))

    @post("/{code:str}/reissue", status_code=HTTP_200_OK, security=BEARER)
    async def reissue(
        self,
        code: FromPath[str],
        staff: NamedDependency[User],
        certificates: NamedDependency[CertificateService],
    ) -> CertificateDetail:
        """Staff: print a new version with today's name and title; same code, old hash kept."""
        await certificates.reissue(staff, code)
        return to_detail(*await certificates.detail(code))

    @post("/{code:str}/retry", status_code=HTTP_200_OK, security=BEARER)
    async def retry(
        self,
        code: FromPath[str],
        staff: NamedDependency[User],
        certificates: NamedDependency[CertificateService],
    ) -> CertificateDetail:
        """Staff: owe the issuance of a certificate again, after its retries ran out."""
        await certificates.retry(staff, code)
        return to_detail(*await certificates.detail(code))


class MyCertificatesController(Controller):
    path = "/me/certificates"
    tags = ["certificates"]
    security = BEARER
    dependencies = dependencies

    @get("/")
    async def list_mine(
        self,
        request: Request[object, object, State],
        user: NamedDependency[User],
        certificates: NamedDependency[CertificateService],
        limit: Limit = 20,
        offset: Offset = 0,
    ) -> Page[MyCertificate]:
        """The caller's certificates, newest first, issued or still being issued."""
        items, total = await certificates.mine(user, limit, offset)
        settings = _settings(request)
        return Page(items=[to_mine(settings, c) for c in items], total=total, limit=limit, offset=offset)

    @get("/{certificate_id:uuid}/download", status_code=302)
    async def download(
        self,
        certificate_id: FromPath[uuid.UUID],
        user: NamedDependency[User],
        certificates: NamedDependency[CertificateService],
    ) -> Redirect:
        """Redirect to a short-lived link to the PDF of one of the caller's certificates."""
        return Redirect(await certificates.download_mine(user, certificate_id), status_code=302)

"""Queries on media assets, and on the tables that use them (courses, lessons, runs, enrolments)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from advanced_alchemy.filters import LimitOffset, OrderBy
from advanced_alchemy.repository import SQLAlchemyAsyncRepository
from sqlalchemy import ColumnElement, literal, or_, select, union_all
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from courses.models import Course, CourseModule, CourseRun, CourseStatus, Lesson
from enrolments.models import SEATED_STATUSES, Enrolment
from media.models import Asset, AssetKind, AssetPurpose, AssetStatus


@dataclass(frozen=True, slots=True)
class DeliveryRow:
    """What the delivery endpoint needs, read in one narrow query."""

    id: uuid.UUID
    purpose: AssetPurpose
    status: AssetStatus
    bucket: str
    object_key: str
    filename: str
    content_type: str


@dataclass(frozen=True, slots=True)
class Use:
    """A row of another domain that points at an asset."""

    entity: str  # course_cover, lesson, lesson_captions, run_recording
    entity_id: uuid.UUID
    course_id: uuid.UUID
    published: bool


class AssetRepository(SQLAlchemyAsyncRepository[Asset]):
    model_type = Asset

    async def delivery_row(self, asset_id: uuid.UUID) -> DeliveryRow | None:
        stmt = select(
            Asset.id,
            Asset.purpose,
            Asset.status,
            Asset.bucket,
            Asset.object_key,
            Asset.filename,
            Asset.content_type,
        ).where(Asset.id == asset_id)
        row = (await self.session.execute(stmt)).one_or_none()
        return DeliveryRow(*row) if row is not None else None

    async def locked(self, asset_id: uuid.UUID) -> Asset | None:
        """The asset, locked for this transaction (completion and deletion must not race)."""
        stmt = select(Asset).where(Asset.id == asset_id).with_for_update()
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def learner_may_read(self, asset_id: uuid.UUID, user_id: uuid.UUID, now: datetime) -> bool:
        """True when the learner holds a seat in a run of a course that uses the asset (one query).

        Used by a lesson (as its file or captions) of the enrolment's course that has been released, or
        as the recording of the enrolment's own run. Waitlisted and withdrawn learners see nothing.
        """
        released_lesson = (
            select(Lesson.id)
            .join(CourseModule, CourseModule.id == Lesson.module_id)
            .where(
                Lesson.course_id == Enrolment.course_id,
                or_(Lesson.asset_id == asset_id, Lesson.captions_asset_id == asset_id),
                or_(Lesson.available_from.is_(None), Lesson.available_from <= now),
                or_(CourseModule.available_from.is_(None), CourseModule.available_from <= now),
            )
            .exists()
        )
        run_recording = (
            select(CourseRun.id)
            .where(CourseRun.id == Enrolment.run_id, CourseRun.recording_asset_id == asset_id)
            .exists()
        )
        stmt = select(
            select(Enrolment.id)
            .where(
                Enrolment.user_id == user_id,
                Enrolment.status.in_(SEATED_STATUSES),
                or_(released_lesson, run_recording),
            )
            .exists()
        )
        return bool((await self.session.execute(stmt)).scalar())

    async def uses(self, asset_id: uuid.UUID) -> list[Use]:
        """Every course, lesson and run that points at the asset, with whether its course is published."""
        published = Course.status == CourseStatus.PUBLISHED

        def branch(entity: str, entity_id: Any, course_id: Any, where: ColumnElement[bool]) -> Any:
            return (
                select(literal(entity).label("entity"), entity_id.label("id"), Course.id.label("course"))
                .add_columns(published.label("published"))
                .where(course_id == Course.id, where)
            )

        stmt = union_all(
            branch("course_cover", Course.id, Course.id, Course.cover_asset_id == asset_id),
            branch("lesson", Lesson.id, Lesson.course_id, Lesson.asset_id == asset_id),
            branch("lesson_captions", Lesson.id, Lesson.course_id, Lesson.captions_asset_id == asset_id),
            branch(
                "run_recording", CourseRun.id, CourseRun.course_id, CourseRun.recording_asset_id == asset_id
            ),
        )
        rows = (await self.session.execute(stmt)).all()
        return [Use(r.entity, r.id, r.course, bool(r.published)) for r in rows]

    async def stale_pending(self, before: datetime, limit: int) -> Sequence[Asset]:
        """Uploads still pending since before ``before``, locked (other sweeps skip them)."""
        stmt = (
            select(Asset)
            .where(Asset.status == AssetStatus.PENDING, Asset.created_at < before)
            .order_by(Asset.created_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        return (await self.session.execute(stmt)).scalars().all()

    async def search(
        self,
        *,
        kind: AssetKind | None,
        purpose: AssetPurpose | None,
        status: AssetStatus | None,
        limit: int,
        offset: int,
    ) -> tuple[list[Asset], int]:
        filters: list[ColumnElement[bool]] = []
        if kind is not None:
            filters.append(Asset.kind == kind)
        if purpose is not None:
            filters.append(Asset.purpose == purpose)
        if status is not None:
            filters.append(Asset.status == status)
        items, total = await self.get_many_and_count(
            *filters, LimitOffset(limit=limit, offset=offset), OrderBy("created_at", "desc")
        )
        return list(items), total


async def public_rows(
    executor: AsyncSession | AsyncConnection, asset_ids: Sequence[uuid.UUID]
) -> list[tuple[uuid.UUID, str, str, dict[str, Any]]]:
    """Id, bucket, key and details of the ready public assets among ``asset_ids``, in one query.

    Takes a bare connection too, so list endpoints that skip the session machinery can use it.
    """
    stmt = select(Asset.id, Asset.bucket, Asset.object_key, Asset.details).where(
        Asset.id.in_(asset_ids),
        Asset.purpose == AssetPurpose.PUBLIC,
        Asset.status == AssetStatus.READY,
    )
    return [(r.id, r.bucket, r.object_key, r.details) for r in (await executor.execute(stmt)).all()]

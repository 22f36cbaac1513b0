"""Queries on courses, runs, modules and lessons; the public catalogue list is one hand-shaped query."""

from __future__ import annotations

import enum
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

from advanced_alchemy.filters import LimitOffset, OrderBy
from advanced_alchemy.repository import SQLAlchemyAsyncRepository
from sqlalchemy import (
    ARRAY,
    ColumnElement,
    DateTime,
    Integer,
    Row,
    String,
    Uuid,
    and_,
    any_,
    bindparam,
    case,
    exists,
    func,
    literal_column,
    or_,
    select,
    text,
    true,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from courses.i18n import LANGUAGES
from courses.models import (
    Course,
    CourseFormat,
    CourseModule,
    CourseRun,
    CourseStatus,
    Lesson,
    QuizQuestion,
    course_keys,
)
from lms.db.raw import Compiled, compiled
from media.models import Asset, AssetKind, AssetPurpose, AssetStatus

MAX_SEARCH_TERMS = 8  # beyond this a query is a paste, not a search; keeps the tsquery small
# The catalogue counts matches up to this many and then says "at least": an exact total costs a pass over
# every match, which grows with the catalogue; nobody pages through fifty pages of twenty courses.
TOTAL_CAP = 1000


class Sort(enum.StrEnum):
    RELEVANCE = "relevance"
    START_DATE = "start_date"
    NEWEST = "newest"
    POPULARITY = "popularity"


@dataclass(frozen=True, slots=True)
class CatalogueQuery:
    now: datetime
    q: str | None = None
    format: CourseFormat | None = None
    category: str | None = None
    competence: str | None = None
    level: int | None = None
    language: str | None = None
    open_now: bool = False
    starts_from: datetime | None = None
    starts_before: datetime | None = None
    sort: Sort = Sort.RELEVANCE
    limit: int = 20
    offset: int = 0


def search_words(text: str | None) -> list[str]:
    """The words of free text, lower-cased, each once, in order ("Infor, exc infor" -> ["infor", "exc"]).

    Split where the text search parser splits (anything but letters and digits), so each word is a
    prefix of the words PostgreSQL indexed."""
    words = dict.fromkeys(re.findall(r"[^\W_]+", (text or "").lower()))
    return list(words)[:MAX_SEARCH_TERMS]


def search_terms(words: Sequence[str]) -> str | None:
    """A prefix tsquery from ``search_words`` (["infor", "exc"] -> "infor:* & exc:*"); a single letter is a
    word of its own ("C++" finds courses about C, not every word starting with c)."""
    return " & ".join(f"{w}:*" if len(w) > 1 else w for w in words) if words else None


def word_end(word: str | None) -> str:
    """What follows the search word at the end of its range of indexed words: any continuation (the
    highest code point) for a prefix, nothing for a single letter (see ``search_terms``)."""
    return "\U0010ffff" if word is None or len(word) > 1 else "\x01"


def unaccented(value: Any) -> Any:
    """What ``aula_unaccent`` (the search documents' wrapper) returns, without calling the wrapper: a SQL
    function declared IMMUTABLE around a STABLE one is never inlined, so PostgreSQL parsed and planned its
    body again in every execution of a search (about 20 µs each time)."""
    return func.public.unaccent(literal_column("'public.unaccent'::regdictionary"), value)


def competence_key(code: str | None, level: int | None) -> str:
    """The key of a DigComp filter in ``course_keys``: "1.1", "1.1:2" or ":2" (any competence at level 2)."""
    return (code or "") + (f":{level}" if level else "")


def enrolment_open(now: Any) -> ColumnElement[bool]:
    """A run accepts enrolments now: inside its enrolment window and not finished."""
    return and_(
        or_(CourseRun.enrolment_opens_at.is_(None), CourseRun.enrolment_opens_at <= now),
        or_(CourseRun.enrolment_closes_at.is_(None), CourseRun.enrolment_closes_at > now),
        or_(CourseRun.ends_at.is_(None), CourseRun.ends_at > now),
    )


def seats_left() -> ColumnElement[int | None]:
    return case((CourseRun.capacity.is_(None), None), else_=CourseRun.capacity - CourseRun.seats_taken)


CARD_COLUMNS = (
    Course.id,
    Course.slug,
    Course.format,
    Course.category,
    Course.tags,
    Course.digcomp,
    Course.estimated_hours,
    Course.languages,
    Course.cover_asset_id,
    Course.certificates_enabled,
    Course.published_at,
)


def usable_cover(cover_asset_id: Any) -> ColumnElement[bool]:
    """The join condition to a course's cover: only a ready public image is shown to the public."""
    return and_(
        Asset.id == cover_asset_id,
        Asset.kind == AssetKind.IMAGE,
        Asset.purpose == AssetPurpose.PUBLIC,
        Asset.status == AssetStatus.READY,
    )


COVER_COLUMNS = (
    Asset.bucket.label("cover_bucket"),
    Asset.object_key.label("cover_key"),
    # As text: decoding 20 JSONB documents per page cost more than the rest of the covers together, and
    # PublicUrls needs them only for an asset it has not cached yet.
    Asset.details.cast(String).label("cover_details"),
)


def in_language(column: Any) -> ColumnElement[str]:
    """The text in the requested language, else Catalan, Spanish, English (as ``i18n.pick``)."""
    lang = bindparam("lang", type_=String)
    choices = [func.nullif(column.op("->>")(lang), "")]
    choices += [func.nullif(column.op("->>")(literal_column(f"'{code}'")), "") for code in LANGUAGES]
    return func.coalesce(*choices, literal_column("''"))


@dataclass(frozen=True, slots=True)
class _Shape:
    """Which filters a catalogue request uses: one compiled statement per shape."""

    search: int  # how many words: 0, 1 or 2 (two or more)
    format: bool
    category: bool
    competence: bool
    language: bool
    open_now: bool
    starts_from: bool
    starts_before: bool
    sort: Sort


def _shape(query: CatalogueQuery) -> _Shape:
    search = min(len(search_words(query.q)), 2)
    sort = Sort.NEWEST if query.sort is Sort.RELEVANCE and not search else query.sort
    return _Shape(
        search=search,
        format=query.format is not None,
        category=query.category is not None,
        competence=bool(query.competence or query.level),
        language=query.language is not None,
        open_now=query.open_now,
        starts_from=query.starts_from is not None,
        starts_before=query.starts_before is not None,
        sort=sort,
    )


def _params(query: CatalogueQuery, lang: str) -> dict[str, Any]:
    words = search_words(query.q)
    return {
        "now": query.now,
        "lang": lang,
        "word": words[0] if words else None,
        "word_end": word_end(words[0] if words else None),
        "terms": search_terms(words),
        "format": query.format.value if query.format else None,
        "category": query.category,
        "competence_key": competence_key(query.competence, query.level),
        "language": query.language,
        "starts_from": query.starts_from,
        "starts_before": query.starts_before,
        "limit": query.limit,
        "offset": query.offset,
    }


def _keyed_matches(shape: _Shape) -> Any:
    """The published courses with the search word and/or the DigComp key, from ``course_keys`` alone.

    Columns: ``id``, ``published_at`` and, with a search word, ``rank``: the best weight the course has
    for the word (title 1.0; summary, category and tags 0.4; description and speakers 0.2). The word is a
    prefix: "informat" finds "informatica", as both are indexed, unaccented and lower-cased. Every match
    is an index entry; no course row is read. (Several words take the search index instead: it intersects
    their matches cheaper than grouping them here.)
    """
    tagged = None
    if shape.competence:
        keys = course_keys.alias("tagged")
        tagged = (
            select(keys.c.course_id.label("id"), keys.c.published_at)
            .where(
                keys.c.kind == literal_column("'c'"),
                keys.c.key == bindparam("competence_key", type_=String),
            )
            .subquery("tagged")
        )
        if shape.search != 1:
            return tagged
    # The keys starting with the word sort (bytewise, "C" collation) from the word up to the word followed
    # by the highest code point; both bounds are computed once per execution (initplans).
    prefix = unaccented(bindparam("word", type_=String))
    keys = course_keys.alias("word_keys")
    found = (
        select(
            keys.c.course_id.label("id"),
            func.max(keys.c.published_at).label("published_at"),
            func.max(keys.c.weight).label("rank"),
        )
        .where(
            keys.c.kind == literal_column("'w'"),
            keys.c.key >= select(prefix).scalar_subquery(),
            keys.c.key < select(prefix.concat(bindparam("word_end", type_=String))).scalar_subquery(),
        )
        .group_by(keys.c.course_id)
        .subquery("found")
    )
    if tagged is None:
        return found
    return (
        select(found.c.id, found.c.published_at, found.c.rank)
        .select_from(found.join(tagged, tagged.c.id == found.c.id))
        .subquery("found_tagged")
    )


def _statement(shape: _Shape) -> Any:
    """The page, the total and each course's next run, with bound parameters for every value.

    Two plans, by shape. Filters that an index answers as a set (search, competence, open now)
    select the matches once, with their sort keys, then count them and cut the page from that one pass:
    ranking needs every match anyway. Search words and competences are read from the catalogue's own
    index (``course_keys``); the course rows are read only when another filter or the sort needs them.
    The others (no filter, format, category) read the page in index order and stop after it, and count
    matches separately up to ``TOTAL_CAP + 1`` (an index-only scan).
    """
    now = bindparam("now", type_=DateTime(timezone=True))
    # A literal, not a bound parameter: the statement is prepared once, and only a literal lets a generic
    # plan use the partial indexes on published courses.
    conditions: list[ColumnElement[bool]] = [Course.status == literal_column("'published'::course_status")]
    if shape.format:
        conditions.append(Course.format == bindparam("format", type_=String).cast(Course.format.type))
    if shape.category:
        conditions.append(Course.category == bindparam("category", type_=String))
    if shape.language:
        # Checked on the rows other conditions find, not through the array index: a language is shared by
        # a third to a half of the catalogue, and combining that index with another (what a generic plan
        # chose) cost more than the other filter itself.
        conditions.append(bindparam("language", type_=String) == any_(Course.languages))
    if shape.open_now:
        # The course's current window (kept from its runs): exact, and read from an index.
        conditions += [Course.enrolling_from <= now, Course.enrolling_until > now]
    ranked_by: list[Any] = []
    if shape.search > 1:
        # Several words: the search index intersects their matches; ranked with the same weights.
        # The tsquery is parsed once per execution, as an initplan: written inline, a generic plan parsed
        # (and unaccented) it again for every row it rechecked and ranked.
        tsquery = select(
            func.to_tsquery(
                literal_column("'simple'::regconfig"), unaccented(bindparam("terms", type_=String))
            )
        ).scalar_subquery()
        conditions.append(Course.search_vector.op("@@")(tsquery))
        ranked_by.append(func.ts_rank(Course.search_vector, tsquery).label("rank"))
    run_conditions: list[ColumnElement[bool]] = []
    if shape.starts_from:
        run_conditions.append(CourseRun.starts_at >= bindparam("starts_from", type_=DateTime(timezone=True)))
    if shape.starts_before:
        run_conditions.append(CourseRun.starts_at < bindparam("starts_before", type_=DateTime(timezone=True)))
    if run_conditions:
        if shape.open_now:  # one run both open now and starting in the range
            run_conditions.append(enrolment_open(now))
        conditions.append(exists().where(CourseRun.course_id == Course.id, *run_conditions))

    # Every order ends with (published_at DESC, id DESC): the partial indexes on published courses end so,
    # and read backwards they give newest and popularity in order, so LIMIT stops after the page.
    def order_of(source: Any) -> tuple[ColumnElement[Any], ...]:
        newest = (source.published_at.desc(), source.id.desc())
        if shape.sort is Sort.RELEVANCE:
            return (source.rank.desc(), *newest)
        if shape.sort is Sort.POPULARITY:
            return (source.popularity.desc(), *newest)
        if shape.sort is Sort.START_DATE:
            return (source.next_start.asc().nulls_last(), *newest)
        return newest

    next_start = (
        select(func.min(CourseRun.starts_at))
        .where(CourseRun.course_id == Course.id, CourseRun.starts_at >= now)
        .scalar_subquery()
        .label("next_start")
    )
    keys: list[Any] = [Course.id, Course.published_at, Course.popularity]
    if shape.sort is Sort.START_DATE:
        keys.append(next_start)
    card = (
        *CARD_COLUMNS,
        in_language(Course.title).label("title"),
        in_language(Course.summary).label("summary"),
    )
    limit, offset = bindparam("limit", type_=Integer), bindparam("offset", type_=Integer)

    if shape.search or shape.competence or shape.open_now:
        if shape.search == 1 or shape.competence:
            keyed = _keyed_matches(shape)
            if shape.search == 1:
                ranked_by.append(keyed.c.rank)
            # Courses are read only for another filter or for a sort key the index does not hold.
            if len(conditions) > 1 or shape.sort in (Sort.POPULARITY, Sort.START_DATE):
                matches = (
                    select(*keys, *ranked_by)
                    .select_from(keyed.join(Course, Course.id == keyed.c.id))
                    .where(*conditions)
                    .cte("matches")
                )
            else:
                matches = select(keyed.c.id, keyed.c.published_at, *ranked_by).cte("matches")
        else:
            matches = select(*keys, *ranked_by).where(*conditions).cte("matches")
        total = select(func.count().label("total")).select_from(matches).subquery("total")
        # The page is cut before it is numbered: under a window function the sort could not stop at the
        # page (a full sort of every match instead of keeping the best ``limit + offset``).
        cut = select(matches).order_by(*order_of(matches.c)).limit(limit).offset(offset).subquery("cut")
        page_ids = select(
            cut.c.id, func.row_number().over(order_by=order_of(cut.c)).label("ordinal")
        ).subquery("page_ids")
        ranked = (
            select(*card, page_ids.c.ordinal)
            .select_from(page_ids.join(Course, Course.id == page_ids.c.id))
            .subquery("page")
        )
    else:
        order = order_of(_OrderColumns(next_start))
        ranked = (
            select(*card, func.row_number().over(order_by=order).label("ordinal"))
            .where(*conditions)
            .order_by(*order)
            .limit(limit)
            .offset(offset)
            .subquery("page")
        )
        # Counting stops at TOTAL_CAP + 1 matches: one more than the cap tells "more than" from "exactly".
        capped = (
            select(literal_column("1").label("one"))
            .select_from(Course)
            .where(*conditions)
            .limit(TOTAL_CAP + 1)
            .subquery("matches")
        )
        total = select(func.count().label("total")).select_from(capped).subquery("total")

    open_now = enrolment_open(now)
    next_run = (
        select(
            CourseRun.id.label("run_id"),
            CourseRun.starts_at.label("run_starts_at"),
            CourseRun.ends_at.label("run_ends_at"),
            open_now.label("run_open"),
            seats_left().label("run_seats_left"),
        )
        .where(CourseRun.course_id == ranked.c.id, or_(CourseRun.ends_at.is_(None), CourseRun.ends_at > now))
        .order_by(open_now.desc(), CourseRun.starts_at)
        .limit(1)
        .lateral("next_run")
    )
    # The cover is joined after the page is cut: at most ``limit`` primary-key lookups.
    return (
        select(total.c.total, ranked, next_run, *COVER_COLUMNS)
        .select_from(
            total.outerjoin(ranked, true())
            .outerjoin(next_run, true())
            .outerjoin(Asset, usable_cover(ranked.c.cover_asset_id))
        )
        .order_by(ranked.c.ordinal)
    )


class _OrderColumns:
    """The sort keys of the index-ordered plan, named as the one-pass plan's CTE names them."""

    def __init__(self, next_start: Any) -> None:
        self.id = Course.id
        self.published_at = Course.published_at
        self.popularity = Course.popularity
        self.next_start = next_start.element
        self.rank = None  # relevance always has a search, so it takes the one-pass plan


@cache
def _compiled(shape: _Shape) -> Compiled:
    """The statement of a shape, built and compiled once."""
    return compiled(_statement(shape))


def catalogue_sql(query: CatalogueQuery, lang: str) -> tuple[str, tuple[Any, ...]]:
    """The statement for a catalogue request and its positional parameters (also used by the benchmark)."""
    statement = _compiled(_shape(query))
    return statement.sql, tuple(statement.args(**_params(query, lang)))


async def catalogue_page(connection: Any, query: CatalogueQuery, lang: str) -> tuple[list[Any], int]:
    """The rows of one catalogue page (asyncpg records) and the matches counted up to ``TOTAL_CAP + 1``,
    in one round trip on a bare asyncpg connection (``lms.db.driver``)."""
    sql, params = catalogue_sql(query, lang)
    rows = await connection.fetch(sql, *params)
    counted: int = rows[0]["total"] if rows else 0
    return [row for row in rows if row["id"] is not None], counted


class CourseRepository(SQLAlchemyAsyncRepository[Course]):
    model_type = Course

    async def slug_taken(self, slug: str, *, other_than: uuid.UUID | None = None) -> bool:
        stmt = select(exists().where(Course.slug == slug, Course.id != other_than if other_than else true()))
        return bool((await self.session.execute(stmt)).scalar())

    async def full(self, course_id: uuid.UUID, *, lock: bool = False) -> Course | None:
        """A course with its runs, modules, lessons and quiz questions, all loaded."""
        stmt = (
            select(Course)
            .where(Course.id == course_id)
            .options(
                selectinload(Course.runs),
                selectinload(Course.modules)
                .selectinload(CourseModule.lessons)
                .selectinload(Lesson.questions)
                .selectinload(QuizQuestion.options),
            )
            .execution_options(populate_existing=True)
        )
        if lock:
            stmt = stmt.with_for_update(of=Course, key_share=True)  # see ``lock``
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def lock(self, course_id: uuid.UUID) -> Course | None:
        """The course row, locked so concurrent staff edits of its structure apply one after the other.

        FOR NO KEY UPDATE, not FOR UPDATE: rows that reference the course (enrolments, progress) take
        KEY SHARE on it while they are written, which FOR UPDATE would make wait for the staff edit. An
        enrolment waiting so while holding its table lock deadlocked with a capacity change counting seats
        under ``RunRepository.count_seats``."""
        stmt = select(Course).where(Course.id == course_id).with_for_update(key_share=True)
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def published_with_outline(self, slug: str) -> Row[Any] | None:
        """The published course (runs, modules, lessons loaded) with its usable cover's columns, or None."""
        stmt = (
            select(Course, *COVER_COLUMNS)
            .outerjoin(Asset, usable_cover(Course.cover_asset_id))
            .where(Course.slug == slug, Course.status == CourseStatus.PUBLISHED)
            .options(
                selectinload(Course.runs),
                selectinload(Course.modules).selectinload(CourseModule.lessons),
            )
        )
        return (await self.session.execute(stmt)).one_or_none()

    async def staff_list(
        self, *, status: CourseStatus | None, text: str | None, limit: int, offset: int
    ) -> tuple[list[Course], int]:
        filters: list[Any] = []
        if status is not None:
            filters.append(Course.status == status)
        terms = search_terms(search_words(text))
        if terms:
            tsquery = func.to_tsquery(literal_column("'simple'::regconfig"), unaccented(terms))
            filters.append(Course.search_vector.op("@@")(tsquery))
        items, total = await self.get_many_and_count(
            *filters,
            LimitOffset(limit=limit, offset=offset),
            OrderBy(field_name="updated_at", sort_order="desc"),
        )
        return list(items), total


class RunRepository(SQLAlchemyAsyncRepository[CourseRun]):
    model_type = CourseRun

    async def with_course(self, run_id: uuid.UUID) -> CourseRun | None:
        stmt = select(CourseRun).where(CourseRun.id == run_id).options(selectinload(CourseRun.course))
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def count_for(self, course_id: uuid.UUID) -> int:
        return await self.count(CourseRun.course_id == course_id)

    async def has_learners(self, run_id: uuid.UUID) -> bool:
        """Whether anyone is enrolled or waiting in the run (runs without a capacity count no seats)."""
        return bool((await self.session.execute(HAS_LEARNERS, {"run": run_id})).scalar_one())

    async def seated_in(self, run_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, int]:
        """Learners holding a seat in each run, counted from the enrolments."""
        if not run_ids:
            return {}
        rows = await self.session.execute(SEATED_IN, {"runs": list(run_ids)})
        return {run_id: int(count) for run_id, count in rows}

    async def lock_for_seats(self, run_id: uuid.UUID) -> None:
        """Lock the run's row for a seat decision and read it again (enrolments change its seats)."""
        await self.session.execute(
            # FOR NO KEY UPDATE: enrolments in flight hold KEY SHARE on the run (their foreign key).
            select(CourseRun)
            .where(CourseRun.id == run_id)
            .with_for_update(key_share=True)
            .execution_options(populate_existing=True)
        )

    async def count_seats(self, run_id: uuid.UUID) -> int:
        """The seats taken in a run, counted from its enrolments, with no enrolment in flight.

        The caller holds the run's row lock (``lock_for_seats``, as an UPDATE of it would). Enrolments are
        then locked in SHARE mode: that waits for enrolment transactions in progress, which count no seats
        while the run has no capacity, and holds new ones back until this transaction ends, so the count
        cannot go stale before it is stored.
        """
        await self.session.execute(text("LOCK TABLE enrolments IN SHARE MODE"))
        return int((await self.session.execute(SEATED, {"run": run_id})).scalar_one())

    async def upcoming_masterclasses(self, now: datetime, limit: int) -> list[CourseRun]:
        stmt = (
            select(CourseRun)
            .join(Course, Course.id == CourseRun.course_id)
            .where(
                Course.status == CourseStatus.PUBLISHED,
                Course.format == CourseFormat.MASTERCLASS,
                CourseRun.live_starts_at.is_not(None),
                CourseRun.live_starts_at >= now,
            )
            .order_by(CourseRun.live_starts_at)
            .limit(limit)
            .options(selectinload(CourseRun.course))
        )
        return list((await self.session.execute(stmt)).scalars())


class ModuleRepository(SQLAlchemyAsyncRepository[CourseModule]):
    model_type = CourseModule

    async def next_position(self, course_id: uuid.UUID) -> int:
        stmt = select(func.coalesce(func.max(CourseModule.position) + 1, 0)).where(
            CourseModule.course_id == course_id
        )
        return int((await self.session.execute(stmt)).scalar_one())

    async def set_positions(self, ordered: Sequence[uuid.UUID]) -> None:
        """Positions follow the given order (the unique constraint is checked at commit)."""
        for position, module_id in enumerate(ordered):
            await self.session.execute(
                update(CourseModule).where(CourseModule.id == module_id).values(position=position)
            )


class LessonRepository(SQLAlchemyAsyncRepository[Lesson]):
    model_type = Lesson

    async def next_position(self, module_id: uuid.UUID) -> int:
        stmt = select(func.coalesce(func.max(Lesson.position) + 1, 0)).where(Lesson.module_id == module_id)
        return int((await self.session.execute(stmt)).scalar_one())

    async def full(self, lesson_id: uuid.UUID) -> Lesson | None:
        stmt = (
            select(Lesson)
            .where(Lesson.id == lesson_id)
            .options(selectinload(Lesson.questions).selectinload(QuizQuestion.options))
            .execution_options(populate_existing=True)
        )
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def for_course(self, course_id: uuid.UUID) -> list[tuple[Lesson, CourseModule]]:
        """Every lesson of a course with its module, in outline order."""
        stmt = (
            select(Lesson, CourseModule)
            .join(CourseModule, CourseModule.id == Lesson.module_id)
            .where(Lesson.course_id == course_id)
            .order_by(CourseModule.position, Lesson.position)
        )
        return [(row[0], row[1]) for row in (await self.session.execute(stmt)).all()]

    async def in_module(self, module_id: uuid.UUID) -> list[Lesson]:
        stmt = select(Lesson).where(Lesson.module_id == module_id).order_by(Lesson.position)
        return list((await self.session.execute(stmt)).scalars())

    async def set_positions(self, ordered: Sequence[uuid.UUID]) -> None:
        for position, lesson_id in enumerate(ordered):
            await self.session.execute(update(Lesson).where(Lesson.id == lesson_id).values(position=position))


HAS_LEARNERS = text("SELECT EXISTS (SELECT FROM enrolments WHERE run_id = :run AND status <> 'withdrawn')")
SEATED_IN = text(
    "SELECT run_id, count(*) FROM enrolments"
    " WHERE run_id = ANY(:runs) AND status IN ('enrolled', 'completed') GROUP BY run_id"
).bindparams(bindparam("runs", type_=ARRAY(Uuid)))
SEATED = text("SELECT count(*) FROM enrolments WHERE run_id = :run AND status IN ('enrolled', 'completed')")

# Popularity is the seats taken over a course's runs. Enrolments change seats all day; the sort does not
# need them to the second, so a periodic refresh writes only the courses whose figure moved, instead of
# rewriting the course row (and every index on it) in each enrolment's transaction.
REFRESH_POPULARITY = text(
    """
UPDATE courses c SET popularity = t.seats
FROM (SELECT r.course_id,
             -- a run without a capacity has no seat counter: count its learners
             sum(CASE WHEN r.capacity IS NULL
                      THEN (SELECT count(*) FROM enrolments e
                            WHERE e.run_id = r.id AND e.status <> 'withdrawn')
                      ELSE r.seats_taken END)::int AS seats
      FROM course_runs r GROUP BY r.course_id) t
WHERE t.course_id = c.id AND c.popularity <> t.seats
"""
)
ZERO_POPULARITY = text(
    """
UPDATE courses c SET popularity = 0
WHERE c.popularity <> 0 AND NOT EXISTS (SELECT FROM course_runs r WHERE r.course_id = c.id)
"""
)


async def refresh_popularity(session: AsyncSession) -> int:
    """Bring every course's popularity up to date with its runs' seats; returns how many changed."""
    changed = 0
    for statement in (REFRESH_POPULARITY, ZERO_POPULARITY):
        result = await session.execute(statement)
        changed += int(getattr(result, "rowcount", 0) or 0)
    return changed


# A course keeps its current or next enrolment window (migration 0008): once that window has ended, the
# course moves on to the next one its runs offer, if any.
ADVANCE_WINDOWS = text(
    "SELECT count(*) FROM (SELECT aula_course_enrolment_window(id) FROM courses"
    " WHERE enrolling_until <= statement_timestamp()) AS advanced"
)


async def advance_enrolment_windows(session: AsyncSession) -> int:
    """Move courses whose enrolment window ended on to their next one; returns how many were looked at."""
    return int((await session.execute(ADVANCE_WINDOWS)).scalar_one())


async def assets_by_id(session: AsyncSession, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, Asset]:
    if not ids:
        return {}
    rows = (await session.execute(select(Asset).where(Asset.id.in_(set(ids))))).scalars()
    return {asset.id: asset for asset in rows}

"""The public catalogue: filters, accent-insensitive search, sorting, pagination, caching, one query."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
from sqlalchemy import event, insert, select, text, update
from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import AsyncSession

from courses.models import Course, CourseFormat, CourseRun, CourseStatus
from courses.repository import (
    TOTAL_CAP,
    CatalogueQuery,
    Sort,
    advance_enrolment_windows,
    catalogue_sql,
    refresh_popularity,
)
from lms.accounts.models import Role
from lms.db.driver import SERVER_SETTINGS, STATEMENT_LISTENERS, plain_url
from lms.settings import Settings
from tests.courses.helpers import API, NOW, Client, iso, published_course, run_body
from tests.support import Factory


@contextmanager
def counted_queries() -> Iterator[list[str]]:
    statements: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    event.listen(Engine, "before_cursor_execute", count)
    STATEMENT_LISTENERS.append(statements.append)  # the bare connections of the hot paths too
    try:
        yield statements
    finally:
        event.remove(Engine, "before_cursor_execute", count)
        STATEMENT_LISTENERS.remove(statements.append)


async def _catalogue(client: Client, headers: dict[str, str]) -> dict[str, dict[str, Any]]:
    """Four published courses and a draft."""
    made = {
        "basic": await published_course(
            client,
            headers,
            slug="informatica-basica",
            title={"ca": "Informàtica bàsica", "es": "Informática básica", "en": "Basic computing"},
            category="ofimatica",
            digcomp=[{"code": "1.1", "level": 2}],
            languages=["ca"],
        ),
        "excel": await published_course(
            client,
            headers,
            slug="excel-en-30-minuts",
            format="instant",
            title={"es": "Excel en 30 minutos"},
            category="ofimatica",
            digcomp=[{"code": "3.1", "level": 3}],
            languages=["es"],
        ),
        "security": await published_course(
            client,
            headers,
            slug="ciberseguretat-per-a-tothom",
            title={"en": "Cybersecurity for everyone", "ca": "Ciberseguretat per a tothom"},
            summary={"ca": "Contrasenyes, pesca de dades i còpies de seguretat."},
            category="seguretat",
            digcomp=[{"code": "4.1", "level": 3}, {"code": "1.1", "level": 4}],
            languages=["ca", "en"],
        ),
        "future": await published_course(
            client,
            headers,
            slug="programacio-python",
            title={"ca": "Programació amb Python"},
            category="programacio",
            digcomp=[{"code": "3.4", "level": 5}],
            languages=["ca"],
        ),
    }
    # Enrolment for the Python course opens only next month; it starts in two months.
    await client.patch(
        f"{API}/staff/runs/{made['future']['runs'][0]['id']}",
        json={
            "starts_at": iso(NOW + timedelta(days=60)),
            "ends_at": iso(NOW + timedelta(days=90)),
            "enrolment_opens_at": iso(NOW + timedelta(days=30)),
            "enrolment_closes_at": iso(NOW + timedelta(days=59)),
        },
        headers=headers,
    )
    draft = await client.post(
        f"{API}/staff/courses",
        json={"slug": "informatica-avancada", "format": "mooc", "title": {"ca": "Informàtica avançada"}},
        headers=headers,
    )
    assert draft.status_code == 201
    return made


def _slugs(response: Any) -> list[str]:
    assert response.status_code == 200, response.text
    return [item["slug"] for item in response.json()["items"]]


async def test_search_ignores_accents_and_case_in_all_languages(client: Client, factory: Factory) -> None:
    _, staff = await factory.login_as(Role.STAFF)
    await _catalogue(client, staff)

    assert _slugs(await client.get(f"{API}/courses", params={"q": "informatica"})) == ["informatica-basica"]
    assert _slugs(await client.get(f"{API}/courses", params={"q": "INFORMÁTICA"})) == ["informatica-basica"]
    assert _slugs(await client.get(f"{API}/courses", params={"q": "computing"})) == ["informatica-basica"]
    assert _slugs(await client.get(f"{API}/courses", params={"q": "copies seguretat"})) == [
        "ciberseguretat-per-a-tothom"
    ]
    assert _slugs(await client.get(f"{API}/courses", params={"q": "minut"})) == ["excel-en-30-minuts"]
    assert _slugs(await client.get(f"{API}/courses", params={"q": "'&|!:*()"})) != []  # operators are text
    assert _slugs(await client.get(f"{API}/courses", params={"q": "avancada"})) == []  # drafts are invisible


async def test_relevance_ranks_title_over_summary_over_description(client: Client, factory: Factory) -> None:
    _, staff = await factory.login_as(Role.STAFF)
    # The best match is published first, so "newest" alone would give the reverse of the relevance order.
    for slug, fields in [
        ("al-titol", {"title": {"ca": "Fotografia per a principiants"}}),
        ("al-resum", {"summary": {"es": "Fotografía con el móvil.", "ca": "Fotografia amb el mòbil."}}),
        ("a-la-descripcio", {"description": {"ca": "Fotografia amb el mòbil i retoc d'imatges."}}),
    ]:
        await published_course(client, staff, slug=slug, **fields)
    await published_course(client, staff, slug="un-altre-tema", title={"ca": "Fulls de càlcul"})

    def search(q: str, **params: str) -> Any:
        return client.get(f"{API}/courses", params={"q": q, **params})

    ranked = await search("fotografia")
    assert _slugs(ranked) == ["al-titol", "al-resum", "a-la-descripcio"]
    assert ranked.json()["total"] == 3
    assert _slugs(await search("FOTOGRÀF")) == ["al-titol", "al-resum", "a-la-descripcio"]  # a prefix
    assert (
        _slugs(await search("fotografia", sort="newest")) == ["al-titol", "al-resum", "a-la-descripcio"][::-1]
    )
    # Several words: every one must match, in any field and any language.
    assert _slugs(await search("fotografia mobil")) == ["al-resum", "a-la-descripcio"]
    assert _slugs(await search("mobil fotografia retoc")) == ["a-la-descripcio"]
    assert _slugs(await search("fotografia_mobil")) == ["al-resum", "a-la-descripcio"]  # split as indexed
    assert _slugs(await search("fotografiax")) == []


async def test_a_single_letter_is_a_word_not_a_prefix(db: AsyncSession, client: Client) -> None:
    await db.execute(
        insert(Course),
        [
            {
                "slug": slug,
                "format": CourseFormat.INSTANT,
                "status": CourseStatus.PUBLISHED,
                "title": {"ca": title},
                "published_at": NOW - timedelta(minutes=i),
            }
            for i, (slug, title) in enumerate(
                [("c", "Programació en C"), ("ciber", "Ciberseguretat"), ("r", "Estadística amb R")]
            )
        ],
    )
    await db.commit()

    async def found(q: str) -> list[str]:
        return _slugs(await client.get(f"{API}/courses", params={"q": q}))

    assert await found("C++") == ["c"]
    assert await found("r") == ["r"]
    assert await found("programació C") == ["c"]
    assert await found("ci") == ["ciber"]  # two letters are a prefix again


async def test_search_and_competences_follow_staff_changes(
    client: Client, factory: Factory, db: AsyncSession
) -> None:
    _, staff = await factory.login_as(Role.STAFF)
    course = await published_course(
        client, staff, slug="canvis", title={"ca": "Fotografia"}, digcomp=[{"code": "1.1", "level": 2}]
    )
    url = f"{API}/staff/courses/{course['id']}"

    async def found(**params: Any) -> list[str]:
        return _slugs(await client.get(f"{API}/courses", params=params))

    assert await found(q="fotografia") == ["canvis"]
    assert await found(competence="1.1", level=2) == ["canvis"]

    edit = {"title": {"ca": "Vídeo"}, "digcomp": [{"code": "3.1", "level": 4}]}
    assert (await client.patch(url, json=edit, headers=staff)).status_code == 200
    assert await found(q="fotografia") == []
    assert await found(q="video") == ["canvis"]
    assert await found(competence="1.1") == []
    assert await found(competence="3.1", level=4) == ["canvis"]
    assert await found(level=4) == ["canvis"]
    assert await found(competence="3.1", level=2) == []

    assert (await client.post(f"{url}/unpublish", headers=staff)).status_code == 200
    assert await found(q="video") == []
    assert await found(competence="3.1") == []
    assert (await client.post(f"{url}/publish", headers=staff)).status_code == 200
    assert await found(q="video", competence="3.1") == ["canvis"]

    # Popularity and enrolment windows change often and leave the index alone; archiving empties it.
    keys = "SELECT count(*) FROM course_keys WHERE course_id = :id"
    indexed = (await db.execute(text(keys), {"id": course["id"]})).scalar_one()
    await refresh_popularity(db)
    await db.commit()
    assert (await db.execute(text(keys), {"id": course["id"]})).scalar_one() == indexed > 0
    assert (await client.post(f"{url}/archive", headers=staff)).status_code == 200
    assert await found(q="video") == []
    assert (await db.execute(text(keys), {"id": course["id"]})).scalar_one() == 0


async def test_filters(client: Client, factory: Factory) -> None:
    _, staff = await factory.login_as(Role.STAFF)
    await _catalogue(client, staff)

    def get(**params: Any) -> Any:
        return client.get(f"{API}/courses", params=params)

    assert _slugs(await get(format="instant")) == ["excel-en-30-minuts"]
    assert sorted(_slugs(await get(category="ofimatica"))) == ["excel-en-30-minuts", "informatica-basica"]
    assert sorted(_slugs(await get(competence="1.1"))) == [
        "ciberseguretat-per-a-tothom",
        "informatica-basica",
    ]
    assert _slugs(await get(competence="1.1", level=4)) == ["ciberseguretat-per-a-tothom"]
    assert _slugs(await get(level=5)) == ["programacio-python"]
    assert _slugs(await get(language="en")) == ["ciberseguretat-per-a-tothom"]
    # Search and competence together, and with filters read from the courses themselves.
    assert _slugs(await get(q="informatica", competence="1.1")) == ["informatica-basica"]
    assert _slugs(await get(q="informatica", competence="1.1", level=4)) == []
    assert _slugs(await get(q="copies seguretat", competence="1.1", level=4)) == [
        "ciberseguretat-per-a-tothom"
    ]
    assert _slugs(await get(q="informatica", language="es")) == []
    assert _slugs(await get(q="informatica", format="mooc", sort="popularity")) == ["informatica-basica"]
    # Both runs start together: the newer course first.
    assert _slugs(await get(competence="1.1", open_now="true", sort="start_date")) == [
        "ciberseguretat-per-a-tothom",
        "informatica-basica",
    ]
    assert "programacio-python" not in _slugs(await get(open_now="true"))
    assert len(_slugs(await get(open_now="true"))) == 3
    window = {
        "starts_from": (NOW + timedelta(days=50)).date().isoformat(),
        "starts_to": (NOW + timedelta(days=70)).date().isoformat(),
    }
    assert _slugs(await get(**window)) == ["programacio-python"]
    unknown = await get(competence="7.7")
    assert unknown.status_code == 422
    assert unknown.json()["errors"][0]["field"] == "competence"
    assert (await get(lang="fr")).status_code in (400, 422)


async def test_sorting_and_pagination_with_a_total(
    client: Client, factory: Factory, db: AsyncSession
) -> None:
    _, staff = await factory.login_as(Role.STAFF)
    made = await _catalogue(client, staff)
    await db.execute(
        update(CourseRun).where(CourseRun.id == made["security"]["runs"][0]["id"]).values(seats_taken=25)
    )
    await db.commit()
    before = _slugs(await client.get(f"{API}/courses", params={"sort": "popularity"}))
    await refresh_popularity(db)  # what the worker's periodic task runs
    await db.commit()

    newest = _slugs(await client.get(f"{API}/courses", params={"sort": "newest"}))
    popular = _slugs(await client.get(f"{API}/courses", params={"sort": "popularity"}))
    soonest = _slugs(await client.get(f"{API}/courses", params={"sort": "start_date"}))
    page = await client.get(f"{API}/courses", params={"sort": "newest", "limit": 2, "offset": 2})
    beyond = await client.get(f"{API}/courses", params={"limit": 2, "offset": 40})
    # A filter answered from one pass over its matches (competence, search, open now) pages alike.
    second: dict[str, str | int] = {"competence": "1.1", "sort": "newest", "limit": 1, "offset": 1}
    competent = await client.get(f"{API}/courses", params=second)

    assert newest == [
        "programacio-python",
        "ciberseguretat-per-a-tothom",
        "excel-en-30-minuts",
        "informatica-basica",
    ]
    assert before[0] != "ciberseguretat-per-a-tothom"  # popularity follows seats at the next refresh
    assert popular[0] == "ciberseguretat-per-a-tothom"
    assert soonest[-2:] == ["programacio-python", "excel-en-30-minuts"]  # evergreen last
    assert _slugs(page) == newest[2:]
    assert page.json()["total"] == 4
    assert page.json()["total_is_lower_bound"] is False
    assert beyond.json() == {"items": [], "total": 4, "total_is_lower_bound": False, "limit": 2, "offset": 40}
    assert _slugs(competent) == ["informatica-basica"]
    assert competent.json()["total"] == 2
    card = next(
        i for i in (await client.get(f"{API}/courses")).json()["items"] if i["slug"].startswith("cib")
    )
    assert card["next_run"]["seats_left"] == 5


async def test_total_is_exact_up_to_the_cap_and_a_lower_bound_beyond(
    db: AsyncSession, client: Client
) -> None:
    def course(i: int, **values: Any) -> dict[str, Any]:
        return {
            "slug": f"curs-{i}",
            "format": CourseFormat.INSTANT,
            "status": CourseStatus.PUBLISHED,
            "title": {"ca": f"Curs {i}"},
            "category": "dades" if i % 2 else "ofimatica",
            "published_at": NOW - timedelta(minutes=i),
            **values,
        }

    await db.execute(insert(Course), [course(i) for i in range(TOTAL_CAP + 1)])
    await db.commit()

    everything = (await client.get(f"{API}/courses", params={"limit": 5})).json()
    half = (await client.get(f"{API}/courses", params={"category": "dades", "limit": 5})).json()

    assert (everything["total"], everything["total_is_lower_bound"]) == (TOTAL_CAP, True)
    assert len(everything["items"]) == 5
    assert [item["slug"] for item in everything["items"]] == [f"curs-{i}" for i in range(5)]
    assert (half["total"], half["total_is_lower_bound"]) == ((TOTAL_CAP + 1) // 2, False)


async def test_language_from_query_or_accept_language_with_fallback(client: Client, factory: Factory) -> None:
    _, staff = await factory.login_as(Role.STAFF)
    await _catalogue(client, staff)

    spanish = await client.get(
        f"{API}/courses/informatica-basica", headers={"Accept-Language": "es-ES,es;q=0.9"}
    )
    english = await client.get(f"{API}/courses/informatica-basica?lang=en", headers={"Accept-Language": "es"})
    fallback = await client.get(f"{API}/courses/excel-en-30-minuts", headers={"Accept-Language": "en"})
    catalan_first = await client.get(f"{API}/courses/programacio-python?lang=es")

    assert spanish.json()["title"] == "Informática básica"
    assert english.json()["title"] == "Basic computing"
    assert fallback.json()["title"] == "Excel en 30 minutos"  # only Spanish exists
    assert catalan_first.json()["title"] == "Programació amb Python"


async def test_detail_shows_outline_and_runs_but_no_lesson_content(client: Client, factory: Factory) -> None:
    _, staff = await factory.login_as(Role.STAFF)
    await _catalogue(client, staff)

    detail = await client.get(f"{API}/courses/informatica-basica")

    body = detail.json()
    assert body["outline"][0]["lessons"][0]["title"] == "Benvinguda"
    assert "article_html" not in detail.text
    assert "<p>Hola</p>" not in detail.text
    assert body["runs"][0]["seats_left"] == 30
    assert body["runs"][0]["enrolment_open"] is True
    assert (await client.get(f"{API}/courses/informatica-avancada")).status_code == 404


async def test_public_reads_answer_304_to_a_matching_etag(client: Client, factory: Factory) -> None:
    _, staff = await factory.login_as(Role.STAFF)
    made = await _catalogue(client, staff)

    first = await client.get(f"{API}/courses?q=informatica")
    etag = first.headers["etag"]
    again = await client.get(f"{API}/courses?q=informatica", headers={"If-None-Match": etag})
    detail = await client.get(f"{API}/courses/informatica-basica")
    detail_again = await client.get(
        f"{API}/courses/informatica-basica", headers={"If-None-Match": detail.headers["etag"]}
    )
    await client.patch(
        f"{API}/staff/courses/{made['basic']['id']}", json={"summary": {"ca": "Nou resum"}}, headers=staff
    )
    changed = await client.get(
        f"{API}/courses/informatica-basica", headers={"If-None-Match": detail.headers["etag"]}
    )

    assert "max-age" in first.headers["cache-control"]
    assert again.status_code == 304
    assert again.content == b""
    assert detail_again.status_code == 304
    assert changed.status_code == 200


async def test_catalogue_list_runs_one_query(client: Client, factory: Factory) -> None:
    _, staff = await factory.login_as(Role.STAFF)
    await _catalogue(client, staff)
    params = {
        "q": "informatica",
        "format": "mooc",
        "open_now": "true",
        "competence": "1.1",
        "sort": "relevance",
    }

    with counted_queries() as plain:
        assert (await client.get(f"{API}/courses")).status_code == 200
    with counted_queries() as filtered:
        assert (await client.get(f"{API}/courses", params=params)).status_code == 200
    with counted_queries() as empty_page:
        assert (await client.get(f"{API}/courses", params={"offset": 100})).status_code == 200

    assert len(plain) == 1, plain
    assert len(filtered) == 1, filtered
    assert len(empty_page) == 1, empty_page


async def test_open_now_follows_staff_changes_to_runs_and_moves_on_to_the_next_window(
    client: Client, factory: Factory, db: AsyncSession
) -> None:
    _, staff = await factory.login_as(Role.STAFF)
    course = await published_course(client, staff, slug="finestres")
    first_run = course["runs"][0]["id"]

    async def open_now() -> list[str]:
        return _slugs(await client.get(f"{API}/courses", params={"open_now": "true"}))

    assert await open_now() == ["finestres"]
    closed = {"enrolment_closes_at": iso(NOW - timedelta(hours=1))}
    assert (
        await client.patch(f"{API}/staff/runs/{first_run}", json=closed, headers=staff)
    ).status_code == 200
    assert await open_now() == []

    later = run_body(start_in_days=40, enrolment_opens_at=iso(NOW + timedelta(days=20)))
    later["enrolment_closes_at"] = iso(NOW + timedelta(days=30))
    added = await client.post(f"{API}/staff/courses/{course['id']}/runs", json=later, headers=staff)
    assert added.status_code == 201, added.text
    reopened = {"enrolment_closes_at": iso(NOW + timedelta(days=2))}
    assert (
        await client.patch(f"{API}/staff/runs/{first_run}", json=reopened, headers=staff)
    ).status_code == 200
    assert await open_now() == ["finestres"]

    # Time passes: the first window ends. Until the periodic refresh the course is simply not open (its
    # stored window is over); the refresh moves it on to the next run's window.
    soon = datetime.now(UTC) + timedelta(seconds=2)
    closing = {"enrolment_closes_at": soon.isoformat()}
    assert (await client.patch(f"{API}/staff/runs/{first_run}", json=closing, headers=staff)).is_success
    assert await open_now() == ["finestres"]
    await asyncio.sleep((soon - datetime.now(UTC)).total_seconds() + 0.2)
    assert await open_now() == []
    assert await advance_enrolment_windows(db) == 1
    await db.commit()
    window = (
        await db.execute(
            select(Course.enrolling_from, Course.enrolling_until).where(Course.id == course["id"])
        )
    ).one()
    assert window == (NOW + timedelta(days=20), NOW + timedelta(days=30))
    assert await advance_enrolment_windows(db) == 0  # nothing else has ended


async def test_a_small_catalogue_finds_each_cards_next_run_through_the_index(
    db: AsyncSession, settings: Settings
) -> None:
    """With a hundred courses, ``course_runs`` is a few pages: the page must not read all of it per card."""
    ids = (
        await db.execute(
            insert(Course).returning(Course.id),
            [
                {
                    "slug": f"petit-{i}",
                    "format": CourseFormat.MOOC,
                    "status": CourseStatus.PUBLISHED,
                    "title": {"ca": f"Curs {i}"},
                    "published_at": NOW - timedelta(days=i),
                }
                for i in range(100)
            ],
        )
    ).scalars()
    await db.execute(
        insert(CourseRun),
        [
            {"course_id": course_id, "starts_at": NOW + timedelta(days=weeks * 7), "capacity": 30}
            for course_id in ids
            for weeks in (-8, 2)
        ],
    )
    await db.commit()
    await db.execute(text("ANALYZE courses"))
    await db.execute(text("ANALYZE course_runs"))
    sql, params = catalogue_sql(CatalogueQuery(now=NOW, sort=Sort.NEWEST), "ca")

    # The connection the list runs on in the app (lms.db.driver), with its planner settings.
    assert settings.database_url is not None
    connection = await asyncpg.connect(plain_url(settings.database_url), server_settings=SERVER_SETTINGS)
    try:
        plan = json.loads(await connection.fetchval(f"EXPLAIN (FORMAT JSON) {sql}", *params))
    finally:
        await connection.close()

    def scans(node: dict[str, Any]) -> Iterator[tuple[str, str]]:
        yield node["Node Type"], node.get("Relation Name", "")
        for child in node.get("Plans", []):
            yield from scans(child)

    reads = [kind for kind, relation in scans(plan[0]["Plan"]) if relation == "course_runs"]
    assert reads, plan
    assert "Seq Scan" not in reads, reads

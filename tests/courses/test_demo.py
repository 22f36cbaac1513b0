"""The demo catalogue loads once, quickly, and is browsable."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from courses import demo
from courses.models import Course, CourseFormat
from courses.repository import CourseRepository
from courses.service import publish_problems
from lms.db.session import unit_of_work
from lms.settings import Settings
from tests.courses.helpers import API, Client


async def test_demo_catalogue_is_idempotent_and_browsable(
    client: Client, sessionmaker: async_sessionmaker[AsyncSession], settings: Settings, db: AsyncSession
) -> None:
    for _ in range(2):
        async with unit_of_work(sessionmaker) as session:
            await demo.load(session, settings)

    count = (await db.execute(select(func.count()).select_from(Course))).scalar_one()
    formats = set((await db.execute(select(Course.format).distinct())).scalars())
    listing = await client.get(f"{API}/courses", params={"q": "informatica", "lang": "en"})
    masterclasses = await client.get(f"{API}/calendar/masterclasses.ics")
    newest = (await client.get(f"{API}/courses", params={"sort": "newest"})).json()["items"]
    covers = [card["cover"] for card in newest if card["cover"] is not None]

    assert count == len(demo.COURSES) >= 30
    assert formats == set(CourseFormat)
    assert listing.json()["items"][0]["title"] == "Basic computing"
    assert masterclasses.text.count("BEGIN:VEVENT") >= 5
    assert len(covers) >= 5
    assert all(sorted(c["thumbnails"]) == ["320", "960"] for c in covers)
    thumbnail = await client.get(covers[0]["thumbnails"]["320"].removeprefix(settings.public_url))
    assert thumbnail.status_code == 200
    assert thumbnail.headers["content-type"] == "image/webp"
    repository = CourseRepository(session=db, auto_commit=False)
    for course_id in (await db.execute(select(Course.id))).scalars().all():
        course = await repository.full(course_id)
        assert course is not None
        assert publish_problems(course) == [], course.slug

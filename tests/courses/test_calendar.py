"""Masterclass calendars: RFC 5545 text that calendar apps accept."""

from __future__ import annotations

import asyncio
import re
import uuid
from datetime import UTC, datetime, timedelta

from courses.ical import CalendarEvent, calendar, fold
from lms.accounts.models import Role
from tests.courses.helpers import API, NOW, Client, add_article, add_module, create_course, iso, run_body
from tests.support import Factory


def _unfold(text: str) -> list[str]:
    return text.replace("\r\n ", "").split("\r\n")


def test_long_lines_are_folded_at_75_octets_without_splitting_characters() -> None:
    line = "SUMMARY:" + "Intel·ligència artificial generativa per a petites empreses, " * 4
    folded = fold(line)
    parts = folded.split("\r\n")
    assert all(len(p.encode("utf-8")) <= 75 for p in parts)
    assert all(p.startswith(" ") for p in parts[1:])
    assert folded.replace("\r\n ", "") == line


def test_calendar_text_is_escaped_and_uses_crlf() -> None:
    event = CalendarEvent(
        run_id=uuid.UUID("9b2f3a4e-2f6b-4f43-9c1a-0a7a3a0d3a11"),
        starts_at=datetime(2027, 3, 2, 17, 0, tzinfo=UTC),
        duration=timedelta(minutes=90),
        summary="IA, dades; i privacitat",
        description="Línia 1\nLínia 2 \\ fi",
        url="https://aula.example/courses/ia",
        location="Online",
        timezone="Europe/Madrid",
        updated_at=datetime(2027, 1, 1, tzinfo=UTC),
    )
    text = calendar([event], host="aula.example", name="Masterclasses")
    lines = _unfold(text)
    assert text.endswith("\r\n")
    assert "\n" not in text.replace("\r\n", "")
    assert "SUMMARY:IA\\, dades\\; i privacitat" in lines
    assert "DESCRIPTION:Línia 1\\nLínia 2 \\\\ fi" in lines
    assert "DTSTART:20270302T170000Z" in lines
    assert "DTEND:20270302T183000Z" in lines
    assert "UID:masterclass-9b2f3a4e-2f6b-4f43-9c1a-0a7a3a0d3a11@aula.example" in lines


def test_control_characters_are_left_out_of_calendar_text() -> None:
    event = CalendarEvent(
        run_id=uuid.uuid4(),
        starts_at=datetime(2027, 3, 2, 17, 0, tzinfo=UTC),
        duration=timedelta(minutes=60),
        summary="Títol\x0benganxat\x1b[0m\x07",
        description="Amb\ttabulador",
        url="https://aula.example/courses/x",
        location=None,
        timezone="Europe/Madrid",
        updated_at=datetime(2027, 1, 1, tzinfo=UTC),
    )
    text = calendar([event], host="aula.example", name="Nom\x0c del calendari")

    assert not re.search("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]", text)
    assert "SUMMARY:Títolenganxat[0m" in _unfold(text)
    assert "DESCRIPTION:Amb\ttabulador" in _unfold(text)
    assert "X-WR-CALNAME:Nom del calendari" in _unfold(text)


async def test_masterclass_run_calendar_and_feed(client: Client, factory: Factory) -> None:
    _, staff = await factory.login_as(Role.STAFF)
    course = await create_course(
        client,
        staff,
        slug="ia-generativa-per-a-pimes",
        format="masterclass",
        title={"ca": "IA generativa per a pimes", "en": "Generative AI for SMEs"},
        speakers=[{"name": "Laia Soler", "affiliation": "UPC"}],
    )
    module = await add_module(client, staff, course["id"])
    await add_article(client, staff, module)
    session = NOW + timedelta(days=10)
    run = await client.post(
        f"{API}/staff/courses/{course['id']}/runs",
        json=run_body(
            live_starts_at=iso(session),
            live_duration_minutes=90,
            meeting_url="https://meet.example.org/secret-room",
        ),
        headers=staff,
    )
    assert run.status_code == 201, run.text
    run_id = run.json()["id"]
    draft = await client.get(f"{API}/runs/{run_id}/calendar.ics")
    assert draft.status_code == 404
    assert (
        await client.post(f"{API}/staff/courses/{course['id']}/publish", headers=staff)
    ).status_code == 200

    first = await client.get(f"{API}/runs/{run_id}/calendar.ics?lang=en")
    feed = await client.get(f"{API}/calendar/masterclasses.ics")

    assert first.status_code == 200
    assert first.headers["content-type"] == "text/calendar; charset=utf-8"
    lines = _unfold(first.text)
    assert lines[0] == "BEGIN:VCALENDAR"
    assert "VERSION:2.0" in lines
    assert any(line.startswith("PRODID:") for line in lines)
    assert any(line.startswith("DTSTAMP:") for line in lines)
    assert f"DTSTART:{session.astimezone(UTC):%Y%m%dT%H%M%SZ}" in lines
    assert f"DTEND:{(session + timedelta(minutes=90)).astimezone(UTC):%Y%m%dT%H%M%SZ}" in lines
    assert any(line.startswith("SUMMARY:Generative AI for SMEs") for line in lines)
    assert "secret-room" not in first.text  # the link is for enrolled learners only
    uid = next(line for line in lines if line.startswith("UID:"))
    assert uid in _unfold(feed.text)
    assert uid in _unfold((await client.get(f"{API}/runs/{run_id}/calendar.ics")).text)  # stable

    # The file is the same, ETag included, until staff change the course or the session; then DTSTAMP and
    # LAST-MODIFIED move, so subscribed calendars take the new version.
    await asyncio.sleep(1.1)
    later = await client.get(f"{API}/runs/{run_id}/calendar.ics?lang=en")
    assert later.text == first.text
    assert later.headers["etag"] == first.headers["etag"]
    cached = await client.get(
        f"{API}/runs/{run_id}/calendar.ics?lang=en", headers={"if-none-match": first.headers["etag"]}
    )
    assert cached.status_code == 304
    renamed = {"title": {"ca": "IA generativa", "en": "Generative AI in practice"}}
    assert (
        await client.patch(f"{API}/staff/courses/{course['id']}", json=renamed, headers=staff)
    ).status_code == 200
    edited = _unfold((await client.get(f"{API}/runs/{run_id}/calendar.ics?lang=en")).text)
    stamp = next(line for line in edited if line.startswith("DTSTAMP:"))
    assert stamp not in lines
    assert next(line for line in edited if line.startswith("LAST-MODIFIED:")) == "LAST-MODIFIED:" + stamp[8:]
    assert any(line.startswith("SUMMARY:Generative AI in practice") for line in edited)

"""iCalendar (RFC 5545) for masterclass sessions, written by hand: CRLF, folding, escaping, UTC times."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

PRODID = "-//Aula//Masterclasses//EN"
MAX_LINE_OCTETS = 75  # RFC 5545 3.1: lines longer than this are folded


@dataclass(frozen=True, slots=True)
class CalendarEvent:
    run_id: uuid.UUID
    starts_at: datetime
    duration: timedelta
    summary: str
    description: str
    url: str
    location: str | None
    timezone: str
    updated_at: datetime


# Control characters other than tab are not allowed in a TEXT value (RFC 5545 3.3.11); staff text may
# carry them (pasted from elsewhere), so they are dropped rather than written out raw.
_CONTROLS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def escape(text: str) -> str:
    """TEXT value escaping (RFC 5545 3.3.11)."""
    return (
        _CONTROLS.sub("", text)
        .replace("\\", "\\\\")
        .replace(";", "\\;")
        .replace(",", "\\,")
        .replace("\r\n", "\\n")
        .replace("\n", "\\n")
        .replace("\r", "\\n")
    )


def fold(line: str) -> str:
    """Split a content line into chunks of at most 75 octets without cutting a UTF-8 character."""
    out: list[str] = []
    current, size = "", 0
    limit = MAX_LINE_OCTETS
    for char in line:
        width = len(char.encode("utf-8"))
        if size + width > limit:
            out.append(current)
            current, size = " ", 1  # continuation lines start with one space, which counts
        current += char
        size += width
    out.append(current)
    return "\r\n".join(out)


def utc(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def uid(run_id: uuid.UUID, host: str) -> str:
    """Stable across downloads, so calendar apps update the event instead of duplicating it."""
    return f"masterclass-{run_id}@{host}"


def calendar(events: Iterable[CalendarEvent], *, host: str, name: str) -> str:
    """The VCALENDAR of ``events``. Each event's DTSTAMP is its last revision, not the time of the request,
    so the same calendar gives the same bytes (and ETag) until staff change it."""
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        f"PRODID:{PRODID}",
        "CALSCALE:GREGORIAN",
        "METHOD:PUBLISH",
        f"X-WR-CALNAME:{escape(name)}",
    ]
    for event in events:
        lines += [
            "BEGIN:VEVENT",
            f"UID:{uid(event.run_id, host)}",
            f"DTSTAMP:{utc(event.updated_at)}",
            f"LAST-MODIFIED:{utc(event.updated_at)}",
            # UTC times need no VTIMEZONE and are unambiguous across DST changes; the run's zone is a hint.
            f"DTSTART:{utc(event.starts_at)}",
            f"DTEND:{utc(event.starts_at + event.duration)}",
            f"SUMMARY:{escape(event.summary)}",
            f"DESCRIPTION:{escape(event.description)}",
            f"URL:{event.url}",
            f"X-AULA-TIMEZONE:{escape(event.timezone)}",
        ]
        if event.location:
            lines.append(f"LOCATION:{escape(event.location)}")
        lines.append("END:VEVENT")
    lines.append("END:VCALENDAR")
    return "".join(fold(line) + "\r\n" for line in lines)

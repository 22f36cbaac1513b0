"""Batch progress ingestion through Aula against asyncpg COPY of the same rows.

Target: Aula's rows/s >= 0.35x COPY's (aim 0.5x).

Aula's side is the whole request: authentication, validation of 500 events against the course outline,
the one set-based statement that inserts the events and folds them into lesson progress, video coverage,
completion check and commit. The baseline copies the same 500-row batches into ``progress_events`` with
``copy_records_to_table``. Both sides are driven by the same in-process asyncio loop, with the same
concurrency, for the same time.

    .venv/bin/python -m bench.progress [--seconds 8] [--rounds 3] [--concurrency 8]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import msgspec

from bench.enrolment import SECRET, _admin
from bench.harness import report, serve
from lms.accounts.security import Tokens
from lms.db.migrate import upgrade

SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"
BATCH = 500
LESSONS = 20
ENROLMENTS = 64
VIDEO_SECONDS = 1800
PLACEHOLDER = "@@@@@@@@@@@@"  # replaced per request by a fresh prefix: every event id is new


async def seed(url: str) -> tuple[list[uuid.UUID], list[tuple[str, uuid.UUID]]]:
    """A course of 20 video lessons, 64 learners seated in its run: (lessons, [(token, enrolment)])."""
    now = datetime.now(UTC)
    course, run, module = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    lessons = [uuid.uuid4() for _ in range(LESSONS)]
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(
            """INSERT INTO courses (id, slug, format, status, title, summary, description, tags, digcomp,
                   languages, speakers, speaker_names, certificates_enabled, completion_min_required_percent,
                   completion_requires_quizzes_passed, completion_requires_attendance, published_at)
               VALUES ($1, 'bench-progress', 'mooc', 'published', '{"ca": "Curs"}', '{}', '{}', '{}', '[]',
                   '{ca}', '[]', '{}', false, 100, true, false, $2)""",
            course,
            now,
        )
        await conn.execute(
            "INSERT INTO course_runs (id, course_id, starts_at, seats_taken) VALUES ($1, $2, $3, $4)",
            run,
            course,
            now - timedelta(days=1),
            ENROLMENTS,
        )
        await conn.execute(
            "INSERT INTO course_modules (id, course_id, position, title, summary)"
            " VALUES ($1, $2, 0, $3, '{}')",
            module,
            course,
            '{"ca": "Mòdul"}',
        )
        for position, lesson in enumerate(lessons):
            await conn.execute(
                """INSERT INTO lessons (id, module_id, course_id, position, kind, title, required,
                       video_duration_seconds, article_html)
                   VALUES ($1, $2, $3, $4, 'video', '{"ca": "V"}', true, $5, '{}')""",
                lesson,
                module,
                course,
                position,
                VIDEO_SECONDS,
            )
        tokens = Tokens(SECRET, 24 * 3600)
        learners: list[tuple[str, uuid.UUID]] = []
        for n in range(ENROLMENTS):
            user, session, enrolment = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
            await conn.execute(
                "INSERT INTO users (id, email, password_hash, full_name, preferred_language, role, is_active)"
                " VALUES ($1, $2, 'x', 'Persona', 'ca', 'learner', true)",
                user,
                f"progress{n}@example.org",
            )
            await conn.execute(
                "INSERT INTO auth_sessions (id, user_id, refresh_token_hash, expires_at)"
                " VALUES ($1, $2, 'x', $3)",
                session,
                user,
                now + timedelta(days=1),
            )
            await conn.execute(
                "INSERT INTO enrolments (id, user_id, run_id, course_id, status, enrolled_at)"
                " VALUES ($1, $2, $3, $4, 'enrolled', $5)",
                enrolment,
                user,
                run,
                course,
                now,
            )
            learners.append((tokens.access_token(user, session, now), enrolment))
    finally:
        await conn.close()
    return lessons, learners


def events(lessons: list[uuid.UUID], base: datetime) -> list[dict[str, Any]]:
    """A batch as players send it: each lesson opened, then played in consecutive 15-second chunks."""
    out: list[dict[str, Any]] = []
    offsets = {lesson: random.randrange(0, VIDEO_SECONDS // 2) for lesson in lessons}
    for n in range(BATCH):
        lesson = lessons[n % len(lessons)]
        at = (base - timedelta(seconds=BATCH - n)).isoformat()
        if n < len(lessons):
            out.append(
                {"id": f"{PLACEHOLDER}-{n}", "type": "lesson_opened", "lesson_id": str(lesson), "at": at}
            )
            continue
        start = offsets[lesson]
        offsets[lesson] = min(start + 15, VIDEO_SECONDS - 15)
        out.append(
            {
                "id": f"{PLACEHOLDER}-{n}",
                "type": "video_watched",
                "lesson_id": str(lesson),
                "at": at,
                "from_second": start,
                "to_second": start + 15,
            }
        )
    return out


def as_record(enrolment: uuid.UUID, e: dict[str, Any]) -> tuple[Any, ...]:
    return (
        enrolment,
        e["id"],
        e["type"],
        uuid.UUID(e["lesson_id"]),
        datetime.fromisoformat(e["at"]),
        None,
        e.get("from_second"),
        e.get("to_second"),
    )


COLUMNS = [
    "enrolment_id",
    "client_id",
    "type",
    "lesson_id",
    "occurred_at",
    "ended_at",
    "from_second",
    "to_second",
]


async def drive(concurrency: int, seconds: float, one: Callable[[int], Awaitable[None]]) -> float:
    """Run ``one(i)`` from ``concurrency`` workers for ``seconds``; rows per second."""
    done = 0
    deadline = time.perf_counter() + seconds
    counter = iter(range(10**9))

    async def worker() -> None:
        nonlocal done
        while time.perf_counter() < deadline:
            await one(next(counter))
            done += BATCH

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return done / (time.perf_counter() - started)


async def measure(url: str, aula_url: str, args: argparse.Namespace) -> dict[str, Any]:
    lessons, learners = await seed(url)
    base = datetime.now(UTC)
    needed = 200  # batches prepared up front, so the driver only sends bytes
    batches = [events(lessons, base) for _ in range(needed)]
    bodies = [msgspec.json.encode({"events": b}) for b in batches]
    aula_rates: list[float] = []
    copy_rates: list[float] = []
    used = {"aula": 0, "copy": needed // 2}
    pool = await asyncpg.create_pool(url, min_size=args.concurrency, max_size=args.concurrency)
    limits = httpx.Limits(max_connections=args.concurrency, max_keepalive_connections=args.concurrency)
    async with httpx.AsyncClient(base_url=aula_url, limits=limits, timeout=60) as client:

        async def aula_one(i: int) -> None:
            token, enrolment = learners[i % len(learners)]
            body = bodies[used["aula"] % (needed // 2)].replace(
                PLACEHOLDER.encode(), f"{used['aula']:012x}".encode()
            )
            used["aula"] += 1
            response = await client.post(
                f"/api/v1/me/enrolments/{enrolment}/progress",
                content=body,
                headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
            )
            if response.status_code != 200:
                raise RuntimeError(response.text)

        async def copy_one(i: int) -> None:
            _, enrolment = learners[i % len(learners)]
            used["copy"] += 1
            batch = batches[needed // 2 + used["copy"] % (needed // 2)]
            records = [as_record(enrolment, e) for e in batch]
            async with pool.acquire() as conn:
                # Fresh ids, as on Aula's side: every copied row is new.
                await conn.copy_records_to_table(
                    "progress_events",
                    columns=COLUMNS,
                    records=[(r[0], f"{used['copy']:012x}-{n}", *r[2:]) for n, r in enumerate(records)],
                )

        await drive(args.concurrency, 2, aula_one)  # warm-up
        await drive(args.concurrency, 2, copy_one)
        for _ in range(args.rounds):  # interleaved, so drift affects both sides alike
            aula_rates.append(await drive(args.concurrency, args.seconds, aula_one))
            copy_rates.append(await drive(args.concurrency, args.seconds, copy_one))
    await pool.close()
    aula, copy = sorted(aula_rates)[len(aula_rates) // 2], sorted(copy_rates)[len(copy_rates) // 2]
    ratio = aula / copy
    return {
        "aula rows/s (batches of 500)": round(aula),
        "asyncpg COPY rows/s": round(copy),
        "ratio rows/s (target >= 0.35, aim 0.5)": ratio,
        "verdict": "meets target" if ratio >= 0.35 else "BELOW target",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--database-url", default=SERVER)
    args = parser.parse_args()
    name = f"aula_bench_progress_{os.getpid()}"
    asyncio.run(_admin(args.database_url, f'CREATE DATABASE "{name}"'))
    url = args.database_url.rsplit("/", 1)[0] + f"/{name}"
    try:
        upgrade(url)
        env = {
            "LMS_DATABASE_URL": url,
            "LMS_DATA_DIR": str(Path(tempfile.gettempdir()) / "aula-bench-progress"),
        }
        with serve("bench.apps:aula", env) as aula_url:
            figures = asyncio.run(measure(url, aula_url, args))
        report("progress", figures)
    finally:
        asyncio.run(_admin(args.database_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


if __name__ == "__main__":
    main()

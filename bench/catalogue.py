"""The public catalogue list against a bare asyncpg handler running the same SQL, at 100 and 10,000 courses.

Targets: Aula >= 0.6x the bare handler's req/s; Aula's p95 at 10,000 courses <= 1.5x its p95 at 100.

    .venv/bin/python -m bench.catalogue [--seconds 8] [--rounds 3] [--database-url postgresql://...]

Creates (and drops) a scratch database on the server of ``--database-url`` (default: local PostgreSQL).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl

import asyncpg
import msgspec
from litestar import Litestar, Request, Response, get

from bench.harness import Load, best_of, report, serve, wrk
from courses.models import CourseFormat
from courses.repository import CatalogueQuery, Sort, catalogue_sql
from lms.db.migrate import upgrade

SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"
NOW = datetime.now(UTC).replace(microsecond=0)
# The mix a catalogue page sees: search, filters, sorts; every request returns up to 20 courses.
REQUESTS = [
    "q=informatica",
    "format=mooc&open_now=true",
    "competence=1.1&level=2&sort=newest",
    "q=seguretat%20dades&language=ca",
    "category=ofimatica&sort=popularity",
    "sort=newest",
]
WORDS = [
    "informàtica",
    "ofimàtica",
    "seguretat",
    "dades",
    "xarxes",
    "internet",
    "programació",
    "python",
    "excel",
    "full",
    "càlcul",
    "web",
    "wordpress",
    "vídeo",
    "fotografia",
    "mòbil",
    "android",
    "privacitat",
    "contrasenyes",
    "núvol",
    "teletreball",
    "feina",
    "currículum",
    "linkedin",
    "comerç",
    "botiga",
    "pagaments",
    "màrqueting",
    "continguts",
    "disseny",
    "accessibilitat",
    "robòtica",
    "intel·ligència",
    "artificial",
    "automatització",
    "factura",
    "autònoms",
    "tràmits",
    "administració",
    "certificat",
    "ciutadania",
    "benestar",
    "sostenibilitat",
    "podcast",
    "edició",
    "presentacions",
    "correu",
    "agenda",
    "col·laboració",
    "projectes",
    "analítica",
    "visualització",
    "estadística",
    "bases",
    "consultes",
    "sql",
    "ciberseguretat",
    "phishing",
    "còpies",
    "família",
    "gent",
    "gran",
    "joves",
    "emprenedoria",
    "startups",
    "finances",
    "banca",
    "criptografia",
    "blockchain",
    "impressió",
    "3d",
    "maquetació",
    "tipografia",
    "xarxes",
    "socials",
    "instagram",
    "tiktok",
    "youtube",
    "cerca",
    "fiabilitat",
    "notícies",
    "desinformació",
    "llicències",
    "drets",
]
CATEGORIES = [
    "alfabetitzacio-digital",
    "ofimatica",
    "seguretat",
    "ocupacio",
    "empreses",
    "programacio",
    "dades",
    "creacio-de-continguts",
    "ciutadania-digital",
    "tecnologies-emergents",
    "treball-digital",
    "disseny",
]
COMPETENCES = [
    "1.1",
    "1.2",
    "1.3",
    "2.1",
    "2.2",
    "2.3",
    "2.4",
    "2.5",
    "2.6",
    "3.1",
    "3.2",
    "3.3",
    "3.4",
    "4.1",
    "4.2",
    "4.3",
    "4.4",
    "5.1",
    "5.2",
    "5.3",
    "5.4",
]


def _query(raw: str) -> CatalogueQuery:
    params = dict(parse_qsl(raw))
    return CatalogueQuery(
        now=NOW,
        q=params.get("q"),
        format=CourseFormat(params["format"]) if "format" in params else None,
        category=params.get("category"),
        competence=params.get("competence"),
        level=int(params["level"]) if "level" in params else None,
        language=params.get("language"),
        open_now=params.get("open_now") == "true",
        sort=Sort(params.get("sort", "relevance")),
    )


def compiled(raw: str) -> tuple[str, tuple[Any, ...]]:
    """The SQL Aula runs for this request, with positional parameters, for the bare handler."""
    return catalogue_sql(_query(raw), "ca")


def baseline() -> Litestar:
    """A bare handler: raw asyncpg, the same statement, rows straight to JSON."""
    url = os.environ["LMS_DATABASE_URL"]
    statements = {raw: compiled(raw) for raw in REQUESTS}
    state: dict[str, asyncpg.Pool] = {}

    async def init(conn: asyncpg.Connection) -> None:
        await conn.set_type_codec("jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")

    async def startup() -> None:
        state["pool"] = await asyncpg.create_pool(url, min_size=10, max_size=10, init=init)

    @get("/api/v1/courses", sync_to_thread=False)
    async def courses(request: Request[Any, Any, Any]) -> Response[bytes]:
        sql, params = statements[request.scope["query_string"].decode()]
        rows = await state["pool"].fetch(sql, *params)
        items = [dict(r) for r in rows if r["id"] is not None]
        body = {"items": items, "total": rows[0]["total"] if rows else 0, "limit": 20, "offset": 0}
        return Response(msgspec.json.encode(body), media_type="application/json")

    return Litestar(route_handlers=[courses], on_startup=[startup], logging_config=None)


async def seed(url: str, count: int) -> None:
    """``count`` published courses with one to three runs each, words drawn from a shared vocabulary."""
    rng = random.Random(count)
    conn = await asyncpg.connect(url)
    try:
        await conn.execute("TRUNCATE courses CASCADE")
        courses, runs = [], []
        for i in range(count):
            course_id = uuid.uuid4()
            words = rng.sample(WORDS, 4)
            title = {lang: " ".join(words).capitalize() + f" {lang} {i}" for lang in ("ca", "es", "en")}
            summary = {"ca": " ".join(rng.sample(WORDS, 10))}
            tags = [
                {"code": c, "level": rng.randint(1, 8)} for c in rng.sample(COMPETENCES, rng.randint(1, 3))
            ]
            fmt = rng.choice(["mooc", "mooc", "instant", "masterclass"])
            status = "published" if rng.random() < 0.9 else "draft"
            courses.append(
                (
                    course_id,
                    f"course-{i}",
                    fmt,
                    status,
                    json.dumps(title),
                    json.dumps(summary),
                    "{}",
                    rng.choice(CATEGORIES),
                    [],
                    json.dumps(tags),
                    rng.choice([None, 1.0, 10.0]),
                    rng.choice([["ca"], ["ca", "es"], ["es"], ["en"]]),
                    "[]",
                    [],
                    False,
                    100,
                    True,
                    False,
                    NOW - timedelta(days=rng.randint(0, 900)) if status == "published" else None,
                    0,
                )
            )
            for _ in range(rng.randint(1, 3)):
                start = NOW + timedelta(days=rng.randint(-400, 200))
                runs.append(
                    (
                        uuid.uuid4(),
                        course_id,
                        start,
                        start + timedelta(weeks=5),
                        start - timedelta(days=30),
                        start + timedelta(days=7),
                        rng.choice([None, 25, 40]),
                        0,
                    )
                )
        await conn.copy_records_to_table(
            "courses",
            records=courses,
            columns=[
                "id",
                "slug",
                "format",
                "status",
                "title",
                "summary",
                "description",
                "category",
                "tags",
                "digcomp",
                "estimated_hours",
                "languages",
                "speakers",
                "speaker_names",
                "certificates_enabled",
                "completion_min_required_percent",
                "completion_requires_quizzes_passed",
                "completion_requires_attendance",
                "published_at",
                "popularity",
            ],
        )
        await conn.copy_records_to_table(
            "course_runs",
            records=runs,
            columns=[
                "id",
                "course_id",
                "starts_at",
                "ends_at",
                "enrolment_opens_at",
                "enrolment_closes_at",
                "capacity",
                "seats_taken",
            ],
        )
        await conn.execute(
            "UPDATE course_runs SET seats_taken = (random() * coalesce(capacity, 100) / 2)::int"
        )
        await conn.execute("VACUUM ANALYZE courses")
        await conn.execute("VACUUM ANALYZE course_runs")
    finally:
        await conn.close()


def _script() -> str:
    paths = ", ".join(f'"/api/v1/courses?{raw}"' for raw in REQUESTS)
    return (
        f"local paths = {{{paths}}}\nlocal i = 0\n"
        "request = function()\n  i = i % #paths + 1\n  return wrk.format('GET', paths[i])\nend\n"
    )


def measure(url: str, seconds: int, rounds: int) -> tuple[Load, Load]:
    env = {"LMS_DATABASE_URL": url}
    ours, bare = [], []
    with serve("bench.apps:aula", env) as aula_url, serve("bench.catalogue:baseline", env) as bare_url:
        for base in (aula_url, bare_url):
            wrk(f"{base}/api/v1/courses", seconds=2, script=_script())  # warm-up
        for _ in range(rounds):
            ours.append(wrk(f"{aula_url}/api/v1/courses", seconds=seconds, script=_script()))
            bare.append(wrk(f"{bare_url}/api/v1/courses", seconds=seconds, script=_script()))
    return best_of(ours), best_of(bare)


async def _admin(server: str, sql: str) -> None:
    conn = await asyncpg.connect(server)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--database-url", default=os.environ.get("LMS_BENCH_DATABASE_URL", SERVER))
    args = parser.parse_args()
    name = f"aula_bench_catalogue_{os.getpid()}"
    asyncio.run(_admin(args.database_url, f'CREATE DATABASE "{name}"'))
    url = args.database_url.rsplit("/", 1)[0] + f"/{name}"
    try:
        upgrade(url)
        figures: dict[str, object] = {}
        for count in (100, 10_000):
            asyncio.run(seed(url, count))
            ours, bare = measure(url, args.seconds, args.rounds)
            figures[f"aula, {count} courses"] = ours
            figures[f"bare asyncpg, {count} courses"] = bare
            figures[f"ratio req/s at {count} (>= 0.6)"] = ours.requests_per_second / bare.requests_per_second
        small, large = figures["aula, 100 courses"], figures["aula, 10000 courses"]
        assert isinstance(small, Load)
        assert isinstance(large, Load)
        growth = large.p95_ms / small.p95_ms
        figures["aula p95 growth 100 -> 10000 (<= 1.5)"] = growth
        ratios = [v for k, v in figures.items() if k.startswith("ratio") and isinstance(v, float)]
        ok = min(ratios) >= 0.6 and growth <= 1.5
        figures["verdict"] = "meets targets" if ok else "BELOW target"
        report("catalogue", figures)
    finally:
        asyncio.run(_admin(args.database_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


if __name__ == "__main__":
    main()

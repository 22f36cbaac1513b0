"""The public catalogue list against a bare asyncpg handler running the same SQL, at 100 and 10,000 courses.

Targets: Aula >= 0.6x the bare handler's req/s; Aula's p95 at 10,000 courses <= 1.5x its p95 at 100.

    .venv/bin/python -m bench.catalogue [--seconds 5] [--rounds 5] [--database-url postgresql://...]

Creates (and drops) two scratch databases, one per catalogue size, on the server of ``--database-url``
(default: local PostgreSQL), and starts four servers at once (Aula and the bare handler on each size). Every
round drives all four one after the other, so each figure is a ratio of runs seconds apart: drift on a
shared machine moves both sides of a ratio alike. The median over rounds is reported.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import uuid
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl

import asyncpg
import msgspec
from litestar import Litestar, Request, Response, get

from bench.harness import Load, best_of, report, serve, wrk
from courses.models import CourseFormat
from courses.repository import REFRESH_POPULARITY, TOTAL_CAP, CatalogueQuery, Sort, catalogue_sql
from lms.db.driver import SERVER_SETTINGS
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
# Topic words: a course's title draws 3 and its summary 2, so each appears in about 6% of courses, as a
# subject does in a broad catalogue (the benchmark searches these). The rest of a summary is everyday
# language (GENERAL), which nobody searches for.
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
GENERAL = [
    "aprendre",
    "curs",
    "eines",
    "pràctic",
    "bàsic",
    "avançat",
    "introducció",
    "guia",
    "pas",
    "exemples",
    "casos",
    "sessions",
    "setmanes",
    "dubtes",
    "consells",
    "recursos",
    "exercicis",
    "activitats",
    "equip",
    "treball",
    "casa",
    "empresa",
    "persones",
    "dia",
    "entorn",
    "primer",
    "segon",
    "nivell",
    "útil",
    "fàcil",
    "ràpid",
    "complet",
    "nou",
    "millor",
    "comú",
    "habitual",
    "senzill",
    "clar",
    "diari",
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


def _card(row: asyncpg.Record) -> dict[str, Any]:
    card = {
        "id": row["id"],
        "slug": row["slug"],
        "format": row["format"],
        "lang": "ca",
        "title": row["title"],
        "summary": row["summary"],
        "category": row["category"],
        "tags": row["tags"],
        "digcomp": row["digcomp"],
        "estimated_hours": row["estimated_hours"],
        "languages": row["languages"],
        "cover_asset_id": row["cover_asset_id"],
        "cover": None,  # the benchmark's courses have no covers (bench/media_catalogue.py measures those)
        "certificates_enabled": row["certificates_enabled"],
        "published_at": row["published_at"],
        "next_run": None,
    }
    if row["run_id"] is not None:
        seats = row["run_seats_left"]
        card["next_run"] = {
            "id": row["run_id"],
            "starts_at": row["run_starts_at"],
            "ends_at": row["run_ends_at"],
            "enrolment_open": row["run_open"],
            "seats_left": None if seats is None else max(0, seats),
        }
    return card


def baseline() -> Litestar:
    """A bare handler: raw asyncpg, the same statement, the same JSON document (no ETag, no middleware)."""
    url = os.environ["LMS_DATABASE_URL"]
    statements = {raw: compiled(raw) for raw in REQUESTS}
    state: dict[str, asyncpg.Pool] = {}

    async def init(conn: asyncpg.Connection) -> None:
        await conn.set_type_codec("jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")

    async def startup() -> None:
        state["pool"] = await asyncpg.create_pool(
            url, min_size=10, max_size=10, init=init, server_settings=SERVER_SETTINGS
        )

    @get("/api/v1/courses", sync_to_thread=False)
    async def courses(request: Request[Any, Any, Any]) -> Response[bytes]:
        sql, params = statements[request.scope["query_string"].decode()]
        rows = await state["pool"].fetch(sql, *params)
        counted = rows[0]["total"] if rows else 0
        body = {
            "items": [_card(r) for r in rows if r["id"] is not None],
            "total": min(counted, TOTAL_CAP),
            "total_is_lower_bound": counted > TOTAL_CAP,
            "limit": 20,
            "offset": 0,
        }
        return Response(msgspec.json.encode(body), media_type="application/json")

    return Litestar(route_handlers=[courses], on_startup=[startup], logging_config=None)


async def seed(url: str, count: int) -> None:
    """``count`` courses (90% published) with one to three runs each, texts from a shared vocabulary."""
    rng = random.Random(count)
    conn = await asyncpg.connect(url)
    try:
        await conn.execute("TRUNCATE courses CASCADE")
        courses: list[tuple[Any, ...]] = []
        runs: list[tuple[Any, ...]] = []
        for i in range(count):
            course_id = uuid.uuid4()
            topic = rng.sample(WORDS, 5)
            title = {lang: " ".join(topic[:3]).capitalize() + f" {lang} {i}" for lang in ("ca", "es", "en")}
            summary = {"ca": " ".join(rng.sample(topic[3:] + rng.sample(GENERAL, 8), 10))}
            tags = [
                {"code": c, "level": rng.randint(1, 8)} for c in rng.sample(COMPETENCES, rng.randint(1, 3))
            ]
            fmt = rng.choice(["mooc", "mooc", "instant", "masterclass"])
            status = "published" if rng.random() < 0.9 else "draft"
            course_runs = []
            for _ in range(rng.randint(1, 3)):
                start = NOW + timedelta(days=rng.randint(-400, 200))
                capacity = rng.choice([None, 25, 40])
                taken = int(rng.random() * (capacity or 100) / 2)
                course_runs.append(
                    (
                        uuid.uuid4(),
                        course_id,
                        start,
                        start + timedelta(weeks=5),
                        start - timedelta(days=30),
                        start + timedelta(days=7),
                        capacity,
                        taken,
                    )
                )
            runs += course_runs
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
        await conn.copy_records_to_table("courses", records=courses, columns=COURSE_COLUMNS)
        await conn.copy_records_to_table("course_runs", records=runs, columns=RUN_COLUMNS)
        # Popularity as the worker's periodic refresh leaves it, then the tables in the steady state
        # autovacuum keeps in production rather than with the seeding's dead rows.
        await conn.execute(REFRESH_POPULARITY.text)
        await conn.execute("VACUUM FULL courses")
        await conn.execute("VACUUM ANALYZE courses")
        await conn.execute("VACUUM ANALYZE course_runs")
        await conn.execute("VACUUM ANALYZE course_keys")
    finally:
        await conn.close()


COURSE_COLUMNS = [
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
]
RUN_COLUMNS = [
    "id",
    "course_id",
    "starts_at",
    "ends_at",
    "enrolment_opens_at",
    "enrolment_closes_at",
    "capacity",
    "seats_taken",
]
SIZES = (100, 10_000)


def _script() -> str:
    paths = ", ".join(f'"/api/v1/courses?{raw}"' for raw in REQUESTS)
    return (
        f"local paths = {{{paths}}}\nlocal i = 0\n"
        "request = function()\n  i = i % #paths + 1\n  return wrk.format('GET', paths[i])\nend\n"
    )


def measure(urls: dict[int, str], seconds: int, rounds: int) -> dict[str, object]:
    """Interleaved rounds over four servers; per-round ratios, then medians."""
    runs: dict[tuple[str, int], list[Load]] = {(side, n): [] for side in ("aula", "bare") for n in SIZES}
    ratios: dict[int, list[float]] = {n: [] for n in SIZES}
    growth: list[float] = []
    with ExitStack() as stack:
        bases = {
            (side, n): stack.enter_context(serve(factory, {"LMS_DATABASE_URL": urls[n]}))
            for n in SIZES
            for side, factory in (("aula", "bench.apps:aula"), ("bare", "bench.catalogue:baseline"))
        }
        for base in bases.values():
            wrk(f"{base}/api/v1/courses", seconds=2, script=_script())  # warm-up
        for _ in range(rounds):
            this = {
                key: wrk(f"{base}/api/v1/courses", seconds=seconds, script=_script())
                for key, base in bases.items()
            }
            for key, load in this.items():
                runs[key].append(load)
            for n in SIZES:
                ratios[n].append(this["aula", n].requests_per_second / this["bare", n].requests_per_second)
            growth.append(this["aula", SIZES[-1]].p95_ms / this["aula", SIZES[0]].p95_ms)
    figures: dict[str, object] = {}
    for n in SIZES:
        figures[f"aula, {n} courses"] = best_of(runs["aula", n])
        figures[f"bare asyncpg, {n} courses"] = best_of(runs["bare", n])
    for n in SIZES:
        figures[f"ratio req/s at {n} (>= 0.6)"] = statistics.median(ratios[n])
    figures["aula p95 growth 100 -> 10000 (<= 1.5)"] = statistics.median(growth)
    figures["bare p95 growth 100 -> 10000"] = statistics.median(
        b.p95_ms / a.p95_ms for a, b in zip(runs["bare", SIZES[0]], runs["bare", SIZES[-1]], strict=True)
    )
    figures["per-round ratios"] = {str(n): [round(r, 3) for r in ratios[n]] for n in SIZES}
    figures["per-round growth"] = [round(g, 3) for g in growth]
    return figures


async def _admin(server: str, sql: str) -> None:
    conn = await asyncpg.connect(server)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--database-url", default=os.environ.get("LMS_BENCH_DATABASE_URL", SERVER))
    args = parser.parse_args()
    server = args.database_url
    names = {n: f"aula_bench_catalogue_{os.getpid()}_{n}" for n in SIZES}
    urls = {n: server.rsplit("/", 1)[0] + f"/{name}" for n, name in names.items()}
    try:
        for n in SIZES:
            asyncio.run(_admin(server, f'CREATE DATABASE "{names[n]}"'))
            upgrade(urls[n])
            asyncio.run(seed(urls[n], n))
        figures = measure(urls, args.seconds, args.rounds)
        ratios = [v for k, v in figures.items() if k.startswith("ratio") and isinstance(v, float)]
        growth = figures["aula p95 growth 100 -> 10000 (<= 1.5)"]
        assert isinstance(growth, float)
        ok = min(ratios) >= 0.6 and growth <= 1.5
        figures["verdict"] = "meets targets" if ok else "BELOW target"
        report("catalogue", figures)
    finally:
        for name in names.values():
            asyncio.run(_admin(server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


if __name__ == "__main__":
    main()

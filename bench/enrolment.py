"""Enrolment requests through Aula against a bare handler doing one raw asyncpg insert.

Targets: Aula >= 0.5x the bare handler's req/s, with p99 at most 2x the bare handler's p99.

Aula's side is the whole request: bearer-token authentication (a session lookup), the run's checks, the
conditional seat UPDATE, the enrolment INSERT, the owed confirmation e-mail (outbox row, published to
Redis after commit) and the commit. The bare side reads the ids from headers and inserts the row.
Every request is a new (learner, run) pair, spread over many runs as real traffic is.

For reference, the same rounds also time ``GET /api/v1/me`` on Aula's server with the same tokens: an
authenticated request in its transaction doing one small read, which is what any Aula endpoint pays before
its own work (authentication, BEGIN, COMMIT, middleware). It is printed, not part of the targets.

    .venv/bin/python -m bench.enrolment [--seconds 8] [--rounds 3] [--database-url postgresql://...]

Creates (and drops) a scratch database; uses Redis at 127.0.0.1:6379 as the broker when it answers.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import socket
import tempfile
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
from litestar import Litestar, Request, post

from bench.harness import RESULTS, Load, best_of, report, serve, wrk
from lms.accounts.security import Tokens
from lms.db.migrate import upgrade

SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"
SECRET = "bench-secret-key-bench-secret-key-0123"  # noqa: S105 (bench.apps:aula signs with this key)
RUNS = 200
USERS = 3000  # RUNS * USERS pairs: enough fresh enrolments for every round of both sides


def baseline() -> Litestar:
    """The bare handler: ids from headers, one INSERT through an asyncpg pool, no ORM, no auth."""
    pool: dict[str, Any] = {}

    async def startup() -> None:
        pool["pool"] = await asyncpg.create_pool(os.environ["LMS_DATABASE_URL"], min_size=10, max_size=20)

    @post("/enrol", status_code=201)
    async def enrol(request: Request[Any, Any, Any]) -> dict[str, str]:
        h = request.headers
        enrolment_id = uuid.uuid4()
        await pool["pool"].execute(
            "INSERT INTO enrolments (id, user_id, run_id, course_id, status, enrolled_at)"
            " VALUES ($1, $2, $3, $4, 'enrolled', now())",
            enrolment_id,
            uuid.UUID(h["x-user"]),
            uuid.UUID(h["x-run"]),
            uuid.UUID(h["x-course"]),
        )
        return {"id": str(enrolment_id), "status": "enrolled"}

    return Litestar(route_handlers=[enrol], on_startup=[startup], logging_config=None)


async def seed(url: str) -> tuple[list[tuple[uuid.UUID, uuid.UUID]], list[tuple[str, uuid.UUID]]]:
    """Published courses with one open run each, and learners with a live login session; bulk COPY."""
    now = datetime.now(UTC)
    conn = await asyncpg.connect(url)
    try:
        runs = [(uuid.uuid4(), uuid.uuid4()) for _ in range(RUNS)]  # (course, run)
        await conn.execute(
            """INSERT INTO courses (id, slug, format, status, title, summary, description, tags, digcomp,
                   languages, speakers, speaker_names, certificates_enabled, completion_min_required_percent,
                   completion_requires_quizzes_passed, completion_requires_attendance, published_at)
               SELECT id, 'bench-' || n, 'mooc', 'published', '{"ca": "Curs de prova"}', '{}', '{}',
                   '{}', '[]',
                   '{ca}', '[]', '{}', false, 100, true, false, $2
               FROM unnest($1::uuid[]) WITH ORDINALITY AS t(id, n)""",
            [c for c, _ in runs],
            now,
        )
        await conn.copy_records_to_table(
            "course_runs",
            columns=["id", "course_id", "starts_at", "ends_at"],
            records=[(r, c, now - timedelta(days=1), now + timedelta(days=60)) for c, r in runs],
        )
        users = [(uuid.uuid4(), uuid.uuid4()) for _ in range(USERS)]  # (user, session)
        await conn.copy_records_to_table(
            "users",
            columns=["id", "email", "password_hash", "full_name", "preferred_language", "role", "is_active"],
            records=[
                (u, f"bench{i}@example.org", "x", f"Persona {i}", "ca", "learner", True)
                for i, (u, _) in enumerate(users)
            ],
        )
        await conn.copy_records_to_table(
            "auth_sessions",
            columns=["id", "user_id", "refresh_token_hash", "expires_at"],
            records=[(s, u, "x", now + timedelta(days=1)) for u, s in users],
        )
    finally:
        await conn.close()
    tokens = Tokens(SECRET, 24 * 3600)
    return runs, [(tokens.access_token(u, s, now), u) for u, s in users]


def pairs_file(name: str, lines: list[str]) -> Path:
    path = RESULTS / f"_{name}.txt"
    RESULTS.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return path


def me_script(path: Path) -> str:
    """A wrk script reading the caller's profile with each line's token in turn."""
    return f"""
local tokens = {{}}
for line in io.lines("{path}") do tokens[#tokens + 1] = string.match(line, "%S+") end
local i = 0
request = function()
  i = i + 1
  return wrk.format("GET", "/api/v1/me", {{["Authorization"] = "Bearer " .. tokens[(i - 1) % #tokens + 1]}})
end
"""


def script(path: Path, aula: bool, offset: int) -> str:
    """A wrk script sending each line of ``path`` once, from ``offset`` on (token, user, run, course)."""
    body = '"{\\"run_id\\":\\"" .. f[3] .. "\\"}"'
    target = "/api/v1/me/enrolments" if aula else "/enrol"
    return f"""
local lines = {{}}
for line in io.lines("{path}") do lines[#lines + 1] = line end
local i = {offset}
request = function()
  i = i + 1
  local f = {{}}
  for part in string.gmatch(lines[(i - 1) % #lines + 1], "%S+") do f[#f + 1] = part end
  local headers = {{["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. f[1],
                   ["X-User"] = f[2], ["X-Run"] = f[3], ["X-Course"] = f[4]}}
  return wrk.format("POST", "{target}", headers, {body})
end
"""


async def _admin(server: str, sql: str) -> None:
    conn = await asyncpg.connect(server)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def _redis() -> str | None:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=0.5):
            return "redis://127.0.0.1:6379/15"
    except OSError:
        return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--database-url", default=SERVER)
    args = parser.parse_args()
    name = f"aula_bench_enrol_{os.getpid()}"
    asyncio.run(_admin(args.database_url, f'CREATE DATABASE "{name}"'))
    url = args.database_url.rsplit("/", 1)[0] + f"/{name}"
    broker = _redis()
    prefix = f"aula-bench-enrol-{os.getpid()}:"
    try:
        upgrade(url)
        runs, learners = asyncio.run(seed(url))
        lines = [f"{token} {user} {run} {course}" for token, user in learners for course, run in runs]
        # Interleave runs so concurrent requests hit different runs, as many learners across a catalogue do.
        random.shuffle(lines)
        half = len(lines) // 2
        aula_path, bare_path = pairs_file("enrol_aula", lines[:half]), pairs_file("enrol_bare", lines[half:])
        env = {"LMS_DATABASE_URL": url, "LMS_DATA_DIR": str(Path(tempfile.gettempdir()) / "aula-bench-enrol")}
        if broker:
            env |= {"LMS_BROKER_URL": broker, "LMS_BROKER_KEY_PREFIX": prefix}
        aula_runs: list[Load] = []
        bare_runs: list[Load] = []
        me_runs: list[Load] = []
        offsets = {"aula": 0, "bare": 0}

        def load(side: str, target: str, path: Path, seconds: int) -> Load:
            result = wrk(
                target,
                seconds=seconds,
                connections=args.connections,
                script=script(path, side == "aula", offsets[side]),
            )
            # The next run starts past every pair this one may have sent: each request is a new enrolment.
            offsets[side] += int(result.requests_per_second * seconds * 1.5) + 1000
            return result

        with serve("bench.apps:aula", env) as aula_url, serve("bench.enrolment:baseline", env) as bare_url:
            load("aula", aula_url, aula_path, 2)
            load("bare", bare_url, bare_path, 2)
            for _ in range(args.rounds):  # interleaved, so drift affects both sides alike
                aula_runs.append(load("aula", aula_url, aula_path, args.seconds))
                bare_runs.append(load("bare", bare_url, bare_path, args.seconds))
                me_runs.append(
                    wrk(
                        aula_url,
                        seconds=args.seconds,
                        connections=args.connections,
                        script=me_script(aula_path),
                    )
                )
        if max(offsets.values()) > half:
            raise SystemExit("not enough fresh (learner, run) pairs for these rounds: raise USERS")
        aula, bare, me = best_of(aula_runs), best_of(bare_runs), best_of(me_runs)
        ratio = aula.requests_per_second / bare.requests_per_second
        p99 = aula.p99_ms / bare.p99_ms
        report(
            "enrolment",
            {
                "aula enrol": aula,
                "bare asyncpg insert": bare,
                "ratio req/s (target >= 0.5)": ratio,
                "ratio p99 (target <= 2.0)": p99,
                "aula GET /me (reference)": me,
                "ratio GET /me / bare": me.requests_per_second / bare.requests_per_second,
                "verdict": "meets targets" if ratio >= 0.5 and p99 <= 2.0 else "BELOW target",
            },
        )
    finally:
        asyncio.run(_admin(args.database_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        if broker:
            import redis

            client = redis.Redis.from_url(broker)
            keys = list(client.scan_iter(f"{prefix}*"))
            if keys:
                client.delete(*keys)


if __name__ == "__main__":
    main()

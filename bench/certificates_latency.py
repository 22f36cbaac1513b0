"""From the completing transaction's commit to the PDF being downloadable, at a steady 20 completions/s.

Each completion is its own transaction (as a completing request is), owing the certificate and
publishing its task after commit; two worker processes issue them. A certificate counts as downloadable
when the worker's transaction has committed it as issued (its PDF was stored before that commit); the
bench then fetches a sample of the PDFs through storage to check. Targets: p50 <= 1 s, p95 <= 2 s.
Run: .venv/bin/python -m bench.certificates_latency [seconds]
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
import uuid

from sqlalchemy import select

from bench.certificates_support import bench_settings, complete, database, seed, workers
from bench.harness import report
from certificates.models import Certificate, CertificateStatus
from lms.db.session import unit_of_work
from lms.settings import Settings
from media.storage import build_storage

RATE = 20  # completions per second
POLL = 0.01  # seconds between looks at what has been issued


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


async def run(settings: Settings, seconds: int) -> dict[str, object]:
    total = RATE * seconds
    async with database(settings, publish=True) as sessionmaker:
        rows = await seed(sessionmaker, total)
        committed: dict[uuid.UUID, float] = {}
        seen: dict[uuid.UUID, float] = {}

        async def one(row: tuple[uuid.UUID, ...]) -> None:
            async with unit_of_work(sessionmaker) as session:
                await complete(session, [row])
                stamp = time.monotonic()  # taken just before the commit; publishing follows it
            committed[row[0]] = stamp

        async def watch() -> None:
            while len(seen) < total:
                async with sessionmaker() as session:
                    found = await session.execute(
                        select(Certificate.enrolment_id).where(Certificate.status == CertificateStatus.ISSUED)
                    )
                    now = time.monotonic()
                    for enrolment_id in found.scalars():
                        seen.setdefault(enrolment_id, now)
                await asyncio.sleep(POLL)

        with workers(settings, "--concurrency=2"):
            watcher = asyncio.create_task(watch())
            started = time.monotonic()
            pending = set()
            for n, row in enumerate(rows):
                await asyncio.sleep(max(0.0, started + n / RATE - time.monotonic()))
                pending.add(asyncio.create_task(one(row)))
            await asyncio.gather(*pending)
            await asyncio.wait_for(watcher, timeout=120)
        async with sessionmaker() as session:
            sample = (await session.execute(select(Certificate).limit(20))).scalars().all()
        storage = build_storage(settings)
        for certificate in sample:
            assert certificate.object_key is not None
            pdf = await storage.get_bytes(settings.bucket_certificates, certificate.object_key)
            assert pdf.startswith(b"%PDF-")
    latencies = [seen[key] - committed[key] for key in committed]
    return {
        "completions": total,
        "rate /s": RATE,
        "p50 s (target <= 1)": round(statistics.median(latencies), 3),
        "p95 s (target <= 2)": round(percentile(latencies, 0.95), 3),
        "p99 s": round(percentile(latencies, 0.99), 3),
        "max s": round(max(latencies), 3),
        "poll resolution s": POLL,
    }


def main() -> None:
    seconds = int(sys.argv[1]) if len(sys.argv) > 1 else 30
    with bench_settings() as settings:
        report("certificates_latency", asyncio.run(run(settings, seconds)))


if __name__ == "__main__":
    main()

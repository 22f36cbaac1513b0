"""Worker throughput (render + upload + database update, through the broker) vs. bare ReportLab rendering.

Both sides use one process: the baseline renders the same certificate template in a loop; the worker
(`lms worker --pool=solo`) issues owed certificates end to end, timed from the commit that owes them to
the last one issued. The two alternate in rounds (which goes first alternates too), so that drift in the
machine's speed affects both alike; the median of the rounds' ratios is reported. Target: ratio >= 0.7.
Run: .venv/bin/python -m bench.certificates_throughput [rounds]
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import time
import uuid
from datetime import date
from decimal import Decimal

from bench.certificates_support import NAMES, bench_settings, complete, database, seed, wait_issued, workers
from bench.harness import report
from certificates.links import verify_url
from certificates.render import Branding, Printed, register_fonts, render_pdf
from certificates.service import new_code
from lms.db.session import unit_of_work
from lms.settings import Settings

ROUNDS = 7
PER_ROUND = 300  # certificates the worker issues in a round
BARE_PER_ROUND = 300  # certificates the baseline renders in a round
WARM_UP = 50


def documents(settings: Settings, count: int) -> list[Printed]:
    """What the worker prints for the seeded learners: the same names, languages and course."""
    found = []
    for n in range(count):
        code = new_code()
        found.append(
            Printed(
                code=code,
                version=1,
                language=("ca", "es", "en")[n % 3],
                learner_name=f"{NAMES[n % len(NAMES)]} {n}",
                course_title="Competències digitals bàsiques",
                course_format="mooc",
                hours=Decimal(12),
                completed_on=date(2026, 11, 20),
                issued_on=date(2026, 11, 22),
                issuer_name=settings.org_name,
                signatory_name=settings.certificate_signatory_name,
                signatory_title=settings.certificate_signatory_title,
                verify_url=verify_url(settings, code),
            )
        )
    return found


def bare_rate(batch: list[Printed]) -> float:
    started = time.perf_counter()
    for document in batch:
        render_pdf(document, Branding())
    return len(batch) / (time.perf_counter() - started)


async def run(settings: Settings, rounds: int) -> dict[str, object]:
    register_fonts()
    bare_documents = documents(settings, BARE_PER_ROUND)
    render_pdf(bare_documents[0], Branding())  # warm, as a worker is warm
    async with database(settings, publish=True) as sessionmaker:
        rows = await seed(sessionmaker, WARM_UP + rounds * PER_ROUND)
        with workers(settings, "--pool=solo", "--concurrency=1"):

            async def issue(batch: list[tuple[uuid.UUID, ...]], already: int) -> float:
                async with unit_of_work(sessionmaker) as session:
                    await complete(session, batch)
                    started = time.monotonic()  # the commit (and the publishing after it) is timed
                finished = await wait_issued(sessionmaker, already + len(batch), within=600, interval=0.01)
                return len(batch) / (finished - started)

            await issue(rows[:WARM_UP], 0)
            issued = WARM_UP
            bare_rates: list[float] = []
            worker_rates: list[float] = []
            for index in range(rounds):
                batch = rows[issued : issued + PER_ROUND]
                if index % 2:
                    worker_rates.append(await issue(batch, issued))
                    bare_rates.append(bare_rate(bare_documents))
                else:
                    bare_rates.append(bare_rate(bare_documents))
                    worker_rates.append(await issue(batch, issued))
                issued += len(batch)
    ratios = [worker / bare for worker, bare in zip(worker_rates, bare_rates, strict=True)]
    return {
        "bare ReportLab renders/s (median)": round(statistics.median(bare_rates), 1),
        "worker issued/s (median)": round(statistics.median(worker_rates), 1),
        "ratio per round": " ".join(f"{ratio:.2f}" for ratio in ratios),
        "rounds x certificates": f"{rounds} x {PER_ROUND}",
        "batch size": settings.certificate_batch_size,
        "broker": settings.resolved_broker_url.split(":")[0],
        "storage": settings.resolved_storage_backend.value,
        "ratio, median (target >= 0.7)": round(statistics.median(ratios), 3),
    }


def overrides() -> dict[str, object]:
    batch = os.environ.get("LMS_CERTIFICATE_BATCH_SIZE")
    return {"certificate_batch_size": int(batch)} if batch else {}


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else ROUNDS
    with bench_settings(**overrides()) as settings:
        report("certificates_throughput", asyncio.run(run(settings, rounds)))


if __name__ == "__main__":
    main()

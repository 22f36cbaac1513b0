"""10,000 owed certificates issued end to end by real workers (target: at most 60 s on 2 cores).

The completions are committed first, in transactions of 500, each publishing its owed tasks after
commit; then two worker processes (`lms worker --concurrency=2`) are started and issue them in batches.
The clock runs from starting the workers to the last certificate issued.
Run: .venv/bin/python -m bench.certificates_bulk [count]
"""

from __future__ import annotations

import asyncio
import sys
import time

from bench.certificates_support import bench_settings, complete, database, seed, wait_issued, workers
from bench.harness import report
from lms.db.session import unit_of_work
from lms.settings import Settings

CHUNK = 500


async def run(settings: Settings, total: int) -> dict[str, object]:
    async with database(settings, publish=True) as sessionmaker:
        rows = await seed(sessionmaker, total)
        # Owe them all first (committed, each task published after its commit), as a burst of completions
        # would; the issuance is then timed on its own, worker start-up included.
        owing = time.monotonic()
        for start in range(0, total, CHUNK):
            async with unit_of_work(sessionmaker) as session:
                await complete(session, rows[start : start + CHUNK])
        owed = time.monotonic() - owing
        started = time.monotonic()
        with workers(settings, "--concurrency=2"):
            finished = await wait_issued(sessionmaker, total, within=900, interval=0.1)
    elapsed = finished - started
    return {
        "certificates": total,
        "seconds to owe them (untimed)": round(owed, 2),
        "seconds to issue them all": round(elapsed, 2),
        "certificates/s": round(total / elapsed, 1),
        "batch size": settings.certificate_batch_size,
        "broker": settings.resolved_broker_url.split(":")[0],
        "storage": settings.resolved_storage_backend.value,
        "target": "<= 60 s",
    }


def main() -> None:
    total = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    with bench_settings() as settings:
        report("certificates_bulk", asyncio.run(run(settings, total)))


if __name__ == "__main__":
    main()

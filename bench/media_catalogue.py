"""The real catalogue list with 20 cover thumbnails vs. the same catalogue without covers (target <= 10%).

    .venv/bin/python -m bench.media_catalogue [--seconds 8] [--rounds 5]

Two databases are seeded alike (25 published courses with a run each, and 25 processed public images);
in one every course points at its image as cover, in the other no course has a cover. Two servers run
Aula's own app (``lms.app.create_app``, the S3 backend, every middleware) against them, and wrk asks both
for the first page of ``GET /api/v1/courses`` (20 cards). The only difference is the covers: the joined
asset columns, the URLs (``media.public.PublicUrls``, cached per process once processed; nothing is
presigned) and the larger body. Rounds are interleaved and the cost is the median of the per-round
ratios, which holds up better than one ratio of medians on a busy machine.
"""

from __future__ import annotations

import argparse
import json
import os
import urllib.request
from contextlib import ExitStack

from litestar import Litestar

from bench.harness import best_of, median, report, serve, wrk
from bench.media_apps import COVERS, DATABASE, bench_settings, prepare
from lms.app import create_app

MAX_COST = 0.10
WITH_COVERS = f"{DATABASE}_covers"
WITHOUT_COVERS = f"{DATABASE}_plain"
PAGE = "/api/v1/courses?limit=20&lang=ca"


def catalogue_app() -> Litestar:
    """Aula's app on the database named by ``LMS_BENCH_MEDIA_DATABASE``."""
    return create_app(bench_settings(os.environ["LMS_BENCH_MEDIA_DATABASE"]))


def _covers_on_page(url: str) -> int:
    with urllib.request.urlopen(url + PAGE, timeout=10) as answer:  # noqa: S310 (loopback, our server)
        items = json.load(answer)["items"]
    return sum(1 for item in items if item["cover"] and item["cover"]["thumbnails"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    prepare(WITH_COVERS, covers=True)
    prepare(WITHOUT_COVERS, covers=False)
    plain_runs, covers_runs = [], []
    with ExitStack() as servers:
        covers = servers.enter_context(
            serve("bench.media_catalogue:catalogue_app", env={"LMS_BENCH_MEDIA_DATABASE": WITH_COVERS})
        )
        plain = servers.enter_context(
            serve("bench.media_catalogue:catalogue_app", env={"LMS_BENCH_MEDIA_DATABASE": WITHOUT_COVERS})
        )
        # Both answer the real endpoint; check that one page carries every cover and the other none.
        assert _covers_on_page(covers) == COVERS, "the covered catalogue should show 20 thumbnails"
        assert _covers_on_page(plain) == 0, "the plain catalogue should show no covers"
        wrk(plain + PAGE, seconds=2)  # warm-up: pools, compiled statements, the URL cache
        wrk(covers + PAGE, seconds=2)
        for _ in range(args.rounds):
            plain_runs.append(wrk(plain + PAGE, seconds=args.seconds))
            covers_runs.append(wrk(covers + PAGE, seconds=args.seconds))
    without, with_covers = best_of(plain_runs), best_of(covers_runs)
    ratios = [
        c.requests_per_second / p.requests_per_second for p, c in zip(plain_runs, covers_runs, strict=True)
    ]
    cost = 1 - median(ratios)
    report(
        "media_catalogue",
        {
            "catalogue without covers": without,
            f"catalogue with {COVERS} covers": with_covers,
            "per-round ratios": ", ".join(f"{r:.3f}" for r in ratios),
            f"cost (target <= {MAX_COST:.0%})": cost,
            "verdict": "meets target" if cost <= MAX_COST else "ABOVE target",
        },
    )


if __name__ == "__main__":
    main()

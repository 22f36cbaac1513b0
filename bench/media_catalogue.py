"""The catalogue's first page with 20 cover thumbnail URLs vs. the same page without (target: <= 10% cost).

    .venv/bin/python -m bench.media_catalogue [--seconds 8] [--rounds 3]

Both lists run the public catalogue's query (courses.service.catalogue) in handlers side by side in one
app, so the difference is only the cover URLs. Those come from media.public.PublicUrls: public objects
need no signature and their keys are deterministic, so after the first request they come from a
per-process cache. Rounds are interleaved and the cost is the median of the per-round ratios, which
holds up better than one ratio of medians on a busy machine.
"""

from __future__ import annotations

import argparse

from bench.harness import best_of, median, report, serve, wrk
from bench.media_apps import COVERS, prepare

MAX_COST = 0.10


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    prepare()
    plain_runs, covers_runs = [], []
    with serve("bench.media_apps:media_app") as url:
        plain = f"{url}/bench/catalogue"
        covers = f"{url}/bench/catalogue-with-covers"
        wrk(plain, seconds=2)  # warm-up
        wrk(covers, seconds=2)
        for _ in range(args.rounds):
            plain_runs.append(wrk(plain, seconds=args.seconds))
            covers_runs.append(wrk(covers, seconds=args.seconds))
    without, with_covers = best_of(plain_runs), best_of(covers_runs)
    cost = 1 - median(
        [c.requests_per_second / p.requests_per_second for p, c in zip(plain_runs, covers_runs, strict=True)]
    )
    report(
        "media_catalogue",
        {
            "catalogue without covers": without,
            f"catalogue with {COVERS} cover URLs": with_covers,
            f"cost (target <= {MAX_COST:.0%})": cost,
            "verdict": "meets target" if cost <= MAX_COST else "ABOVE target",
        },
    )


if __name__ == "__main__":
    main()

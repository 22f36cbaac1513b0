"""Aula's full middleware stack vs. a bare Litestar app serving the same JSON (target: >= 0.85x req/s).

.venv/bin/python -m bench.app_overhead [--seconds 5] [--rounds 7]

Rounds alternate between the two servers, and the figure is the median of the per-round ratios: on a
shared machine one side's best run can land in a quiet moment the other never gets.
"""

from __future__ import annotations

import argparse
import statistics

from bench.harness import best_of, report, serve, wrk


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    aula_runs, bare_runs = [], []
    with serve("bench.apps:aula") as aula_url, serve("bench.apps:bare") as bare_url:
        for url in (aula_url, bare_url):  # warm-up
            wrk(f"{url}/health/live", seconds=2)
        for _ in range(args.rounds):  # interleaved, so drift affects both sides alike
            aula_runs.append(wrk(f"{aula_url}/health/live", seconds=args.seconds))
            bare_runs.append(wrk(f"{bare_url}/health/live", seconds=args.seconds))
    aula, bare = best_of(aula_runs), best_of(bare_runs)
    pairs = zip(aula_runs, bare_runs, strict=True)
    ratios = [a.requests_per_second / b.requests_per_second for a, b in pairs]
    ratio = statistics.median(ratios)
    report(
        "app_overhead",
        {
            "aula (full middleware)": aula,
            "bare litestar": bare,
            "ratio req/s, median of rounds (target >= 0.85)": ratio,
            "per-round ratios": [round(r, 3) for r in ratios],
            "verdict": "meets target" if ratio >= 0.85 else "BELOW target",
        },
    )


if __name__ == "__main__":
    main()

"""The media redirect endpoint vs. a bare handler doing the same presign with no database (target >= 0.6x).

    .venv/bin/python -m bench.media_delivery [--seconds 8] [--rounds 3]

Both run in the same app and process; the endpoint authenticates a staff bearer token, reads the asset
(access check) and answers 307 to a presigned GET; the baseline only presigns and answers 307.
"""

from __future__ import annotations

import argparse

from bench.harness import best_of, median, report, serve, wrk
from bench.media_apps import prepare

TARGET = 0.6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    seeded = prepare()
    auth = f'wrk.headers["Authorization"] = "Bearer {seeded["token"]}"\n'
    endpoint_runs, bare_runs = [], []
    with serve("bench.media_apps:media_app") as url:
        endpoint, bare = f"{url}/api/v1/media/{seeded['lesson']}", f"{url}/bench/presign"
        wrk(endpoint, seconds=2, script=auth)  # warm-up
        wrk(bare, seconds=2)
        for _ in range(args.rounds):  # interleaved, so drift affects both sides alike
            endpoint_runs.append(wrk(endpoint, seconds=args.seconds, script=auth))
            bare_runs.append(wrk(bare, seconds=args.seconds))
    measured, baseline = best_of(endpoint_runs), best_of(bare_runs)
    ratio = median(
        [m.requests_per_second / b.requests_per_second for m, b in zip(endpoint_runs, bare_runs, strict=True)]
    )
    report(
        "media_delivery",
        {
            "GET /media/{id} (staff, 307)": measured,
            "bare presign + 307": baseline,
            f"ratio req/s (target >= {TARGET})": ratio,
            "verdict": "meets target" if ratio >= TARGET else "BELOW target",
        },
    )


if __name__ == "__main__":
    main()

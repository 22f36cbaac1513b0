"""Shared benchmark plumbing: start servers on loopback, drive them with wrk, report ratios."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"


@dataclass(frozen=True)
class Load:
    """What one wrk run measured."""

    requests_per_second: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    errors: int


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def require_wrk() -> str:
    path = shutil.which("wrk")
    if path is None:
        sys.exit("wrk is needed for HTTP benchmarks: apt-get install wrk (Debian/Ubuntu) or brew install wrk")
    return path


def _wait_port(port: int, proc: subprocess.Popen[bytes], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"server on port {port} did not start")


@contextmanager
def serve(factory: str, env: dict[str, str] | None = None) -> Iterator[str]:
    """Run ``module:factory`` (an ASGI app factory) under uvicorn, one process, on a free loopback port."""
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            factory,
            "--factory",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--no-access-log",
            "--log-level",
            "warning",
            "--loop",
            "uvloop",
            "--http",
            "httptools",
        ],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        _wait_port(port, proc)
        yield f"http://127.0.0.1:{port}"
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


_LATENCY = re.compile(r"^\s+(50|75|90|99)%\s+([\d.]+)(us|ms|s)\s*$", re.MULTILINE)
_RPS = re.compile(r"Requests/sec:\s+([\d.]+)")
_ERRORS = re.compile(r"Non-2xx or 3xx responses:\s+(\d+)|Socket errors:.*?(\d+)")
_UNIT = {"us": 0.001, "ms": 1.0, "s": 1000.0}
# wrk prints 50/75/90/99; p95 comes from a Lua summary script
_P95_SCRIPT = 'done = function(s, l, r) io.write(string.format("P95 %f\\n", l:percentile(95) / 1000)) end\n'


def wrk(
    url: str, *, seconds: int = 8, connections: int = 32, threads: int = 1, script: str | None = None
) -> Load:
    """One wrk run; latency in milliseconds."""
    lua = RESULTS / "_wrk.lua"
    RESULTS.mkdir(parents=True, exist_ok=True)
    lua.write_text((script or "") + _P95_SCRIPT)
    out = subprocess.run(
        [
            require_wrk(),
            f"-t{threads}",
            f"-c{connections}",
            f"-d{seconds}s",
            "--latency",
            "-s",
            str(lua),
            url,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    latencies = {p: float(v) * _UNIT[u] for p, v, u in _LATENCY.findall(out)}
    p95 = re.search(r"P95 ([\d.]+)", out)
    errors = sum(int(a or b or 0) for a, b in _ERRORS.findall(out))
    rps = _RPS.search(out)
    if rps is None:
        raise RuntimeError(f"could not read wrk's output:\n{out}")
    return Load(
        float(rps.group(1)),
        latencies["50"],
        float(p95.group(1)) if p95 else latencies["90"],
        latencies["99"],
        errors,
    )


def best_of(loads: Sequence[Load]) -> Load:
    """The median run by throughput (robust to one noisy run)."""
    ordered = sorted(loads, key=lambda load: load.requests_per_second)
    return ordered[len(ordered) // 2]


def report(name: str, figures: dict[str, object]) -> None:
    """Print the figures and keep them as JSON under bench/results/."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    serialisable = {k: asdict(v) if isinstance(v, Load) else v for k, v in figures.items()}
    (RESULTS / f"{name}.json").write_text(json.dumps(serialisable, indent=2))
    print(f"\n== {name}")
    for key, value in figures.items():
        if isinstance(value, Load):
            print(
                f"  {key:<28} {value.requests_per_second:>10.0f} req/s  p50 {value.p50_ms:.2f} ms"
                f"  p95 {value.p95_ms:.2f} ms  p99 {value.p99_ms:.2f} ms  errors {value.errors}"
            )
        elif isinstance(value, float):
            print(f"  {key:<28} {value:.3f}")
        else:
            print(f"  {key:<28} {value}")


def median(values: Sequence[float]) -> float:
    return statistics.median(values)

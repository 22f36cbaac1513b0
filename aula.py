#!/usr/bin/env python3
"""Set up and run Aula on a machine with nothing but Python 3.11+.

    python3 aula.py dev      run the platform (embedded database, demo data, API and a worker)
    python3 aula.py test     run the test suite
    python3 aula.py check    lint, format check and strict type check

The first run creates `.venv` and installs Aula into it; later runs reinstall only when
pyproject.toml changed.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
STAMP = VENV / ".aula-installed"


def _fingerprint() -> str:
    return hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()


def ensure_environment() -> None:
    """Create the virtual environment and install Aula with its test and dev tools, when needed."""
    if sys.version_info < (3, 11):  # noqa: UP036 (this file may be started by an older python3)
        sys.exit(f"Aula needs Python 3.11 or newer; this is {sys.version.split()[0]}.")
    if not (BIN / "python").exists():
        print("creating .venv …", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    if STAMP.exists() and STAMP.read_text() == _fingerprint():
        return
    print("installing Aula and its dependencies into .venv …", flush=True)
    pip = [str(BIN / "python"), "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run([*pip, "install", "--upgrade", "pip"], check=True)
    subprocess.run([*pip, "install", "-e", f"{ROOT}[dev]"], check=True, cwd=ROOT)
    STAMP.write_text(_fingerprint())


def run(program: str, *args: str) -> int:
    child = subprocess.Popen([str(BIN / program), *args], cwd=ROOT)
    while True:
        try:
            return child.wait()
        except KeyboardInterrupt:
            # Ctrl-C reached the program too: let it stop cleanly (`lms dev` stops its worker and database).
            continue


def main(argv: list[str]) -> int:
    command, args = (argv[0], argv[1:]) if argv else ("help", [])
    if command not in {"dev", "test", "check"}:
        print(__doc__)
        return 0 if command in {"help", "-h", "--help"} else 2
    ensure_environment()
    if command == "dev":
        return run("lms", "dev", *args)
    if command == "test":
        return run("pytest", *args)
    return run("ruff", "check", ".") or run("ruff", "format", "--check", ".") or run("mypy", ".")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

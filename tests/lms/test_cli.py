"""The `lms` command as an operator uses it: create accounts, and run the whole platform with `lms dev`."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import psutil
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from lms.settings import Settings
from tests.support import ROOT, free_port, settings_env, wait_for

Client = AsyncTestClient[Litestar]


def lms(env: dict[str, str], *args: str, password: str | None = None) -> subprocess.CompletedProcess[str]:
    if password is not None:
        env = {**env, "LMS_NEW_USER_PASSWORD": password}
    return subprocess.run(
        [sys.executable, "-m", "lms.cli", *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


async def test_create_user_makes_a_staff_account_that_can_log_in(settings: Settings, client: Client) -> None:
    env = settings_env(settings)
    args = ("create-user", "--role", "staff", "--email", "Staff@Example.org", "--full-name", "Laia Vidal")
    created = lms(env, *args, password="staff password long")
    duplicate = lms(env, *args, password="staff password long")
    short = lms(env, "create-user", "--email", "x@example.org", "--full-name", "X", password="short")

    assert created.returncode == 0, created.stderr
    assert "created staff staff@example.org" in created.stdout
    assert duplicate.returncode != 0
    assert "already exists" in duplicate.stderr
    assert short.returncode != 0
    assert "at least" in short.stderr
    login = await client.post(
        "/api/v1/auth/login", json={"email": "staff@example.org", "password": "staff password long"}
    )
    me = await client.get("/api/v1/me", headers={"Authorization": f"Bearer {login.json()['access_token']}"})
    assert me.json()["role"] == "staff"


def _get(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, object]]:
    request = urllib.request.Request(url, headers=headers or {})  # noqa: S310 (loopback)
    try:
        with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310 (loopback)
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")
    except OSError:  # not listening yet
        return 0, {}


def _post(url: str, body: dict[str, object]) -> tuple[int, dict[str, object]]:
    request = urllib.request.Request(  # noqa: S310
        url, data=json.dumps(body).encode(), headers={"content-type": "application/json"}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 (loopback)
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


def _start_dev(data_dir: Path, port: int, log: Path, *, as_readme: bool = False) -> subprocess.Popen[bytes]:
    """``lms dev``, or with ``as_readme`` the README's ``python3 aula.py dev`` (which runs it from .venv)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LMS_")}
    env.update(
        {"LMS_DATA_DIR": str(data_dir), "LMS_PASSWORD_HASH_MEMORY_KIB": "1024", "PYTHONPATH": str(ROOT)}
    )
    command = [str(ROOT / "aula.py")] if as_readme else ["-m", "lms.cli"]
    return subprocess.Popen(
        [sys.executable, *command, "dev", "--port", str(port)],
        env=env,
        cwd=data_dir.parent,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def _stop(proc: subprocess.Popen[bytes], *, ctrl_c: bool = False) -> None:
    """SIGTERM, as a process manager sends it, or Ctrl-C in a terminal (SIGINT to the whole foreground
    group): the worker and the embedded database must go too."""
    descendants = psutil.Process(proc.pid).children(recursive=True)
    if ctrl_c:
        os.killpg(proc.pid, signal.SIGINT)
    else:
        proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(40)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)
        raise
    _, alive = psutil.wait_procs(descendants, timeout=20)
    assert not alive, f"left running after lms dev stopped: {[p.cmdline() for p in alive]}"


@pytest.mark.slow
def test_lms_dev_runs_everything_embedded_and_keeps_its_data(tmp_path: Path) -> None:
    data_dir, log, port = tmp_path / "aula", tmp_path / "dev.log", free_port()
    base = f"http://127.0.0.1:{port}"

    proc = _start_dev(data_dir, port, log)
    try:
        assert wait_for(lambda: "Aula is running" in log.read_text(errors="replace"), timeout=120), (
            log.read_text()
        )
        assert wait_for(lambda: _get(f"{base}/health/ready")[0] == 200, timeout=60), log.read_text()
        assert "learner@aula.localhost" in log.read_text()
        status, _ = _post(
            f"{base}/api/v1/auth/register",
            {
                "email": "kept@example.org",
                "password": "a long passphrase",
                "full_name": "Kept Across Restarts",
            },
        )
        assert status == 202
    finally:
        _stop(proc)

    # A run killed outright (SIGKILL: no exit handlers) stays on the embedded server's list of users;
    # the next run must still stop the server when it exits.
    ended = subprocess.Popen([sys.executable, "-c", "pass"])
    ended.wait()
    users = data_dir / "postgres" / ".handle_pids.json"
    assert json.loads(users.read_text()) == []
    users.write_text(json.dumps([ended.pid]))

    again = tmp_path / "dev-again.log"
    proc = _start_dev(data_dir, port, again, as_readme=True)
    try:
        assert wait_for(lambda: _get(f"{base}/health/ready")[0] == 200, timeout=120)
        status, tokens = _post(
            f"{base}/api/v1/auth/login", {"email": "kept@example.org", "password": "a long passphrase"}
        )
        assert status == 200, tokens
        status, me = _get(f"{base}/api/v1/me", {"Authorization": f"Bearer {tokens['access_token']}"})
        assert (status, me["full_name"]) == (200, "Kept Across Restarts")
        status, _ = _post(
            f"{base}/api/v1/auth/login", {"email": "staff@aula.localhost", "password": "aula-demo-2026"}
        )
        assert status == 200
    finally:
        _stop(proc, ctrl_c=True)
    # Quietly, and the embedded server (detached from the group) is stopped: its postmaster.pid is gone.
    assert "Traceback" not in again.read_text(errors="replace")
    assert wait_for(lambda: not (data_dir / "postgres" / "postmaster.pid").exists(), timeout=20)
    # Everything lms dev keeps lives in its data folder; nothing lands in the working directory.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["aula", "dev-again.log", "dev.log"]

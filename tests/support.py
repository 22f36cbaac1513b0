"""Test helpers: data factories, settings for subprocesses, a real worker, a real SMTP server."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from itertools import count
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from litestar import Litestar
from litestar.datastructures import State
from litestar.di import Provide
from litestar.testing import AsyncTestClient
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from lms.accounts.models import Role, User
from lms.accounts.service import AccountDeps, AccountService
from lms.db.session import (
    create_engine,
    create_sessionmaker,
    provide_db_session,
    request_slots,
    unit_of_work,
)
from lms.errors import exception_handlers
from lms.ratelimit import MemoryRateLimiter
from lms.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_PASSWORD = "a-long-enough-password"
_sequence = count(1)


def settings_env(settings: Settings, **overrides: str) -> dict[str, str]:
    """The environment a subprocess needs to build the same Settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LMS_")}
    for name, value in settings.model_dump().items():
        if value is None:
            continue
        if hasattr(value, "get_secret_value"):
            value = value.get_secret_value()
        if isinstance(value, list):
            value = json.dumps(value)
        env[f"LMS_{name.upper()}"] = str(value.value if hasattr(value, "value") else value)
    env.update(overrides)
    env["PYTHONPATH"] = str(ROOT)
    return env


@dataclass
class Factory:
    """Creates rows through the services, committed, so the app sees them."""

    sessionmaker: async_sessionmaker[AsyncSession]
    settings: Settings
    _deps: AccountDeps | None = field(default=None, init=False)

    @property
    def deps(self) -> AccountDeps:
        if self._deps is None:
            self._deps = AccountDeps.from_settings(self.settings, MemoryRateLimiter())
        return self._deps

    async def user(
        self,
        role: Role = Role.LEARNER,
        *,
        email: str | None = None,
        full_name: str | None = None,
        password: str = DEFAULT_PASSWORD,
        language: str = "ca",
    ) -> User:
        n = next(_sequence)
        async with unit_of_work(self.sessionmaker) as session:
            service = AccountService(session, self.deps)
            return await service.create_user(
                email or f"{role.value}{n}-{uuid.uuid4().hex[:6]}@example.org",
                password,
                full_name or f"Persona {n}",
                role,
                language,
            )

    async def headers(self, user: User) -> dict[str, str]:
        """Bearer headers for a fresh login session of ``user``."""
        async with unit_of_work(self.sessionmaker) as session:
            pair = await AccountService(session, self.deps).login(
                user.email, DEFAULT_PASSWORD, f"factory-{uuid.uuid4()}", "tests"
            )
        return {"Authorization": f"Bearer {pair.access_token}"}

    async def login_as(self, role: Role = Role.LEARNER, **kwargs: Any) -> tuple[User, dict[str, str]]:
        user = await self.user(role, **kwargs)
        return user, await self.headers(user)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_for(predicate: Callable[[], bool], timeout: float = 20.0, interval: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


class WorkerProcess:
    """A real Celery worker (``lms worker``) in a subprocess, with its output kept for assertions."""

    def __init__(self, env: dict[str, str], *args: str, log: Path) -> None:
        self.log = log
        self._file = log.open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "lms.cli", "worker", *args],
            env=env,
            cwd=ROOT,
            stdout=self._file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_ready(self, timeout: float = 60) -> None:
        if not wait_for(lambda: " ready." in self.output() or self.proc.poll() is not None, timeout):
            raise TimeoutError(f"worker did not start:\n{self.output()}")
        if self.proc.poll() is not None:
            raise RuntimeError(f"worker exited with {self.proc.returncode}:\n{self.output()}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._file.close()


@contextmanager
def running_worker(env: dict[str, str], log: Path, *args: str) -> Iterator[WorkerProcess]:
    worker = WorkerProcess(env, *args, log=log)
    try:
        worker.wait_ready()
        yield worker
    finally:
        worker.stop()


class _Inbox:
    def __init__(self) -> None:
        self.messages: list[Message] = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 (aiosmtpd API)
        with self.lock:
            self.messages.append(message_from_bytes(envelope.content))
        return "250 Message accepted for delivery"


def mail_text(message: Message) -> str:
    """The decoded text body of a received single-part e-mail."""
    payload = message.get_payload(decode=True)
    assert isinstance(payload, bytes), "expected a single-part text message"
    return payload.decode()


@dataclass
class SmtpServer:
    host: str
    port: int
    inbox: _Inbox

    @property
    def messages(self) -> list[Message]:
        with self.inbox.lock:
            return list(self.inbox.messages)

    def to(self, address: str) -> list[Message]:
        return [m for m in self.messages if m["To"] == address]


@contextmanager
def smtp_server() -> Iterator[SmtpServer]:
    """A real SMTP server on loopback (aiosmtpd)."""
    inbox = _Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield SmtpServer("127.0.0.1", port, inbox)
    finally:
        controller.stop()


@asynccontextmanager
async def handlers_client(settings: Settings, *handlers: Any) -> AsyncIterator[AsyncTestClient[Litestar]]:
    """A client for an app of the given route handlers with Aula's database session and error answers:
    for a failure no public route can provoke any more, answered as the app would answer it."""
    engine = create_engine(settings)
    app = Litestar(
        route_handlers=list(handlers),
        dependencies={"db_session": Provide(provide_db_session)},
        exception_handlers=exception_handlers,
        state=State({"sessionmaker": create_sessionmaker(engine), "db_slots": request_slots(settings)}),
    )
    try:
        async with AsyncTestClient(app=app, base_url="http://testserver.local") as client:
            yield client
    finally:
        await engine.dispose()

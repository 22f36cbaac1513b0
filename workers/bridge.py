"""The one bridge from Celery's synchronous tasks to Aula's async services: one event loop per process."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


class AsyncBridge:
    """Runs coroutines on a loop that lives as long as the worker process (and is renewed after a fork)."""

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pid: int | None = None
        self._on_new_loop: list[Callable[[], None]] = []

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None or self._pid != os.getpid() or self._loop.is_closed():
            # A forked child must not reuse its parent's loop, nor connections bound to it.
            self._loop = asyncio.new_event_loop()
            self._pid = os.getpid()
            for reset in self._on_new_loop:
                reset()
        return self._loop

    def on_new_loop(self, reset: Callable[[], None]) -> None:
        """Forget loop-bound resources (engines, clients) when a new loop is made."""
        self._on_new_loop.append(reset)

    def run(self, coro_factory: Callable[[], Coroutine[Any, Any, T]]) -> T:
        loop = self.loop
        if loop.is_running():  # nesting would deadlock the worker; this is a programming error
            raise RuntimeError("AsyncBridge.run called from inside the bridge's own loop")
        return loop.run_until_complete(coro_factory())


bridge = AsyncBridge()

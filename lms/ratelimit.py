"""Fixed-window rate limits, in process or shared through Redis by every API process."""

from __future__ import annotations

import logging
import time
from typing import Any, Protocol

from litestar import Request
from redis.asyncio import Redis
from redis.exceptions import RedisError

from lms.errors import TooManyRequests

logger = logging.getLogger("lms.ratelimit")


class RateLimiter(Protocol):
    async def hit(self, key: str, limit: int, window: int) -> int | None:
        """Count one attempt; return seconds to wait when over the limit, else None."""

    async def give_back(self, key: str) -> None:
        """Uncount one attempt of the current window: never below zero, nothing once the window ended."""

    async def aclose(self) -> None: ...


class MemoryRateLimiter:
    """For one process (development, tests)."""

    MAX_KEYS = 100_000  # beyond this, expired windows are dropped before counting

    def __init__(self) -> None:
        self._windows: dict[str, tuple[float, int]] = {}

    async def hit(self, key: str, limit: int, window: int) -> int | None:
        now = time.monotonic()
        if len(self._windows) > self.MAX_KEYS:
            self._windows = {k: v for k, v in self._windows.items() if v[0] > now}
        ends, count = self._windows.get(key, (now + window, 0))
        if ends <= now:
            ends, count = now + window, 0
        count += 1
        self._windows[key] = (ends, count)
        return int(ends - now) + 1 if count > limit else None

    async def give_back(self, key: str) -> None:
        ends, count = self._windows.get(key, (0.0, 0))
        if ends > time.monotonic() and count > 0:
            self._windows[key] = (ends, count - 1)

    async def aclose(self) -> None:
        self._windows.clear()


# Decrements only a live counter above zero: DECR alone would create a missing (expired) key at -1 with no
# expiry, a counter that never ends and grants an extra attempt forever.
_GIVE_BACK = """
local count = tonumber(redis.call('GET', KEYS[1]))
if count and count > 0 then
    return redis.call('DECR', KEYS[1])
end
return 0
"""


class RedisRateLimiter:
    """Shared by all processes: INCR and a first-hit EXPIRE in one round trip."""

    def __init__(self, url: str) -> None:
        self._redis: Redis = Redis.from_url(url, socket_timeout=1.0, socket_connect_timeout=1.0)
        self._give_back = self._redis.register_script(_GIVE_BACK)

    async def hit(self, key: str, limit: int, window: int) -> int | None:
        name = f"aula:rl:{key}"
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.incr(name)
            pipe.expire(name, window, nx=True)
            pipe.ttl(name)
            count, _, ttl = await pipe.execute()
        return max(int(ttl), 1) if int(count) > limit else None

    async def give_back(self, key: str) -> None:
        try:
            await self._give_back(keys=[f"aula:rl:{key}"])
        except (RedisError, OSError) as exc:
            # The attempt stays counted: the caller may meet the limit sooner, never later.
            logger.warning("could not give back a rate-limit attempt: %s", exc)

    async def aclose(self) -> None:
        await self._redis.aclose()


def client_address(request: Request[Any, Any, Any]) -> str:
    """The address rate limits count per (behind a proxy, uvicorn's proxy headers have already applied)."""
    return request.client.host if request.client else "unknown"


async def enforce(limiter: RateLimiter, keys: list[str], limit: int, window: int, what: str) -> None:
    """Count one attempt against every key and refuse with 429 when any is over its limit."""
    waits = [wait for key in keys if (wait := await limiter.hit(key, limit, window)) is not None]
    if waits:
        retry_after = max(waits)
        raise TooManyRequests(
            f"Too many {what}; try again in {retry_after} seconds.", retry_after=retry_after
        )


async def give_back(limiter: RateLimiter, keys: list[str]) -> None:
    """Return the attempt ``enforce`` counted against every key, when it turned out not to be one the
    limit is about (a login with the right password)."""
    for key in keys:
        await limiter.give_back(key)

"""The bare connection pool of the single-statement hot paths, against the real database."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from lms.db.driver import DriverPool


async def backend(pool: DriverPool) -> int:
    async with pool.connection() as connection:
        pid: int = await connection.fetchval("SELECT pg_backend_pid()")
        return pid


async def test_connections_are_reused_and_a_refused_statement_keeps_its_connection(database_url: str) -> None:
    pool = DriverPool(database_url, 2, timeout=5)
    try:
        first = await backend(pool)
        assert await backend(pool) == first
        with pytest.raises(asyncpg.UndefinedTableError):
            async with pool.connection() as connection:
                await connection.execute("SELECT * FROM no_such_table")
        assert await backend(pool) == first
        async with pool.connection() as connection:
            assert await connection.fetchval("SHOW timezone") == "UTC"
            statement = await connection.prepare("SELECT count(*) FROM pg_class WHERE relname = $1")
            await statement.fetchval("pg_class")
            plans = await connection.fetchrow(
                "SELECT generic_plans, custom_plans FROM pg_prepared_statements WHERE name = $1",
                statement.get_name(),
            )
            assert tuple(plans) == (1, 0)  # planned once, for every value
    finally:
        await pool.close()


async def test_a_connection_the_server_ended_is_replaced_not_handed_out(database_url: str) -> None:
    pool = DriverPool(database_url, 1, timeout=5)
    try:
        lost = await backend(pool)
        killer = await asyncpg.connect(database_url)
        try:
            await killer.execute("SELECT pg_terminate_backend($1)", lost)
        finally:
            await killer.close()
        await asyncio.sleep(0.1)  # the server's goodbye reaches the idle connection
        assert await backend(pool) != lost
    finally:
        await pool.close()


async def test_callers_beyond_the_size_wait_their_turn_in_order(database_url: str) -> None:
    pool = DriverPool(database_url, 2, timeout=5)
    finished: list[int] = []
    backends: set[int] = set()

    async def use(n: int) -> None:
        async with pool.connection() as connection:
            backends.add(await connection.fetchval("SELECT pg_backend_pid()"))
            await connection.execute("SELECT pg_sleep(0.05)")
            finished.append(n)

    try:
        await asyncio.gather(*(use(n) for n in range(6)))
    finally:
        await pool.close()
    assert len(backends) == 2, "never more connections than the pool's size"
    assert [set(finished[i : i + 2]) for i in (0, 2, 4)] == [{0, 1}, {2, 3}, {4, 5}]


async def test_waiting_longer_than_the_pool_timeout_is_an_error_not_a_hang(database_url: str) -> None:
    pool = DriverPool(database_url, 1, timeout=0.2)
    try:
        async with pool.connection():
            with pytest.raises(TimeoutError):
                async with pool.connection():
                    pass
        assert await backend(pool) > 0  # the slot came back
    finally:
        await pool.close()

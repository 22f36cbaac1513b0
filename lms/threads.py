"""Thread pools that belong to the current process."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

_pools: dict[tuple[int, str, int], ThreadPoolExecutor] = {}


def process_threads(name: str, size: int) -> ThreadPoolExecutor:
    """This process's pool of ``size`` threads called ``name``, made on first use.

    Made again in a forked child (a prefork worker), which inherits the parent's pool objects but none of
    their threads.
    """
    key = (os.getpid(), name, size)
    if key not in _pools:
        _pools[key] = ThreadPoolExecutor(size, thread_name_prefix=name)
    return _pools[key]

"""An open-loop load generator: requests at random (Poisson) moments, each one timed.

Picture a crowd of users who do not wait for each other: each sends a request at their own
moment, whether or not anyone else has been answered. `load()` sends HTTP GETs to
127.0.0.1 that way and writes down each request's latency, status and the backend that
answered (from the `X-Upstream` header nginx adds).
"""

import asyncio
import random
from concurrent.futures import ThreadPoolExecutor

import pandas as pd

from . import checks


def load(port, arrival_rate, requests, seed=1, timeout=10.0, events=()):
    """An open-loop load test: `requests` GETs at Poisson moments, `arrival_rate` per second.

    Each request is sent at its planned moment whether or not earlier ones have answered,
    and its latency counts from that planned moment (so a slow client cannot hide a slow
    server). Every request ends within `timeout` seconds. `events`: (seconds, function)
    pairs run during the test, such as killing a backend. Returns one row per request:
    `sent` (seconds from the start), `latency` (seconds), `status` (0: no answer) and
    `backend` (the upstream address nginx used; two when it retried).
    """
    checks.positive("arrival_rate", arrival_rate)
    checks.count("requests", requests, minimum=1)
    checks.positive("timeout", timeout)
    rng = random.Random(seed)
    planned, moment = [], 0.0
    for _ in range(requests):
        moment += rng.expovariate(arrival_rate)
        planned.append(moment)
    with ThreadPoolExecutor(1) as thread:  # its own event loop, even inside Jupyter's
        rows = thread.submit(asyncio.run, _send_all(port, planned, timeout, events)).result()
    return pd.DataFrame(rows, columns=["request", "sent", "latency", "status", "backend"])


async def _send_all(port, planned, timeout, events):
    loop = asyncio.get_running_loop()
    began = loop.time()
    for at, action in events:
        loop.call_later(at, lambda action=action: loop.run_in_executor(None, action))

    async def one(number, at):
        await asyncio.sleep(at - (loop.time() - began))
        status, backend = await _get(port, timeout)
        return number, at, loop.time() - began - at, status, backend

    return await asyncio.gather(*(one(number, at) for number, at in enumerate(planned)))


async def _get(port, timeout):
    """One HTTP/1.0 GET; returns (status, upstream address), or (0, "") with no answer."""
    writer = None
    try:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection("127.0.0.1", port), timeout)
        writer.write(b"GET / HTTP/1.0\r\nHost: bench\r\n\r\n")
        answer = await asyncio.wait_for(reader.read(), timeout)
        head = answer.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
        headers = dict(line.split(": ", 1) for line in head[1:] if ": " in line)
        return int(head[0].split()[1]), headers.get("X-Upstream", "")
    except (OSError, asyncio.TimeoutError, IndexError, ValueError):
        return 0, ""
    finally:
        if writer is not None:
            writer.close()

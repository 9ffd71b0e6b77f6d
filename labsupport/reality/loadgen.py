"""An open-loop load generator: requests at random (Poisson) moments, each one timed.

Picture a crowd of users who do not wait for each other: each sends a request at their own
moment, whether or not anyone else has been answered. `load()` sends HTTP GETs to
127.0.0.1 that way and writes down each request's latency, status, the backend that
answered (from the `X-Upstream` header nginx adds), and the backend's own notes on it:
when it took the request and the service time it drew (`backend.py`).
"""

import asyncio
import gc
import random
from concurrent.futures import ThreadPoolExecutor

import pandas as pd

from ..core import checks

COLUMNS = ["request", "planned", "sent", "latency", "status", "backend", "started", "drawn",
           "cache"]


def load(port, arrival_rate, requests, seed=1, timeout=10.0, events=(), paths=None):
    """An open-loop load test: `requests` GETs at Poisson moments, `arrival_rate` per second.

    Each request is sent at its planned moment whether or not earlier ones have answered:
    a slow answer cannot hold back the next request and hide itself. Every request ends
    within `timeout` seconds. `events`: (seconds, function) pairs run during the test,
    such as killing a backend. Returns one row per request, times in seconds from the start:
    `planned` and `sent` (when it was meant to go and when it went: a busy machine can
    make the generator late), `latency` (from sent to the whole answer), `status` (0: no
    answer), `backend` (the upstream address nginx used; two when it retried), `started`
    (when the backend took it, by the backend's clock) and `drawn` (its drawn service time).
    `cache` (what nginx's cache made of it, from an `X-Cache` header: HIT, MISS,
    EXPIRED...; empty without one). `paths`: the path each request asks for (default "/").
    `attrs["began"]` is the start by `time.monotonic()`, to place other moments on it.
    """
    checks.positive("arrival_rate", arrival_rate)
    checks.count("requests", requests, minimum=1)
    checks.positive("timeout", timeout)
    paths = ["/"] * requests if paths is None else list(checks.sequence("paths", paths))
    if len(paths) != requests:
        raise ValueError(f"paths must give one path per request ({requests}), got {len(paths)}")
    rng = random.Random(seed)
    planned, moment = [], 0.0
    for _ in range(requests):
        moment += rng.expovariate(arrival_rate)
        planned.append(moment)
    collecting = gc.isenabled()
    gc.disable()  # a collection in a process with many objects can stall the sends 50-100 ms
    try:
        with ThreadPoolExecutor(1) as thread:  # its own event loop, even inside Jupyter's
            began, rows = thread.submit(asyncio.run,
                                        _send_all(port, planned, timeout, events,
                                                  paths)).result()
    finally:
        if collecting:
            gc.enable()
    table = pd.DataFrame(rows, columns=COLUMNS)
    table.attrs["began"] = began  # the start, by time.monotonic(): to place other moments
    return table


async def _send_all(port, planned, timeout, events, paths):
    loop = asyncio.get_running_loop()
    began = loop.time()  # time.monotonic(): the same clock the backends stamp with
    for at, action in events:
        loop.call_later(at, lambda action=action: loop.run_in_executor(None, action))

    async def one(number, at):
        sent = loop.time() - began
        status, headers = await _get(port, timeout, paths[number])
        latency = loop.time() - began - sent
        started = float(headers.get("X-Started", "nan")) - began
        return (number, at, sent, latency, status, headers.get("X-Upstream", ""), started,
                float(headers.get("X-Drawn", "nan")), headers.get("X-Cache", ""))

    requests = []
    for number, at in enumerate(planned):  # start each request at its moment
        wait = at - (loop.time() - began)
        if wait > 0:
            await asyncio.sleep(wait)
        requests.append(asyncio.create_task(one(number, at)))
    return began, await asyncio.gather(*requests)


async def _get(port, timeout, path="/"):
    """One HTTP/1.0 GET of `path`; returns (status, headers), or (0, {}) with no answer."""
    writer = None
    try:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection("127.0.0.1", port), timeout)
        writer.write(f"GET {path} HTTP/1.0\r\nHost: bench\r\n\r\n".encode())
        answer = await asyncio.wait_for(reader.read(), timeout)
        head = answer.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
        headers = dict(line.split(": ", 1) for line in head[1:] if ": " in line)
        return int(head[0].split()[1]), headers
    except (OSError, asyncio.TimeoutError, IndexError, ValueError):
        return 0, {}
    finally:
        if writer is not None:
            writer.close()

"""An open-loop load generator: requests at random (Poisson) moments, each one timed.

Picture a crowd of users who do not wait for each other: each sends a request at their own
moment, whether or not anyone else has been answered. `load()` sends HTTP GETs to
127.0.0.1 that way and writes down each request's latency, status, the backend that
answered (from the `X-Upstream` header nginx adds), and the backend's own notes on it:
when it took the request and the service time it drew (`backend.py`).

Given `users`, the crowd is of people with browsers: each request is sent by one user, who
keeps the cookies answers set (a cookie jar) and sends them back, and who clicks again only
once the answer to the last click is in (`session_backend.py`, `sticky.py`).
"""

import asyncio
import gc
import random
from concurrent.futures import ThreadPoolExecutor

import pandas as pd

from ..core import checks

COLUMNS = ["request", "planned", "sent", "latency", "status", "backend", "started", "drawn",
           "cache", "user", "cookie", "session", "lookup", "served_by"]


def load(port, arrival_rate, requests, seed=1, timeout=10.0, events=(), paths=None,
         users=None):
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
    `users`: who sends each request (whole numbers; default: nobody in particular, -1).
    A user sends the cookies earlier answers to them set (`cookie`, the Cookie header sent)
    and waits for their previous request's answer before sending the next: `sent` is then
    the later of the planned moment and that answer. `session`, `lookup` (seconds) and
    `served_by`: a session backend's `X-Session`, `X-Lookup` and `X-Backend` headers.
    `attrs["began"]` is the start by `time.monotonic()`, to place other moments on it.
    """
    checks.positive("arrival_rate", arrival_rate)
    checks.count("requests", requests, minimum=1)
    checks.positive("timeout", timeout)
    paths = ["/"] * requests if paths is None else list(checks.sequence("paths", paths))
    if len(paths) != requests:
        raise ValueError(f"paths must give one path per request ({requests}), got {len(paths)}")
    users = [-1] * requests if users is None else [checks.count("users", user, minimum=-1)
                                                   for user in checks.sequence("users", users)]
    if len(users) != requests:
        raise ValueError(f"users must give one user per request ({requests}), got {len(users)}")
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
                                                  paths, users)).result()
    finally:
        if collecting:
            gc.enable()
    table = pd.DataFrame(rows, columns=COLUMNS)
    table.attrs["began"] = began  # the start, by time.monotonic(): to place other moments
    return table


async def _send_all(port, planned, timeout, events, paths, users):
    loop = asyncio.get_running_loop()
    began = loop.time()  # time.monotonic(): the same clock the backends stamp with
    for at, action in events:
        loop.call_later(at, lambda action=action: loop.run_in_executor(None, action))
    jars, last = {}, {}  # per user: the cookies set so far, and the last request's task

    async def one(number, at, previous):
        user = users[number]
        if previous is not None:
            await previous  # a user clicks again only once the last answer is in
        jar = jars.setdefault(user, {})
        cookie = "; ".join(f"{name}={value}" for name, value in jar.items())
        sent = loop.time() - began
        status, headers, set_cookies = await _get(port, timeout, paths[number], cookie)
        latency = loop.time() - began - sent
        if user >= 0:
            for line in set_cookies:  # "sid=...; Path=/": keep the name and value
                name, _, value = line.split(";", 1)[0].strip().partition("=")
                jar[name] = value
        started = float(headers.get("X-Started", "nan")) - began
        return (number, at, sent, latency, status, headers.get("X-Upstream", ""), started,
                float(headers.get("X-Drawn", "nan")), headers.get("X-Cache", ""), user,
                cookie, headers.get("X-Session", ""), float(headers.get("X-Lookup", "nan")),
                headers.get("X-Backend", ""))

    requests = []
    for number, at in enumerate(planned):  # start each request at its moment
        wait = at - (loop.time() - began)
        if wait > 0:
            await asyncio.sleep(wait)
        previous = last.get(users[number]) if users[number] >= 0 else None
        requests.append(asyncio.create_task(one(number, at, previous)))
        last[users[number]] = requests[-1]
    return began, await asyncio.gather(*requests)


async def _get(port, timeout, path="/", cookie=""):
    """One HTTP/1.0 GET of `path`, sending `cookie` if any; returns (status, headers, the
    Set-Cookie values: there may be several), or (0, {}, []) with no answer."""
    writer = None
    try:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection("127.0.0.1", port), timeout)
        sending = f"Cookie: {cookie}\r\n" if cookie else ""
        writer.write(f"GET {path} HTTP/1.0\r\nHost: bench\r\n{sending}\r\n".encode())
        answer = await asyncio.wait_for(reader.read(), timeout)
        head = answer.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
        lines = [line.split(": ", 1) for line in head[1:] if ": " in line]
        set_cookies = [value for name, value in lines if name.lower() == "set-cookie"]
        return int(head[0].split()[1]), dict(lines), set_cookies
    except (OSError, asyncio.TimeoutError, IndexError, ValueError):
        return 0, {}, []
    finally:
        if writer is not None:
            writer.close()

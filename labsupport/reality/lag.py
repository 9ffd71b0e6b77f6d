"""Replication lag, measured: Redis and PostgreSQL, each with one replica, on 127.0.0.1.

Picture a notice board and its copy in the next room: someone pins a new number on the
board, someone else watches the copy and notes how long the number takes to appear there.
`redis_lag()` and `postgres_lag()` start a primary and an asynchronous replica in a
temporary folder (as `nobody` when run as root), write a counter on the primary 200 times,
and time how long each value takes to show up on the replica. Both stop what they started.

One write before the timed ones warms the link up, and is not counted: after a fresh full
copy, a Redis primary holds back the changes for a replica until the replica first
acknowledges (it does so once a second), so the very first write can take up to a second.
That is the start-up of a replica, not its lag.
"""

import glob
import shutil
import subprocess
import time
from pathlib import Path

import pandas as pd

from .processes import free_port, make_folder, start, stop, unprivileged


def postgres_bin():
    """PostgreSQL's server binaries folder (the newest under /usr/lib/postgresql), or None."""
    folders = sorted(glob.glob("/usr/lib/postgresql/*/bin"),
                     key=lambda path: int(path.split("/")[-2]))
    return Path(folders[-1]) if folders else None


def _lag_summary(system, lags):
    lags = pd.Series(lags)
    return {"system": system, "writes": len(lags), "median_ms": 1000 * float(lags.median()),
            "p99_ms": 1000 * float(lags.quantile(0.99)), "max_ms": 1000 * float(lags.max())}


def _until_visible(read, value, bound):
    """Seconds until `read()` returns at least `value` (polling); inf past `bound` seconds."""
    began = time.perf_counter()
    while time.perf_counter() - began < bound:
        got = read()
        if got is not None and int(got) >= value:
            return time.perf_counter() - began
    return float("inf")


def _lags(write, read, writes, pause, bound, warm_up=20.0):
    """Write 1, 2, ... writes + 1; seconds until the replica shows each but the first.

    The first write only warms the link up (see above): it may take up to `warm_up`."""
    write(1)
    if _until_visible(read, 1, warm_up) == float("inf"):
        raise RuntimeError(f"the replica did not show the first write within {warm_up} s")
    lags = []
    for value in range(2, writes + 2):
        write(value)
        lags.append(_until_visible(read, value, bound))
        time.sleep(pause)
    return lags


def redis_lag(writes=200, pause=0.005, bound=2.0):
    """Write a counter on a Redis primary; time until its replica shows each value."""
    import redis
    folder = make_folder("ztm-redis-")
    primary_port, replica_port = free_port(), free_port()
    common = ["--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", str(folder),
              "--repl-diskless-sync-delay", "0"]
    processes = []
    try:
        processes.append(start(["redis-server", "--port", str(primary_port), *common],
                               primary_port))
        processes.append(start(["redis-server", "--port", str(replica_port), *common,
                                "--replicaof", "127.0.0.1", str(primary_port)], replica_port))
        primary = redis.Redis(port=primary_port)
        replica = redis.Redis(port=replica_port)
        deadline = time.monotonic() + 20
        while replica.info("replication").get("master_link_status") != "up":
            if time.monotonic() > deadline:
                raise RuntimeError("the Redis replica did not connect to its primary")
            time.sleep(0.05)
        lags = _lags(lambda value: primary.set("counter", value),
                     lambda: replica.get("counter"), writes, pause, bound)
        primary.close()
        replica.close()
        return _lag_summary("Redis (asynchronous replica)", lags)
    finally:
        for process in reversed(processes):
            stop(process)
        shutil.rmtree(folder, ignore_errors=True)


def postgres_lag(writes=200, pause=0.005, bound=2.0):
    """The same with PostgreSQL streaming replication (asynchronous, the default)."""
    import psycopg
    binaries = postgres_bin()
    folder = make_folder("ztm-postgres-")
    primary_port, replica_port = free_port(), free_port()
    primary_dir, replica_dir = folder / "primary", folder / "replica"

    def run(*command):
        subprocess.run([str(binaries / command[0]), *command[1:]], check=True, cwd=folder,
                       capture_output=True, timeout=120, **unprivileged())

    def server(data, port):
        return start([str(binaries / "postgres"), "-D", str(data), "-p", str(port),
                      "-c", "listen_addresses=127.0.0.1", "-c",
                      f"unix_socket_directories={folder}", "-c", "shared_buffers=16MB",
                      "-c", "max_connections=20"], port, log=folder / f"{data.name}.log")

    processes, connections = [], []
    try:
        run("initdb", "-D", str(primary_dir), "-U", "ztm", "--auth=trust", "--no-locale",
            "-E", "UTF8")
        processes.append(server(primary_dir, primary_port))
        primary = _connect(psycopg, primary_port)
        connections.append(primary)
        primary.execute("CREATE TABLE counter (value int); INSERT INTO counter VALUES (0)")
        run("pg_basebackup", "-h", "127.0.0.1", "-p", str(primary_port), "-U", "ztm",
            "-D", str(replica_dir), "-R", "-X", "stream")  # the replica starts as a copy
        processes.append(server(replica_dir, replica_port))
        replica = _connect(psycopg, replica_port)
        connections.append(replica)

        def read():
            return replica.execute("SELECT value FROM counter").fetchone()[0]

        lags = _lags(lambda value: primary.execute("UPDATE counter SET value = %s", (value,)),
                     read, writes, pause, bound)
        return _lag_summary("PostgreSQL (asynchronous streaming replica)", lags)
    finally:
        for connection in connections:
            connection.close()
        for process in reversed(processes):
            stop(process)
        shutil.rmtree(folder, ignore_errors=True)


def _connect(psycopg, port, wait=30.0):
    """A connection to the server on `port`, retried while it is still starting up."""
    deadline = time.monotonic() + wait
    while True:
        try:
            return psycopg.connect(host="127.0.0.1", port=port, user="ztm", dbname="postgres",
                                   autocommit=True)
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)

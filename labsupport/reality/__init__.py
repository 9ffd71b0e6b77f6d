"""The reality check: real nginx, Redis and PostgreSQL measured beside the simulator.

Picture a flight simulator checked against a real aircraft: same inputs, compare the
readings. Here the aircraft is real software on 127.0.0.1 and the simulator is labsupport.
This wing of the package keeps each job in its own file:

    processes.py    start a server on 127.0.0.1, wait until it listens, stop it
    backend.py      a small web server with exponential service times (run as a script)
    nginx.py        nginx in front of three backends: the bench, and its nginx.conf
    loadgen.py      an open-loop load generator (Poisson moments, each request timed)
    lag.py          replication lag of Redis and PostgreSQL, each with one replica
    redis_cache.py  a Redis with a memory limit as a cache, beside the exact policies
    edge_cache.py   nginx's proxy_cache as a CDN edge, beside λT / (1 + λT)
    session_backend.py  a backend that keeps sessions, in memory or in Redis (a script)
    sticky.py       sticky sessions against a session store: kill a backend, count logouts
    model.py        what the model predicts for the bench, and its replays of a run
    experiments.py  calibration, latency at several loads, failover: measured and modelled
    session.py      each step live, or its stored results

    python -m labsupport.reality labs/reality-results.json         # run every step, save
    python -m labsupport.reality labs/reality-results.json cache   # only this step; keep
                                                                   # the others' results

The live clients (redis, psycopg) are the package's `reality` extra.
"""

from .session import STEPS, Session, machine, measure, missing

__all__ = ["STEPS", "Session", "machine", "measure", "missing"]

"""The run loop: send a workload at a system and write down what happened.

Picture a load test. You point a traffic generator at a system, let it run for
a while, stop the traffic, give the system a little time to finish what it has,
and read the access log. `simulate(system, workload)` does exactly that in
simulated time (seconds): the workload's requests arrive at the system's
`accept()`, the components serve them, and the run stops once every request
has ended or `drain_time` seconds after the last arrival, whichever is first.
Whatever is still inside then is counted `in_flight`.

A run is bounded whatever the load: the workload makes a fixed number of
requests, so the simulation does a fixed amount of work. A system offered more
than its capacity is marked `unstable` in the summary (its queue grows for as
long as traffic lasts, so its latency has no steady state to report).

`system` is any component (a `Server`, a `Balancer`, a `Database`, `Clients`...) with a
`capacity` in requests per second (or `capacity_for(workload)` where it depends
on the mix of reads and writes) and a `build(sim)` that returns something with
`accept(request_number)`.
"""

import contextlib
import dataclasses
import functools
import gc
import random
from dataclasses import dataclass

import numpy as np
import pandas as pd
import simpy

from . import checks
from .log import RequestLog
from .metrics import summarise
from .server import request_sizes
from .workload import Trace, Workload


class Sim:
    """What every component of one run shares: the clock, the log, the requests' details.

    Per-request details are plain lists (fast to index), made once and only when a
    component asks for them.
    """

    def __init__(self, env, log, seed):
        self.env, self.log, self.seed = env, log, seed
        self.arrivals = log.arrivals
        self._service_times = {}

    @functools.cached_property
    def is_write(self):
        """Whether each request is a write."""
        return self.arrivals.is_write.tolist()

    @functools.cached_property
    def keys(self):
        """Each request's key."""
        return self.arrivals.key.tolist()

    @functools.cached_property
    def clients(self):
        """Each request's client."""
        return self.arrivals.client.tolist()

    def random(self, name):
        """A seeded `random.Random` for the component called `name` (same seed, same draws)."""
        return random.Random(f"{self.seed}/{name}")

    def service_times(self, distribution, read_time, write_time):
        """Seconds each request takes on a server: its size under `distribution` times
        `read_time` or `write_time` (seconds per unit of size). Worked out for every request
        at once, and shared by servers that are alike."""
        times = (distribution, read_time, write_time)
        if times not in self._service_times:
            sizes = request_sizes(distribution, self.arrivals.size)
            per_size = np.where(self.arrivals.is_write, write_time, read_time)
            self._service_times[times] = (per_size * sizes).tolist()
        return self._service_times[times]


@dataclass
class Result:
    """A finished run: `requests` (one row each), `summary` and the parameters."""

    requests: pd.DataFrame
    summary: dict
    params: dict
    end_time: float
    events: pd.DataFrame  # time, component, event: failures, recoveries, health checks

    def row(self):
        """Parameters and summary in one flat dict: one row of a sweep table."""
        return {**self.params, **self.summary}


def simulate(system, workload, drain_time=None):
    """Run `workload` against `system`; returns a `Result`.

    drain_time: seconds to keep serving after arrivals stop (default: as long
    as the arrivals lasted, at least 10 s).
    """
    if not callable(getattr(system, "build", None)) or not (
            hasattr(system, "capacity") or hasattr(system, "capacity_for")):
        raise ValueError("system must be a component (a Server, Balancer, Database, Cache or "
                         f"Clients), got {checks.shown(system)}")
    if not isinstance(workload, (Workload, Trace)):
        raise ValueError(f"workload must be a Workload or a Trace, got {checks.shown(workload)}")
    if drain_time is not None:
        checks.non_negative("drain_time", drain_time, maximum=checks.MAX_TIME)
    arrivals = workload.generate()
    if drain_time is None:
        drain_time = max(arrivals.end, 10.0)
    env = simpy.Environment()
    all_ended = env.event()
    log = RequestLog(arrivals, when_all_ended=all_ended.succeed)
    sim = Sim(env, log, getattr(workload, "seed", 0))
    entry = system.build(sim)
    env.process(_arrive(env, entry, arrivals.gap))
    stop = env.timeout(arrivals.end + drain_time)
    with _garbage_collector_paused():
        env.run(until=env.any_of([all_ended, stop]) if len(arrivals) else stop)
    requests = log.to_frame()
    capacity = (system.capacity_for(workload) if hasattr(system, "capacity_for")
                else system.capacity)
    summary = summarise(requests, log.workers, env.now, workload.arrival_rate, capacity,
                        arrivals.end)
    params = {**_flat("system", system), **_flat("workload", workload)}
    return Result(requests=requests, summary=summary, params=params, end_time=env.now,
                  events=log.events_frame())


@contextlib.contextmanager
def _garbage_collector_paused():
    """Python's cycle collector rescans every event still pending, again and again as the
    run allocates: with many in flight (each write copied to 100 replicas) it took five
    sixths of the run. A run's events hold no cycles to collect, so pause it for the run."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _arrive(env, entry, gaps):
    """Hand each request to the system when it arrives."""
    accept = entry.accept
    for rid, gap in enumerate(gaps.tolist()):
        yield env.timeout(gap)
        accept(rid)


def _flat(prefix, spec):
    """A dataclass's simple fields as {"prefix.field": value}."""
    return {f"{prefix}.{field.name}": getattr(spec, field.name)
            for field in dataclasses.fields(spec)
            if isinstance(getattr(spec, field.name), (int, float, str, type(None)))}

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
long as traffic lasts, so its latency has no steady state to report). For a server that
holds its workers while it waits on a tier behind, `capacity_for` is only an upper bound
(its workers are also busy waiting), so such a run can be overloaded without the flag:
watch its latency and what is still in flight. With traffic that changes over time
(`Workload.rate_profile`) the offered load is the peak's: a run is marked unstable when its
busiest moment asks more than the system's largest fleet can do.

`system` is any tier (a `Server`, a `Balancer`, a `Database`, a `Cache`, `Clients`...):
a frozen dataclass with `capacity_for(workload)`, the requests per second it can finish
with that workload's mix, and `build(sim)`, which returns a running tier with
`accept(request_number, reply)`. The run passes a `reply` that ends the request in the log
with the outcome the tier answers.
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
from .workload import Trace, Workload


class Sim:
    """What every component of one run shares: the clock, the log, the requests' details.

    Per-request details are plain lists (fast to index), made once and only when a
    component asks for them.
    """

    def __init__(self, env, log, seed):
        self.env, self.log, self.seed = env, log, seed
        self.arrivals = log.arrivals
        self._shared = {}
        self._tiers = {}
        self.hop = 0  # servers a request has passed before the tiers being built now

    def tier(self, spec):
        """The running tier for `spec`, built once: tiers that call the same spec (eight web
        servers calling one cache) share one running copy of it."""
        if spec not in self._tiers:
            self._tiers[spec] = spec.build(self)
        return self._tiers[spec]

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

    def draws(self):
        """Each request's exponential draw (mean 1) for its service at the hop being built:
        the workload's own at the first server on its path; an independent stream at each
        server behind (a request's work at the web tier says nothing of its work at the
        database)."""
        if self.hop == 0:
            return self.arrivals.size
        stream = np.random.default_rng([self.seed, self.hop])
        return stream.standard_exponential(len(self.arrivals))

    @contextlib.contextmanager
    def behind(self, hop=None):
        """Build tiers one hop further along a request's path (or at `hop`)."""
        was = self.hop
        self.hop = was + 1 if hop is None else hop
        try:
            yield
        finally:
            self.hop = was

    def shared(self, key, make):
        """`make()`, made once per run for `key` (with the hop): what servers alike share."""
        key = (self.hop, key)
        if key not in self._shared:
            self._shared[key] = make()
        return self._shared[key]


@dataclass
class Result:
    """A finished run: `requests` (one row each), `summary` and the parameters."""

    requests: pd.DataFrame
    summary: dict
    params: dict
    end_time: float
    events: pd.DataFrame  # time, component, event: failures, recoveries, health checks
    sessions_lost: pd.DataFrame = None  # time, server, sessions, why: users logged out

    def row(self):
        """Parameters and summary in one flat dict: one row of a sweep table."""
        return {**self.params, **self.summary}


def simulate(system, workload, drain_time=None):
    """Run `workload` against `system`; returns a `Result`.

    drain_time: seconds to keep serving after arrivals stop (default: as long
    as the arrivals lasted, at least 10 s).
    """
    checks.tier("system", system)
    if not isinstance(workload, (Workload, Trace)):
        raise ValueError(f"workload must be a Workload or a Trace, got {checks.shown(workload)}")
    if drain_time is not None:
        checks.non_negative("drain_time", drain_time, maximum=checks.MAX_TIME)
    arrivals = workload.generate()
    if drain_time is None:
        drain_time = max(arrivals.end, 10.0)
    env = simpy.Environment()
    all_ended = env.event()
    log = RequestLog(arrivals, env, when_all_ended=all_ended.succeed)
    sim = Sim(env, log, getattr(workload, "seed", 0))
    entry = sim.tier(system)
    _arrive(env, entry, arrivals.gap, log.answer)
    stop = env.timeout(arrivals.end + drain_time)
    with _garbage_collector_paused():
        env.run(until=env.any_of([all_ended, stop]) if len(arrivals) else stop)
    requests = log.to_frame()
    busy = {name: busy_until(env.now) for name, busy_until in log.busy_time.items()}
    summary = summarise(requests, log.workers, env.now, workload.arrival_rate,
                        system.capacity_for(workload), arrivals.end, busy)
    sessions_lost = log.sessions_lost_frame()
    summary["sessions_lost"] = int(sessions_lost["sessions"].sum())
    params = {**_flat("system", system), **_flat("workload", workload)}
    return Result(requests=requests, summary=summary, params=params, end_time=env.now,
                  events=log.events_frame(), sessions_lost=sessions_lost)


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


def outages(env, windows, fail, recover):
    """A simpy process for a component's failures: `fail()` at each fail_at, `recover()` at
    each recover_at of the (fail_at, recover_at) `windows` (recover_at inf: never back)."""
    for fail_at, recover_at in windows:
        yield env.timeout(fail_at - env.now)
        fail()
        if recover_at == float("inf"):
            return
        yield env.timeout(recover_at - env.now)
        recover()


def _arrive(env, entry, gaps, end):
    """Hand each request to the system when it arrives, then wait for the next one; its
    answer ends it (`end`). Each arrival is one timer, whose callback is `arrive`."""
    gaps = gaps.tolist()

    def arrive(timer):
        rid = timer.value
        entry.accept(rid, end)
        if rid + 1 < len(gaps):
            env.timeout(gaps[rid + 1], rid + 1).callbacks.append(arrive)

    if gaps:
        env.timeout(gaps[0], 0).callbacks.append(arrive)


def _flat(prefix, spec):
    """A dataclass's simple fields as {"prefix.field": value}."""
    return {f"{prefix}.{field.name}": getattr(spec, field.name)
            for field in dataclasses.fields(spec)
            if isinstance(getattr(spec, field.name), (int, float, str, type(None)))}

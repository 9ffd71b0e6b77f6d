"""A server: a few workers and a queue in front of them.

Picture a bank branch with `workers` clerks and one line of customers. A new
customer goes straight to a free clerk, or joins the line; when the line is
`queue_limit` long the door is closed and newcomers are turned away (dropped).
A clerk takes the next customer, serves them, and takes the next, all day long.
A faster machine (`speed` 2.0) serves every request in half the time; that is
what scaling up (vertical scaling) buys. When the branch closes unexpectedly
(a failure), everyone inside is sent away and the door stays shut until it
reopens (recovery).

`Server` holds the parameters. During a run, `Server.build(sim)` makes a
`RunningServer`, whose workers are long-lived simpy processes: one loop per
worker, not one process per request, which keeps a run fast.

A request's service time is its size times `mean_service_time / speed`. The
workload draws one exponential number (mean 1) per request; the distribution
turns it into the size, so every design sees the same requests:
- "exponential": the draw itself (the M in M/M/1);
- "deterministic": always 1 (every request the same);
- "pareto": heavy-tailed, shape 2.1, mean 1: most requests small, a few huge
  (think of a report export among page views); its variance is about 4.8.
"""

from collections import deque
from dataclasses import dataclass

import numpy as np
from simpy import Interrupt
from simpy.events import Timeout

from . import checks
from .log import CODE, DROPPED, FAILED, IN_FLIGHT, OK

STILL_OPEN = CODE[IN_FLIGHT]  # a request's outcome code until it ends

DISTRIBUTIONS = ("exponential", "deterministic", "pareto")
PARETO_SHAPE = 2.1


def request_sizes(distribution, draws):
    """Sizes (mean 1) from the workload's exponential draws (mean 1), for `distribution`."""
    if distribution == "exponential":
        return draws
    if distribution == "deterministic":
        return np.ones_like(draws)
    # exp(draw / shape) is Pareto with minimum 1; scale it to mean 1.
    return (PARETO_SHAPE - 1) / PARETO_SHAPE * np.exp(draws / PARETO_SHAPE)


def failure_windows(failures):
    """`failures` checked: (fail_at, recover_at) pairs in seconds, in time order, each
    fail_at < recover_at (recover_at may be inf: never); returned as a tuple of pairs."""
    windows, previous_end = [], 0.0
    for failure in checks.sequence("failures", failures, maximum=checks.MAX_FAILURES):
        if isinstance(failure, (str, bytes)) or not hasattr(failure, "__len__") \
                or len(failure) != 2:
            raise ValueError(f"failures must be (fail_at, recover_at) pairs, "
                             f"got {checks.shown(failure)}")
        fail_at = checks.non_negative("failures: fail_at", failure[0], maximum=checks.MAX_TIME)
        recover_at = checks.non_negative("failures: recover_at", failure[1], allow_inf=True,
                                         maximum=checks.MAX_TIME)
        if not previous_end <= fail_at < recover_at:
            raise ValueError("failures must be in time order with fail_at < recover_at, "
                             f"got {checks.shown(failures)}")
        windows.append((fail_at, recover_at))
        previous_end = recover_at
    return tuple(windows)


@dataclass(frozen=True)
class Server:
    """One machine: `workers` serving in parallel, each at `speed` times the base rate.

    mean_service_time: seconds one request takes at speed 1 (a read, for a database).
    write_service_time: seconds a write takes at speed 1, if writes differ (databases).
    queue_limit: most requests that may wait; None means no limit.
    failures: (fail_at, recover_at) pairs in seconds; recover_at may be inf.
    """

    workers: int = 1
    mean_service_time: float = 0.010
    distribution: str = "exponential"
    speed: float = 1.0
    queue_limit: int | None = None
    failures: tuple = ()
    name: str = "server"
    write_service_time: float | None = None

    def __post_init__(self):
        checks.count("workers", self.workers, maximum=checks.MAX_WORKERS)
        checks.positive("mean_service_time", self.mean_service_time, maximum=checks.MAX_TIME,
                        minimum=checks.MIN_SERVICE_TIME)
        checks.one_of("distribution", self.distribution, DISTRIBUTIONS)
        checks.positive("speed", self.speed, maximum=checks.MAX_SPEED,
                        minimum=1 / checks.MAX_SPEED)
        if self.queue_limit is not None:
            checks.count("queue_limit", self.queue_limit, minimum=0,
                         maximum=checks.MAX_REQUESTS)
        checks.text("name", self.name)
        if self.write_service_time is not None:
            checks.positive("write_service_time", self.write_service_time,
                            maximum=checks.MAX_TIME, minimum=checks.MIN_SERVICE_TIME)
        object.__setattr__(self, "failures", failure_windows(self.failures))

    @property
    def capacity(self):
        """Most requests per second this server can finish (all workers busy)."""
        return self.workers * self.speed / self.mean_service_time

    def build(self, sim):
        return RunningServer(self, sim)


class RunningServer:
    """A `Server` taking part in one run."""

    def __init__(self, spec, sim):
        self.spec, self.env, self.log = spec, sim.env, sim.log
        self.place = sim.log.place(spec.name, spec.workers)
        read_time = spec.mean_service_time / spec.speed
        write_time = (spec.write_service_time or spec.mean_service_time) / spec.speed
        self.service_times = sim.service_times(spec.distribution, read_time, write_time)
        self.queue = deque()   # request numbers waiting, oldest first
        self.queue_limit = spec.queue_limit
        self.idle = []         # one event per idle worker, to wake it
        self.up = True
        self.on_failure = None  # set by a component in front that may retry elsewhere
        self.on_success = None  # set by a component that acts on finished requests
        self.on_drop = None     # set by a component in front that acts on turned-away ones
        self.workers = [self.env.process(self.work()) for _ in range(spec.workers)]
        if spec.failures:
            self.env.process(self.fail_and_recover())

    def accept(self, rid):
        """A request arrives: fail it if down, queue it (waking an idle worker) or drop it."""
        self.log.where[rid] = self.place
        if not self.up:
            self.fail(rid)
        elif self.idle:
            self.queue.append(rid)
            self.idle.pop().succeed()
        elif self.queue_limit is None or len(self.queue) < self.queue_limit:
            self.queue.append(rid)
        elif self.on_drop is None:
            self.log.ended_as(rid, self.env.now, DROPPED)
        else:
            self.on_drop(self, rid)

    def fail(self, rid):
        """Request `rid` failed here: it ends failed, unless `on_failure` takes it over."""
        if self.on_failure is None:
            self.log.ended_as(rid, self.env.now, FAILED)
        else:
            self.on_failure(self, rid)

    def in_system(self):
        """Requests queued or in service right now (a worker not idle is serving one)."""
        return len(self.queue) + len(self.workers) - len(self.idle)

    def work(self):
        """One worker's whole day: take the next request, serve it, record it."""
        env, log, queue = self.env, self.log, self.queue  # short names for the busiest loop
        while True:
            while not queue:  # nothing to do: wait until accept() wakes this worker
                wake = env.event()
                self.idle.append(wake)
                yield wake
            rid = queue.popleft()
            if log.outcome[rid] == STILL_OPEN:  # not a copy its client has given up on
                log.start[rid] = env.now
            try:
                yield env.timeout(self.service_times[rid])
            except Interrupt:  # the server failed while serving it
                self.fail(rid)
                continue
            if self.on_success is None:
                log.ended_as(rid, env.now, OK)
            else:
                self.on_success(self, rid)

    def fail_and_recover(self):
        """At each failure every request inside fails; arrivals fail until recovery."""
        for fail_at, recover_at in self.spec.failures:
            yield self.env.timeout(fail_at - self.env.now)
            self.up = False
            self.log.event(self.env.now, self.spec.name, "fails")
            for worker in self.workers:
                if isinstance(worker.target, Timeout):  # serving: work() fails its request
                    worker.interrupt()
            for rid in self.queue:
                self.fail(rid)
            self.queue.clear()
            if recover_at == float("inf"):
                return
            yield self.env.timeout(recover_at - self.env.now)
            self.up = True
            self.log.event(self.env.now, self.spec.name, "recovers")

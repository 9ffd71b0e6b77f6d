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
`RunningServer`. Its workers are numbers, not simpy processes: starting a service
schedules one timer, whose callback passes the request on and gives the worker
its next one, which keeps a run fast.

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

from ..core import checks
from ..core.log import CODE, DROPPED, FAILED, IN_FLIGHT, OK, TIMED_OUT
from ..core.simulate import outages

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


def service_times(sim, distribution, read_time, write_time):
    """Seconds each request of the run takes on a server: its size under `distribution`
    times `read_time` or `write_time` (seconds per unit of size). Worked out for every
    request at once, and shared by servers that are alike."""
    def make():
        sizes = request_sizes(distribution, sim.draws())
        per_size = np.where(sim.arrivals.is_write, write_time, read_time)
        return (per_size * sizes).tolist()
    return sim.shared(("service times", distribution, read_time, write_time), make)


@dataclass(frozen=True)
class Server:
    """One machine: `workers` serving in parallel, each at `speed` times the base rate.

    mean_service_time: seconds one request takes at speed 1 (a read, for a database).
    write_service_time: seconds a write takes at speed 1, if writes differ (databases).
    queue_limit: most requests that may wait; None means no limit.
    failures: (fail_at, recover_at) pairs in seconds; recover_at may be inf.
    calls: the tier behind this server (a cache, a database, another server...), which
        each request calls once the server's own work is done; None: no tier behind.
    blocking: True, the worker waits for the tier behind to answer (a thread per request);
        False, it is free once its own work is done (an event-driven server).
    call_timeout: seconds a blocking worker waits for the tier behind before it answers
        `timed_out` (None: for as long as it takes).
    tier: the name of the tier this server belongs to, for the request log's time per
        tier (default: its own name; a balancer's copies share their original name).
    keeps_sessions: True, it keeps the session of each user it serves in its own memory
        (a web server with local sessions, or a session store): the session is lost when
        it fails or leaves the fleet, or when its user is sent to another server that
        keeps sessions (they must log in again there). Counted in `Result.sessions_lost`.
    """

    workers: int = 1
    mean_service_time: float = 0.010
    distribution: str = "exponential"
    speed: float = 1.0
    queue_limit: int | None = None
    failures: tuple = ()
    name: str = "server"
    write_service_time: float | None = None
    calls: object = None
    blocking: bool = True
    call_timeout: float | None = None
    tier: str | None = None
    keeps_sessions: bool = False

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
        object.__setattr__(self, "failures", checks.failures("failures", self.failures))
        if self.calls is not None:
            checks.tier("calls", self.calls)
        checks.flag("blocking", self.blocking)
        if self.call_timeout is not None:
            checks.positive("call_timeout", self.call_timeout, maximum=checks.MAX_TIME)
            if self.calls is None or not self.blocking:
                raise ValueError("call_timeout needs a tier behind (calls) and a blocking "
                                 f"server, got calls={checks.shown(self.calls)}, "
                                 f"blocking={self.blocking!r}")
        if self.tier is not None:
            checks.text("tier", self.tier)
        checks.flag("keeps_sessions", self.keeps_sessions)

    @property
    def capacity(self):
        """Most requests per second this machine can finish (all workers busy), on its own."""
        return self.workers * self.speed / self.mean_service_time

    def capacity_for(self, workload):
        """Most requests per second it can finish with this workload's mix of reads and
        writes, and no more than the tier behind it can (an upper bound for a blocking
        server, whose workers also wait for that tier)."""
        own = self.own_capacity_for(workload)
        return own if self.calls is None else min(own, self.calls.capacity_for(workload))

    def own_capacity_for(self, workload):
        """Most requests per second its own workers can finish with this mix, on their own."""
        reads = workload.read_share
        write_time = self.write_service_time or self.mean_service_time
        return self.workers * self.speed / (reads * self.mean_service_time
                                            + (1 - reads) * write_time)

    def build(self, sim):
        return RunningServer(self, sim)


class RunningServer:
    """A `Server` taking part in one run.

    Like every running tier, it takes a request with `accept(rid, reply)` and, once done
    with it, calls `reply(rid, outcome)` exactly once: `ok`, or the outcome that ended it
    here or behind it. The tier in front passes its own `reply`, so an answer travels back
    the way the request came.

    A worker is a number, not a process: a service is one timer whose callback passes the
    request on and hands the worker its next request (`start`, `served`, `take_next`)."""

    def __init__(self, spec, sim):
        self.spec, self.env, self.log = spec, sim.env, sim.log
        self.place = sim.log.place(spec.name, spec.workers)
        self.time_here = sim.log.tier_column(spec.tier or spec.name)
        read_time = spec.mean_service_time / spec.speed
        write_time = (spec.write_service_time or spec.mean_service_time) / spec.speed
        self.service_times = service_times(sim, spec.distribution, read_time, write_time)
        self.behind = None
        if spec.calls is not None:
            with sim.behind():
                self.behind = sim.tier(spec.calls)
        self.queue = deque()   # (request, reply, arrived at) waiting, oldest first
        self.queue_limit = spec.queue_limit
        self.free = list(range(spec.workers))  # the idle workers
        self.jobs = [None] * spec.workers      # each worker's (worker, rid, reply, arrived)
        self.up = True
        self.clients = sim.clients if spec.keeps_sessions else None  # each request's user
        self.when_idle = None  # called when it has nothing left to do (a balancer draining it)
        self.busy = 0.0        # seconds of service its workers took on, summed
        self.serving_until = [0.0] * spec.workers  # when each worker's service ends
        sim.log.busy_time[spec.name] = self.busy_until
        if spec.failures:
            self.env.process(outages(self.env, spec.failures, self.fail, self.recover))

    def accept(self, rid, reply):
        """A request arrives: fail it if down, start it on a free worker, queue it or drop it."""
        self.log.where[rid] = self.place
        if not self.up:
            self.end(rid, reply, FAILED)
        elif self.free:
            self.start(self.free.pop(), rid, reply, self.env.now)
        elif self.queue_limit is None or len(self.queue) < self.queue_limit:
            self.queue.append((rid, reply, self.env.now))
        else:
            self.end(rid, reply, DROPPED)

    def end(self, rid, reply, outcome):
        """Request `rid` ends here with `outcome` (not `ok`): say so, and answer. (A copy
        whose client has already given up leaves the log as it is.)"""
        if self.log.outcome[rid] == STILL_OPEN:
            self.log.ended_by[rid] = self.place
        reply(rid, outcome)

    def in_system(self):
        """Requests queued or in service right now (a worker not free is serving one)."""
        return len(self.queue) + len(self.jobs) - len(self.free)

    def start(self, worker, rid, reply, arrived):
        """`worker` serves `rid` for its service time; then `served` passes it on."""
        now, log = self.env.now, self.log
        if log.outcome[rid] == STILL_OPEN:  # not a copy its client has given up on
            log.start[rid] = now
        service = self.service_times[rid]
        self.busy += service
        self.serving_until[worker] = now + service
        job = self.jobs[worker] = (worker, rid, reply, arrived)
        self.env.timeout(service, job).callbacks.append(self.served)

    def served(self, timer):
        """A worker finished its job (unless a failure cut it short): answer, or pass it on."""
        worker, rid, reply, arrived = job = timer.value
        if self.jobs[worker] is not job:
            return
        self.time_here[rid] += self.env.now - arrived
        if self.clients is not None:
            self.log.keep_session(self.spec.tier or self.spec.name, self.clients[rid],
                                  self.place)
        if self.behind is None:
            reply(rid, OK)
        elif not self.spec.blocking:  # hand it on; the answer goes straight back
            self.behind.accept(rid, reply)
        else:  # wait for the tier behind, holding this worker
            self.call(worker, rid, reply)
            return
        self.take_next(worker)

    def take_next(self, worker):
        """`worker` takes the oldest waiting request, or joins the free workers."""
        if self.queue:
            self.start(worker, *self.queue.popleft())
        else:
            self.jobs[worker] = None
            self.free.append(worker)
            if self.when_idle is not None and len(self.free) == len(self.jobs):
                self.when_idle()

    def call(self, worker, rid, reply):
        """Call the tier behind, holding `worker`, and answer with its answer: at most
        `call_timeout` seconds, then `timed_out` (a late answer is ignored)."""
        job = self.jobs[worker] = (worker, rid, reply, None)  # it now waits on the call

        def answered(rid, outcome):
            if self.jobs[worker] is job:  # still waiting: not timed out, not failed
                reply(rid, outcome)
                self.take_next(worker)

        def too_late(_):
            if self.jobs[worker] is job:
                self.end(rid, reply, TIMED_OUT)
                self.take_next(worker)

        self.behind.accept(rid, answered)
        if self.spec.call_timeout is not None and self.jobs[worker] is job:
            self.env.timeout(self.spec.call_timeout).callbacks.append(too_late)

    def fail(self):
        """It goes down: every request inside fails, and arrivals fail until it recovers."""
        self.up = False
        now = self.env.now
        self.log.event(now, self.spec.name, "fails")
        waiting, self.queue = self.queue, deque()
        for rid, reply, _ in waiting:
            self.end(rid, reply, FAILED)
        for worker, job in enumerate(self.jobs):
            if job is None:
                continue
            self.jobs[worker] = None  # serving, or waiting on the tier behind: it fails
            self.busy -= max(self.serving_until[worker] - now, 0.0)  # the part not served
            self.serving_until[worker] = min(self.serving_until[worker], now)
            self.free.append(worker)
            self.end(job[1], job[2], FAILED)
        if self.clients is not None:
            self.log.drop_sessions(self.place, "failed")
        if self.when_idle is not None:
            self.when_idle()

    def recover(self):
        self.up = True
        self.log.event(self.env.now, self.spec.name, "recovers")

    def busy_until(self, now):
        """Seconds its workers have spent serving by `now` (less what is still to come of
        services under way)."""
        return self.busy - sum(max(until - now, 0.0) for until in self.serving_until)

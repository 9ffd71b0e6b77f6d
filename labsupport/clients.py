"""Clients that give up and try again: timeouts, retries, backoff, jitter, a retry budget.

Picture the browsers and apps that call a server. Each client waits `timeout` seconds for
an answer. If none comes, or the server answers with an error (turned away at a full
queue, or failed), the client may send the request again, up to `retries` more times.
Before retry k it waits `backoff * 2 ** (k - 1)` seconds (exponential backoff); with
`jitter`, a random time between 0 and that ("full jitter"), so that clients that failed
together do not all come back together. A `retry_budget` caps retries at a share of the
traffic: each new request earns `retry_budget` of a token, each retry spends a whole one,
and a client with no whole token left gives up instead of retrying (the bank holds at most
`BUDGET_BANK` tokens, so a quiet hour cannot save up a storm).

The server does not know that a client gave up. It serves the abandoned copy when its
turn comes, as a thread-per-request server does until it writes the answer to a closed
connection. That wasted work is what turns retries into a collapse: an overloaded server
spends its time on answers nobody waits for, so more clients time out, and each time-out
sends one more request.

Each request still ends once: `ok` when an answer comes within the timeout, `timed_out`
when the last attempt's timeout passes, `dropped` or `failed` when the server turned away
or failed the last attempt. The log's `attempts` column counts how often each was sent;
its `start` is when the server began the last attempt that started before the request
ended.
"""

import math
from collections import deque
from dataclasses import dataclass

from . import checks
from .log import DROPPED, FAILED, OK, TIMED_OUT
from .server import Server

BUDGET_BANK = 10.0
"""Most retry tokens a `retry_budget` can save up."""


@dataclass(frozen=True)
class Clients:
    """The users in front of `server`, who wait `timeout` seconds and retry.

    timeout: seconds a client waits for each attempt (inf: for ever).
    retries: most extra attempts per request (0: never retry).
    backoff: seconds before the first retry, doubling for each one after (0: at once).
    jitter: wait a random time between 0 and the backoff instead of all of it.
    retry_budget: retries allowed per new request, on average (None: no budget).
    """

    server: Server
    timeout: float = 1.0
    retries: int = 0
    backoff: float = 0.0
    jitter: bool = False
    retry_budget: float | None = None
    name: str = "clients"

    def __post_init__(self):
        checks.instance("server", self.server, Server, "a Server")
        timeout = checks.non_negative("timeout", self.timeout, allow_inf=True,
                                      maximum=checks.MAX_TIME)
        if timeout == 0:
            raise ValueError(f"timeout must be a number of seconds > 0 (inf: wait for ever), "
                             f"got {self.timeout!r}")
        checks.count("retries", self.retries, minimum=0, maximum=checks.MAX_RETRIES)
        checks.non_negative("backoff", self.backoff, maximum=checks.MAX_TIME)
        checks.flag("jitter", self.jitter)
        if self.retry_budget is not None:
            checks.non_negative("retry_budget", self.retry_budget, maximum=BUDGET_BANK)
        checks.text("name", self.name)

    @property
    def capacity(self):
        """Requests per second the server behind the clients can finish."""
        return self.server.capacity

    def build(self, sim):
        return RunningClients(self, sim)


class RunningClients:
    """`Clients` taking part in one run."""

    def __init__(self, spec, sim):
        attempts = (spec.retries + 1) * len(sim.arrivals)
        if attempts > checks.MAX_ATTEMPTS:
            raise ValueError(f"(retries + 1) * requests (each attempt is served) must be at "
                             f"most {checks.MAX_ATTEMPTS:,}, got {attempts:,}")
        self.spec, self.env, self.log = spec, sim.env, sim.log
        self.server = spec.server.build(sim)
        self.server.on_success = self.answered
        self.server.on_failure = lambda server, rid: self.refused(rid, FAILED)
        self.server.on_drop = lambda server, rid: self.refused(rid, DROPPED)
        self.rng = sim.random(spec.name)
        self.queued = {}     # request -> numbers of its attempts in the server's queue
        self.sending = None  # the request being handed to the server this instant
        self.waiting = bytearray(len(sim.arrivals))   # 1: the client awaits its last attempt
        self.tokens = 0.0

    def accept(self, rid):
        """A user sends a new request: it earns retry tokens, and goes to the server."""
        if self.spec.retry_budget is not None:
            self.tokens = min(self.tokens + self.spec.retry_budget, BUDGET_BANK)
        self.send(rid, first=True)

    def send(self, rid, first=False):
        """Send one attempt of request `rid`, and start its timeout."""
        if not first:
            self.log.attempts[rid] += 1
        attempt = self.log.attempts[rid]
        self.waiting[rid] = 1
        if self.spec.timeout < math.inf:
            clock = self.env.timeout(self.spec.timeout)
            clock.callbacks.append(lambda event: self.gave_up(rid, attempt))
        self.sending = rid  # the server may turn it away, or fail it, at once
        self.server.accept(rid)
        if self.sending == rid:  # it joined the queue
            self.queued.setdefault(rid, deque()).append(attempt)
        self.sending = None

    def which(self, rid):
        """The attempt of `rid` the server has just finished with: the one just sent, if it
        was turned away or failed as it arrived; else the oldest in its queue (a server
        finishes a request's queued attempts in the order they came, each the same size)."""
        if self.sending == rid:
            self.sending = None
            return self.log.attempts[rid]
        attempts = self.queued[rid]
        attempt = attempts.popleft()
        if not attempts:
            del self.queued[rid]
        return attempt

    def awaited(self, rid, attempt):
        """Whether the client still waits for this attempt (its latest) of `rid`."""
        return attempt == self.log.attempts[rid] and self.waiting[rid]

    def answered(self, server, rid):
        """The server answered an attempt: the request is served if its client still waits."""
        if self.awaited(rid, self.which(rid)):
            self.waiting[rid] = 0
            self.log.ended_as(rid, self.env.now, OK)

    def refused(self, rid, outcome):
        """The server turned an attempt away or failed it: retry, or end with `outcome`."""
        if self.awaited(rid, self.which(rid)):
            self.retry_or_end(rid, outcome)

    def gave_up(self, rid, attempt):
        """An attempt's timeout passed: if the client still waits for it, stop waiting."""
        if self.awaited(rid, attempt):
            self.retry_or_end(rid, TIMED_OUT)

    def retry_or_end(self, rid, outcome):
        """Retry `rid` after its backoff if retries and the budget allow; else it ends."""
        self.waiting[rid] = 0
        retry = self.log.attempts[rid]  # this would be retry number `retry`
        if retry > self.spec.retries or (self.spec.retry_budget is not None
                                         and self.tokens < 1):
            self.log.ended_as(rid, self.env.now, outcome)
            return
        if self.spec.retry_budget is not None:
            self.tokens -= 1
        wait = self.spec.backoff * 2 ** (retry - 1)
        if self.spec.jitter:
            wait = self.rng.uniform(0, wait)
        if wait == 0:
            self.send(rid)
        else:
            self.env.timeout(wait).callbacks.append(lambda event: self.send(rid))

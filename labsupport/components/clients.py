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

The server (or any tier the clients call) does not know that a client gave up. It serves the abandoned copy when its
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
from dataclasses import dataclass

from ..core import checks
from ..core.log import OK, TIMED_OUT

BUDGET_BANK = 10.0
"""Most retry tokens a `retry_budget` can save up."""


@dataclass(frozen=True)
class Clients:
    """The users in front of `calls` (a server, or any tier), who wait `timeout` seconds
    and retry.

    timeout: seconds a client waits for each attempt (inf: for ever).
    retries: most extra attempts per request (0: never retry).
    backoff: seconds before the first retry, doubling for each one after (0: at once).
    jitter: wait a random time between 0 and the backoff instead of all of it.
    retry_budget: retries allowed per new request, on average (None: no budget).
    """

    calls: object
    timeout: float = 1.0
    retries: int = 0
    backoff: float = 0.0
    jitter: bool = False
    retry_budget: float | None = None
    name: str = "clients"

    def __post_init__(self):
        checks.tier("calls", self.calls)
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

    def capacity_for(self, workload):
        """Requests per second the tier the clients call can finish."""
        return self.calls.capacity_for(workload)

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
        self.place = sim.log.place(spec.name, workers=0)
        self.tier = sim.tier(spec.calls)
        self.rng = sim.random(spec.name)
        self.waiting = bytearray(len(sim.arrivals))  # 1: the client awaits its last attempt
        self.replies = {}  # request -> where its end goes
        self.tokens = 0.0

    def accept(self, rid, reply):
        """A user sends a new request: it earns retry tokens, and goes to the tier."""
        if self.spec.retry_budget is not None:
            self.tokens = min(self.tokens + self.spec.retry_budget, BUDGET_BANK)
        self.replies[rid] = reply
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
        self.tier.accept(rid, lambda rid, outcome: self.answered(rid, attempt, outcome))

    def awaited(self, rid, attempt):
        """Whether the client still waits for this attempt (its latest) of `rid`."""
        return attempt == self.log.attempts[rid] and self.waiting[rid]

    def answered(self, rid, attempt, outcome):
        """The tier answered an attempt: served if its client still waits for it; turned
        away or failed: retry, or end so."""
        if not self.awaited(rid, attempt):
            return  # a late answer to an attempt the client gave up on
        if outcome == OK:
            self.end(rid, OK)
        else:
            self.retry_or_end(rid, outcome)

    def gave_up(self, rid, attempt):
        """An attempt's timeout passed: if the client still waits for it, stop waiting."""
        if self.awaited(rid, attempt):
            self.log.ended_by[rid] = self.place
            self.retry_or_end(rid, TIMED_OUT)

    def end(self, rid, outcome):
        self.waiting[rid] = 0
        self.replies.pop(rid)(rid, outcome)

    def retry_or_end(self, rid, outcome):
        """Retry `rid` after its backoff if retries and the budget allow; else it ends."""
        self.waiting[rid] = 0
        retry = self.log.attempts[rid]  # this would be retry number `retry`
        if retry > self.spec.retries or (self.spec.retry_budget is not None
                                         and self.tokens < 1):
            self.end(rid, outcome)
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

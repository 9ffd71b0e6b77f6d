"""The request log: what happened to every request, one row each.

Think of the access log a web server writes: one line per request with when it
came, when work on it began, when it ended, where it went and how it ended.
Components write into a `RequestLog` as the simulation runs; at the end it
becomes a pandas DataFrame. Nothing is silently lost: a request that never
reached an end is `in_flight`, so the outcome counts always add up to the
requests the workload made.

Outcomes:
- `ok`: served.
- `dropped`: turned away at the door because the queue was full.
- `failed`: its server was down when it arrived, or failed while it waited, was
  being served or waited on a tier behind; or no server was in rotation; or its
  primary failed before a synchronous write could be acknowledged.
- `lost`: a write the database acknowledged, then lost when its primary failed
  before the write reached the replica that took over.
- `timed_out`: a wait ran out: the client's (`Clients`, which then did not try again)
  or a server's call to the tier behind it (`Server.call_timeout`).
- `in_flight`: still queued or in service when the run stopped.
"""

from array import array

import numpy as np
import pandas as pd

OK, DROPPED, FAILED, LOST, TIMED_OUT, IN_FLIGHT = (
    "ok", "dropped", "failed", "lost", "timed_out", "in_flight")
OUTCOMES = (OK, DROPPED, FAILED, LOST, TIMED_OUT, IN_FLIGHT)
CODE = {outcome: code for code, outcome in enumerate(OUTCOMES)}  # stored as one byte each


class RequestLog:
    """Columns filled in by components while a run goes on (times in seconds).

    Components write a request's row straight into the columns (`log.start[rid] =
    now`, `log.where[rid] = place`); the system's answer to a request ends it with
    `answer(rid, outcome)`, which counts it.
    Each column is a compact array (8 bytes a time, 1 byte a flag or an outcome):
    a million requests fit in a few tens of megabytes.
    """

    def __init__(self, arrivals, clock, when_all_ended=None):
        n = len(arrivals)
        self.arrivals = arrivals
        self.clock = clock  # anything with `now`, in seconds: the simulation's environment
        self.when_all_ended = when_all_ended  # called once every request has ended
        self.start = array("d", [np.nan]) * n    # when the last server to take it began
        self.finish = array("d", [np.nan]) * n   # when the request ended, any outcome
        self.outcome = bytearray([CODE[IN_FLIGHT]]) * n  # CODE of each request's outcome
        self.where = array("i", [-1]) * n        # index into `places`; -1: nowhere yet
        self.ended_by = array("i", [-1]) * n     # the place that decided an outcome not ok
        self.edge = array("i", [-1]) * n         # the CDN edge it went through; -1: none
        self.retried = bytearray(n)  # 1: sent to a second server after the first failed it
        self.attempts = bytearray([1]) * n  # times the client sent it (retries: see Clients)
        self.stale = bytearray(n)    # 1: a read returned an older version than acknowledged
        self.hit = bytearray(n)      # 1: a read answered from a cache
        self.own_write_missed = bytearray(n)  # 1: ...older than the reader's own last write
        self.since_own_write = array("d", [np.nan]) * n  # a read: seconds since the reader's
        #                                                  last acknowledged write (inf: none)
        self.events = []             # (time, component, what happened): failures, checks
        self.places = []             # names of the components requests go to
        self.workers = {}            # workers per place, for utilisation
        self.busy_time = {}          # place -> function(now): seconds its workers served
        self.time_in = {}            # tier -> seconds each request spent in it (queue and
        #                              service, of every copy a client sent; not the time
        #                              it waited on tiers behind)
        self.session_at = {}         # (tier, user) -> place holding the user's session
        #                              in that tier (servers that keep sessions)
        self.sessions_lost = []      # (time, place, sessions, why): users logged out
        self.requests = n            # how many requests the workload made
        self.ended = 0               # how many of them have an outcome

    def place(self, name, workers=1):
        """Register a component that serves requests; returns its index."""
        if name in self.places:
            raise ValueError(f"name must be unique within a system, got {name!r} twice")
        self.places.append(name)
        self.workers[name] = workers
        return len(self.places) - 1

    def tier_column(self, tier):
        """The column of seconds each request spends in `tier` (made on first use): the
        servers of one tier (a balancer's copies, a database's nodes) share it."""
        if tier not in self.time_in:
            self.time_in[tier] = array("d", [0.0]) * self.requests
        return self.time_in[tier]

    def lost(self, rid):
        """An acknowledged write turned out lost: its outcome changes from ok to lost (a
        write its client had already given up on, or that failed in front, stays as it is)."""
        if self.outcome[rid] == CODE[OK]:
            self.outcome[rid] = CODE[LOST]

    def answer(self, rid, outcome):
        """The system answered request `rid` with `outcome`, now: it ends; counts it once.
        A second answer to the same request is a bug in a component, and stops the run."""
        if self.outcome[rid] != CODE[IN_FLIGHT]:
            raise RuntimeError(f"request {rid} answered twice: {OUTCOMES[self.outcome[rid]]}, "
                               f"then {outcome}")
        self.finish[rid] = self.clock.now
        self.outcome[rid] = CODE[outcome]
        self.ended += 1
        if self.ended == self.requests and self.when_all_ended:
            self.when_all_ended()

    def keep_session(self, tier, client, place):
        """`place`, in `tier`, served user `client` and keeps their session from now on. A
        user whose session another place of the tier holds must log in again here: that
        session is lost to them."""
        holder = self.session_at.get((tier, client))
        if holder != place:
            if holder is not None:
                self.sessions_lost.append((self.clock.now, self.places[holder], 1, "moved"))
            self.session_at[tier, client] = place

    def drop_sessions(self, place, why):
        """`place` loses every session it holds (it failed, or left the fleet): its users
        are logged out. Returns how many."""
        users = [key for key, holder in self.session_at.items() if holder == place]
        for key in users:
            del self.session_at[key]
        if users:
            self.sessions_lost.append((self.clock.now, self.places[place], len(users), why))
        return len(users)

    def sessions_lost_frame(self):
        """Sessions lost as a table: time (seconds), server, sessions, why ("failed", "left
        the fleet", or "moved": its user was sent to another server)."""
        return pd.DataFrame(self.sessions_lost, columns=["time", "server", "sessions", "why"])

    def event(self, time, component, what):
        """Something happened to a component at `time` (seconds): it failed, recovered..."""
        self.events.append((time, component, what))

    def events_frame(self):
        """The events as a table: time (seconds), component, event."""
        return pd.DataFrame(self.events, columns=["time", "component", "event"])

    def to_frame(self):
        """One row per request: arrival, start, finish, wait, latency, outcome, server."""
        arrivals = self.arrivals
        start = np.frombuffer(self.start).copy()
        finish = np.frombuffer(self.finish).copy()
        where = np.frombuffer(self.where, dtype=np.int32).copy()
        where[where < 0] = len(self.places)  # not routed anywhere: "-"
        ended_by = np.frombuffer(self.ended_by, dtype=np.int32).copy()
        ok = np.frombuffer(self.outcome, dtype=np.uint8) == CODE[OK]
        ended_by[ok] = where[ok]  # a served request ended where it was last served
        ended_by[ended_by < 0] = len(self.places)
        edge = np.frombuffer(self.edge, dtype=np.int32).copy()
        edge[edge < 0] = len(self.places)
        return pd.DataFrame({
            "request": np.arange(len(arrivals)),
            "arrival": arrivals.time,
            "start": start,
            "finish": finish,
            "wait": start - arrivals.time,
            "latency": finish - arrivals.time,
            "outcome": pd.Categorical.from_codes(np.frombuffer(self.outcome, dtype=np.uint8),
                                                 categories=OUTCOMES),
            "server": pd.Categorical.from_codes(where, categories=self.places + ["-"]),
            "ended_by": pd.Categorical.from_codes(ended_by, categories=self.places + ["-"]),
            "edge": pd.Categorical.from_codes(edge, categories=self.places + ["-"]),
            "retried": _flags(self.retried),
            "attempts": np.frombuffer(self.attempts, dtype=np.uint8).astype(np.int64),
            "stale": _flags(self.stale),
            "hit": _flags(self.hit),
            "own_write_missed": _flags(self.own_write_missed),
            "since_own_write": np.frombuffer(self.since_own_write).copy(),
            "kind": pd.Categorical.from_codes(arrivals.is_write.astype(np.int8),
                                              categories=["read", "write"]),
            "key": arrivals.key,
            "client": arrivals.client,
            **{f"time_in.{tier}": np.frombuffer(column).copy()
               for tier, column in self.time_in.items()},
        })


def _flags(column):
    """A bytearray of 0/1 flags as a numpy bool array."""
    return np.frombuffer(column, dtype=bool).copy()

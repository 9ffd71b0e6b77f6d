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
- `failed`: its server was down when it arrived, or failed while it waited or
  was being served.
- `lost`: a write the database acknowledged, then lost when its primary failed
  before the write reached the replica that took over.
- `in_flight`: still queued or in service when the run stopped.
"""

import numpy as np
import pandas as pd

OK, DROPPED, FAILED, LOST, IN_FLIGHT = "ok", "dropped", "failed", "lost", "in_flight"
OUTCOMES = (OK, DROPPED, FAILED, LOST, IN_FLIGHT)


class RequestLog:
    """Columns filled in by components while a run goes on (times in seconds)."""

    def __init__(self, arrivals, when_all_ended=None):
        n = len(arrivals)
        self.arrivals = arrivals
        self.when_all_ended = when_all_ended  # called once every request has ended
        self.start = [np.nan] * n    # when service began
        self.finish = [np.nan] * n   # when the request ended, any outcome
        self.outcome = [IN_FLIGHT] * n
        self.where = [-1] * n        # index into `places`
        self.retried = [False] * n   # sent to a second server after the first failed it
        self.stale = [False] * n     # a read that returned an older version than acknowledged
        self.hit = [False] * n       # a read answered from a cache
        self.own_write_missed = [False] * n  # ...older than the reader's own last write
        self.events = []             # (time, component, what happened): failures, checks
        self.places = []             # names of the components requests go to
        self.workers = {}            # workers per place, for utilisation
        self.ended = 0               # how many requests have an outcome

    def place(self, name, workers=1):
        """Register a component that serves requests; returns its index."""
        if name in self.places:
            raise ValueError(f"name must be unique within a system, got {name!r} twice")
        self.places.append(name)
        self.workers[name] = workers
        return len(self.places) - 1

    def routed(self, rid, place):
        """Request `rid` was sent to component number `place`."""
        self.where[rid] = place

    def started(self, rid, time):
        """Service of request `rid` began at `time` (seconds)."""
        self.start[rid] = time

    def lost(self, rid):
        """An acknowledged write turned out lost: its outcome changes from ok to lost."""
        self.outcome[rid] = LOST

    def ended_as(self, rid, time, outcome):
        """Request `rid` ended at `time` (seconds) with `outcome`; counts it once."""
        self.finish[rid] = time
        self.outcome[rid] = outcome
        self.ended += 1
        if self.ended == len(self.outcome) and self.when_all_ended:
            self.when_all_ended()

    def event(self, time, component, what):
        """Something happened to a component at `time` (seconds): it failed, recovered..."""
        self.events.append((time, component, what))

    def events_frame(self):
        """The events as a table: time (seconds), component, event."""
        return pd.DataFrame(self.events, columns=["time", "component", "event"])

    def to_frame(self):
        """One row per request: arrival, start, finish, wait, latency, outcome, server."""
        arrivals = self.arrivals
        start = np.array(self.start)
        finish = np.array(self.finish)
        where = np.array(self.where)
        names = np.array(self.places + ["-"], dtype=object)  # where == -1 picks "-"
        return pd.DataFrame({
            "request": np.arange(len(arrivals)),
            "arrival": arrivals.time,
            "start": start,
            "finish": finish,
            "wait": start - arrivals.time,
            "latency": finish - arrivals.time,
            "outcome": pd.Categorical(self.outcome, categories=OUTCOMES),
            "server": pd.Categorical(names[where], categories=self.places + ["-"]),
            "retried": self.retried,
            "stale": self.stale,
            "hit": self.hit,
            "own_write_missed": self.own_write_missed,
            "kind": np.where(arrivals.is_write, "write", "read"),
            "key": arrivals.key,
            "client": arrivals.client,
        })

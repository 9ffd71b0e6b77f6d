"""Scaling a fleet during a run: a schedule, or an autoscaler that watches utilisation.

Picture the manager of the restaurant again, now with a rule. Every `period` seconds she
looks at how busy the waiters were (their utilisation: the share of their time spent
serving). When every look over the last `window` seconds was above the target, she phones
for more waiters: as many as would bring the utilisation back to the target (the waiters'
worth of work she saw, divided by the target, rounded up: what clouds call *target
tracking*). The call takes `delay` seconds to go through, and a new waiter needs
`boot_time` seconds to arrive and start. When every look over the last `scale_in_window`
seconds was below the target (by default the same window; a longer one keeps her from
sending home a waiter she will need again in five minutes), she sends the extra waiters
home the same way: one still on his way first, else one who has collapsed, else the
newest; each finishes his tables first. After any change she waits `cool_down` seconds
before deciding again, and she never has fewer than `min_servers` or more than
`max_servers`.

So a new server serves about window + delay + boot time after the load rose past the
target (no sooner, counted from the start of the first period measured above it): that lag,
and the choice between reacting fast (and flapping on noise) and slowly (and queueing in the
meantime), is what the stateless-tier lab shows.

`Autoscaler` and `Schedule` are given to `Balancer(scaling=...)`; the balancer adds and
removes servers (`RunningBalancer.launch` and `retire`) and measures their utilisation.
`fleet_over_time(result)` reads the servers in service and paid for from the run's events.
"""

import math
from collections import deque
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..core import checks
from ..core.log import OUTCOMES
from ..core.metrics import over_time


@dataclass(frozen=True)
class Autoscaler:
    """Target tracking on the fleet's utilisation, with the lags of a real one.

    target_utilisation: the share of their time the servers should spend serving.
    period: seconds between measurements; window: seconds of measurements that must all
    be above the target before it adds servers (a whole number of periods);
    scale_in_window: seconds of measurements that must all be below it before it removes
    servers (None: `window`).
    delay: seconds from deciding to a server being launched (or starting to drain);
    boot_time: seconds a launched server takes to start serving.
    min_servers, max_servers: the fleet's bounds; cool_down: seconds after a change
    before it decides again.
    """

    target_utilisation: float = 0.6
    period: float = 60.0
    window: float = 180.0
    delay: float = 0.0
    boot_time: float = 120.0
    min_servers: int = 1
    max_servers: int = 10
    cool_down: float = 300.0
    scale_in_window: float | None = None

    def __post_init__(self):
        checks.open_share("target_utilisation", self.target_utilisation)
        checks.positive("period", self.period, maximum=checks.MAX_TIME)
        for name in ("window", "scale_in_window"):
            value = getattr(self, name)
            if value is None and name == "scale_in_window":
                continue
            periods = checks.positive(name, value, maximum=checks.MAX_TIME) / self.period
            if abs(periods - round(periods)) > 1e-9 or round(periods) < 1:
                raise ValueError(f"{name} must be a whole number of periods "
                                 f"({self.period:g} s), got {value!r}")
        checks.non_negative("delay", self.delay, maximum=checks.MAX_TIME)
        checks.non_negative("boot_time", self.boot_time, maximum=checks.MAX_TIME)
        checks.count("min_servers", self.min_servers, maximum=checks.MAX_SERVERS)
        checks.count("max_servers", self.max_servers, maximum=checks.MAX_SERVERS)
        if self.min_servers > self.max_servers:
            raise ValueError(f"min_servers must be at most max_servers "
                             f"({self.max_servers}), got {self.min_servers}")
        checks.non_negative("cool_down", self.cool_down, maximum=checks.MAX_TIME)

    def run(self, env, balancer):
        """The autoscaler's loop (a simpy process), acting on a `RunningBalancer`."""
        out_looks = round(self.window / self.period)
        in_looks = round((self.scale_in_window or self.window) / self.period)
        looks = deque(maxlen=max(out_looks, in_looks))  # (busy, in service) worker-seconds
        pending = []  # changes decided but not yet made (during `delay`)
        quiet_until = 0.0
        while True:
            yield env.timeout(self.period)
            looks.append(balancer.utilisation())
            if env.now < quiet_until:
                continue
            counted = len(balancer.fleet) + len(balancer.booting) + sum(pending)
            rising = self.wanted(balancer, list(looks)[-out_looks:], out_looks, above=True)
            falling = self.wanted(balancer, list(looks)[-in_looks:], in_looks, above=False)
            if rising is not None and rising > counted:
                wanted = rising
            elif falling is not None and falling < counted:
                wanted = falling
            else:
                continue
            pending.append(wanted - counted)
            env.timeout(self.delay, wanted - counted).callbacks.append(
                lambda timer: change_fleet(balancer, timer.value, pending, self.boot_time))
            quiet_until = env.now + self.cool_down
            looks.clear()  # the next decision is made on what follows this one

    def wanted(self, balancer, looks, needed, above):
        """Servers that would bring the `looks` to the target, if there are `needed` of
        them and all are above it (`above`) or all below; else None."""
        if len(looks) < needed:
            return None
        utilisations = [busy / capacity if capacity else 0.0 for busy, capacity in looks]
        target = self.target_utilisation
        if not (min(utilisations) > target if above else max(utilisations) < target):
            return None
        workers = np.mean([server.spec.workers for server in balancer.fleet])
        busy_servers = sum(busy for busy, _ in looks) / (len(looks) * self.period) / workers
        wanted = math.ceil(busy_servers / target - 1e-9)  # 4.2 / 0.6 is 7, not 7.000...1
        return min(max(wanted, self.min_servers), self.max_servers)


@dataclass(frozen=True)
class Schedule:
    """Servers added and removed at set times (a cloud's scheduled scaling).

    changes: (seconds, servers) pairs in time order: at each time the fleet (in service
    and booting) is brought to that many servers. boot_time: seconds a launched server
    takes to start serving.
    """

    changes: tuple
    boot_time: float = 0.0

    def __post_init__(self):
        pairs = []
        for change in checks.sequence("changes", self.changes, maximum=checks.MAX_FAILURES):
            if isinstance(change, (str, bytes)) or not hasattr(change, "__len__") \
                    or len(change) != 2:
                raise ValueError(f"changes must be (seconds, servers) pairs, "
                                 f"got {checks.shown(change)}")
            pairs.append((checks.non_negative("changes: seconds", change[0],
                                              maximum=checks.MAX_TIME),
                          checks.count("changes: servers", change[1],
                                       maximum=checks.MAX_SERVERS)))
        if not pairs or any(b[0] < a[0] for a, b in zip(pairs, pairs[1:])):
            raise ValueError(f"changes must be a non-empty list of (seconds, servers) pairs "
                             f"in time order, got {checks.shown(self.changes)}")
        object.__setattr__(self, "changes", tuple(pairs))
        checks.non_negative("boot_time", self.boot_time, maximum=checks.MAX_TIME)

    @property
    def max_servers(self):
        """The most servers the schedule asks for."""
        return max(servers for _, servers in self.changes)

    def run(self, env, balancer):
        """At each change, launch or retire servers to reach its count (a simpy process)."""
        for at, servers in self.changes:
            yield env.timeout(at - env.now)
            change_fleet(balancer, servers - len(balancer.fleet) - len(balancer.booting),
                         [], self.boot_time)


def change_fleet(balancer, change, pending, boot_time):
    """Launch `change` servers (or retire -`change`, booting ones first, never the last
    one); `change` is no longer pending."""
    if change in pending:
        pending.remove(change)
    for _ in range(abs(change)):
        if change > 0:
            balancer.launch(boot_time)
        elif len(balancer.fleet) + len(balancer.booting) > 1:
            balancer.retire()


def fleet_over_time(events, end):
    """Servers over a run, from its `events` (`Result.events`) up to `end` (seconds): one
    row per change, with `time`, `in_service` (serving, or in rotation's reach) and `paid`
    (launched and not yet gone: booting, serving or draining, what a cloud bills)."""
    checks.columns("events", events, "time", "component", "event")
    step = {"in service from the start": (1, 1), "in service": (1, 0), "draining": (-1, 0),
            "launched": (0, 1), "called off": (0, -1), "left the fleet": (0, -1)}
    changes = events[events["event"].isin(step)]
    rows, in_service, paid = [(0.0, 0, 0)], 0, 0
    for time, event in zip(changes["time"], changes["event"]):
        in_service += step[event][0]
        paid += step[event][1]
        rows.append((float(time), in_service, paid))
    rows.append((float(end), in_service, paid))
    table = pd.DataFrame(rows, columns=["time", "in_service", "paid"])
    return table.groupby("time", as_index=False).last()


def server_hours(events, end):
    """Hours of servers paid for over a run, from its events up to `end` (seconds)."""
    fleet = fleet_over_time(events, end)
    return float((fleet["paid"].iloc[:-1] * np.diff(fleet["time"])).sum() / 3600)


def scaling_report(result, bin_seconds=60.0):
    """What a fleet did over a run, in a few numbers and small tables (for `sweep(keep=)`):
    `server_hours` paid, scaling `actions` (servers launched or sent to drain), `changes`
    (those events, launches called off, and servers coming into service and leaving: time,
    server, event), `fleet` (`fleet_over_time`: servers in service and paid for, at
    each change), and `timeline`, one row per `bin_seconds` of the arrivals: `time`
    (the bin's start, seconds), `load` (requests per second that arrived), `dropped`
    (requests turned away), `servers` (in service, on average over the bin) and `p99`
    (seconds, of requests that arrived in it and were served; NaN if none)."""
    checks.positive("bin_seconds", bin_seconds, maximum=checks.MAX_TIME)
    events, end = result.events, result.end_time
    if not (events["event"] == "in service from the start").any():
        raise ValueError("result must come from a run of a Balancer with scaling (an "
                         "Autoscaler, or a Schedule: a fixed fleet is a one-step Schedule)")
    fleet = fleet_over_time(events, end)
    last = result.requests["arrival"].max() if len(result.requests) else 0.0
    starts = np.arange(np.floor(last / bin_seconds) + 1) * bin_seconds
    bins = over_time(result.requests, bin_seconds).set_index("time").reindex(starts)
    times, serving = fleet["time"].to_numpy(), fleet["in_service"].to_numpy(float)
    area = np.concatenate([[0.0], np.cumsum(serving[:-1] * np.diff(times))])

    def served_by(moment):  # server-seconds in service from 0 to `moment`
        i = np.searchsorted(times, moment, side="right") - 1
        return area[i] + serving[i] * (moment - times[i])

    edges = np.minimum(np.append(starts, starts[-1] + bin_seconds), end)
    counts = bins[[outcome for outcome in OUTCOMES]].fillna(0)
    timeline = pd.DataFrame({
        "time": starts,
        "load": counts.sum(axis=1).to_numpy() / bin_seconds,
        "dropped": counts["dropped"].to_numpy().astype(int),
        "servers": np.diff(served_by(edges)) / np.maximum(np.diff(edges), 1e-12),
        "p99": bins["p99"].to_numpy()})
    moves = ["launched", "draining"]
    changes = events[events["event"].isin(
        moves + ["called off", "in service", "left the fleet"])].rename(
        columns={"component": "server"}).reset_index(drop=True)
    return {"server_hours": server_hours(events, end),
            "actions": int(changes["event"].isin(moves).sum()),
            "changes": changes, "fleet": fleet, "timeline": timeline}

"""Scaling a fleet during a run: a schedule, or an autoscaler that watches utilisation.

Picture the manager of the restaurant again, now with a rule. Every `period` seconds she
looks at how busy the waiters were (their utilisation: the share of their time spent
serving). When every look over the last `window` seconds was above the target, she phones
for more waiters: as many as would bring the utilisation back to the target
(`ceil(in service * utilisation / target)`, what clouds call *target tracking*). The call
takes `delay` seconds to go through, and a new waiter needs `boot_time` seconds to arrive
and start. When every look over the window was below the target, she sends the newest
waiters home the same way: each finishes his tables first. After any change she waits
`cool_down` seconds before deciding again, and she never has fewer than `min_servers` or
more than `max_servers`.

So a new server is serving no sooner than window + delay + boot time after the load rose
past the target: that lag, and the choice between reacting fast (and flapping on noise)
and slowly (and queueing in the meantime), is what the stateless-tier lab shows.

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


@dataclass(frozen=True)
class Autoscaler:
    """Target tracking on the fleet's utilisation, with the lags of a real one.

    target_utilisation: the share of their time the servers should spend serving.
    period: seconds between measurements; window: seconds of measurements that must all
    be above (or all below) the target before it acts (a whole number of periods).
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

    def __post_init__(self):
        checks.open_share("target_utilisation", self.target_utilisation)
        checks.positive("period", self.period, maximum=checks.MAX_TIME)
        checks.positive("window", self.window, maximum=checks.MAX_TIME)
        periods = self.window / self.period
        if abs(periods - round(periods)) > 1e-9 or round(periods) < 1:
            raise ValueError(f"window must be a whole number of periods ({self.period:g} s), "
                             f"got {self.window!r}")
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
        looks = deque(maxlen=round(self.window / self.period))  # (busy, in service) seconds
        pending = []  # changes decided but not yet made (during `delay`)
        quiet_until = 0.0
        while True:
            yield env.timeout(self.period)
            looks.append(balancer.utilisation())
            if len(looks) < looks.maxlen or env.now < quiet_until:
                continue
            utilisations = [busy / capacity if capacity else 0.0 for busy, capacity in looks]
            workers = np.mean([server.spec.workers for server in balancer.fleet])
            busy_servers = sum(busy for busy, _ in looks) / self.window / workers
            wanted = math.ceil(busy_servers / self.target_utilisation)
            wanted = min(max(wanted, self.min_servers), self.max_servers)
            counted = len(balancer.fleet) + len(balancer.booting) + sum(pending)
            rising = min(utilisations) > self.target_utilisation and wanted > counted
            falling = max(utilisations) < self.target_utilisation and wanted < counted
            if not (rising or falling):
                continue
            pending.append(wanted - counted)
            env.timeout(self.delay, wanted - counted).callbacks.append(
                lambda timer: change_fleet(balancer, timer.value, pending, self.boot_time))
            quiet_until = env.now + self.cool_down
            looks.clear()  # the next decision is made on what follows this one


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
    """Launch `change` servers (or retire -`change`, never the last one); `change` is no
    longer pending."""
    if change in pending:
        pending.remove(change)
    for _ in range(abs(change)):
        if change > 0:
            balancer.launch(boot_time)
        elif len(balancer.fleet) > 1:
            balancer.retire()


def fleet_over_time(events, end):
    """Servers over a run, from its `events` (`Result.events`) up to `end` (seconds): one
    row per change, with `time`, `in_service` (serving, or in rotation's reach) and `paid`
    (launched and not yet gone: booting, serving or draining, what a cloud bills)."""
    checks.columns("events", events, "time", "component", "event")
    step = {"in service": (1, 0), "draining": (-1, 0), "launched": (0, 1),
            "left the fleet": (0, -1)}
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
